"""Keyword arguments of Server and Client, translated to the C ABI's typed
options (netsys_*_set_int / netsys_*_set_string).

Durations are given in seconds (int, float or datetime.timedelta) and sent
in the unit the option's name carries. ``None`` leaves an option at the
library's default; ``idle_timeout=0`` turns the idle timeout (on by default,
30 s) off, and likewise ``frame_timeout=0`` and ``send_stall_timeout=0``. The library validates every value and its error message is what
the caller sees.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, Callable, Dict, Iterable, Mapping, Tuple, Union

from . import _ffi
from .exceptions import InvalidArgumentError

Seconds = Union[int, float, _dt.timedelta]


def _to_seconds(value: Seconds, name: str) -> float:
    if isinstance(value, _dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidArgumentError(f"{name} must be a number of seconds or a timedelta, not {value!r}", 3)
    return float(value)


def _scaled(unit: float) -> Callable[[Any, str], int]:
    def convert(value: Any, name: str) -> int:
        seconds = _to_seconds(value, name)
        if seconds < 0:
            raise InvalidArgumentError(f"{name} must not be negative, got {value!r}", 3)
        scaled = int(round(seconds * unit))
        # 0 means "library default" in the C ABI: a tiny positive duration
        # must not silently become the default.
        return max(scaled, 1) if seconds > 0 else 0

    return convert


def _integer(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentError(f"{name} must be an int, not {value!r}", 3)
    return value


def _flag(value: Any, name: str) -> int:
    if not isinstance(value, bool):
        raise InvalidArgumentError(f"{name} must be True or False, not {value!r}", 3)
    return int(value)


def _name_list(value: Any, name: str) -> str:
    items: Iterable[Any] = [value] if isinstance(value, str) else value
    try:
        names = [item for item in items]
    except TypeError:
        raise InvalidArgumentError(f"{name} must be a str or a list of str, not {value!r}", 3) from None
    for item in names:
        if not isinstance(item, str) or "," in item:
            raise InvalidArgumentError(f"{name} entries must be str without commas, got {item!r}", 3)
    return ",".join(names)


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise InvalidArgumentError(f"{name} must be a str, not {value!r}", 3)
    return value


_ms = _scaled(1000.0)
_us = _scaled(1_000_000.0)

#: The C ABI's value that turns a timeout off (its 0 means "the default").
_OFF = -1


def _ms_or_off(value: Any, name: str) -> int:
    """A timeout that is on by default: 0 turns it off (None keeps the default)."""
    converted = _ms(value, name)
    return _OFF if converted == 0 else converted

#: keyword -> (option, is_string, converter)
_Spec = Tuple[int, bool, Callable[[Any, str], Any]]

TRANSPORT_OPTIONS: Dict[str, _Spec] = {
    "message_size_limit": (_ffi.OPT_MESSAGE_SIZE_LIMIT, False, _integer),
    "send_queue_limit": (_ffi.OPT_SEND_QUEUE_LIMIT, False, _integer),
    "no_delay": (_ffi.OPT_NO_DELAY, False, _flag),
    "keep_alive": (_ffi.OPT_KEEP_ALIVE, False, _flag),
    "receive_buffer_size": (_ffi.OPT_RECEIVE_BUFFER_SIZE, False, _integer),
    "send_buffer_size": (_ffi.OPT_SEND_BUFFER_SIZE, False, _integer),
    "idle_timeout": (_ffi.OPT_IDLE_TIMEOUT_MS, False, _ms_or_off),
    "compression": (_ffi.OPT_COMPRESSION, True, _name_list),
    "min_compress_size": (_ffi.OPT_MIN_COMPRESS_SIZE, False, _integer),
    "transforms": (_ffi.OPT_TRANSFORMS, True, _name_list),
    "shutdown_timeout": (_ffi.OPT_SHUTDOWN_TIMEOUT_MS, False, _ms),
    "frame_timeout": (_ffi.OPT_FRAME_TIMEOUT_MS, False, _ms_or_off),
    "send_stall_timeout": (_ffi.OPT_SEND_STALL_TIMEOUT_MS, False, _ms_or_off),
    "acknowledged": (_ffi.OPT_ACKNOWLEDGED, False, _flag),
    "ack_buffer_bytes": (_ffi.OPT_ACK_BUFFER_BYTES, False, _integer),
    "event_queue_limit": (_ffi.OPT_EVENT_QUEUE_LIMIT, False, _integer),
    "event_queue_bytes": (_ffi.OPT_EVENT_QUEUE_BYTES, False, _integer),
}

SERVER_OPTIONS: Dict[str, _Spec] = {
    **TRANSPORT_OPTIONS,
    "port": (_ffi.OPT_PORT, False, _integer),
    "bind_address": (_ffi.OPT_BIND_ADDRESS, True, _text),
    "max_connections": (_ffi.OPT_MAX_CONNECTIONS, False, _integer),
    "max_pending_handshakes": (_ffi.OPT_MAX_PENDING_HANDSHAKES, False, _integer),
    "max_handshakes_per_address": (_ffi.OPT_MAX_HANDSHAKES_PER_ADDRESS, False, _integer),
    "handshake_timeout": (_ffi.OPT_HANDSHAKE_TIMEOUT_MS, False, _ms),
    "loops": (_ffi.OPT_LOOPS, False, _integer),
    "spin_before_wait": (_ffi.OPT_SPIN_BEFORE_WAIT_US, False, _us),
}

CLIENT_OPTIONS: Dict[str, _Spec] = {
    **TRANSPORT_OPTIONS,
    "connect_timeout": (_ffi.OPT_CONNECT_TIMEOUT_MS, False, _ms),
    "auto_reconnect": (_ffi.OPT_AUTO_RECONNECT, False, _flag),
    "reconnect_interval": (_ffi.OPT_RECONNECT_INTERVAL_MS, False, _ms),
    "reconnect_max_interval": (_ffi.OPT_RECONNECT_MAX_INTERVAL_MS, False, _ms),
    "reconnect_queue_limit": (_ffi.OPT_RECONNECT_QUEUE_LIMIT, False, _integer),
    "reconnect_queue_bytes": (_ffi.OPT_RECONNECT_QUEUE_BYTES, False, _integer),
    "reconnect_queue_timeout": (_ffi.OPT_RECONNECT_QUEUE_TIMEOUT_MS, False, _ms_or_off),
}


def apply(
    set_int: Callable[..., int],
    set_string: Callable[..., int],
    handle: int,
    table: Mapping[str, _Spec],
    values: Mapping[str, Any],
) -> None:
    """Set every option of ``values`` that is not None on ``handle``."""
    for name, value in values.items():
        if value is None:
            continue
        try:
            option, is_string, convert = table[name]
        except KeyError:
            raise InvalidArgumentError(f"unknown option {name!r}", 3) from None
        converted = convert(value, name)
        if is_string:
            status = set_string(handle, option, _ffi.c_text(converted, name))
        else:
            status = set_int(handle, option, converted)
        _ffi.check(status, f"option {name}={value!r}")
