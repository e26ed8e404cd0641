"""The ctypes declaration of include/netsys.h, and the helpers every wrapper
uses to call it: status checking, the size-query convention, the fork guard.

The library is opened lazily, on the first call that needs it, so that
``import netsys`` works (and ``netsys.__version__`` can be read) on a machine
without libnetsys, and so that a process may ``fork()`` after importing netsys
as long as it has not used it yet.

Every foreign function gets ``argtypes`` and ``restype`` here; wrappers call
``native().netsys_xxx`` and never touch ``ctypes.CDLL`` themselves. ctypes
releases the GIL for the duration of every call into a ``CDLL``, so the
blocking calls (connect, stop, wait, poll, destroy) never hold it.
"""

from __future__ import annotations

import ctypes
import os
import threading
from ctypes import (
    POINTER,
    Structure,
    c_bool,
    c_char_p,
    c_int,
    c_int32,
    c_int64,
    c_size_t,
    c_uint32,
    c_uint64,
    c_void_p,
)
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple, Type, Union

from . import exceptions as _exc
from ._loader import load_library
from ._version import __version__

# --------------------------------------------------------------------------
# Constants of netsys.h. The values are the ABI and never change meaning.
# --------------------------------------------------------------------------

#: Status codes (enum netsys_status).
STATUS_NAMES: Dict[int, str] = {
    0: "NETSYS_OK",
    1: "NETSYS_E_INVALID_HANDLE",
    2: "NETSYS_E_NULL_POINTER",
    3: "NETSYS_E_INVALID_ARGUMENT",
    4: "NETSYS_E_TOO_LARGE",
    5: "NETSYS_E_WOULD_BLOCK",
    6: "NETSYS_E_TIMEOUT",
    7: "NETSYS_E_CLOSED",
    8: "NETSYS_E_NOT_CONNECTED",
    9: "NETSYS_E_NOT_RUNNING",
    10: "NETSYS_E_ALREADY_RUNNING",
    11: "NETSYS_E_SERVER_FULL",
    12: "NETSYS_E_REJECTED",
    13: "NETSYS_E_PROTOCOL",
    14: "NETSYS_E_NOT_FOUND",
    15: "NETSYS_E_BAD_ADDRESS",
    16: "NETSYS_E_BIND",
    17: "NETSYS_E_RESOLVE",
    18: "NETSYS_E_CONNECT",
    19: "NETSYS_E_NOT_DELIVERED",
    20: "NETSYS_E_TRANSFORM",
    21: "NETSYS_E_BUFFER_TOO_SMALL",
    22: "NETSYS_E_UNSUPPORTED",
    23: "NETSYS_E_WRONG_MODE",
    24: "NETSYS_E_BUSY",
    25: "NETSYS_E_DEADLOCK",
    26: "NETSYS_E_IO",
    27: "NETSYS_E_INTERNAL",
}
OK = 0
E_INVALID_HANDLE = 1
E_WOULD_BLOCK = 5
E_TIMEOUT = 6
E_CLOSED = 7
E_NOT_FOUND = 14
E_BUFFER_TOO_SMALL = 21

#: Which exception class each status raises (see exceptions.py's table).
STATUS_CLASSES: Dict[int, Type[_exc.NetsysError]] = {
    1: _exc.InvalidHandleError,
    2: _exc.InvalidArgumentError,
    3: _exc.InvalidArgumentError,
    4: _exc.MessageTooLargeError,
    5: _exc.BackpressureError,
    6: _exc.NetsysTimeoutError,
    7: _exc.ConnectionClosedError,
    8: _exc.NotConnectedError,
    9: _exc.NotRunningError,
    10: _exc.AlreadyRunningError,
    11: _exc.ServerFullError,
    12: _exc.ConnectionRejectedError,
    13: _exc.ProtocolError,
    14: _exc.NotFoundError,
    15: _exc.BadAddressError,
    16: _exc.BindError,
    17: _exc.ResolveError,
    18: _exc.ConnectError,
    19: _exc.NotDeliveredError,
    20: _exc.TransformError,
    21: _exc.InternalError,  # the binding always sizes its buffers: a bug
    22: _exc.UnsupportedError,
    23: _exc.WrongModeError,
    24: _exc.InternalError,  # one poller per handle by construction
    25: _exc.InternalError,  # the binding never waits on an I/O thread
    26: _exc.ResourceError,
    27: _exc.InternalError,
}

# enum netsys_option
OPT_MESSAGE_SIZE_LIMIT = 1
OPT_SEND_QUEUE_LIMIT = 2
OPT_NO_DELAY = 3
OPT_KEEP_ALIVE = 4
OPT_RECEIVE_BUFFER_SIZE = 5
OPT_SEND_BUFFER_SIZE = 6
OPT_IDLE_TIMEOUT_MS = 7
OPT_COMPRESSION = 8
OPT_MIN_COMPRESS_SIZE = 9
OPT_TRANSFORMS = 10
OPT_SHUTDOWN_TIMEOUT_MS = 11
OPT_FRAME_TIMEOUT_MS = 12
OPT_SEND_STALL_TIMEOUT_MS = 13
OPT_ACKNOWLEDGED = 14
OPT_ACK_BUFFER_BYTES = 15
OPT_PORT = 20
OPT_BIND_ADDRESS = 21
OPT_MAX_CONNECTIONS = 22
OPT_HANDSHAKE_TIMEOUT_MS = 23
OPT_LOOPS = 24
OPT_SPIN_BEFORE_WAIT_US = 25
OPT_MAX_PENDING_HANDSHAKES = 26
OPT_MAX_HANDSHAKES_PER_ADDRESS = 27
OPT_CLIENT_ID = 40
OPT_CONNECT_TIMEOUT_MS = 41
OPT_AUTO_RECONNECT = 42
OPT_RECONNECT_INTERVAL_MS = 43
OPT_RECONNECT_MAX_INTERVAL_MS = 44
OPT_RECONNECT_QUEUE_LIMIT = 45
OPT_RECONNECT_QUEUE_BYTES = 46
OPT_RECONNECT_QUEUE_TIMEOUT_MS = 47
OPT_DELIVERY = 60
OPT_CALLBACK_WORKERS = 61
OPT_EVENT_QUEUE_LIMIT = 62
OPT_EVENT_QUEUE_BYTES = 63

# enum netsys_delivery
DELIVERY_EVENTS = 1

# enum netsys_event_type
EVENT_CONNECT = 1
EVENT_MESSAGE = 2
EVENT_DISCONNECT = 3
EVENT_ERROR = 4
EVENT_STOPPED = 5

#: The library version this package was written against is the package's
#: own version (they are released together): the library must have the
#: same major and at least this minor (netsys.h's compatibility rule).
REQUIRED_MAJOR, REQUIRED_MINOR = (int(part) for part in __version__.split(".")[:2])


class Event(Structure):
    """struct netsys_event; the binding reads arrays of it with ``struct``
    (see _events.py), this type documents and checks the layout."""

    _fields_ = [
        ("type", c_uint32),
        ("status", c_int32),
        ("session_id", c_uint64),
        ("data", c_void_p),
        ("size", c_size_t),
    ]


class ServerStats(Structure):
    """struct netsys_server_stats."""

    _fields_ = [
        ("struct_size", c_size_t),
        ("total_connections", c_uint64),
        ("current_connections", c_uint64),
        ("rejected_connections", c_uint64),
        ("messages_sent", c_uint64),
        ("messages_received", c_uint64),
        ("bytes_sent", c_uint64),
        ("bytes_received", c_uint64),
        ("protocol_errors", c_uint64),
        ("oversize_messages", c_uint64),
        ("start_time_ns", c_int64),
        ("last_activity_ns", c_int64),
    ]


class SessionStats(Structure):
    """struct netsys_session_stats."""

    _fields_ = [
        ("struct_size", c_size_t),
        ("messages_sent", c_uint64),
        ("messages_received", c_uint64),
        ("bytes_sent", c_uint64),
        ("bytes_received", c_uint64),
        ("errors", c_uint64),
        ("last_message_ns", c_int64),
        ("connect_time_ns", c_int64),
        ("last_activity_ns", c_int64),
    ]


class ClientStats(Structure):
    """struct netsys_client_stats."""

    _fields_ = [
        ("struct_size", c_size_t),
        ("messages_sent", c_uint64),
        ("messages_received", c_uint64),
        ("bytes_sent", c_uint64),
        ("bytes_received", c_uint64),
        ("errors", c_uint64),
        ("reconnects", c_uint64),
        ("last_message_ns", c_int64),
    ]


#: netsys_transform_fn: (user_data, input, input_size, output,
#: output_capacity, *output_size, limit) -> status. Pointers arrive as ints
#: (or None), so that a callback reads and writes them with string_at/memmove.
TRANSFORM_FN = ctypes.CFUNCTYPE(c_int, c_void_p, c_void_p, c_size_t, c_void_p, c_size_t, POINTER(c_size_t),
                                c_size_t)

#: netsys_session_release_fn: (user_data, server, session_id, session_data).
#: The session's pointer arrives as an int.
SESSION_RELEASE_FN = ctypes.CFUNCTYPE(None, c_void_p, c_uint64, c_uint64, c_void_p)

_st = c_int  # netsys_status
_h = c_uint64  # netsys_server / netsys_client / session id
_sz = POINTER(c_size_t)
_buf = c_void_p  # caller-owned output buffers (ctypes char arrays)

#: name -> (restype, argtypes), in the order of netsys.h.
_SIGNATURES: Dict[str, Tuple[object, List[object]]] = {
    "netsys_version": (c_uint32, []),
    "netsys_version_string": (c_char_p, []),
    "netsys_strerror": (c_char_p, [c_int]),
    "netsys_last_error": (_st, []),
    "netsys_last_error_message": (c_size_t, [_buf, c_size_t]),
    "netsys_register_transform": (_st, [c_char_p, TRANSFORM_FN, TRANSFORM_FN, c_void_p]),
    "netsys_unregister_transform": (_st, [c_char_p]),
    "netsys_live_handles": (_st, [_sz, _sz]),
    # server
    "netsys_server_create": (_st, [POINTER(_h), c_char_p]),
    "netsys_server_destroy": (_st, [_h]),
    "netsys_server_set_int": (_st, [_h, c_int, c_int64]),
    "netsys_server_get_int": (_st, [_h, c_int, POINTER(c_int64)]),
    "netsys_server_set_string": (_st, [_h, c_int, c_char_p]),
    "netsys_server_get_string": (_st, [_h, c_int, _buf, c_size_t, _sz]),
    "netsys_server_set_session_release_callback": (_st, [_h, SESSION_RELEASE_FN, c_void_p]),
    "netsys_server_start": (_st, [_h]),
    "netsys_server_stop": (_st, [_h]),
    "netsys_server_wait": (_st, [_h, c_int]),
    "netsys_server_is_running": (_st, [_h, POINTER(c_bool)]),
    "netsys_server_port": (_st, [_h, POINTER(c_int)]),
    "netsys_server_connection_count": (_st, [_h, _sz]),
    "netsys_server_id": (_st, [_h, _buf, c_size_t, _sz]),
    "netsys_server_get_stats": (_st, [_h, POINTER(ServerStats)]),
    "netsys_server_reset_stats": (_st, [_h]),
    "netsys_server_sessions": (_st, [_h, c_void_p, c_size_t, _sz]),
    "netsys_server_has_session": (_st, [_h, _h]),
    "netsys_server_broadcast": (_st, [_h, c_char_p, c_size_t, _sz, _sz]),
    "netsys_server_broadcast_to_group": (_st, [_h, c_char_p, c_char_p, c_size_t, _sz, _sz]),
    "netsys_server_group_members": (_st, [_h, c_char_p, c_void_p, c_size_t, _sz]),
    "netsys_server_disconnect_all": (_st, [_h, c_char_p]),
    "netsys_server_poll": (_st, [_h, c_void_p, c_size_t, c_int, _sz]),
    "netsys_server_event_fd": (_st, [_h, POINTER(c_int)]),
    "netsys_server_hold_events": (_st, [_h, c_int64, c_int64]),
    # sessions
    "netsys_session_send": (_st, [_h, _h, c_char_p, c_size_t]),
    "netsys_session_send_timeout": (_st, [_h, _h, c_char_p, c_size_t, c_int]),
    "netsys_session_disconnect": (_st, [_h, _h, c_char_p]),
    "netsys_session_get_state": (_st, [_h, _h, POINTER(c_int)]),
    "netsys_session_client_id": (_st, [_h, _h, _buf, c_size_t, _sz]),
    "netsys_session_remote_address": (_st, [_h, _h, _buf, c_size_t, _sz]),
    "netsys_session_local_address": (_st, [_h, _h, _buf, c_size_t, _sz]),
    "netsys_session_get_stats": (_st, [_h, _h, POINTER(SessionStats)]),
    "netsys_session_reset_stats": (_st, [_h, _h]),
    "netsys_session_pause_reading": (_st, [_h, _h]),
    "netsys_session_resume_reading": (_st, [_h, _h]),
    "netsys_session_set_user_data": (_st, [_h, _h, c_void_p]),
    "netsys_session_get_user_data": (_st, [_h, _h, POINTER(c_void_p)]),
    "netsys_session_join_group": (_st, [_h, _h, c_char_p]),
    "netsys_session_leave_group": (_st, [_h, _h, c_char_p]),
    "netsys_session_in_group": (_st, [_h, _h, c_char_p, POINTER(c_bool)]),
    "netsys_session_groups": (_st, [_h, _h, _buf, c_size_t, _sz, _sz]),
    "netsys_session_data_set": (_st, [_h, _h, c_char_p, c_char_p]),
    "netsys_session_data_get": (_st, [_h, _h, c_char_p, _buf, c_size_t, _sz]),
    "netsys_session_data_has": (_st, [_h, _h, c_char_p, POINTER(c_bool)]),
    "netsys_session_data_remove": (_st, [_h, _h, c_char_p]),
    "netsys_session_data_clear": (_st, [_h, _h]),
    "netsys_session_data_keys": (_st, [_h, _h, _buf, c_size_t, _sz, _sz]),
    # client
    "netsys_client_create": (_st, [POINTER(_h), c_char_p]),
    "netsys_client_destroy": (_st, [_h]),
    "netsys_client_set_int": (_st, [_h, c_int, c_int64]),
    "netsys_client_get_int": (_st, [_h, c_int, POINTER(c_int64)]),
    "netsys_client_set_string": (_st, [_h, c_int, c_char_p]),
    "netsys_client_get_string": (_st, [_h, c_int, _buf, c_size_t, _sz]),
    "netsys_client_connect": (_st, [_h, c_char_p, c_int]),
    "netsys_client_connect_async": (_st, [_h, c_char_p, c_int]),
    "netsys_client_stop": (_st, [_h]),
    "netsys_client_wait": (_st, [_h, c_int]),
    "netsys_client_is_connected": (_st, [_h, POINTER(c_bool)]),
    "netsys_client_is_running": (_st, [_h, POINTER(c_bool)]),
    "netsys_client_session_id": (_st, [_h, POINTER(_h)]),
    "netsys_client_id": (_st, [_h, _buf, c_size_t, _sz]),
    "netsys_client_send": (_st, [_h, c_char_p, c_size_t]),
    "netsys_client_send_timeout": (_st, [_h, c_char_p, c_size_t, c_int]),
    "netsys_client_get_stats": (_st, [_h, POINTER(ClientStats)]),
    "netsys_client_pause_reading": (_st, [_h]),
    "netsys_client_resume_reading": (_st, [_h]),
    "netsys_client_poll": (_st, [_h, c_void_p, c_size_t, c_int, _sz]),
    "netsys_client_event_fd": (_st, [_h, POINTER(c_int)]),
    "netsys_client_hold_events": (_st, [_h, c_int64, c_int64]),
}


class _Native:
    """The opened library's functions, as attributes named like in C."""

    path: str

    if TYPE_CHECKING:  # the functions are set in __init__, from _SIGNATURES

        def __getattr__(self, name: str) -> Any: ...

    def __init__(self, cdll: ctypes.CDLL, path: str) -> None:
        self.path = path
        missing = []
        for name, (restype, argtypes) in _SIGNATURES.items():
            try:
                fn = getattr(cdll, name)
            except AttributeError:
                missing.append(name)
                continue
            fn.restype = restype
            fn.argtypes = argtypes
            setattr(self, name, fn)
        if "netsys_version" in missing:
            raise _exc.LibraryVersionError(
                f"{path!r} is not libnetsys: it has no netsys_version symbol"
            )
        _check_version(self, path, missing)


class _ForkedNative:
    """Replaces the library in a child created by fork() after netsys started:
    any use raises ForkedProcessError instead of hanging on the dead Go
    runtime (its threads were not copied into the child)."""

    def __getattr__(self, name: str) -> Any:
        raise _exc.ForkedProcessError(
            "netsys cannot be used in a child process created by fork() after "
            "libnetsys was loaded in the parent (the Go runtime does not survive "
            "a fork). Use multiprocessing's 'spawn' or 'forkserver' start method, "
            "or fork before the first use of netsys."
        )


def _unpack_version(packed: int) -> Tuple[int, int, int]:
    return (packed >> 16) & 0xFFFF, (packed >> 8) & 0xFF, packed & 0xFF


def _check_version(native: _Native, path: str, missing: List[str]) -> None:
    major, minor, patch = _unpack_version(native.netsys_version())
    found = f"{major}.{minor}.{patch}"
    if major != REQUIRED_MAJOR or minor < REQUIRED_MINOR:
        raise _exc.LibraryVersionError(
            f"libnetsys at {path!r} is version {found}; netsys {__version__} for Python"
            f" needs {REQUIRED_MAJOR}.x with x >= {REQUIRED_MINOR}"
        )
    if missing:
        raise _exc.LibraryVersionError(
            f"libnetsys at {path!r} (version {found}) lacks functions this package"
            f" needs: {', '.join(missing)}"
        )


_lock = threading.Lock()
_native: Optional[Union[_Native, _ForkedNative]] = None
_forked = False


def native() -> _Native:
    """Return the opened library, opening and checking it on first use.

    Raises LibraryNotFoundError, LibraryVersionError or ForkedProcessError.
    """
    lib = _native
    if lib is None:
        lib = _open()
    if _forked:
        # Raise here, not on the first attribute: callers check this before
        # touching locks that the fork may have copied in a held state.
        lib.netsys_version  # _ForkedNative: raises ForkedProcessError
    return lib  # type: ignore[return-value]


def _open() -> Union[_Native, _ForkedNative]:
    global _native
    with _lock:
        if _native is None:
            if _forked:
                _native = _ForkedNative()
            else:
                cdll, path = load_library()
                _native = _Native(cdll, path)
        return _native


def forked() -> bool:
    """True in a child forked after the library was loaded: objects inherited
    from the parent must then be dropped without touching the library (or
    locks the fork may have copied while held)."""
    return _forked


def _after_fork_in_child() -> None:
    # Only a library that was loaded is unusable: a child of a parent that
    # merely imported netsys may load it fresh.
    global _native, _forked, _lock
    _lock = threading.Lock()  # the parent's lock may have been held by another thread
    if _native is not None:
        _forked = True
        _native = _ForkedNative()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# --------------------------------------------------------------------------
# Status handling
# --------------------------------------------------------------------------


def last_error_message() -> str:
    """The calling thread's detailed message for its last failed call."""
    lib = native()
    buf = ctypes.create_string_buffer(256)
    needed = lib.netsys_last_error_message(buf, len(buf))
    if needed > len(buf):
        buf = ctypes.create_string_buffer(needed)
        lib.netsys_last_error_message(buf, len(buf))
    return buf.value.decode("utf-8", "replace")


def error(status: int, context: str = "", subject: str = "") -> _exc.NetsysError:
    """Build the exception for a failed call's status, with the library's
    detailed message (read on the same thread, right after the call).

    ``context`` says what was being done ("connect to 127.0.0.1:1"); it is
    prepended unless the library's message already says it, or already names
    ``subject`` (e.g. the address), so that nothing is said twice."""
    message = last_error_message()
    name = STATUS_NAMES.get(status, f"netsys status {status}")
    if not message:
        message = native().netsys_strerror(status).decode("utf-8", "replace")
    if context and not message.startswith(context + ":") and not (subject and subject in message):
        message = f"{context}: {message}"
    cls = STATUS_CLASSES.get(status, _exc.NetsysError)
    return cls(message, status, name)


def check(status: int, context: str = "") -> None:
    """Raise the exception for ``status`` unless it is NETSYS_OK."""
    if status:
        raise error(status, context)


def host_port(host: str, port: int) -> str:
    """``host:port`` as the library writes it in messages (IPv6 in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def status_error(status: int, message: str) -> _exc.NetsysError:
    """Build the exception for a status that arrived in an event (its message
    is in the event, not in the thread's last error)."""
    cls = STATUS_CLASSES.get(status, _exc.NetsysError)
    return cls(message, status, STATUS_NAMES.get(status, f"netsys status {status}"))


# --------------------------------------------------------------------------
# Argument and result conversion
# --------------------------------------------------------------------------


def c_text(value: str, what: str) -> bytes:
    """Encode a str argument as the NUL-terminated UTF-8 the C ABI takes."""
    if not isinstance(value, str):
        raise _exc.InvalidArgumentError(
            f"{what} must be a str, not {type(value).__name__}", 3, STATUS_NAMES[3]
        )
    raw = value.encode("utf-8")
    if b"\0" in raw:
        raise _exc.InvalidArgumentError(f"{what} must not contain NUL characters", 3, STATUS_NAMES[3])
    return raw


def payload(data: object) -> bytes:
    """Accept bytes-like or str (sent as UTF-8) message data."""
    kind = type(data)
    if kind is bytes:
        return data  # type: ignore[return-value]
    if kind is str:
        return str(data).encode("utf-8")
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, str):
        return data.encode("utf-8")
    try:
        return bytes(memoryview(data))  # type: ignore[arg-type]
    except TypeError:
        raise _exc.InvalidArgumentError(
            f"message must be bytes-like or str, not {type(data).__name__}", 3, STATUS_NAMES[3]
        ) from None


def fetch_value(fn: Callable[..., int], ctype: Any, *args: object, context: str = "") -> Any:
    """Call ``fn(*args, &out)`` for a scalar out-parameter of C type ``ctype``
    (e.g. ``ctypes.c_bool``) and return its Python value."""
    out = ctype()
    check(fn(*args, ctypes.byref(out)), context)
    return out.value


def fetch_string(fn: Callable[..., int], *args: object, context: str = "") -> str:
    """Call a size-query function ``fn(*args, buf, capacity, &needed)`` and
    return its string, growing the buffer until it fits."""
    needed = c_size_t(0)
    capacity = 128
    while True:
        buf = ctypes.create_string_buffer(capacity)
        status = fn(*args, buf, capacity, ctypes.byref(needed))
        if status == OK:
            return buf.value.decode("utf-8", "replace")
        if status != E_BUFFER_TOO_SMALL:
            raise error(status, context)
        capacity = max(needed.value, capacity * 2)


def fetch_string_list(fn: Callable[..., int], *args: object, context: str = "") -> List[str]:
    """As fetch_string for the string-list convention (NUL-separated)."""
    needed = c_size_t(0)
    count = c_size_t(0)
    capacity = 256
    while True:
        buf = ctypes.create_string_buffer(capacity)
        status = fn(*args, buf, capacity, ctypes.byref(needed), ctypes.byref(count))
        if status == OK:
            if count.value == 0:
                return []
            raw = buf.raw[: needed.value]
            parts = raw.split(b"\0")[: count.value]
            return [p.decode("utf-8", "replace") for p in parts]
        if status != E_BUFFER_TOO_SMALL:
            raise error(status, context)
        capacity = max(needed.value, capacity * 2)


def fetch_ids(fn: Callable[..., int], *args: object, context: str = "") -> List[int]:
    """Call an id-array function ``fn(*args, ids, capacity, &count)``."""
    count = c_size_t(0)
    capacity = 64
    while True:
        ids = (c_uint64 * capacity)()
        status = fn(*args, ids, capacity, ctypes.byref(count))
        if status == OK:
            return list(ids[: count.value])
        if status != E_BUFFER_TOO_SMALL:
            raise error(status, context)
        capacity = max(count.value + 16, capacity * 2)


def library_path() -> str:
    """The absolute path of the loaded library file (from NETSYS_LIBRARY, the
    bundled copy, or the one the loader found on the system path)."""
    return native().path


def library_version() -> str:
    """The loaded library's version, "MAJOR.MINOR.PATCH"."""
    return str(native().netsys_version_string().decode("ascii"))


def live_handles() -> Tuple[int, int]:
    """(servers, clients) not yet destroyed in this process (diagnostics)."""
    servers, clients = c_size_t(0), c_size_t(0)
    check(native().netsys_live_handles(ctypes.byref(servers), ctypes.byref(clients)))
    return servers.value, clients.value


assert ctypes.sizeof(Event) == 32 or ctypes.sizeof(c_void_p) != 8


def timeout_ms(seconds: Optional[float]) -> int:
    """Convert a Python timeout in seconds (None: forever) to the C ABI's
    milliseconds (-1: forever), rounding a tiny positive timeout up to 1 ms
    so that it still waits."""
    if seconds is None:
        return -1
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise _exc.InvalidArgumentError(f"timeout must be a number of seconds or None, not {seconds!r}", 3,
                                        STATUS_NAMES[3])
    if seconds <= 0:
        return 0
    return min(max(int(seconds * 1000.0 + 0.5), 1), 2**31 - 1)


def closed_error(label: str) -> _exc.InvalidHandleError:
    """The error for using an object after close() (like I/O on a closed
    file, a ValueError)."""
    return _exc.InvalidHandleError(f"{label} is closed", E_INVALID_HANDLE, STATUS_NAMES[E_INVALID_HANDLE])
