"""Codecs 1 (snappy) and 2 (zstd) with the third-party libraries the
document names (sections 5.3, 5.4): cramjam or python-snappy for the Snappy
block format, zstandard for Zstandard. Also crafts the malformed payloads
the bomb tests send.

A missing library fails the test that needs it, with the command that
installs it; it is never installed from here and never skipped.
"""

from __future__ import annotations

import struct

import pytest

INSTALL = ("python3 -m pip install cramjam zstandard   (or: make deps)")

try:
    import cramjam as _cramjam
except ImportError:  # pragma: no cover - depends on the machine
    _cramjam = None
try:
    import snappy as _pysnappy
except ImportError:  # pragma: no cover
    _pysnappy = None
try:
    import zstandard as _zstd
except ImportError:  # pragma: no cover
    _zstd = None


def _missing(what: str):
    pytest.fail(f"the protocol suite needs the Python package {what}, which is not installed: "
                f"{INSTALL}", pytrace=False)


def snappy_compress(b: bytes) -> bytes:
    """Snappy block format (not the framing format)."""
    if _cramjam is not None:
        return bytes(_cramjam.snappy.compress_raw(b))
    if _pysnappy is not None:
        return _pysnappy.compress(b)
    _missing("cramjam (or python-snappy)")


def snappy_decompress(b: bytes) -> bytes:
    if _cramjam is not None:
        return bytes(_cramjam.snappy.decompress_raw(b))
    if _pysnappy is not None:
        return _pysnappy.uncompress(b)
    _missing("cramjam (or python-snappy)")


def uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def snappy_preamble(b: bytes) -> int:
    """The uncompressed length a Snappy block declares."""
    n = shift = 0
    for i, c in enumerate(b[:5]):
        n |= (c & 0x7F) << shift
        if not c & 0x80:
            return n
        shift += 7
    raise AssertionError(f"malformed Snappy preamble {b[:5].hex()}")


def snappy_literal(body: bytes) -> bytes:
    """One literal element (format_description.txt 2.1), len <= 60."""
    assert 0 < len(body) <= 60
    return bytes([(len(body) - 1) << 2]) + body


def zstd():
    if _zstd is None:
        _missing("zstandard")
    return _zstd


def zstd_compress(b: bytes, content_size: bool = True, level: int = 3) -> bytes:
    return zstd().ZstdCompressor(level=level, write_content_size=content_size).compress(b)


def zstd_decompress_one(b: bytes, limit: int) -> bytes:
    """Decodes a payload that must be exactly one frame with content size
    and no dictionary (R-5.8); an AssertionError says what is not."""
    z = zstd()
    p = z.get_frame_parameters(b)
    assert p.content_size != z.CONTENTSIZE_UNKNOWN, "zstd frame without Frame_Content_Size (R-5.8)"
    assert p.dict_id == 0, f"zstd frame with dictionary id {p.dict_id} (R-5.8)"
    assert p.content_size <= limit, f"zstd frame declares {p.content_size} > {limit}"
    d = z.ZstdDecompressor().decompressobj()
    out = d.decompress(b)
    assert d.eof, "zstd payload ends inside the frame"
    assert not d.unused_data, f"{len(d.unused_data)} bytes after the zstd frame (R-5.8)"
    assert len(out) == p.content_size, f"zstd frame decodes to {len(out)} bytes, declares {p.content_size}"
    return out


def zstd_single_segment(b: bytes) -> bool:
    """Frame_Header_Descriptor bit 5 (RFC 8878 3.1.1.1.1.2)."""
    return bool(b[4] & 0x20)


ZSTD_MAGIC = struct.pack("<I", 0xFD2FB528)


def zstd_skippable(content: bytes = b"skip") -> bytes:
    """A skippable frame (RFC 8878 3.1.2)."""
    return struct.pack("<II", 0x184D2A50, len(content)) + content


def zstd_with_dict_id(message: bytes) -> bytes:
    """A frame whose header names dictionary 1 (Dictionary_ID_flag = 1):
    the frame of `message` with a one-byte Dictionary_ID inserted."""
    f = zstd_compress(message)
    fhd = f[4]
    assert fhd & 0x20 and not fhd & 0x03, f"unexpected frame header 0x{fhd:02x}"
    return f[:4] + bytes([fhd | 0x01, 0x01]) + f[5:]


def zstd_with_fcs(message: bytes, declared: int) -> bytes:
    """The single-segment frame of a short `message` (1-byte FCS field)
    with its Frame_Content_Size replaced by `declared` (< 256)."""
    f = zstd_compress(message)
    fhd = f[4]
    assert fhd & 0x20 and fhd >> 6 == 0 and not fhd & 0x03, f"unexpected frame header 0x{fhd:02x}"
    return f[:5] + bytes([declared]) + f[6:]
