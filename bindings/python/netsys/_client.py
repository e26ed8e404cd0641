"""The threaded client: :class:`Client`.

As for servers, the library runs in events mode and one dispatcher thread
per client drains events in batches (GIL released while waiting). Without
an ``on_message`` handler, messages are kept for :meth:`Client.recv`; until
recv() takes them they still count against the library's event queue bound
(``netsys_client_hold_events``), so a program that never calls recv makes
the library stop reading from the socket (the server sees backpressure)
instead of growing without bound. The bound is ``recv_buffer_limit``
messages (the client's ``event_queue_limit``) and ``event_queue_bytes``
bytes, queued and buffered together; the dispatcher itself never waits for
recv(), so connects, disconnects and errors are still handled meanwhile.
"""

from __future__ import annotations

import collections
import ctypes
import os
import select
import threading
import time
from typing import Any, Callable, Deque, Iterable, List, Optional, TypeVar

from . import _ffi, _handlers, _options, _speedups
from ._events import EventBuffer, MessageBatch
from .exceptions import ConnectionClosedError, ForkedProcessError, NetsysError, NetsysTimeoutError, WrongModeError
from .types import ClientStatistics, time_from_unix_ns

F = TypeVar("F", bound=Callable[..., Any])

_DRAIN_WAIT = 10.0

#: recv() re-checks its state at least this often while it waits, ms.
_RECV_SLICE_MS = 250

#: How long after a recv() returns its thread still counts as the one that
#: drains the events (the dispatcher stays out of the way meanwhile), s.
_RECV_LINGER = 0.02

#: Messages recv() has returned are released from the library's bound
#: (netsys_*_hold_events) once per this many, or when none is left.
_RELEASE_EVERY = 64


class Client(_handlers.HandlerHost):
    """A TCP messaging client.

    Handlers (optional): ``on_message(data: bytes)``, ``on_connect()``,
    ``on_disconnect(reason: str)``, ``on_error(exc: NetsysError)``, as
    constructor keywords or decorators. They run on the client's dispatcher
    thread; an exception in one is logged and passed to ``on_error``.

    Options are keyword arguments: ``auto_reconnect``, ``connect_timeout``
    (seconds), ``message_size_limit`` and the rest of
    ``_options.CLIENT_OPTIONS``.
    """

    _kind = "client"

    def __init__(
        self,
        client_id: str = "",
        *,
        auto_reconnect: Optional[bool] = None,
        on_message: Optional[Callable[[bytes], Any]] = None,
        on_connect: Optional[Callable[[], Any]] = None,
        on_disconnect: Optional[Callable[[str], Any]] = None,
        on_error: Optional[Callable[[NetsysError], Any]] = None,
        recv_buffer_limit: int = 65536,
        event_batch: int = 2048,
        **options: Any,
    ) -> None:
        self._closed = True
        self._handle = 0
        self._label = f"client {client_id!r}"
        self._set_handlers(dict(on_message=on_message, on_connect=on_connect, on_disconnect=on_disconnect,
                                on_error=on_error))
        if recv_buffer_limit < 1:
            raise ValueError("recv_buffer_limit must be at least 1")
        # One bound for queued and buffered messages: the library's (see the
        # module docstring). An explicit event_queue_limit wins.
        options.setdefault("event_queue_limit", recv_buffer_limit)
        lib = _ffi.native()
        handle = ctypes.c_uint64(0)
        _ffi.check(lib.netsys_client_create(ctypes.byref(handle), _ffi.c_text(client_id, "client_id")),
                   "create client")
        self._handle = handle.value
        self._closed = False
        self._id = client_id
        self._lock = threading.Lock()
        self._dispatcher: Optional[_handlers.Dispatcher] = None
        #: Set once the library's STOPPED event of the current run has been
        #: dispatched (or no run is active).
        self._stopped = threading.Event()
        self._stopped.set()
        self._received: Deque[bytes] = collections.deque()
        self._recv_cond = threading.Condition(threading.Lock())
        #: Messages recv() returned whose release from the library's bound
        #: is pending (released in groups: a foreign call each).
        self._taken = self._taken_bytes = 0
        self._stopping = False
        self._connect_raises = False
        self._last_reason = "not connected"
        self._poll_lock = threading.Lock()
        self._recv_waiters = 0
        self._recv_active_until = 0.0
        self._recv_wake_r, self._recv_wake_w = os.pipe()
        os.set_blocking(self._recv_wake_r, False)
        os.set_blocking(self._recv_wake_w, False)  # a full pipe already means "look again"
        self._recv_poller = select.poll()
        self._recv_poller.register(self._recv_wake_r, select.POLLIN)
        try:
            _ffi.check(lib.netsys_client_set_int(self._handle, _ffi.OPT_DELIVERY, _ffi.DELIVERY_EVENTS),
                       "delivery mode")
            values = dict(auto_reconnect=auto_reconnect, **options)
            _options.apply(lib.netsys_client_set_int, lib.netsys_client_set_string, self._handle,
                           _options.CLIENT_OPTIONS, values)
        except BaseException:
            self._closed = True
            lib.netsys_client_destroy(self._handle)
            raise
        self._events = EventBuffer("netsys_client_poll", self._handle, event_batch)
        _handlers.track(self)

    # -- handler decorators ---------------------------------------------------

    def on_message(self, fn: F) -> F:
        """Set the message handler ``fn(data)``; returns ``fn``. With a
        handler set, :meth:`recv` is unavailable."""
        _handlers.check_handler(fn, "on_message")
        self._on_message = fn
        return fn

    def on_connect(self, fn: F) -> F:
        """Set the connect handler ``fn()`` (also called after each reconnect)."""
        _handlers.check_handler(fn, "on_connect")
        self._on_connect = fn
        return fn

    def on_disconnect(self, fn: F) -> F:
        """Set the disconnect handler ``fn(reason)``."""
        _handlers.check_handler(fn, "on_disconnect")
        self._on_disconnect = fn
        return fn

    def on_error(self, fn: F) -> F:
        """Set the error handler ``fn(exc)``."""
        _handlers.check_handler(fn, "on_error")
        self._on_error = fn
        return fn

    # -- life cycle ------------------------------------------------------------

    @property
    def id(self) -> str:
        """The client id sent in the handshake."""
        return self._id

    def connect(self, host: str, port: int, timeout: Optional[float] = None) -> "Client":
        """Connect and return once the server has welcomed the client, or
        raise why not (ConnectError, ServerFullError, ConnectionRejectedError,
        NetsysTimeoutError, ResolveError...). ``timeout`` (seconds) bounds
        the attempt including the handshake; None keeps ``connect_timeout``.
        The GIL is released while connecting. Returns the client itself."""
        lib = self._lib()
        if isinstance(port, bool) or not isinstance(port, int):
            raise _ffi.status_error(3, f"port must be an int, not {port!r}")
        # The previous run's last events must be dispatched before a new run
        # begins, so that its "stopped" cannot be mistaken for this run's.
        if not self._stopped.is_set() and not self.is_running:
            self._stopped.wait(_DRAIN_WAIT)
        if timeout is not None:
            _options.apply(lib.netsys_client_set_int, lib.netsys_client_set_string, self._handle,
                           _options.CLIENT_OPTIONS, {"connect_timeout": timeout})
        self._stopping = False
        self._stopped.clear()
        if self._dispatcher is None:
            fd = ctypes.c_int(-1)
            _ffi.check(lib.netsys_client_event_fd(self._handle, ctypes.byref(fd)), "event_fd")
            self._recv_poller.register(fd.value, select.POLLIN)
            self._dispatcher = _handlers.Dispatcher(self, self._events, fd.value, f"netsys-client-{self._id}")
        # Every error event of a blocking connect's run until it returns is
        # the failure it raises (the library stops a run whose first
        # connect fails); the flag stays up for events dispatched after the
        # raise, until the next connect.
        self._connect_raises = True
        address = _ffi.host_port(host, port)
        status = lib.netsys_client_connect(self._handle, _ffi.c_text(host, "host"), port)
        if status:
            exc = _ffi.error(status, f"connect to {address}", subject=address)
            if not self.is_running:
                # A run that never started sends no "stopped" event.
                self._mark_stopped(str(exc))
            raise exc
        self._connect_raises = False
        return self

    def stop(self) -> None:
        """Close the connection gracefully (queued messages are flushed) and
        cancel reconnection. Idempotent. Messages already received stay
        available to :meth:`recv`. The client may connect again."""
        if self._closed:
            return
        lib = self._lib()  # first: ForkedProcessError before any lock is touched
        self._stopping = True
        _ffi.check(lib.netsys_client_stop(self._handle), f"stop {self._label}")
        if not (self._dispatcher is not None and threading.current_thread() is self._dispatcher.thread):
            self._stopped.wait(_DRAIN_WAIT)

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Wait until the client stops (stop, a lost connection without
        auto-reconnect). Returns False on timeout."""
        if self._closed:
            return True
        status = self._lib().netsys_client_wait(self._handle, _ffi.timeout_ms(timeout))
        if status == _ffi.E_TIMEOUT:
            return False
        _ffi.check(status, "wait")
        return True

    def close(self) -> None:
        """Stop and release the client; it cannot be used again. Idempotent."""
        if self._closed:
            return
        if _ffi.forked():  # the parent owns the library objects: just forget them
            self._closed = True
            return
        try:
            self.stop()
        except NetsysError:
            pass
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._mark_stopped("client closed")
        self._release()

    def _release(self) -> None:
        # The dispatcher must stop watching the event descriptor before
        # destroy closes it.
        if self._dispatcher is not None:
            self._dispatcher.wake()
            self._dispatcher.join(_DRAIN_WAIT)
        try:
            _ffi.native().netsys_client_destroy(self._handle)
        except NetsysError:
            pass
        self._wake_receivers()

    def _close_at_exit(self) -> None:
        self.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            if not self._closed and not _ffi.forked():
                self._closed = True
                self._release()
        except Exception:  # noqa: BLE001 - survives interpreter shutdown
            pass
        for fd in (getattr(self, "_recv_wake_r", -1), getattr(self, "_recv_wake_w", -1)):
            try:
                if fd >= 0:
                    os.close(fd)
            except Exception:  # noqa: BLE001
                pass

    # -- messages --------------------------------------------------------------

    def send(self, data: "bytes | bytearray | memoryview | str") -> None:
        """Queue a message for the server without blocking (str is sent as
        UTF-8). Raises BackpressureError, MessageTooLargeError,
        NotConnectedError/NotRunningError, ConnectionClosedError."""
        raw = _ffi.payload(data)
        if self._closed:
            raise _ffi.closed_error(self._label)
        status = _ffi.native().netsys_client_send(self._handle, raw, len(raw))
        if status:
            raise _ffi.error(status, "send")

    def send_timeout(self, data: "bytes | bytearray | memoryview | str", timeout: float) -> None:
        """As :meth:`send`, waiting up to ``timeout`` seconds for room in a
        full queue (GIL released); NetsysTimeoutError after that."""
        raw = _ffi.payload(data)
        status = self._lib().netsys_client_send_timeout(self._handle, raw, len(raw), _ffi.timeout_ms(timeout))
        if status:
            raise _ffi.error(status, "send")

    def recv(self, timeout: Optional[float] = None) -> bytes:
        """Return the next message. Waits up to ``timeout`` seconds (None:
        until one arrives) and raises NetsysTimeoutError after that; raises
        ConnectionClosedError once the client has stopped and every message
        received before has been returned. Only without an ``on_message``
        handler (WrongModeError otherwise).

        While a thread waits in recv(), it drains the library's events
        itself (one thread hand-off less per message: lower latency), so
        on_connect/on_disconnect/on_error handlers may run on that thread;
        the dispatcher thread takes over again once recv() has been idle
        for a few milliseconds."""
        if self._on_message is not None:
            raise WrongModeError(f"{self._label} has an on_message handler: messages go there, not to recv()",
                                 23, _ffi.STATUS_NAMES[23])
        _ffi.native()  # in a forked child: ForkedProcessError before touching locks the fork copied
        deadline = None if timeout is None else time.monotonic() + max(timeout, 0.0)
        cond = self._recv_cond
        with cond:
            if self._received:  # the common case under load: no waiting at all
                return self._pop_received()
            self._recv_waiters += 1
        try:
            while True:
                with cond:
                    if self._received:
                        return self._pop_received()
                    if self._stopped.is_set() or self._closed:
                        raise ConnectionClosedError(f"{self._label} is not connected ({self._last_reason})", 7,
                                                    _ffi.STATUS_NAMES[7])
                if deadline is None:
                    wait_ms = _RECV_SLICE_MS
                else:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise NetsysTimeoutError(f"no message within {timeout} s", 6, _ffi.STATUS_NAMES[6])
                    wait_ms = min(_RECV_SLICE_MS, max(int(remaining * 1000.0 + 0.999), 1))
                self._recv_step(wait_ms)
        finally:
            with cond:
                self._recv_waiters -= 1
                self._recv_active_until = time.monotonic() + _RECV_LINGER

    def _recv_step(self, wait_ms: int) -> None:
        """Drain one batch on this thread if no other thread is dispatching;
        otherwise, or if nothing is pending, wait up to ``wait_ms``."""
        if self._poll_lock.acquire(blocking=False):
            try:
                try:
                    batch = self._events.poll(0)
                except ForkedProcessError:
                    raise
                except NetsysError:
                    batch = None  # destroyed meanwhile: the next check reports it
                    self._stopped.set()
                if batch:
                    self._dispatch(batch)
            finally:
                self._poll_lock.release()
            if batch:
                self._batch_done()  # other recv() threads may wait for the lock
                exit_request = self._take_pending_exit()
                if exit_request is not None:
                    raise exit_request  # this thread is the program's: see _handlers
                return
            # Nothing pending: sleep until the descriptor is readable or the
            # dispatcher hands over messages it had already taken (GIL released).
            for fd, _ in self._recv_poller.poll(wait_ms):
                if fd == self._recv_wake_r:
                    try:
                        os.read(self._recv_wake_r, 4096)
                    except OSError:
                        pass
        else:
            # The dispatcher is polling or dispatching; it notifies once it has
            # released the lock (_batch_done). Checking the lock under the
            # condition makes that notification impossible to miss.
            with self._recv_cond:
                if not self._received and not self._stopped.is_set() and self._poll_lock.locked():
                    self._recv_cond.wait(wait_ms / 1000.0)

    def _pop_received(self) -> bytes:
        """Take the next buffered message (the caller holds _recv_cond). It
        leaves the library's bound in groups of _RELEASE_EVERY, or when the
        buffer is empty: the bound is off by fewer than that many."""
        message = self._received.popleft()
        self._taken += 1
        self._taken_bytes += len(message)
        if self._taken >= _RELEASE_EVERY or not self._received:
            self._hold(-self._taken, -self._taken_bytes)
            self._taken = self._taken_bytes = 0
        return message

    def _hold(self, events: int, nbytes: int) -> None:
        """Count buffered messages (negative: taken) against the library's
        event queue bound. Once the handle is destroyed nothing is left to
        count."""
        if self._closed:
            return
        status = _ffi.native().netsys_client_hold_events(self._handle, events, nbytes)
        if status:
            _handlers.log.debug("%s: hold_events(%d, %d): %s", self._label, events, nbytes,
                                _ffi.error(status, "hold_events"))

    def _batch_done(self) -> None:
        if self._recv_waiters:
            with self._recv_cond:
                self._recv_cond.notify_all()

    def _dispatch_deferred(self) -> bool:
        return self._on_message is None and (self._recv_waiters > 0
                                             or time.monotonic() < self._recv_active_until)

    def _wake_receivers(self) -> None:
        """Called with messages or a stop delivered by the dispatcher thread:
        a recv() sleeping on the event descriptor must look again."""
        if self._recv_waiters and self._recv_wake_w >= 0:
            try:
                os.write(self._recv_wake_w, b"x")
            except OSError:
                pass

    # -- state -------------------------------------------------------------------

    @property
    def is_connected(self) -> bool:
        """True while the client has an open, welcomed connection."""
        if self._closed:
            return False
        return bool(_ffi.fetch_value(self._lib().netsys_client_is_connected, ctypes.c_bool, self._handle,
                                     context="is_connected"))

    @property
    def is_running(self) -> bool:
        """True between connect and stop (also while reconnecting)."""
        if self._closed:
            return False
        return bool(_ffi.fetch_value(self._lib().netsys_client_is_running, ctypes.c_bool, self._handle,
                                     context="is_running"))

    @property
    def session_id(self) -> int:
        """The session id the server gave the current (or last) connection."""
        return int(_ffi.fetch_value(self._lib().netsys_client_session_id, ctypes.c_uint64, self._handle,
                                    context="session_id"))

    def statistics(self) -> ClientStatistics:
        """A snapshot of the client's counters."""
        stats = _ffi.ClientStats()
        stats.struct_size = ctypes.sizeof(stats)
        _ffi.check(self._lib().netsys_client_get_stats(self._handle, ctypes.byref(stats)), "statistics")
        return ClientStatistics(
            messages_sent=stats.messages_sent,
            messages_received=stats.messages_received,
            bytes_sent=stats.bytes_sent,
            bytes_received=stats.bytes_received,
            errors=stats.errors,
            reconnects=stats.reconnects,
            last_message_time=time_from_unix_ns(stats.last_message_ns),
        )

    # -- dispatch (dispatcher thread) ------------------------------------------

    def _mark_stopped(self, reason: str) -> None:
        self._last_reason = reason
        with self._recv_cond:
            self._stopped.set()
            self._recv_cond.notify_all()
        self._wake_receivers()

    def _dispatch(self, batch: Any) -> None:
        if type(batch) is MessageBatch:
            self._dispatch_messages(batch.datas)
            return
        # A batch with other events: each run of messages between them goes
        # the way a batch of only messages does, in order with the rest.
        run: List[bytes] = []
        for etype, status, _sid, data in batch:
            if etype == _ffi.EVENT_MESSAGE:
                run.append(data)
                continue
            if run:
                self._dispatch_messages(run)
                run = []
            if etype == _ffi.EVENT_CONNECT:
                self._connected()
                self._call(self._on_connect, "on_connect")
            elif etype == _ffi.EVENT_DISCONNECT:
                self._last_reason = data or "disconnected"
                self._call(self._on_disconnect, "on_disconnect", data)
            elif etype == _ffi.EVENT_ERROR:
                raised = self._connect_failed(status, data)
                self._library_error(None, status, data, False, raised)
            elif etype == _ffi.EVENT_STOPPED:
                self._mark_stopped(self._last_reason if self._last_reason != "not connected" else "stopped")
        if run:
            self._dispatch_messages(run)

    def _dispatch_messages(self, datas: List[bytes]) -> None:
        """The hot loop: a batch made only of messages (_to_client: the C
        extension's where that is faster, see netsys._speedups)."""
        if self._on_message is None:
            self._buffer_messages(datas)
            if self._recv_waiters and self._dispatcher is not None and \
                    threading.current_thread() is self._dispatcher.thread:
                self._wake_receivers()
            return
        _to_client(self, datas)

    def _buffer_messages(self, datas: List[bytes]) -> None:
        """Buffer a batch of messages for recv() (one lock round for all).
        They stay in the library's bound until recv() takes them: held
        first, so a recv() on another thread can never release a message
        before it was held."""
        self._hold(len(datas), sum(map(len, datas)))
        cond = self._recv_cond
        with cond:
            was_empty = not self._received
            self._received.extend(datas)
            if was_empty:
                cond.notify_all()

    def _connected(self) -> None:
        """Hook: a CONNECT event is being dispatched (asyncio resolves its
        pending connect here)."""

    def _connect_failed(self, status: int, text: str) -> bool:
        """Hook: an ERROR event is being dispatched (asyncio fails its pending
        connect here). True if the failure is (or is being) raised to the
        caller of connect: then it is not logged a second time."""
        return self._connect_raises

    def _buffer_message(self, data: bytes) -> None:
        self._hold(1, len(data))
        cond = self._recv_cond
        with cond:
            self._received.append(data)
            if len(self._received) == 1:
                cond.notify_all()

    def _call(self, fn: Optional[Callable[..., Any]], where: str, *args: Any) -> None:
        if fn is None:
            return
        try:
            result = fn(*args)
        except BaseException as exc:  # noqa: BLE001
            self._handler_failed(where, exc)
            return
        if result is not None:
            self._deliver_result(result, where, ())

    def _lib(self) -> Any:
        if self._closed:
            raise _ffi.closed_error(self._label)
        return _ffi.native()

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("connected" if self.is_connected else "not connected")
        return f"<netsys.Client {self._id!r} {state}>"


def _messages_to_client(client: Client, datas: Iterable[bytes]) -> None:
    """The handler loop of a batch of messages: the handler is read again
    for every message (a handler may replace or remove it); once there is
    none, the rest goes to recv(). netsys._accel has the same loop in C."""
    for data in datas:
        on_message = client._on_message
        if on_message is None:  # removed meanwhile: the rest goes to recv()
            client._buffer_message(data)
            continue
        try:
            result = on_message(data)
        except BaseException as exc:  # noqa: BLE001
            client._handler_failed("on_message", exc)
            continue
        if result is not None:
            client._deliver_result(result, "on_message", ())


#: The loop the dispatcher runs: the C extension's where it has it.
_to_client: Callable[[Client, Iterable[bytes]], None] = _speedups.dispatch_client or _messages_to_client
