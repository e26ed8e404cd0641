"""Section 6 of docs/protocol.md: transforms. The netsys servers register
"xsum" (appends a byte-sum checksum) and "other" (identity); the tests
enable only "xsum". The peer implements xsum itself: it is an application
agreement, not part of the protocol."""

import pytest

from peer import codecs, wire
from peer.conn import Conn
from peer.expect import read_close, read_reject, rule


def xsum_encode(b: bytes) -> bytes:
    return b + bytes([sum(b) & 0xFF])


def xsum_decode(b: bytes) -> bytes:
    assert b and sum(b[:-1]) & 0xFF == b[-1], f"bad xsum checksum on {b[:16].hex()}"
    return b[:-1]


@pytest.fixture
def xserver(pool, impl):
    return pool.get(impl, transforms="xsum", codecs="snappy", max_message=1000, min_compress=64)


@rule("R-6.1")
@pytest.mark.parametrize("requested,missing", [(["other"], "other"), (["nope"], "nope"),
                                               (["xsum", "nope"], "nope")],
                         ids=["registered-not-enabled", "unknown", "second-unknown"])
def test_R_6_1_transform_must_be_registered_and_enabled(xserver, requested, missing):
    with Conn.connect(xserver.port) as c:
        c.send(wire.hello(transforms=requested))
        read_reject(c, 2005, "transform mismatch: " + missing)


@rule("R-6.2", "R-6.3")
def test_R_6_2_transformed_messages_both_ways(xserver):
    with Conn.connect(xserver.port) as c:
        w = c.handshake(transforms=["xsum"])
        assert w.transforms == ["xsum"], f"WELCOME transforms {w.transforms}, expected HELLO's ['xsum'] (R-6.2)"
        c.send_data(xsum_encode(b"hello"))
        f = c.read_frame()
        assert f.type == wire.DATA and xsum_decode(f.payload) == b"hello", f.describe()


@rule("R-6.3", "R-5.5")
def test_R_6_3_transforms_then_compression(xserver):
    with Conn.connect(xserver.port) as c:
        c.handshake(transforms=["xsum"], codecs=b"\x01")
        msg = b"0123456789" * 40
        c.send_data(codecs.snappy_compress(xsum_encode(msg)), wire.COMPRESSED)
        f = c.read_frame()
        assert f.type == wire.DATA and f.flags == wire.COMPRESSED, f.describe()
        try:
            body = codecs.snappy_decompress(f.payload)
        except Exception as e:  # noqa: BLE001
            raise AssertionError(f"echo does not decode as Snappy: {e}") from None
        assert xsum_decode(body) == msg


@rule("R-6.4", "N-6.4")
def test_R_6_4_transform_failure_reason(xserver):
    with Conn.connect(xserver.port) as c:
        c.handshake(transforms=["xsum"])
        c.send_data(b"hello" + b"\x00")  # wrong checksum
        want = ("transform failed: xsum: checksum mismatch" if xserver.kind == "go"
                else "transform failed: xsum: decode returned status 3 (invalid argument)")
        read_close(c, 1011, want)


@rule("R-6.5")
def test_R_6_5_allowance_only_with_transforms(xserver):
    """max_message 1000: a 1001-byte frame (1000-byte message + checksum)
    is fine with xsum; a 1001-byte message fails the transform (its decoder
    is limited to 1000); without transforms a 1001-byte frame is too large."""
    with Conn.connect(xserver.port) as c:
        c.handshake(transforms=["xsum"])
        c.send_data(xsum_encode(b"m" * 1000))
        f = c.read_frame()
        assert f.type == wire.DATA and xsum_decode(f.payload) == b"m" * 1000, f.describe()
        c.send_data(xsum_encode(b"m" * 1001))
        f, _ = read_close(c, 1011, prefix="transform failed")
        assert f.reason.startswith("transform failed: xsum: "), f.describe()
    with Conn.connect(xserver.port) as c:
        c.handshake()
        c.send(wire.header(1001, wire.DATA))
        read_close(c, 1009, "message too large: 1001 > 1000")
