"""The threaded server: :class:`Server`.

The library runs in events mode (``NETSYS_DELIVERY_EVENTS``): it never calls
into Python. One dispatcher thread per server drains events in batches with
``netsys_server_poll`` (the GIL is released while it waits) and calls the
Python handlers. So every handler of a server runs on that one thread, in
arrival order; a slow handler delays the others, and once the library's
event queue is full it stops reading from the sockets (TCP backpressure)
instead of buffering without bound.

Each connection's :class:`Session` object hangs on the library's session as
its host pointer (``netsys_session_set_user_data``), holding one reference
that the library hands back through the release callback once the session
is over; Python keeps no table of sessions. The release comes in the poll
after the one that returned the session's DISCONNECT, on the polling thread,
or in ``netsys_server_destroy`` on whichever thread destroys. A pointer is
only ever turned back into its object under the server's lock, which the
release callback takes too, so the object cannot go away in between; the
dispatcher takes it once per batch and session, not per message.

That lookup is a call into the library (about a microsecond from Python,
more than the rest of a message's dispatch), so the dispatcher carries the
objects it looked up over to the next batches: a session that keeps sending
is looked up when it starts, not in every batch. What it carries is bounded
(it starts over once it holds more than ``event_batch`` sessions, so at
most twice that) and is of open sessions only: each object is dropped when its disconnect is
dispatched, all of them when the server closes, so none outlives the
library's own reference and a dropped entry costs one more lookup, never a
second object.
"""

from __future__ import annotations

import _ctypes
import ctypes
import threading
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, TypeVar

from . import _ffi, _handlers, _options, _speedups
from ._events import EventBuffer, MessageBatch
from ._session import Session
from .exceptions import NetsysError, NotFoundError
from .types import ServerStatistics, SessionState, time_from_unix_ns

F = TypeVar("F", bound=Callable[..., Any])

#: How long stop() waits for the dispatcher to deliver the last events
#: (disconnects, then "stopped") after the library has stopped, seconds.
_DRAIN_WAIT = 10.0

# The reference a session's pointer stands for is taken and dropped with
# the C API's own calls (private prototypes: ctypes.pythonapi's functions
# are shared with every other user of ctypes in the process).
_incref = ctypes.PYFUNCTYPE(None, ctypes.py_object)(("Py_IncRef", ctypes.pythonapi))
_decref = ctypes.PYFUNCTYPE(None, ctypes.py_object)(("Py_DecRef", ctypes.pythonapi))
#: The object at an address (a new reference); one C call, no ctypes cast.
_from_pointer: Callable[[int], Any] = getattr(_ctypes, "PyObj_FromPtr")

#: In a lookup, "the session's object only if it has one": error events
#: pass no object for a session that never connected.
_EXISTING_ONLY = object()


def _release_callback(lock: Any) -> Any:
    """The library's release callback for one server: drop the reference
    a session's pointer held. It closes over the server's lock only (not
    the server), so that the server stays collectable."""

    def release(_user_data: Any, _server: int, _session_id: int, pointer: Optional[int]) -> None:
        # Runs inside the library: nothing may escape into C.
        try:
            if not pointer:
                return
            with lock:  # another thread may be between its fetch and its use
                session = _from_pointer(pointer)
                _decref(session)
            # The last reference may go here, outside the lock: whatever the
            # program hung on the session is freed without holding it.
            del session
        except BaseException:  # noqa: BLE001
            pass

    return _ffi.SESSION_RELEASE_FN(release)


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
    #: The last batch had a disconnect: the next poll releases its session
    #: objects (the asyncio face then polls again without waiting for an event).
    _release_poll_due = False

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
        # Reentrant: a finalizer run by the collector while a lookup holds it
        # may look sessions up again on the same thread.
        self._lock = threading.RLock()
        # Kept for the server's whole life: the library may call it until
        # netsys_server_destroy returns.
        self._release = _release_callback(self._lock)
        # The objects the dispatcher carries from batch to batch (see the
        # module docstring); used by the polling thread only.
        self._recent: Dict[int, Session] = {}
        self._recent_limit = event_batch
        self._dispatcher: Optional[_handlers.Dispatcher] = None
        self._stopped = threading.Event()
        self._stopped.set()
        try:
            _ffi.check(lib.netsys_server_set_session_release_callback(self._handle, self._release, None),
                       "session release callback")
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
            self._recent = {}
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
        self._recent = {}  # after the dispatcher's last batch
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
        return self._session_list(ids)

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
        return self._session_list(ids)

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

    # -- session objects -------------------------------------------------------

    def _session_for(self, session_id: int, client_id: Optional[str] = None) -> Session:
        """The session's object, made and attached on first need."""
        lib = _ffi.native()  # first: in a forked child it raises before the lock is touched
        pointer = ctypes.c_void_p()  # per call: a nested lookup must not share it
        with self._lock:  # see _resolve
            if lib.netsys_session_get_user_data(self._handle, session_id, ctypes.byref(pointer)) == _ffi.OK:
                address = pointer.value
                if address:
                    session: Session = _from_pointer(address)
                    return session
            return self._attach(lib, session_id, client_id)

    def _session_list(self, ids: Iterable[int]) -> List[Session]:
        found = self._resolve(dict.fromkeys(ids))
        return list(found.values())

    def _resolve(self, wanted: Dict[int, Any]) -> Dict[int, Any]:
        """Replace each value of ``wanted`` (session id -> the client id to
        make its object with, None, or _EXISTING_ONLY) by the session's
        object, in place, and return it. A session without one gets a new
        object, attached to it; _EXISTING_ONLY gets None instead. One
        foreign call per session that has its object.

        The lock makes the fetch and the conversion one step for the
        release callback (which takes it), and makes a fetch and the attach
        that follows a miss one step for other threads: a session never
        gets two objects. The dispatcher takes it once per batch and
        session, so never per message."""
        lib = _ffi.native()
        get = lib.netsys_session_get_user_data
        handle = self._handle
        pointer = ctypes.c_void_p()  # per call: a nested lookup must not share it
        pointer_ref = ctypes.byref(pointer)
        with self._lock:
            for sid, client_id in wanted.items():
                if get(handle, sid, pointer_ref) == _ffi.OK and pointer.value:
                    wanted[sid] = _from_pointer(pointer.value)
                elif client_id is _EXISTING_ONLY:
                    wanted[sid] = None
                else:
                    wanted[sid] = self._attach(lib, sid, client_id)
        return wanted

    def _attach(self, lib: Any, session_id: int, client_id: Optional[str]) -> Session:
        """A new object for a session that has none, hung on it; called with
        the lock held. The reference is taken before the library can hand
        it back. A session that is gone (released, or the server being
        destroyed) gets an object that is not attached: its calls fail as
        those of any ended session."""
        session = Session(self, session_id, client_id)
        _incref(session)
        if lib.netsys_session_set_user_data(self._handle, session_id, id(session)) != _ffi.OK:
            _decref(session)
        return session

    # -- dispatch (dispatcher thread) ------------------------------------------

    def _dispatch(self, batch: List[Any]) -> None:
        """Run the handlers for one polled batch, in order."""
        if type(batch) is MessageBatch:
            self._dispatch_messages(batch.sids, batch.datas)
            return
        # Every session of the batch is looked up before any handler runs,
        # so a handler that destroys the server does not leave the rest of
        # the batch without its objects.
        wanted: Dict[int, Any] = {}
        for etype, _status, sid, data in batch:
            if not sid:
                continue
            if etype == _ffi.EVENT_ERROR:
                wanted.setdefault(sid, _EXISTING_ONLY)
            elif wanted.get(sid, _EXISTING_ONLY) is _EXISTING_ONLY:
                wanted[sid] = data if etype == _ffi.EVENT_CONNECT else None
        recent = self._recent
        sessions = {sid: recent[sid] for sid in wanted if sid in recent}
        missing = {sid: want for sid, want in wanted.items() if sid not in sessions}
        if missing:
            sessions.update(self._resolve(missing))
        for etype, status, sid, data in batch:
            if etype == _ffi.EVENT_MESSAGE:
                self._dispatch_messages((sid,), (data,), sessions)
            elif etype == _ffi.EVENT_CONNECT:
                self._call(self._on_connect, "on_connect", sessions[sid])
            elif etype == _ffi.EVENT_DISCONNECT:
                session = sessions[sid]
                state = SessionState.DISCONNECTED
                try:
                    state = session.state
                except NetsysError:
                    pass
                session._closed_state = state if state in (SessionState.DISCONNECTED, SessionState.ERROR) \
                    else SessionState.DISCONNECTED
                self._call(self._on_disconnect, "on_disconnect", session, data)
                self._recent.pop(sid, None)  # the library lets go of it at the next poll
                self._release_poll_due = True
            elif etype == _ffi.EVENT_ERROR:
                self._library_error(sessions[sid] if sid else None, status, data, True)
            elif etype == _ffi.EVENT_STOPPED:
                self._stopped.set()

    def _dispatch_messages(self, sids: Sequence[int], datas: Sequence[bytes],
                           sessions: Optional[Dict[int, Any]] = None) -> None:
        """The hot loop: a batch made only of messages (``sessions``: the
        objects its caller has already looked up; else the carried ones).

        A dict lookup per message costs about 20 ns however it is spelled
        (a Python-level subscript or C-level ``map``), so the common shape,
        every message of one session, has no per-message lookup at all:
        ``list.count`` checks the shape in C, and the loop runs over the
        data alone (_to_session). Other batches keep one dict lookup per
        message (_to_sessions). The two loops are written out rather than
        sharing a per-message call, which would cost more than the lookup
        it saves; each is the C extension's where that is faster
        (netsys._speedups), with the same behaviour."""
        if self._on_message is None or not sids:
            return
        if sessions is None:
            sessions = self._recent
            if len(sessions) > self._recent_limit:
                sessions = self._recent = {}
        first = sids[0]
        if sids[-1] == first and sids.count(first) == len(sids):
            session = sessions.get(first)
            if session is None:
                session = sessions[first] = self._session_for(first)
            _to_session(self, session, datas)
            return
        _to_sessions(self, sids, datas, sessions)

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


# -- the handler loops (dispatcher thread) --------------------------------------
#
# On every message the handler is read again (a handler may replace or
# remove it: that applies from the next message); an exception, whatever
# it is, goes to _handler_failed and the batch goes on; a result that is
# not None goes to _deliver_result. netsys._accel has the same loops in C.


def _messages_to_session(server: Server, session: Session, datas: Iterable[bytes]) -> None:
    """Every message of a batch from one session, whose object is known."""
    for data in datas:
        on_message = server._on_message
        if on_message is None:
            continue
        try:
            result = on_message(session, data)
        except BaseException as exc:  # noqa: BLE001 - the promise: never propagate
            server._handler_failed("on_message", exc, session)
            continue
        if result is not None:
            server._deliver_result(result, "on_message", (session,))


def _messages_to_sessions(server: Server, sids: Iterable[int], datas: Iterable[bytes],
                          sessions: Dict[int, Any]) -> None:
    """The messages of several sessions: each object from ``sessions``, or
    made when its session is first met."""
    for sid, data in zip(sids, datas):
        on_message = server._on_message
        if on_message is None:
            continue
        session = sessions.get(sid)
        if session is None:
            # Looked up when first met, not before the batch: a session
            # met after a handler destroyed the server gets a new object.
            session = sessions[sid] = server._session_for(sid)
        try:
            result = on_message(session, data)
        except BaseException as exc:  # noqa: BLE001 - the promise: never propagate
            server._handler_failed("on_message", exc, session)
            continue
        if result is not None:
            server._deliver_result(result, "on_message", (session,))


#: The loops the dispatcher runs: the C extension's where it has them.
_to_session: Callable[[Server, Session, Iterable[bytes]], None] = \
    _speedups.dispatch_session or _messages_to_session
_to_sessions: Callable[[Server, Iterable[int], Iterable[bytes], Dict[int, Any]], None] = \
    _speedups.dispatch_sessions or _messages_to_sessions
