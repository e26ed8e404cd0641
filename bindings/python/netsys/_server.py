"""The threaded server: :class:`Server`.

The library runs in events mode (``NETSYS_DELIVERY_EVENTS``): it never calls
into Python. One dispatcher thread per server drains events in batches with
``netsys_server_poll`` (the GIL is released while it waits) and calls the
Python handlers. So every handler of a server runs on that one thread, in
arrival order; a slow handler delays the others, and once the library's
event queue is full it stops reading from the sockets (TCP backpressure)
instead of buffering without bound.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Any, Callable, Dict, List, Optional, Sequence, TypeVar

from . import _ffi, _handlers, _options
from ._events import EventBuffer, MessageBatch
from ._session import Session
from .exceptions import NetsysError, NotFoundError
from .types import ServerStatistics, SessionState, time_from_unix_ns

F = TypeVar("F", bound=Callable[..., Any])

#: How long stop() waits for the dispatcher to deliver the last events
#: (disconnects, then "stopped") after the library has stopped, seconds.
_DRAIN_WAIT = 10.0


class Server(_handlers.HandlerHost):
    """A TCP messaging server.

    Handlers: ``on_message(session, data: bytes)``, ``on_connect(session)``,
    ``on_disconnect(session, reason: str)``, ``on_error(session_or_None,
    exc: NetsysError)``. Set them as constructor keywords or with the
    decorators of the same names. They all run on the server's dispatcher
    thread; an exception in one is logged (logger ``"netsys"``) and passed
    to ``on_error``, and never stops the server.

    Options are keyword arguments: ``port`` (0: ephemeral), ``bind_address``,
    ``max_connections``, ``message_size_limit`` and the rest of
    ``_options.SERVER_OPTIONS`` (durations in seconds). ``None`` keeps the
    library default.
    """

    _kind = "server"

    def __init__(
        self,
        server_id: str = "",
        *,
        port: int = 0,
        bind_address: Optional[str] = None,
        max_connections: Optional[int] = None,
        message_size_limit: Optional[int] = None,
        on_message: Optional[Callable[[Session, bytes], Any]] = None,
        on_connect: Optional[Callable[[Session], Any]] = None,
        on_disconnect: Optional[Callable[[Session, str], Any]] = None,
        on_error: Optional[Callable[[Optional[Session], NetsysError], Any]] = None,
        event_batch: int = 2048,
        **options: Any,
    ) -> None:
        self._closed = True  # until the handle exists, for __del__
        self._handle = 0
        self._label = f"server {server_id!r}"
        self._set_handlers(dict(on_message=on_message, on_connect=on_connect, on_disconnect=on_disconnect,
                                on_error=on_error))
        lib = _ffi.native()
        handle = ctypes.c_uint64(0)
        _ffi.check(lib.netsys_server_create(ctypes.byref(handle), _ffi.c_text(server_id, "server_id")),
                   "create server")
        self._handle = handle.value
        self._closed = False
        self._id = server_id
        self._sessions: Dict[int, Session] = {}
        self._lock = threading.Lock()
        self._dispatcher: Optional[_handlers.Dispatcher] = None
        self._stopped = threading.Event()
        self._stopped.set()
        try:
            _ffi.check(lib.netsys_server_set_int(self._handle, _ffi.OPT_DELIVERY, _ffi.DELIVERY_EVENTS),
                       "delivery mode")
            values = dict(port=port, bind_address=bind_address, max_connections=max_connections,
                          message_size_limit=message_size_limit, **options)
            _options.apply(lib.netsys_server_set_int, lib.netsys_server_set_string, self._handle,
                           _options.SERVER_OPTIONS, values)
        except BaseException:
            self._destroy()
            raise
        self._events = EventBuffer("netsys_server_poll", self._handle, event_batch)
        _handlers.track(self)

    # -- handler decorators ---------------------------------------------------

    def on_message(self, fn: F) -> F:
        """Set the message handler ``fn(session, data)``; returns ``fn`` (a
        decorator). ``None`` removes it (messages are then dropped)."""
        _handlers.check_handler(fn, "on_message")
        self._on_message = fn
        return fn

    def on_connect(self, fn: F) -> F:
        """Set the connect handler ``fn(session)``; returns ``fn``."""
        _handlers.check_handler(fn, "on_connect")
        self._on_connect = fn
        return fn

    def on_disconnect(self, fn: F) -> F:
        """Set the disconnect handler ``fn(session, reason)``; returns ``fn``."""
        _handlers.check_handler(fn, "on_disconnect")
        self._on_disconnect = fn
        return fn

    def on_error(self, fn: F) -> F:
        """Set the error handler ``fn(session_or_None, exc)``; returns ``fn``."""
        _handlers.check_handler(fn, "on_error")
        self._on_error = fn
        return fn

    # -- life cycle ------------------------------------------------------------

    @property
    def id(self) -> str:
        """The server id given at construction."""
        return self._id

    def start(self) -> "Server":
        """Bind and start serving; returns once connections are accepted
        (``port`` then has the bound port). Returns the server itself."""
        lib = self._lib()
        self._stopped.clear()
        status = lib.netsys_server_start(self._handle)
        if status:
            self._stopped.set()
            raise _ffi.error(status, f"start {self._label}")
        if self._dispatcher is None:
            self._dispatcher = _handlers.Dispatcher(self, self._events, self._event_fd(),
                                                    f"netsys-server-{self._id}")
        return self

    def stop(self) -> None:
        """Stop gracefully: stop accepting, flush queued messages, close every
        session. Idempotent. Returns once stopped and (unless called from a
        handler) once the disconnect handlers have run. The server may be
        started again."""
        if self._closed:
            return
        _ffi.check(self._lib().netsys_server_stop(self._handle), f"stop {self._label}")
        if not self._on_dispatcher_thread():
            self._stopped.wait(_DRAIN_WAIT)

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Wait until the server has stopped (by :meth:`stop` from another
        thread or a handler). Returns False on timeout."""
        if self._closed:
            return True
        status = self._lib().netsys_server_wait(self._handle, _ffi.timeout_ms(timeout))
        if status == _ffi.E_TIMEOUT:
            return False
        _ffi.check(status, "wait")
        return True

    def close(self) -> None:
        """Stop the server and release it; the object cannot be used again.
        Idempotent."""
        if self._closed:
            return
        if not _ffi.forked():
            try:
                self.stop()
            except NetsysError:
                pass
        self._destroy()

    def _on_dispatcher_thread(self) -> bool:
        return self._dispatcher is not None and threading.current_thread() is self._dispatcher.thread

    def _event_fd(self) -> int:
        fd = ctypes.c_int(-1)
        _ffi.check(self._lib().netsys_server_event_fd(self._handle, ctypes.byref(fd)), "event_fd")
        return fd.value

    def _destroy(self) -> None:
        if _ffi.forked():  # the parent owns the library objects: just forget them
            self._closed = True
            return
        with self._lock:
            if self._closed:
                return
            self._closed = True
        # The dispatcher must stop watching the event descriptor before
        # destroy closes it.
        if self._dispatcher is not None:
            self._dispatcher.wake()
            self._dispatcher.join(_DRAIN_WAIT)
        try:
            _ffi.native().netsys_server_destroy(self._handle)
        except NetsysError:  # ForkedProcessError: nothing to release here
            pass

    def _close_at_exit(self) -> None:
        self.close()

    def __enter__(self) -> "Server":
        if not self.is_running:
            self.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __del__(self) -> None:
        # Survives interpreter shutdown: module globals may already be None.
        try:
            if not self._closed:
                self._destroy()
        except Exception:  # noqa: BLE001
            pass

    # -- state -------------------------------------------------------------------

    @property
    def is_running(self) -> bool:
        """True while the server accepts connections."""
        if self._closed:
            return False
        return bool(_ffi.fetch_value(self._lib().netsys_server_is_running, ctypes.c_bool, self._handle,
                                     context="is_running"))

    @property
    def port(self) -> int:
        """The bound port (the ephemeral one when configured with 0; 0 before
        the first start)."""
        return int(_ffi.fetch_value(self._lib().netsys_server_port, ctypes.c_int, self._handle, context="port"))

    @property
    def connection_count(self) -> int:
        """The number of open sessions."""
        return int(_ffi.fetch_value(self._lib().netsys_server_connection_count, ctypes.c_size_t, self._handle,
                                    context="connection_count"))

    def statistics(self) -> ServerStatistics:
        """A snapshot of the server's counters."""
        stats = _ffi.ServerStats()
        stats.struct_size = ctypes.sizeof(stats)
        _ffi.check(self._lib().netsys_server_get_stats(self._handle, ctypes.byref(stats)), "statistics")
        return ServerStatistics(
            total_connections=stats.total_connections,
            current_connections=stats.current_connections,
            rejected_connections=stats.rejected_connections,
            messages_sent=stats.messages_sent,
            messages_received=stats.messages_received,
            bytes_sent=stats.bytes_sent,
            bytes_received=stats.bytes_received,
            protocol_errors=stats.protocol_errors,
            oversize_messages=stats.oversize_messages,
            start_time=time_from_unix_ns(stats.start_time_ns),
            last_activity=time_from_unix_ns(stats.last_activity_ns),
        )

    def reset_statistics(self) -> None:
        """Zero the server's counters."""
        _ffi.check(self._lib().netsys_server_reset_stats(self._handle), "reset_statistics")

    # -- sessions --------------------------------------------------------------

    def sessions(self) -> List[Session]:
        """The open sessions, by increasing id."""
        ids = _ffi.fetch_ids(self._lib().netsys_server_sessions, self._handle, context="sessions")
        return [self._session_for(sid) for sid in ids]

    def session(self, session_id: int) -> Optional[Session]:
        """The open session with this id, or None."""
        if self._lib().netsys_server_has_session(self._handle, session_id) != _ffi.OK:
            return None
        return self._session_for(session_id)

    def disconnect_session(self, session_id: int, reason: str = "disconnected by server") -> None:
        """Close one session gracefully. Raises NotFoundError if no open
        session has this id."""
        status = self._lib().netsys_session_disconnect(self._handle, session_id, _ffi.c_text(reason, "reason"))
        if status == _ffi.E_NOT_FOUND:
            raise NotFoundError(f"{self._label} has no open session {session_id}", status,
                                _ffi.STATUS_NAMES[status])
        _ffi.check(status, f"disconnect session {session_id}")

    def disconnect_all(self, reason: str = "disconnected by server") -> None:
        """Close every session gracefully."""
        _ffi.check(self._lib().netsys_server_disconnect_all(self._handle, _ffi.c_text(reason, "reason")),
                   "disconnect_all")

    def group_members(self, group: str) -> List[Session]:
        """The sessions of ``group``, by increasing id."""
        ids = _ffi.fetch_ids(self._lib().netsys_server_group_members, self._handle, _ffi.c_text(group, "group"),
                             context="group_members")
        return [self._session_for(sid) for sid in ids]

    def broadcast(self, data: "bytes | bytearray | memoryview | str") -> int:
        """Send a message to every open session; returns how many queued it
        (sessions that are closing or backpressured are skipped)."""
        raw = _ffi.payload(data)
        sent = ctypes.c_size_t(0)
        _ffi.check(self._lib().netsys_server_broadcast(self._handle, raw, len(raw), ctypes.byref(sent), None),
                   "broadcast")
        return sent.value

    def broadcast_to_group(self, group: str, data: "bytes | bytearray | memoryview | str") -> int:
        """As :meth:`broadcast`, to the members of ``group`` only."""
        raw = _ffi.payload(data)
        sent = ctypes.c_size_t(0)
        _ffi.check(self._lib().netsys_server_broadcast_to_group(self._handle, _ffi.c_text(group, "group"), raw,
                                                                len(raw), ctypes.byref(sent), None),
                   "broadcast_to_group")
        return sent.value

    # -- dispatch (dispatcher thread) ------------------------------------------

    def _session_for(self, session_id: int, client_id: Optional[str] = None) -> Session:
        session = self._sessions.get(session_id)
        if session is None:
            with self._lock:
                session = self._sessions.get(session_id)
                if session is None:
                    session = Session(self, session_id, client_id)
                    self._sessions[session_id] = session
        return session

    def _dispatch(self, batch: List[Any]) -> None:
        """Run the handlers for one polled batch, in order."""
        if type(batch) is MessageBatch:
            self._dispatch_messages(batch.sids, batch.datas)
            return
        sessions = self._sessions
        for etype, status, sid, data in batch:
            if etype == _ffi.EVENT_MESSAGE:
                self._dispatch_messages((sid,), (data,))
            elif etype == _ffi.EVENT_CONNECT:
                session = self._session_for(sid, data)
                self._call(self._on_connect, "on_connect", session)
            elif etype == _ffi.EVENT_DISCONNECT:
                session = self._session_for(sid)
                state = SessionState.DISCONNECTED
                try:
                    state = session.state
                except NetsysError:
                    pass
                session._closed_state = state if state in (SessionState.DISCONNECTED, SessionState.ERROR) \
                    else SessionState.DISCONNECTED
                self._call(self._on_disconnect, "on_disconnect", session, data)
                with self._lock:
                    sessions.pop(sid, None)
            elif etype == _ffi.EVENT_ERROR:
                error_session = sessions.get(sid) if sid else None
                self._library_error(error_session, status, data, True)
            elif etype == _ffi.EVENT_STOPPED:
                self._stopped.set()

    def _dispatch_messages(self, sids: Sequence[int], datas: Sequence[bytes]) -> None:
        """The hot loop: a batch made only of messages."""
        sessions = self._sessions
        for sid, data in zip(sids, datas):
            on_message = self._on_message
            if on_message is None:
                continue
            session = sessions.get(sid)
            if session is None:
                session = self._session_for(sid)
            try:
                result = on_message(session, data)
            except BaseException as exc:  # noqa: BLE001 - the promise: never propagate
                self._handler_failed("on_message", exc, session)
                continue
            if result is not None:
                self._deliver_result(result, "on_message", (session,))

    def _call(self, fn: Optional[Callable[..., Any]], where: str, session: Session, *args: Any) -> None:
        if fn is None:
            return
        try:
            result = fn(session, *args)
        except BaseException as exc:  # noqa: BLE001
            self._handler_failed(where, exc, session)
            return
        if result is not None:
            self._deliver_result(result, where, (session,))

    def _lib(self) -> Any:
        if self._closed:
            raise _ffi.closed_error(self._label)
        return _ffi.native()

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("running" if self.is_running else "stopped")
        return f"<netsys.Server {self._id!r} {state}>"
