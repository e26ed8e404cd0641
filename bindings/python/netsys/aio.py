"""asyncio face of netsys: :class:`Client` and :class:`Server`.

No thread is involved in delivery: the library's event file descriptor
(readable exactly while events are pending) is watched with
``loop.add_reader``, and each readiness drains one batch with a
non-blocking poll on the event loop's thread. Handlers therefore run on the
event loop; a handler may be a plain function or a coroutine function. A
coroutine runs as a task; the coroutines of one session run one after the
other in arrival order (sessions run concurrently). Unfinished coroutines,
and messages a client keeps for :meth:`Client.recv`, count against the
library's event queue bound (``event_queue_limit``, ``event_queue_bytes``)
as if they were still queued (``netsys_*_hold_events``): past it the
library stops reading the sockets (backpressure) and resumes at half, the
one bound for the whole path. Exceptions are reported like a plain
handler's: logged and passed to ``on_error``.

Only the calls that may block for a while (a graceful stop flushes queued
data; destroying waits for the I/O threads) run in the loop's default
executor.

Example::

    async with netsys.aio.Client("cli") as client:
        await client.connect("127.0.0.1", port)
        await client.send(b"ping")
        reply = await client.recv()
"""

from __future__ import annotations

import asyncio
import collections
import ctypes
import inspect
from typing import Any, Deque, Dict, List, Optional, Set, Tuple

from . import _client, _ffi, _handlers, _options, _server
from .exceptions import (
    ConnectionClosedError,
    NetsysError,
    NetsysTimeoutError,
    WrongModeError,
)

__all__ = ["Client", "Server"]

log = _handlers.log

#: Back-off between send attempts while the connection is backpressured, s.
_SEND_RETRY_MIN = 0.0005
_SEND_RETRY_MAX = 0.05

#: recv() and finished coroutine handlers release what they held from the
#: library's bound (netsys_*_hold_events) as the threaded client does.
_RELEASE_EVERY = _client._RELEASE_EVERY


def _reraise(exc: BaseException) -> None:
    raise exc


class _AsyncDelivery:
    """What the asyncio client and server share: the event-fd reader, and
    running coroutine handlers as tasks."""

    _loop: Optional[asyncio.AbstractEventLoop] = None
    _reader_fd: int = -1
    _tasks: Set["asyncio.Task[Any]"]
    _events: Any
    _closed: bool
    _label: str
    _kind: str
    _handle: int
    _release_poll_due: bool = False

    def _init_async(self) -> None:
        self._tasks = set()
        self._chains: Dict[int, Deque[Tuple[Any, str, Tuple[Any, ...]]]] = {}
        self._loop = None
        self._reader_fd = -1
        self._hold_name = "netsys_server_hold_events" if self._kind == "server" else "netsys_client_hold_events"
        # Coroutine handlers counted with the library in groups (a foreign
        # call each): started during the batch being dispatched, not yet
        # held; finished, not yet released; unfinished in all.
        self._dispatching = False
        self._started = 0
        self._finished = 0
        self._unfinished = 0

    def _hold(self, events: int, nbytes: int) -> None:
        """Count events polled but not finished (negative: finished) against
        the library's event queue bound; see the module docstring. Once the
        handle is destroyed there is nothing left to count."""
        if self._closed:
            return
        status = getattr(_ffi.native(), self._hold_name)(self._handle, events, nbytes)
        if status:
            log.debug("%s: hold_events(%d, %d): %s", self._label, events, nbytes, _ffi.error(status, "hold_events"))

    def _watch(self, event_fd_fn: Any) -> None:
        """Start watching the event descriptor on the running loop."""
        loop = asyncio.get_running_loop()
        if self._loop is not None and self._loop is not loop:
            raise RuntimeError(f"{self._label} is bound to another event loop")
        self._loop = loop
        if self._reader_fd >= 0:
            return
        fd = ctypes.c_int(-1)
        _ffi.check(event_fd_fn(self._handle, ctypes.byref(fd)), "event_fd")
        self._reader_fd = fd.value
        loop.add_reader(self._reader_fd, self._on_readable)

    def _unwatch(self) -> None:
        if self._reader_fd >= 0 and self._loop is not None:
            self._loop.remove_reader(self._reader_fd)
        self._reader_fd = -1

    def _on_readable(self) -> None:
        # One batch per readiness: the descriptor is level-triggered, so a
        # longer backlog simply makes the loop call us again, after the other
        # ready callbacks have had their turn.
        if self._closed:
            return
        try:
            batch = self._events.poll(0)
        except NetsysError as exc:
            log.error("%s: poll failed: %s", self._label, exc)
            self._unwatch()
            return
        if batch:
            self._dispatching = True
            try:
                self._dispatch(batch)  # type: ignore[attr-defined]
            except Exception as exc:  # noqa: BLE001 - the loop must survive
                log.error("%s: dispatch error %s: %s", self._label, type(exc).__name__, exc, exc_info=exc)
            finally:
                self._dispatching = False
                if self._started:
                    self._hold(self._started, 0)  # right after the poll, see hold_events
                    self._started = 0
            if self._release_poll_due and self._loop is not None:
                # The library lets go of disconnected sessions' objects in
                # the poll after their disconnect: make that poll soon rather
                # than at the next event, which may be long in coming.
                self._release_poll_due = False
                self._loop.call_soon(self._on_readable)
            # A handler's KeyboardInterrupt/SystemExit, once the whole batch is
            # dispatched: asyncio lets them out of run_forever(), as for any
            # other callback (see _handlers).
            exit_request = self._take_pending_exit()  # type: ignore[attr-defined]
            if exit_request is not None:
                raise exit_request

    def _deliver_result(self, result: Any, where: str, error_args: Tuple[Any, ...]) -> None:
        # A coroutine handler runs as a task. The coroutines of one session
        # (of the client, for a client) run one after another, in arrival
        # order, like plain handlers; different sessions run concurrently.
        if not inspect.isawaitable(result):
            return
        assert self._loop is not None
        session = error_args[0] if error_args else None
        key = session.id if session is not None else 0
        pending = self._chains.get(key)
        if pending is not None:
            pending.append((result, where, error_args))
        else:
            self._chains[key] = collections.deque()
            task = self._loop.create_task(self._run_chain(key, (result, where, error_args)))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        # Unfinished: still part of the library's backlog (one bound, one
        # pause reason; no watermark of our own). Held once per batch.
        self._unfinished += 1
        if self._dispatching:
            self._started += 1
        else:
            self._hold(1, 0)

    def _handler_finished(self) -> None:
        # Released in groups, and at once when none is left unfinished.
        self._unfinished -= 1
        self._finished += 1
        if self._finished >= _RELEASE_EVERY or not self._unfinished:
            self._hold(-self._finished, 0)
            self._finished = 0

    async def _run_chain(self, key: int, item: Tuple[Any, str, Tuple[Any, ...]]) -> None:
        while True:
            try:
                await self._run_handler(*item)
            finally:
                self._handler_finished()
            pending = self._chains[key]
            if not pending:
                del self._chains[key]
                return
            item = pending.popleft()

    async def _run_handler(self, awaitable: Any, where: str, error_args: Tuple[Any, ...]) -> None:
        try:
            await awaitable
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - the chain must go on (later handlers)
            self._handler_failed(where, exc, *error_args)  # type: ignore[attr-defined]
            exit_request = self._take_pending_exit()  # type: ignore[attr-defined]
            if exit_request is not None and self._loop is not None:
                # Out of the loop, as from a plain handler, but from a callback
                # of its own: this chain's later handlers still run.
                self._loop.call_soon(_reraise, exit_request)

    async def _drain_tasks(self, timeout: float = 5.0) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

    async def _blocking(self, fn: Any, *args: Any) -> Any:
        loop = self._loop or asyncio.get_running_loop()
        return await loop.run_in_executor(None, fn, *args)


class Client(_AsyncDelivery, _client.Client):
    """An asyncio TCP messaging client.

    ``await connect(host, port)``, ``await send(data)``, ``await recv()``,
    ``async for message in client``, ``await close()``, ``async with``.
    Handlers (optional, plain or ``async def``) as for :class:`netsys.Client`;
    without ``on_message``, messages wait for :meth:`recv` in a buffer that
    counts against the event queue's bound (``event_queue_limit`` messages,
    ``event_queue_bytes`` bytes, queued and buffered together), past which
    the library stops reading the socket (TCP backpressure);
    ``recv_buffer_limit`` sets ``event_queue_limit`` when that is not given.
    """

    def __init__(self, client_id: str = "", **kwargs: Any) -> None:
        self._init_async()
        self._received_async: Deque[bytes] = collections.deque()
        self._taken = self._taken_bytes = 0  # returned by recv(), not yet released
        self._waiter: Optional["asyncio.Future[None]"] = None
        self._connecting: Optional["asyncio.Future[None]"] = None
        super().__init__(client_id, **kwargs)

    async def connect(self, host: str, port: int, timeout: Optional[float] = None) -> "Client":  # type: ignore[override]
        """Connect; returns once the server has welcomed the client, or
        raises why not (as :meth:`netsys.Client.connect`)."""
        lib = self._lib()
        if isinstance(port, bool) or not isinstance(port, int):
            raise _ffi.status_error(3, f"port must be an int, not {port!r}")
        if timeout is not None:
            _options.apply(lib.netsys_client_set_int, lib.netsys_client_set_string, self._handle,
                           _options.CLIENT_OPTIONS, {"connect_timeout": timeout})
        self._watch(lib.netsys_client_event_fd)
        assert self._loop is not None
        self._connecting = self._loop.create_future()
        self._stopping = False
        self._stopped.clear()
        status = lib.netsys_client_connect_async(self._handle, _ffi.c_text(host, "host"), port)
        if status:
            self._connecting = None
            address = _ffi.host_port(host, port)
            exc = _ffi.error(status, f"connect to {address}", subject=address)
            if not self.is_running:  # e.g. an invalid argument; not "already running"
                self._stopped.set()
            raise exc
        try:
            await self._connecting
        except NetsysError:
            # As the blocking connect: a failed first attempt stops the
            # client, even with auto-reconnect (which is for later losses).
            await self._blocking(lib.netsys_client_stop, self._handle)
            raise
        finally:
            self._connecting = None
        return self

    def _connected(self) -> None:
        fut = self._connecting
        if fut is not None and not fut.done():
            fut.set_result(None)

    def _connect_failed(self, status: int, text: str) -> bool:
        fut = self._connecting
        if fut is not None and not fut.done():
            fut.set_exception(_ffi.status_error(status, text))
            return True  # connect() raises it
        return False

    async def send(self, data: Any, timeout: Optional[float] = None) -> None:  # type: ignore[override]
        """Queue a message; while the connection is backpressured, wait
        (without blocking the loop) for room, up to ``timeout`` seconds
        (None: as long as it takes); NetsysTimeoutError after that."""
        raw = _ffi.payload(data)
        if self._closed:
            raise _ffi.closed_error(self._label)
        lib = _ffi.native()
        status = lib.netsys_client_send(self._handle, raw, len(raw))
        if not status:
            return
        if status != _ffi.E_WOULD_BLOCK:
            raise _ffi.error(status, "send")
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        delay = _SEND_RETRY_MIN
        while True:
            if deadline is not None and loop.time() >= deadline:
                raise NetsysTimeoutError(f"send: the connection stayed backpressured for {timeout} s", 6,
                                         _ffi.STATUS_NAMES[6])
            await asyncio.sleep(delay)
            delay = min(delay * 2, _SEND_RETRY_MAX)
            status = self._lib().netsys_client_send(self._handle, raw, len(raw))
            if not status:
                return
            if status != _ffi.E_WOULD_BLOCK:
                raise _ffi.error(status, "send")

    def send_nowait(self, data: Any) -> None:
        """Queue a message without waiting; BackpressureError if the queue is full."""
        _client.Client.send(self, data)

    async def recv(self, timeout: Optional[float] = None) -> bytes:  # type: ignore[override]
        """The next message. Raises ConnectionClosedError once the client has
        stopped and every message received before was returned,
        NetsysTimeoutError after ``timeout`` seconds (None: no limit)."""
        if self._on_message is not None:
            raise WrongModeError(f"{self._label} has an on_message handler: messages go there, not to recv()",
                                 23, _ffi.STATUS_NAMES[23])
        while True:
            if self._received_async:
                message = self._received_async.popleft()
                # Released to the library in groups (a foreign call each):
                # the bound is off by fewer than _RELEASE_EVERY messages.
                self._taken += 1
                self._taken_bytes += len(message)
                if self._taken >= _RELEASE_EVERY or not self._received_async:
                    self._hold(-self._taken, -self._taken_bytes)
                    self._taken = self._taken_bytes = 0
                return message
            if self._stopped.is_set() or self._closed:
                raise ConnectionClosedError(f"{self._label} is not connected ({self._last_reason})", 7,
                                            _ffi.STATUS_NAMES[7])
            loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            try:
                if timeout is None:
                    await waiter
                else:
                    try:
                        await asyncio.wait_for(waiter, timeout)
                    except asyncio.TimeoutError:
                        raise NetsysTimeoutError(f"no message within {timeout} s", 6,
                                                 _ffi.STATUS_NAMES[6]) from None
            finally:
                self._waiter = None

    def __aiter__(self) -> "Client":
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self.recv()
        except ConnectionClosedError:
            raise StopAsyncIteration from None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _buffer_messages(self, datas: List[bytes]) -> None:
        # Kept for recv(): still part of the library's backlog until taken.
        self._hold(len(datas), sum(map(len, datas)))
        self._received_async.extend(datas)
        self._wake()

    def _buffer_message(self, data: bytes) -> None:
        self._hold(1, len(data))
        self._received_async.append(data)
        self._wake()

    def _mark_stopped(self, reason: str) -> None:
        super()._mark_stopped(reason)
        fut = self._connecting
        if fut is not None and not fut.done():
            fut.set_exception(ConnectionClosedError(f"{self._label}: connection ended: {reason}", 7,
                                                    _ffi.STATUS_NAMES[7]))
        self._wake()

    async def stop(self) -> None:  # type: ignore[override]
        """Close the connection gracefully (the flush runs in the executor)."""
        if self._closed:
            return
        self._stopping = True
        await self._blocking(self._lib().netsys_client_stop, self._handle)
        # Deliver what the stop produced (disconnect, stopped) before returning.
        if self._reader_fd >= 0:
            for _ in range(100):
                if self._stopped.is_set():
                    break
                await asyncio.sleep(0.01)
        self._stopped.set()
        self._wake()

    async def close(self) -> None:  # type: ignore[override]
        """Stop and release the client. Idempotent. Cancelled while it waits
        for the graceful stop (asyncio.run() ending, wait_for()), it still
        releases the client, synchronously, before the cancellation goes on."""
        if self._closed:
            return
        try:
            try:
                await self.stop()
            except NetsysError:
                pass
            await self._drain_tasks()
        except BaseException:
            self._release_now()
            raise
        self._unwatch()
        self._closed = True
        self._mark_stopped("client closed")
        await self._blocking(_ffi.native().netsys_client_destroy, self._handle)

    def _release_now(self) -> None:
        # The reader must go before destroy closes the event descriptor.
        self._unwatch()
        self._mark_stopped("client closed")
        self._close_at_exit()

    def _close_at_exit(self) -> None:
        if not self._closed:
            self._closed = True
            _ffi.native().netsys_client_destroy(self._handle)

    async def __aenter__(self) -> "Client":
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    def __enter__(self) -> "Client":
        raise TypeError("use 'async with' with netsys.aio.Client")

    def __exit__(self, *exc_info: Any) -> None:  # pragma: no cover
        pass

    def wait(self, timeout: Optional[float] = None) -> bool:
        raise TypeError("netsys.aio.Client.wait is not available; await recv() or use on_disconnect")


class Server(_AsyncDelivery, _server.Server):
    """An asyncio TCP messaging server: :class:`netsys.Server` whose handlers
    run on the event loop and may be coroutine functions.
    ``await start()``, ``await stop()``, ``await close()``, ``async with``;
    the other methods (broadcast, sessions, statistics...) are the plain,
    non-blocking ones of :class:`netsys.Server`."""

    def __init__(self, server_id: str = "", **kwargs: Any) -> None:
        self._init_async()
        super().__init__(server_id, **kwargs)

    async def start(self) -> "Server":  # type: ignore[override]
        """Bind and start serving on the running loop."""
        lib = self._lib()
        self._watch(lib.netsys_server_event_fd)
        self._stopped.clear()
        status = lib.netsys_server_start(self._handle)
        if status:
            self._stopped.set()
            raise _ffi.error(status, f"start {self._label}")
        return self

    async def stop(self) -> None:  # type: ignore[override]
        """Stop gracefully; returns once the disconnect handlers have run."""
        if self._closed:
            return
        await self._blocking(self._lib().netsys_server_stop, self._handle)
        for _ in range(500):
            if self._stopped.is_set() or self._reader_fd < 0:
                break
            await asyncio.sleep(0.01)
        await self._drain_tasks()

    async def close(self) -> None:  # type: ignore[override]
        """Stop and release the server. Idempotent. Cancelled while it waits
        for the graceful stop (asyncio.run() ending, wait_for()), it still
        releases the server, synchronously, before the cancellation goes on."""
        if self._closed:
            return
        try:
            try:
                await self.stop()
            except NetsysError:
                pass
        except BaseException:
            self._unwatch()  # before destroy closes the event descriptor
            self._destroy()
            raise
        self._unwatch()
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._recent = {}
        await self._blocking(_ffi.native().netsys_server_destroy, self._handle)

    def _close_at_exit(self) -> None:
        self._destroy()

    async def __aenter__(self) -> "Server":
        if not self.is_running:
            await self.start()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    def __enter__(self) -> "Server":
        raise TypeError("use 'async with' with netsys.aio.Server")

    def __exit__(self, *exc_info: Any) -> None:  # pragma: no cover
        pass

    def wait(self, timeout: Optional[float] = None) -> bool:
        raise TypeError("netsys.aio.Server.wait is not available; await stop()")

