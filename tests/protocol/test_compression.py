"""Section 5 of docs/protocol.md: sizes, codec negotiation, snappy and zstd
in both directions with third-party libraries. The peer is a client of a
netsys server with both codecs enabled."""

import os

import pytest

from peer import codecs, wire
from peer.conn import Conn
from peer.expect import read_close, rule

CODECS = {"snappy": wire.CODEC_SNAPPY, "zstd": wire.CODEC_ZSTD}
TEXT = b"".join(b'{"id":%d,"name":"sensor-%d","value":%d.5,"tags":["a","b","c"]}\n' % (i, i % 7, i * 3)
                for i in range(100))


def compress(codec, b):
    return codecs.snappy_compress(b) if codec == wire.CODEC_SNAPPY else codecs.zstd_compress(b)


def decompress(codec, b, limit=1 << 20):
    if codec == wire.CODEC_SNAPPY:
        assert codecs.snappy_preamble(b) <= limit
        return codecs.snappy_decompress(b)
    return codecs.zstd_decompress_one(b, limit)


@pytest.fixture
def zserver(pool, impl):
    return pool.get(impl, codecs="snappy,zstd", min_compress=100)


@rule("R-5.3")
@pytest.mark.parametrize("offer,chosen", [(b"\x01\x02", 1), (b"\x02\x01", 2), (b"", 0), (b"\x07", 0)],
                         ids=["snappy-zstd", "zstd-snappy", "none", "unknown"])
def test_R_5_3_server_picks_the_first_offered_codec_it_enables(zserver, offer, chosen):
    with Conn.connect(zserver.port) as c:
        assert c.handshake(codecs=offer).codec == chosen


@rule("R-5.3")
def test_R_5_3_codec_not_enabled_is_not_chosen(pool, impl):
    s = pool.get(impl, codecs="zstd")
    with Conn.connect(s.port) as c:
        assert c.handshake(codecs=b"\x01").codec == 0


@rule("R-5.4", "R-5.6", "R-5.8")
@pytest.mark.parametrize("name", ["snappy", "zstd"])
def test_R_5_4_peer_compressed_and_plain_frames_in_any_mix(zserver, name):
    codec = CODECS[name]
    with Conn.connect(zserver.port) as c:
        c.handshake(codecs=bytes([codec]))
        sent = [TEXT, b"plain", TEXT[:500]]
        c.send(wire.data(compress(codec, sent[0]), wire.COMPRESSED) + wire.data(sent[1])
               + wire.data(compress(codec, sent[2]), wire.COMPRESSED))
        for want in sent:
            f = c.read_frame()
            assert f.type == wire.DATA, f"expected the echo of a {len(want)}-byte message, got {f.describe()}"
            got = f.payload
            if f.flags & wire.COMPRESSED:
                try:
                    got = decompress(codec, f.payload)
                except Exception as e:  # noqa: BLE001 - the library's own error
                    raise AssertionError(f"echo does not decode with the {name} library: {e}") from None
            assert got == want, f"echo of a {len(want)}-byte message differs"


@rule("R-5.4", "N-5.4", "R-5.6", "R-5.8", "N-5.6", "N-5.8")
@pytest.mark.parametrize("name", ["snappy", "zstd"])
def test_R_5_6_netsys_output_decodes_with_the_named_library(zserver, name):
    """netsys compresses messages of at least its min_compress (100 here)
    when that is smaller; the payload decodes with cramjam / zstandard."""
    codec = CODECS[name]
    with Conn.connect(zserver.port) as c:
        w = c.handshake(codecs=bytes([codec]))
        assert w.min_compress == 100, f"WELCOME min_compress {w.min_compress}, server configured 100"
        cases = [(TEXT, True), (TEXT[:150], True), (b"x" * 99, False), (os.urandom(2000), False)]
        for msg, compressible in cases:
            c.send_data(msg)
            f = c.read_frame()
            assert f.type == wire.DATA, f.describe()
            if not compressible:
                assert f.flags == 0 and f.payload == msg, (
                    f"a {len(msg)}-byte message below min_compress or incompressible goes as is (N-5.4), "
                    f"got {f.describe()}")
                continue
            assert f.flags == wire.COMPRESSED, f"a compressible {len(msg)}-byte message was sent uncompressed (N-5.4)"
            try:
                got = decompress(codec, f.payload)
            except Exception as e:  # noqa: BLE001 - the library's own error
                raise AssertionError(f"netsys's {name} payload does not decode with the third-party "
                                     f"library (R-5.6/R-5.8): {e} [{f.payload[:32].hex()}]") from None
            assert got == msg, "decoded message differs"
            if codec == wire.CODEC_ZSTD:
                assert codecs.zstd_single_segment(f.payload), "netsys zstd frame is not single-segment (N-5.8)"


@rule("R-5.2")
@pytest.mark.parametrize("name", ["snappy", "zstd"])
def test_R_5_2_declared_size_over_the_limit(zserver, name):
    """An honest frame whose content is 1,200,000 bytes (limit 1 MiB)."""
    codec = CODECS[name]
    with Conn.connect(zserver.port) as c:
        c.handshake(codecs=bytes([codec]))
        payload = compress(codec, b"\0" * 1_200_000)
        assert len(payload) < 1 << 20
        c.send(wire.data(payload, wire.COMPRESSED))
        read_close(c, 1009, "message too large: 1200000 > 1048576")


@rule("R-5.1", "N-5.1")
def test_N_5_1_sender_refuses_messages_over_the_peers_limit(server):
    with Conn.connect(server.port) as c:
        c.handshake(max_message=1000)
        c.send_data(b"!big 1001")
        f = c.read_frame()
        assert f.type == wire.DATA and f.payload == b"big:error:too_large", (
            f"expected the server's send to fail locally, got {f.describe()}")
        c.send_data(b"!big 1000")
        f = c.read_frame()
        assert len(f.payload) == 1000, f.describe()
        assert c.read_frame().payload == b"big:ok"


@rule("R-1.4")
def test_R_1_4_max_message_above_2_30_is_accepted(server):
    """0xFFFFFFFF reads as 2^30: a valid HELLO (the cap itself needs a 1 GiB
    message to observe)."""
    with Conn.connect(server.port) as c:
        c.handshake(max_message=0xFFFFFFFF)
        c.send_data(b"!big 2000")
        assert len(c.read_frame().payload) == 2000
