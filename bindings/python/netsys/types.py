"""Plain data types of the netsys API: statistics snapshots and session
states. They hold values copied out of the library and never call it."""

from __future__ import annotations

import datetime as _dt
import enum
from dataclasses import dataclass
from typing import Optional


class SessionState(enum.IntEnum):
    """Life cycle of a server-side session (``session_state`` of network_system,
    kcenon/network_system).
    The values are the C ABI's ``NETSYS_SESSION_*`` constants."""

    CONNECTING = 0
    CONNECTED = 1
    DISCONNECTING = 2
    DISCONNECTED = 3
    ERROR = 4


def time_from_unix_ns(ns: int) -> Optional[_dt.datetime]:
    """Convert the library's Unix-nanosecond timestamps (0 = never) to an
    aware UTC datetime, or None."""
    if ns <= 0:
        return None
    return _dt.datetime.fromtimestamp(ns / 1e9, tz=_dt.timezone.utc)


@dataclass(frozen=True)
class ServerStatistics:
    """Snapshot of a server's counters since start or the last reset."""

    #: Connections accepted (handshaking or open).
    total_connections: int = 0
    #: Connections open now.
    current_connections: int = 0
    #: Connections refused with REJECT (server full, bad hello, ...).
    rejected_connections: int = 0
    messages_sent: int = 0
    messages_received: int = 0
    #: Message payload bytes, before compression.
    bytes_sent: int = 0
    #: Message payload bytes, after decompression.
    bytes_received: int = 0
    #: Connections closed for a protocol violation.
    protocol_errors: int = 0
    #: Connections closed for "message too large".
    oversize_messages: int = 0
    start_time: Optional[_dt.datetime] = None
    last_activity: Optional[_dt.datetime] = None


@dataclass(frozen=True)
class SessionStatistics:
    """Snapshot of one server-side session's counters."""

    messages_sent: int = 0
    messages_received: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    errors: int = 0
    last_message_time: Optional[_dt.datetime] = None


@dataclass(frozen=True)
class ClientStatistics:
    """Snapshot of a client's counters."""

    messages_sent: int = 0
    messages_received: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    errors: int = 0
    #: Successful reconnections after a lost connection.
    reconnects: int = 0
    last_message_time: Optional[_dt.datetime] = None
