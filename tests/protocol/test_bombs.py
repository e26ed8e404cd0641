"""Sections 5.3 to 5.5 of docs/protocol.md: malformed and oversized
compressed frames (bombs). The peer is a client of a netsys server with a
1 MiB limit; each case must end that connection with the documented code
and leave the server serving."""

import pytest

from peer import codecs, wire
from peer.codecs import snappy_literal, uvarint
from peer.conn import Conn
from peer.expect import read_close, rule

CORRUPT = "protocol error: corrupt compressed frame"
MSG = b"abc" * 12


def snappy_cases():
    return {
        "declared-4GiB": (uvarint(0xFFFFFFFF) + snappy_literal(b"x"), "message too large: 4294967295 > 1048576"),
        "declared-over-limit-by-1": (uvarint((1 << 20) + 1) + snappy_literal(b"x"),
                                     "message too large: 1048577 > 1048576"),
        "longer-than-declared": (uvarint(10) + snappy_literal(b"y" * 50), CORRUPT),
        "shorter-than-declared": (uvarint(100) + snappy_literal(b"y" * 50), CORRUPT),
        "bad-offset": (uvarint(40) + snappy_literal(b"ab") + bytes([0x82, 0x50, 0x00]), CORRUPT),
        "bad-preamble": (b"\xff\xff\xff\xff\xff\xff", CORRUPT),
        "empty": (b"", CORRUPT),
    }


def zstd_cases():
    one = codecs.zstd_compress(MSG)
    return {
        "declared-2MB": (codecs.zstd_compress(b"\0" * 2_000_000), "message too large: 2000000 > 1048576"),
        "no-content-size": (codecs.zstd_compress(MSG, content_size=False), CORRUPT),
        "two-frames": (one + one, CORRUPT),
        "skippable-first": (codecs.zstd_skippable() + one, CORRUPT),
        "skippable-after": (one + codecs.zstd_skippable(), CORRUPT),
        "trailing-byte": (one + b"\x00", CORRUPT),
        "dictionary-id": (codecs.zstd_with_dict_id(MSG), CORRUPT),
        "declares-less": (codecs.zstd_with_fcs(MSG, 16), CORRUPT),
        "declares-more": (codecs.zstd_with_fcs(MSG, 48), CORRUPT),
        "bad-magic": (b"\x28\xb5\x2f\xfe" + one[4:], CORRUPT),
    }


def run_bomb(server, codec, payload, reason):
    with Conn.connect(server.port) as c:
        c.handshake(codecs=bytes([codec]))
        c.send(wire.data(payload, wire.COMPRESSED))
        code = 1009 if reason.startswith("message too large") else 1002
        read_close(c, code, reason)
    with Conn.connect(server.port) as c:  # the server still serves
        c.handshake()
        c.send_data(b"after")
        assert c.read_frame().payload == b"after"


@pytest.fixture
def zserver(pool, impl):
    return pool.get(impl, codecs="snappy,zstd")


@rule("R-5.7", "N-5.10", "R-5.2")
@pytest.mark.parametrize("case", list(snappy_cases()))
def test_R_5_7_snappy_bombs(zserver, case):
    payload, reason = snappy_cases()[case]
    run_bomb(zserver, wire.CODEC_SNAPPY, payload, reason)


@rule("R-5.9", "R-5.8", "N-5.10", "R-5.2")
@pytest.mark.parametrize("case", ["declared-2MB", "no-content-size", "two-frames", "skippable-first",
                                  "skippable-after", "trailing-byte", "dictionary-id", "declares-less",
                                  "declares-more", "bad-magic"])
def test_R_5_9_zstd_bombs(zserver, case):
    payload, reason = zstd_cases()[case]
    run_bomb(zserver, wire.CODEC_ZSTD, payload, reason)


@rule("N-5.10")
def test_N_5_10_a_bomb_does_not_disturb_other_connections(zserver):
    with Conn.connect(zserver.port) as bystander:
        bystander.handshake()
        with Conn.connect(zserver.port) as c:
            c.handshake(codecs=b"\x02")
            c.send(wire.data(codecs.zstd_compress(b"\0" * 100_000_000), wire.COMPRESSED))
            read_close(c, 1009)
        bystander.send_data(b"still here")
        assert bystander.read_frame().payload == b"still here"
