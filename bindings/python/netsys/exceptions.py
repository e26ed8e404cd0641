"""Exceptions raised by netsys.

Every failure is a :class:`NetsysError`. Each status code of the C ABI has
one subclass, and the subclasses also derive from the builtin exception that
fits, so ``except ConnectionError``, ``except TimeoutError`` and
``except ValueError`` work as Python programmers expect:

=========================  ======================  ===========================
class                      builtin base            C status (NETSYS_E_...)
=========================  ======================  ===========================
InvalidHandleError         ValueError              INVALID_HANDLE (closed object)
InvalidArgumentError       ValueError              NULL_POINTER, INVALID_ARGUMENT
MessageTooLargeError       ValueError              TOO_LARGE
BackpressureError          BlockingIOError         WOULD_BLOCK
NetsysTimeoutError         TimeoutError            TIMEOUT
ConnectionClosedError      ConnectionError         CLOSED
SessionClosedError         ConnectionError,        NOT_FOUND from a Session
                           LookupError
NotConnectedError          ConnectionError         NOT_CONNECTED
ConnectionRejectedError    ConnectionRefusedError  REJECTED
ServerFullError            ConnectionRefusedError  SERVER_FULL
ConnectError               ConnectionError         CONNECT
ProtocolError              ConnectionError         PROTOCOL
NotDeliveredError          ConnectionError         NOT_DELIVERED
BadAddressError            ValueError, OSError     BAD_ADDRESS
BindError                  OSError                 BIND
ResolveError               OSError                 RESOLVE
NotRunningError            RuntimeError            NOT_RUNNING
AlreadyRunningError        RuntimeError            ALREADY_RUNNING
NotFoundError              LookupError             NOT_FOUND
UnsupportedError           NotImplementedError     UNSUPPORTED
WrongModeError             RuntimeError            WRONG_MODE (e.g. recv() while
                                                   an on_message handler is set)
ResourceError              OSError                 IO
TransformError             (none)                  TRANSFORM
InternalError              (none)                  INTERNAL, and statuses the
                                                   binding rules out by design
=========================  ======================  ===========================

The mapping lives in ``_ffi.STATUS_CLASSES``; a status this package does not
know (from a newer library) raises a plain :class:`NetsysError` carrying the
code and the library's message.
"""

from __future__ import annotations

from typing import Any, Tuple

class NetsysError(Exception):
    """Base class of every error raised by netsys.

    Attributes:
        code: the C ABI status code (``0`` when the error did not come from
            the library, e.g. a loader or fork error).
        code_name: the symbolic name of ``code`` (``"NETSYS_E_TIMEOUT"``), or
            ``""``.
        message: the library's detailed message for this failure.
    """

    code: int
    code_name: str
    message: str

    def __new__(cls, message: str = "", code: int = 0, code_name: str = "") -> "NetsysError":
        # Pass the message alone: OSError.__new__ would otherwise read
        # (message, code) as (errno, strerror).
        return super().__new__(cls, message)

    def __init__(self, message: str = "", code: int = 0, code_name: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.code_name = code_name

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> Tuple[Any, Tuple[str, int, str]]:  # keep pickling (multiprocessing) working
        return (type(self), (self.message, self.code, self.code_name))


class LibraryNotFoundError(NetsysError, OSError):
    """libnetsys.so could not be found or opened; the message lists where it
    was looked for."""


class LibraryVersionError(NetsysError, ImportError):
    """The loaded libnetsys.so is too old (or of another major version) for
    this package."""


class ForkedProcessError(NetsysError, RuntimeError):
    """netsys was used in a child created by ``fork()`` after the library had
    started in the parent. The Go runtime inside libnetsys does not survive a
    fork: use ``multiprocessing``'s "spawn" or "forkserver" start method, or
    fork before the first use of netsys."""


class InvalidHandleError(NetsysError, ValueError):
    """The object was destroyed (closed) or never valid."""


class InvalidArgumentError(NetsysError, ValueError):
    """A parameter is out of range or malformed."""


class MessageTooLargeError(NetsysError, ValueError):
    """The message exceeds the local or the peer's ``message_size_limit``."""


class BackpressureError(NetsysError, BlockingIOError):
    """The connection's outbound queue is at its high-water mark: the peer
    reads more slowly than we send. Retry later, or slow down."""


class NetsysTimeoutError(NetsysError, TimeoutError):
    """An operation did not finish within its deadline."""


class ConnectionClosedError(NetsysError, ConnectionError):
    """The server, client or session is stopped or closing."""


class NotConnectedError(NetsysError, ConnectionError):
    """The client has no open connection."""


class SessionClosedError(ConnectionClosedError, LookupError):
    """The session has ended (the library no longer knows its id)."""


class ConnectError(NetsysError, ConnectionError):
    """The TCP connection failed: refused, unreachable, or reset during the
    handshake."""


class ConnectionRejectedError(NetsysError, ConnectionRefusedError):
    """The server answered the handshake with REJECT."""


class ServerFullError(ConnectionRejectedError):
    """The server refused the connection because it is at
    ``max_connections``."""


class ProtocolError(NetsysError, ConnectionError):
    """The peer violated the wire protocol."""


class NotDeliveredError(NetsysError, ConnectionError):
    """Messages accepted by ``send`` never reached the peer."""


class AddressError(NetsysError, OSError):
    """Base of the address failures below."""


class BadAddressError(AddressError, ValueError):
    """An address or host name is malformed (e.g. a bind address that is not
    an IP literal)."""


class BindError(AddressError):
    """The server could not listen: address in use, no permission, not
    available."""


class ResolveError(AddressError):
    """The client could not resolve the host name."""


class NotRunningError(NetsysError, RuntimeError):
    """The server or client has not been started."""


class AlreadyRunningError(NetsysError, RuntimeError):
    """``start`` or ``connect`` was called on a running object."""


class NotFoundError(NetsysError, LookupError):
    """No session has the given id."""


class UnsupportedError(NetsysError, NotImplementedError):
    """An option or feature this library version does not know, or that does
    not apply to this object."""


class WrongModeError(NetsysError, RuntimeError):
    """The call does not fit how the object delivers messages, e.g.
    ``Client.recv()`` while an ``on_message`` handler is set."""


class ResourceError(NetsysError, OSError):
    """An operating-system resource failed (out of file descriptors, ...)."""


class TransformError(NetsysError):
    """A compression codec or a transform plugin failed on a message."""


class InternalError(NetsysError):
    """A bug inside libnetsys (a recovered Go panic). The process is safe; the
    message says what failed."""
