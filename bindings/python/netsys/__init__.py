"""netsys for Python: TCP messaging servers and clients over libnetsys.

Pure Python over ctypes; no compiler needed (an optional C extension, used
when present, does the per-message work faster: see ``accelerated()``). See
the package README for the tour. This module only re-exports; each concern
lives in its own module.
"""

from __future__ import annotations

from . import exceptions
from ._client import Client
from ._ffi import library_path, library_version, live_handles
from ._server import Server
from ._session import Session, SessionData
from ._speedups import accelerated
from ._transforms import register_transform, unregister_transform
from ._version import __version__
from .exceptions import (
    AlreadyRunningError,
    BackpressureError,
    BadAddressError,
    BindError,
    ConnectError,
    ConnectionClosedError,
    ConnectionRejectedError,
    ForkedProcessError,
    InternalError,
    InvalidArgumentError,
    InvalidHandleError,
    LibraryNotFoundError,
    LibraryVersionError,
    MessageTooLargeError,
    NetsysError,
    NetsysTimeoutError,
    NotConnectedError,
    NotDeliveredError,
    NotFoundError,
    NotRunningError,
    ProtocolError,
    ResolveError,
    ResourceError,
    ServerFullError,
    SessionClosedError,
    TransformError,
    UnsupportedError,
    WrongModeError,
)
from .types import ClientStatistics, ServerStatistics, SessionState, SessionStatistics

#: Short alias: ``except netsys.TimeoutError`` reads naturally and is also
#: caught by ``except TimeoutError``.
TimeoutError = NetsysTimeoutError  # noqa: A001

__all__ = [
    "__version__",
    "library_version",
    "library_path",
    "live_handles",
    "accelerated",
    "register_transform",
    "unregister_transform",
    "Server",
    "Client",
    "Session",
    "SessionData",
    "SessionState",
    "ServerStatistics",
    "SessionStatistics",
    "ClientStatistics",
    "exceptions",
    "NetsysError",
    "AlreadyRunningError",
    "BackpressureError",
    "BadAddressError",
    "BindError",
    "ConnectError",
    "ConnectionClosedError",
    "ConnectionRejectedError",
    "ForkedProcessError",
    "InternalError",
    "InvalidArgumentError",
    "InvalidHandleError",
    "LibraryNotFoundError",
    "LibraryVersionError",
    "MessageTooLargeError",
    "NetsysTimeoutError",
    "NotConnectedError",
    "NotDeliveredError",
    "NotFoundError",
    "NotRunningError",
    "ProtocolError",
    "ResolveError",
    "ResourceError",
    "ServerFullError",
    "SessionClosedError",
    "TimeoutError",
    "TransformError",
    "UnsupportedError",
    "WrongModeError",
]
