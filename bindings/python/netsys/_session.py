"""Server-side sessions: a thin view of ``(server handle, session id)``.

A :class:`Session` holds no connection state of its own; every property and
method asks the library, which owns the session. Once the library has
forgotten the session (it disconnected), calls that need it raise
:class:`~netsys.SessionClosedError`, and ``state`` reports
``SessionState.DISCONNECTED`` (or ``ERROR``).
"""

from __future__ import annotations

import ctypes
import weakref
from typing import TYPE_CHECKING, Any, Iterator, List, MutableMapping, Optional, Tuple

from . import _ffi
from .exceptions import NetsysError, SessionClosedError
from .types import SessionState, SessionStatistics, time_from_unix_ns

if TYPE_CHECKING:  # pragma: no cover
    from ._server import Server


def split_address(text: str) -> Tuple[str, int]:
    """Split the library's "ip:port" / "[ipv6]:port" into (host, port)."""
    host, _, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return host, int(port)
    except ValueError:
        return text, 0


class Session:
    """One client connection of a :class:`~netsys.Server`.

    Sessions are created by the server and handed to its handlers; the same
    object is passed to every handler of one connection and returned by
    ``Server.sessions()``, ``Server.session(id)`` and
    ``Server.group_members()``, so attributes set on it by the application
    stay there for the connection's lifetime. The library holds the object
    while the connection lasts and lets go of it after the disconnect
    handler; from then on it lives as long as the program keeps it.
    """

    __slots__ = ("_server", "_handle", "_id", "_client_id", "_remote", "_closed_state", "_data", "__weakref__",
                 "__dict__")

    def __init__(self, server: "Server", session_id: int, client_id: Optional[str] = None) -> None:
        # Weak: the library holds every open session's object, so a strong
        # reference here would keep a server the program dropped alive (and
        # serving) for as long as a client stays connected.
        self._server = weakref.ref(server)
        self._handle = server._handle
        self._id = session_id
        self._client_id = client_id
        self._remote: Optional[Tuple[str, int]] = None
        #: Set when the server delivered the session's disconnect.
        self._closed_state: Optional[SessionState] = None
        self._data: Optional[SessionData] = None

    # -- identity --------------------------------------------------------

    @property
    def id(self) -> int:
        """The id the server gave this connection (never 0, never reused)."""
        return self._id

    @property
    def server(self) -> "Server":
        """The server this session belongs to. A session does not keep its
        server alive: once the program has dropped the server and it has
        been garbage-collected (which closes it), this raises
        InvalidHandleError, like the calls of a closed server."""
        server = self._server()
        if server is None:
            raise _ffi.closed_error("the server of this session")
        return server

    @property
    def client_id(self) -> str:
        """The client id the peer announced in its handshake."""
        if self._client_id is None:
            self._client_id = self._fetch(_ffi.native().netsys_session_client_id, "client_id")
        return self._client_id

    def _remote_pair(self) -> Tuple[str, int]:
        if self._remote is None:
            self._remote = split_address(self._fetch(_ffi.native().netsys_session_remote_address,
                                                     "remote_address"))
        return self._remote

    @property
    def remote_address(self) -> str:
        """The peer's IP address (without the port)."""
        return self._remote_pair()[0]

    @property
    def remote_port(self) -> int:
        """The peer's TCP port."""
        return self._remote_pair()[1]

    @property
    def local_address(self) -> str:
        """The server-side "ip:port" of this connection."""
        return self._fetch(_ffi.native().netsys_session_local_address, "local_address")

    @property
    def state(self) -> SessionState:
        """The session's life-cycle state."""
        if self._closed_state is not None:
            return self._closed_state
        state = ctypes.c_int(0)
        status = _ffi.native().netsys_session_get_state(self._handle, self._id, ctypes.byref(state))
        if status == _ffi.E_NOT_FOUND or status == _ffi.E_INVALID_HANDLE:
            return SessionState.DISCONNECTED
        _ffi.check(status, "session state")
        return SessionState(state.value)

    @property
    def is_connected(self) -> bool:
        """True while the session is open for messages."""
        return self.state == SessionState.CONNECTED

    # -- messages --------------------------------------------------------

    def send(self, data: "bytes | bytearray | memoryview | str") -> None:
        """Queue a message for the client without blocking (str is sent as
        UTF-8). Raises BackpressureError when the client reads too slowly,
        MessageTooLargeError, or SessionClosedError once the session ended."""
        raw = _ffi.payload(data)
        status = _ffi.native().netsys_session_send(self._handle, self._id, raw, len(raw))
        if status:
            self._raise(status, "send")

    def send_timeout(self, data: "bytes | bytearray | memoryview | str", timeout: float) -> None:
        """As :meth:`send`, but wait up to ``timeout`` seconds for room in a
        full queue (the GIL is released meanwhile); NetsysTimeoutError
        after that."""
        raw = _ffi.payload(data)
        status = _ffi.native().netsys_session_send_timeout(self._handle, self._id, raw, len(raw),
                                                           _ffi.timeout_ms(timeout))
        if status:
            self._raise(status, "send")

    def disconnect(self, reason: str = "disconnected by server") -> None:
        """Close the session gracefully: queued messages are flushed, then
        the client receives CLOSE with ``reason``. Closing a session that has
        already ended does nothing."""
        status = _ffi.native().netsys_session_disconnect(self._handle, self._id, _ffi.c_text(reason, "reason"))
        if status in (_ffi.E_NOT_FOUND, _ffi.E_CLOSED):
            return
        _ffi.check(status, f"disconnect session {self._id}")

    def pause_reading(self) -> None:
        """Stop reading from this client (TCP backpressure) until
        :meth:`resume_reading`."""
        self._check(_ffi.native().netsys_session_pause_reading(self._handle, self._id), "pause_reading")

    def resume_reading(self) -> None:
        """Resume reading paused by :meth:`pause_reading`."""
        self._check(_ffi.native().netsys_session_resume_reading(self._handle, self._id), "resume_reading")

    # -- groups ----------------------------------------------------------

    def join_group(self, group: str) -> None:
        """Add the session to ``group`` (created on first use)."""
        self._check(_ffi.native().netsys_session_join_group(self._handle, self._id, _ffi.c_text(group, "group")),
                    "join_group")

    def leave_group(self, group: str) -> None:
        """Remove the session from ``group`` (no error if not a member)."""
        self._check(_ffi.native().netsys_session_leave_group(self._handle, self._id, _ffi.c_text(group, "group")),
                    "leave_group")

    def in_group(self, group: str) -> bool:
        """Whether the session belongs to ``group``."""
        member = ctypes.c_bool(False)
        self._check(_ffi.native().netsys_session_in_group(self._handle, self._id, _ffi.c_text(group, "group"),
                                                          ctypes.byref(member)), "in_group")
        return member.value

    @property
    def groups(self) -> List[str]:
        """The session's groups, sorted."""
        try:
            return _ffi.fetch_string_list(_ffi.native().netsys_session_groups, self._handle, self._id,
                                          context="groups")
        except NetsysError as exc:
            self._translate(exc)
            raise

    # -- data and statistics -----------------------------------------------

    @property
    def data(self) -> "SessionData":
        """The session's string key/value store (a MutableMapping[str, str]),
        kept by the library for the connection's lifetime."""
        if self._data is None:
            self._data = SessionData(self)
        return self._data

    def statistics(self) -> SessionStatistics:
        """A snapshot of this session's counters."""
        stats = _ffi.SessionStats()
        stats.struct_size = ctypes.sizeof(stats)
        self._check(_ffi.native().netsys_session_get_stats(self._handle, self._id, ctypes.byref(stats)),
                    "statistics")
        return SessionStatistics(
            messages_sent=stats.messages_sent,
            messages_received=stats.messages_received,
            bytes_sent=stats.bytes_sent,
            bytes_received=stats.bytes_received,
            errors=stats.errors,
            last_message_time=time_from_unix_ns(stats.last_message_ns),
        )

    def reset_statistics(self) -> None:
        """Zero this session's counters."""
        self._check(_ffi.native().netsys_session_reset_stats(self._handle, self._id), "reset_statistics")

    # -- plumbing --------------------------------------------------------

    def _fetch(self, fn: Any, what: str) -> str:
        try:
            return _ffi.fetch_string(fn, self._handle, self._id, context=what)
        except NetsysError as exc:
            self._translate(exc)
            raise

    def _translate(self, exc: NetsysError) -> None:
        if exc.code == _ffi.E_NOT_FOUND:
            raise SessionClosedError(f"session {self._id} has ended: {exc.message}", exc.code,
                                     exc.code_name) from None

    def _raise(self, status: int, what: str) -> None:
        exc = _ffi.error(status, f"session {self._id}: {what}")
        self._translate(exc)
        raise exc

    def _check(self, status: int, what: str) -> None:
        if status:
            self._raise(status, what)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Session) and other._handle == self._handle and other._id == self._id

    def __hash__(self) -> int:
        return hash((self._handle, self._id))

    def __repr__(self) -> str:
        return f"<netsys.Session id={self._id} client_id={self._client_id!r}>"


class SessionData(MutableMapping[str, str]):
    """Dict-like view of a session's key/value data, stored in the library
    (so C, C++ and Python code of one process see the same values)."""

    __slots__ = ("_session",)

    def __init__(self, session: Session) -> None:
        self._session = session

    def _args(self) -> Tuple[int, int]:
        return self._session._handle, self._session._id

    def __getitem__(self, key: str) -> str:
        try:
            return _ffi.fetch_string(_ffi.native().netsys_session_data_get, *self._args(),
                                     _ffi.c_text(key, "key"), context="data")
        except NetsysError as exc:
            if exc.code != _ffi.E_NOT_FOUND:
                raise
            # NOT_FOUND means either "no such key" or "no such session".
            if not self._session_alive():
                self._session._translate(exc)
            raise KeyError(key) from None

    def __setitem__(self, key: str, value: str) -> None:
        self._session._check(_ffi.native().netsys_session_data_set(*self._args(), _ffi.c_text(key, "key"),
                                                                   _ffi.c_text(value, "value")), "data")

    def __delitem__(self, key: str) -> None:
        if not self._contains(key):
            raise KeyError(key)
        self._session._check(_ffi.native().netsys_session_data_remove(*self._args(), _ffi.c_text(key, "key")),
                             "data")

    def _contains(self, key: str) -> bool:
        present = ctypes.c_bool(False)
        self._session._check(_ffi.native().netsys_session_data_has(*self._args(), _ffi.c_text(key, "key"),
                                                                   ctypes.byref(present)), "data")
        return present.value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._contains(key)

    def _session_alive(self) -> bool:
        return bool(_ffi.native().netsys_server_has_session(*self._args()) == _ffi.OK)

    def keys_list(self) -> List[str]:
        """The keys, sorted (one library call)."""
        try:
            return _ffi.fetch_string_list(_ffi.native().netsys_session_data_keys, *self._args(), context="data")
        except NetsysError as exc:
            self._session._translate(exc)
            raise

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys_list())

    def __len__(self) -> int:
        return len(self.keys_list())

    def clear(self) -> None:
        """Remove every key (one library call)."""
        self._session._check(_ffi.native().netsys_session_data_clear(*self._args()), "data")

    def __repr__(self) -> str:
        return f"SessionData({dict(self.items())!r})"
