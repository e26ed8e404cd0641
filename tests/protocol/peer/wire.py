"""netsys wire protocol v1, revision 3, written from docs/protocol.md alone.

Nothing here is taken from core/: this is the independent peer's own
reading of the document. Section and rule numbers refer to the document.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

HEADER = 6

HELLO, WELCOME, REJECT, DATA, PING, PONG, CLOSE = range(1, 8)
ACK = 0x08  # section 4.2.3: only on acknowledged connections
NAMES = {HELLO: "HELLO", WELCOME: "WELCOME", REJECT: "REJECT", DATA: "DATA",
         PING: "PING", PONG: "PONG", CLOSE: "CLOSE", ACK: "ACK"}
VERSION_1_TYPES = frozenset(range(1, 8))  # without extensions

COMPRESSED = 0x01  # the only flag of version 1

CONTROL_LIMIT = 65_535
PING_LIMIT = 64
MAX_MESSAGE_CAP = 1 << 30
EARLY_DATA_BUDGET = 65_536
TRANSFORM_ALLOWANCE = 65_536
REASON_SEND_LIMIT = 1024

CODEC_NONE, CODEC_SNAPPY, CODEC_ZSTD = 0, 1, 2

TLV_HEARTBEAT = 0x0001  # section 4.1
TLV_ACK = 0x0002  # section 4.2: acknowledged delivery
ACK_PAYLOAD = 8

# Close and reject codes with their stable prefixes (section 2).
PREFIXES = {
    1001: ("server stopping",),
    1002: ("protocol error",),
    1008: ("idle timeout", "frame timeout", "peer not reading"),
    1009: ("message too large",),
    1011: ("transform failed", "internal error"),
    2001: ("server full",),
    2002: ("unsupported version",),
    2003: ("bad hello",),
    2004: ("handshake timeout",),
    2005: ("transform mismatch",),
    2006: ("server stopping",),
}


def type_name(t: int) -> str:
    return NAMES.get(t, f"0x{t:02x}")


def hexdump(b: bytes, limit: int = 48) -> str:
    s = " ".join(f"{x:02x}" for x in b[:limit])
    return s + (f" ... ({len(b)} bytes)" if len(b) > limit else "")


def header(length: int, ftype: int, flags: int = 0) -> bytes:
    return struct.pack(">IBB", length, ftype, flags)


def frame(ftype: int, payload: bytes = b"", flags: int = 0) -> bytes:
    return header(len(payload), ftype, flags) + payload


def data(payload: bytes, flags: int = 0) -> bytes:
    return frame(DATA, payload, flags)


def code_reason(code: int, reason: bytes | str = b"") -> bytes:
    if isinstance(reason, str):
        reason = reason.encode()
    return struct.pack(">H", code) + reason


def close(code: int, reason: bytes | str = b"") -> bytes:
    return frame(CLOSE, code_reason(code, reason))


def reject(code: int, reason: bytes | str = b"") -> bytes:
    return frame(REJECT, code_reason(code, reason))


def split_reason(reason: str) -> tuple[str, str | None]:
    """R-2.1: "<prefix>" or "<prefix>: <detail>"."""
    prefix, sep, detail = reason.partition(": ")
    return (prefix, detail) if sep else (reason, None)


@dataclass
class Frame:
    type: int
    flags: int
    payload: bytes
    raw_header: bytes = b""

    @property
    def name(self) -> str:
        return type_name(self.type)

    @property
    def code(self) -> int | None:
        if self.type in (REJECT, CLOSE) and len(self.payload) >= 2:
            return struct.unpack(">H", self.payload[:2])[0]
        return None

    @property
    def seq(self) -> int | None:
        """An ACK's sequence number (R-4.14)."""
        if self.type == ACK and len(self.payload) == ACK_PAYLOAD:
            return struct.unpack(">Q", self.payload)[0]
        return None

    @property
    def reason_bytes(self) -> bytes:
        return self.payload[2:] if self.type in (REJECT, CLOSE) else b""

    @property
    def reason(self) -> str:
        return self.reason_bytes.decode("utf-8", "replace")

    def describe(self) -> str:
        head = f"{self.name}"
        if self.flags:
            head += f" flags=0x{self.flags:02x}"
        if self.type in (REJECT, CLOSE):
            head += f" {self.code} {self.reason[:200]!r}"
        elif self.type == ACK and len(self.payload) == ACK_PAYLOAD:
            head += f"({self.seq})"
        else:
            head += f" ({len(self.payload)} bytes)"
        return f"{head} [bytes: {hexdump(self.raw_header + self.payload)}]"


# --- HELLO and WELCOME (sections 3.2, 3.3, 4) ------------------------------


def tlv(tag: int, value: bytes) -> bytes:
    return struct.pack(">HH", tag, len(value)) + value


def heartbeat(ms: int) -> bytes:
    return tlv(TLV_HEARTBEAT, struct.pack(">I", ms))


def ack_offer(stream_id: int, first_seq: int) -> bytes:
    """HELLO's acknowledged-delivery TLV (R-4.4)."""
    return tlv(TLV_ACK, struct.pack(">QQ", stream_id, first_seq))


def ack_accept(delivered: int) -> bytes:
    """WELCOME's acknowledged-delivery TLV (R-4.5)."""
    return tlv(TLV_ACK, struct.pack(">Q", delivered))


def ack(seq: int) -> bytes:
    """An ACK frame (R-4.14)."""
    return frame(ACK, struct.pack(">Q", seq))


def names(items: list[bytes | str]) -> bytes:
    out = bytes([len(items)])
    for n in items:
        n = n.encode() if isinstance(n, str) else n
        out += bytes([len(n)]) + n
    return out


def hello_payload(min_version: int = 1, max_version: int = 1, max_message: int = 1 << 20,
                  client_id: bytes | str = b"peer", codecs: bytes = b"",
                  transforms: list = (), extensions: bytes | None = None) -> bytes:
    """A HELLO payload; extensions default to a heartbeat of 0 (no idle
    timeout on the peer's side)."""
    cid = client_id.encode() if isinstance(client_id, str) else client_id
    if extensions is None:
        extensions = heartbeat(0)
    return (struct.pack(">HHI", min_version, max_version, max_message)
            + bytes([len(cid)]) + cid + bytes([len(codecs)]) + codecs
            + names(list(transforms)) + extensions)


def hello(**kw) -> bytes:
    return frame(HELLO, hello_payload(**kw))


def welcome_payload(version: int = 1, max_message: int = 1 << 20, session_id: int = 7,
                    codec: int = 0, min_compress: int = 256, transforms: list = (),
                    extensions: bytes | None = None) -> bytes:
    if extensions is None:
        extensions = heartbeat(0)
    return (struct.pack(">HIQBI", version, max_message, session_id, codec, min_compress)
            + names(list(transforms)) + extensions)


def welcome(**kw) -> bytes:
    return frame(WELCOME, welcome_payload(**kw))


class Truncated(AssertionError):
    pass


class Reader:
    """Walks a payload field by field; a short field names itself."""

    def __init__(self, b: bytes):
        self.b, self.off = b, 0

    def take(self, n: int, what: str) -> bytes:
        if self.off + n > len(self.b):
            raise Truncated(f"truncated {what}")
        v = self.b[self.off:self.off + n]
        self.off += n
        return v

    def u8(self, what): return self.take(1, what)[0]
    def u16(self, what): return struct.unpack(">H", self.take(2, what))[0]
    def u32(self, what): return struct.unpack(">I", self.take(4, what))[0]
    def u64(self, what): return struct.unpack(">Q", self.take(8, what))[0]

    def names(self) -> list[str]:
        out = []
        for _ in range(self.u8("transform count")):
            n = self.u8("transform name length")
            out.append(self.take(n, "transform name").decode("utf-8", "replace"))
        return out

    def extensions(self) -> list[tuple[int, bytes]]:
        out = []
        while self.off < len(self.b):
            tag = self.u16("extension tag")
            n = self.u16("extension length")
            out.append((tag, self.take(n, "extension")))
        return out


def first_tlv(exts: list[tuple[int, bytes]], tag: int) -> bytes | None:
    for t, v in exts:
        if t == tag:
            return v
    return None


def heartbeat_ms(exts: list[tuple[int, bytes]]) -> int | None:
    v = first_tlv(exts, TLV_HEARTBEAT)
    if v is None:
        return None
    assert len(v) >= 4, f"bad heartbeat extension ({len(v)} bytes): section 4.1"
    return struct.unpack(">I", v[:4])[0]


def ack_tlv_fields(exts: list[tuple[int, bytes]], n: int) -> tuple[int, ...] | None:
    """The first n u64 fields of the first TLV 0x0002, or None without one."""
    v = first_tlv(exts, TLV_ACK)
    if v is None:
        return None
    assert len(v) >= 8 * n, f"bad acknowledged delivery extension ({len(v)} bytes): section 4.2.1"
    return struct.unpack(">" + "Q" * n, v[:8 * n])


@dataclass
class Hello:
    min_version: int
    max_version: int
    max_message: int
    client_id: bytes
    codecs: bytes
    transforms: list[str]
    extensions: list[tuple[int, bytes]] = field(default_factory=list)

    @property
    def heartbeat(self) -> int | None:
        return heartbeat_ms(self.extensions)

    @property
    def ack(self) -> tuple[int, int] | None:
        """(stream_id, first_seq) of the acknowledged-delivery offer (R-4.4)."""
        return ack_tlv_fields(self.extensions, 2)


def parse_hello(p: bytes) -> Hello:
    r = Reader(p)
    h = Hello(r.u16("min version"), r.u16("max version"), r.u32("max message"), b"", b"", [])
    h.client_id = r.take(r.u8("client id length"), "client id")
    h.codecs = r.take(r.u8("codec count"), "codecs")
    h.transforms = r.names()
    h.extensions = r.extensions()
    return h


@dataclass
class Welcome:
    version: int
    max_message: int
    session_id: int
    codec: int
    min_compress: int
    transforms: list[str]
    extensions: list[tuple[int, bytes]] = field(default_factory=list)

    @property
    def heartbeat(self) -> int | None:
        return heartbeat_ms(self.extensions)

    @property
    def delivered(self) -> int | None:
        """WELCOME's acknowledged-delivery value (R-4.5), None without it."""
        f = ack_tlv_fields(self.extensions, 1)
        return None if f is None else f[0]


def parse_welcome(p: bytes) -> Welcome:
    r = Reader(p)
    w = Welcome(r.u16("version"), r.u32("max message"), r.u64("session id"), r.u8("codec"),
                r.u32("min compress"), [])
    w.transforms = r.names()
    w.extensions = r.extensions()
    return w
