"""Transform plugins written in Python: :func:`register_transform` and
:func:`unregister_transform` over ``netsys_register_transform``.

A transform is a named encode/decode pair applied to every message of the
connections that negotiate it (docs/protocol.md section 5), e.g. an
application cipher or a checksum. Unlike handlers, transforms cannot be
delivered as events: the library calls them on its I/O threads (or in
``send``), in the middle of sending or receiving a frame. So this is the one place where the
library calls into Python, through two ctypes callbacks (CFUNCTYPE). Each
call takes the GIL and copies the message in and out, a few microseconds per
message: transforms are for plugins, not for bulk paths (use the built-in
``compression`` for size).

Safety: nothing raised by a Python transform reaches C. An exception, or a
result that is not bytes-like, is logged on the ``"netsys"`` logger and
reported to the library as a failed transform, which closes that one
connection with the error (close code 1011); the process and the other
connections carry on.

Lifetime: the two C function pointers are module-level and never freed; the
library's ``user_data`` is a plain integer naming a registration in
``_registrations``. Registrations are never dropped, not even by
re-registering or unregistering a name: connections that negotiated a
transform keep using the functions they started with until they close, and
the binding cannot know when that is (netsys.h asks the functions to stay
valid that long). The cost is two references per registration.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
from typing import Callable, Dict, NamedTuple, Optional, Tuple

from . import _ffi
from .exceptions import InvalidArgumentError

log = logging.getLogger("netsys")

#: encode or decode: takes the message, returns the transformed bytes.
TransformFunction = Callable[[bytes], bytes]

_E_TOO_LARGE = 4
_E_TRANSFORM = 20


class _Registration(NamedTuple):
    name: str
    encode: TransformFunction
    decode: TransformFunction


#: Registration number (the C user_data) -> functions. Only ever grows (see
#: the module docstring); read without a lock by the I/O threads (a dict
#: lookup is atomic under the GIL).
_registrations: Dict[int, _Registration] = {}
#: Name -> registration number currently registered under it by this module.
_current: Dict[str, int] = {}
_next_number = 1
#: Serializes register/unregister (the C calls and the two dicts).
_lock = threading.Lock()

#: Results that did not fit the library's first buffer, kept for the retry
#: that the size-query protocol makes right after, so that the Python
#: function runs once per message (and a transform whose output size varies
#: between calls, e.g. random padding, still works). Keyed by (registration,
#: direction, input address, input size) and checked against the input bytes,
#: because the retry may come on another thread and an address may be reused
#: after a retry that never came (the library gave up). Bounded.
_pending: Dict[Tuple[int, bool, int, int], Tuple[bytes, bytes]] = {}
_PENDING_LIMIT = 64


def _run(user_data: Optional[int], decode: bool, input_ptr: Optional[int], input_size: int,
         output_ptr: Optional[int], output_capacity: int, output_size: "ctypes._Pointer[ctypes.c_size_t]",
         limit: int) -> int:
    """Body of both C callbacks. Must return a status whatever happens: an
    exception escaping a ctypes callback is printed and turned into status 0
    (success) with an unset output size."""
    number = user_data or 0
    registration = _registrations.get(number)
    if registration is None:  # cannot happen: registrations are never removed
        return _E_TRANSFORM
    try:
        if input_size and input_ptr is None:
            raise ValueError(f"the library passed no input buffer for {input_size} bytes")
        data = ctypes.string_at(input_ptr or 0, input_size) if input_size else b""
        key = (number, decode, input_ptr or 0, input_size)
        kept = _pending.pop(key, None) if _pending else None
        if kept is not None and kept[0] == data:
            result = kept[1]
        else:
            fn = registration.decode if decode else registration.encode
            result = fn(data)
            if type(result) is not bytes:
                if not isinstance(result, (bytearray, memoryview)):
                    raise TypeError(f"must return bytes, bytearray or memoryview, not {type(result).__name__}")
                result = bytes(result)
        if len(result) > limit:
            # A decoder must fail rather than exceed the receiver's limit.
            log.error("netsys transform %r decode produced %d bytes, over the message size limit %d",
                      registration.name, len(result), limit)
            return _E_TOO_LARGE
        output_size[0] = len(result)
        if len(result) > output_capacity:
            if len(_pending) >= _PENDING_LIMIT:
                _pending.clear()
            _pending[key] = (data, result)
            return _ffi.E_BUFFER_TOO_SMALL
        if result:
            if output_ptr is None:
                raise ValueError(f"the library passed no output buffer for {len(result)} bytes")
            ctypes.memmove(output_ptr, result, len(result))
        return _ffi.OK
    except BaseException as exc:  # noqa: BLE001 - nothing may cross into C
        try:
            log.error("netsys transform %r %s raised %s: %s (the connection is closed)", registration.name,
                      "decode" if decode else "encode", type(exc).__name__, exc, exc_info=exc)
        except BaseException:  # noqa: BLE001 - a broken logging setup must not cross into C either
            pass
        return _E_TRANSFORM


def _encode_trampoline(user_data, input_ptr, input_size, output_ptr, output_capacity, output_size, limit):  # type: ignore[no-untyped-def]
    return _run(user_data, False, input_ptr, input_size, output_ptr, output_capacity, output_size, limit)


def _decode_trampoline(user_data, input_ptr, input_size, output_ptr, output_capacity, output_size, limit):  # type: ignore[no-untyped-def]
    return _run(user_data, True, input_ptr, input_size, output_ptr, output_capacity, output_size, limit)


# Module globals, never freed: the library may call them until the process ends.
_ENCODE = _ffi.TRANSFORM_FN(_encode_trampoline)
_DECODE = _ffi.TRANSFORM_FN(_decode_trampoline)


def register_transform(name: str, encode: TransformFunction, decode: TransformFunction) -> None:
    """Register a transform plugin under ``name`` for every server and client
    of the process; enable it with the ``transforms=[name, ...]`` option on
    both sides (a client requests its list in order, a server accepts any
    subset of its own).

    ``encode(message: bytes) -> bytes`` runs on every outgoing message and
    ``decode(wire: bytes) -> bytes`` undoes it on the receiving side (they
    may return any bytes-like object). The library calls them on its I/O
    threads (or on the thread calling ``send``), concurrently, through
    ctypes callbacks, at a cost of a few microseconds per message (the GIL
    and two copies): use transforms for plugins such as an application
    cipher or a checksum, not on bulk paths. They must be thread-safe, must
    not block and must not call netsys. An exception or a result that is
    not bytes-like is logged on the ``"netsys"`` logger and fails the
    message: the library closes that one connection with a "transform
    failed" error (seen by ``on_error``/``on_disconnect``; a failing encode
    inside ``send`` raises :class:`TransformError` there).

    Registering a name again replaces it for new connections; open ones keep
    the functions they negotiated. Raises :class:`InvalidArgumentError` for a
    bad name (1..255 UTF-8 bytes, no NUL) or non-callable functions, and
    :class:`ForkedProcessError` in a child forked after netsys was used.
    """
    lib = _ffi.native()  # first: raises ForkedProcessError in a forked child
    raw_name = _ffi.c_text(name, "transform name")
    for what, fn in (("encode", encode), ("decode", decode)):
        if not callable(fn):
            raise InvalidArgumentError(f"transform {name!r}: {what} must be callable, not {type(fn).__name__}", 3,
                                       _ffi.STATUS_NAMES[3])
    global _next_number
    with _lock:
        number = _next_number
        _next_number += 1
        _registrations[number] = _Registration(name, encode, decode)
        status = lib.netsys_register_transform(raw_name, _ENCODE, _DECODE, number)
        if status:
            del _registrations[number]  # the library never saw it
            raise _ffi.error(status, f"register transform {name!r}")
        _current[name] = number


def unregister_transform(name: str) -> None:
    """Remove the transform registered under ``name``: new handshakes no
    longer offer or accept it, open connections keep using it. Raises
    :class:`NotFoundError` if no transform of that name is registered."""
    lib = _ffi.native()
    raw_name = _ffi.c_text(name, "transform name")
    with _lock:
        _ffi.check(lib.netsys_unregister_transform(raw_name), f"unregister transform {name!r}")
        # The registration itself stays (open connections may still call it).
        _current.pop(name, None)


def _after_fork_in_child() -> None:
    # The parent's lock may have been held by another thread at fork time.
    # Whether the child may use netsys at all is _ffi's decision.
    global _lock
    _lock = threading.Lock()
    _pending.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
