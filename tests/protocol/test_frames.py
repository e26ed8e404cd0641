"""Section 1 of docs/protocol.md: frames, limits, validation, and how
protocol errors are answered. The peer is a client of a netsys server."""

import struct

from peer import wire
from peer.conn import Conn
from peer.expect import assert_eof, read_close, read_reject, rule


def opened(server, **hello):
    c = Conn.connect(server.port)
    c.handshake(**hello)
    return c


@rule("R-1.1", "R-1.6")
def test_R_1_1_frame_layout_and_empty_message(server):
    """A DATA frame is header + payload; the empty message is valid and echoed."""
    with opened(server) as c:
        c.send(bytes.fromhex("00 00 00 02 04 00 68 69"))  # the document's example "hi"
        f = c.read_frame()
        assert (f.type, f.flags, f.payload) == (wire.DATA, 0, b"hi"), f"expected DATA 'hi', got {f.describe()}"
        assert f.raw_header == bytes.fromhex("00 00 00 02 04 00"), f"header bytes {f.raw_header.hex()}"
        c.send_data(b"")
        f = c.read_frame()
        assert (f.type, f.payload) == (wire.DATA, b""), f"expected the empty message echoed, got {f.describe()}"


@rule("R-1.5", "R-1.10")
def test_R_1_5_unknown_type_when_open(server):
    with opened(server) as c:
        c.send(wire.header(0, 0x42))
        read_close(c, 1002, "protocol error: unknown frame type 0x42")
        assert_eof(c)


@rule("R-1.2", "R-1.5")
def test_R_1_2_type_0x08_is_unknown_without_the_extension(server):
    """0x08 (ACK) is reserved: unknown on a connection that did not agree it."""
    with opened(server) as c:
        c.send(wire.header(8, 0x08) + bytes(8))
        read_close(c, 1002, "protocol error: unknown frame type 0x08")


@rule("R-1.5")
def test_R_1_5_reserved_flag(server):
    with opened(server) as c:
        c.send(wire.data(b"x", flags=0x02))
        read_close(c, 1002, "protocol error: invalid flags")


@rule("R-1.5")
def test_R_1_5_compressed_flag_without_codec(server):
    with opened(server) as c:
        c.send(wire.data(b"x", flags=wire.COMPRESSED))
        read_close(c, 1002, "protocol error: invalid flags")


@rule("R-1.5")
def test_R_1_5_compressed_flag_on_ping(pool, impl):
    s = pool.get(impl, codecs="snappy,zstd")
    with opened(s, codecs=b"\x01") as c:
        c.send(wire.frame(wire.PING, b"", flags=wire.COMPRESSED))
        read_close(c, 1002, "protocol error: invalid flags")


@rule("R-1.5")
def test_R_1_5_check_order_type_before_flags_before_length(server):
    """An unknown type with bad flags and a huge length reports the type;
    bad flags with a huge length report the flags."""
    with opened(server) as c:
        c.send(struct.pack(">IBB", 0xFFFFFFFF, 0x42, 0xFF))
        read_close(c, 1002, "protocol error: unknown frame type 0x42")
    with opened(server) as c:
        c.send(struct.pack(">IBB", 0xFFFFFFFF, wire.PING, 0x80))
        read_close(c, 1002, "protocol error: invalid flags")


@rule("R-1.3", "R-1.5", "R-7.1")
def test_R_1_3_ping_limit_from_the_header(server):
    """A PING header announcing 65 bytes is refused before its payload arrives."""
    with opened(server) as c:
        c.send(wire.header(65, wire.PING))
        read_close(c, 1002, "protocol error: PING frame too large")


@rule("R-1.3", "R-1.5")
def test_R_1_3_pong_limit(server):
    with opened(server) as c:
        c.send(wire.header(65, wire.PONG))
        read_close(c, 1002, "protocol error: PONG frame too large")


@rule("R-1.3", "R-1.5")
def test_R_1_3_control_limit_when_open(server):
    """CLOSE and HELLO over 65,535 bytes: the length check comes before the state check."""
    with opened(server) as c:
        c.send(wire.header(65_536, wire.CLOSE))
        read_close(c, 1002, "protocol error: CLOSE frame too large")
    with opened(server) as c:
        c.send(wire.header(70_000, wire.HELLO))
        read_close(c, 1002, "protocol error: HELLO frame too large")


@rule("R-1.3", "R-5.2")
def test_R_1_3_data_limit_from_the_header(server):
    """A DATA header one byte over max_message closes 1009 before the payload."""
    with opened(server) as c:
        c.send(wire.header((1 << 20) + 1, wire.DATA))
        read_close(c, 1009, "message too large: 1048577 > 1048576")
        assert_eof(c)


@rule("R-1.3", "R-5.2")
def test_R_1_3_data_at_the_limit_is_accepted(pool, impl):
    s = pool.get(impl, max_message=1000)
    with opened(s) as c:
        c.send_data(b"a" * 1000)
        f = c.read_frame()
        assert f.type == wire.DATA and len(f.payload) == 1000, f"expected the 1000-byte echo, got {f.describe()}"
        c.send_data(b"a" * 1001)
        read_close(c, 1009, "message too large: 1001 > 1000")


@rule("R-1.3", "R-3.8")
def test_R_1_3_before_open_every_frame_is_limited_to_the_control_limit(server):
    with Conn.connect(server.port) as c:
        c.send(wire.header(65_536, wire.HELLO))
        read_reject(c, 2003, "bad hello: HELLO frame too large")
    with Conn.connect(server.port) as c:
        c.send(wire.header(65_536, wire.DATA))
        read_reject(c, 2003, "bad hello: DATA frame too large")
    with Conn.connect(server.port) as c:
        c.send(wire.header(65, wire.PING))
        read_reject(c, 2003, "bad hello: PING frame too large")


@rule("R-1.3", "R-1.7", "R-3.10")
def test_R_1_3_data_right_behind_hello_gets_the_data_limit(server):
    """A 65,536-byte DATA frame behind HELLO is read by an open server."""
    with Conn.connect(server.port) as c:
        msg = bytes(range(256)) * 256
        c.send(wire.hello() + wire.data(msg))
        f = c.read_frame()
        assert f.type == wire.WELCOME, f"expected WELCOME, got {f.describe()}"
        c.open = True
        f = c.read_frame()
        assert f.type == wire.DATA and f.payload == msg, f"expected the 65,536-byte echo, got {f.describe()}"


@rule("R-1.7")
def test_R_1_7_frames_in_one_segment_are_processed_in_order(server):
    with Conn.connect(server.port) as c:
        c.send(wire.hello() + wire.data(b"one") + wire.frame(wire.PING, b"p") + wire.data(b"two"))
        got = [c.read_frame() for _ in range(4)]
        kinds = [(f.name, f.payload) for f in got]
        assert kinds == [("WELCOME", got[0].payload), ("DATA", b"one"), ("PONG", b"p"), ("DATA", b"two")], kinds


@rule("R-1.10")
def test_R_1_10_nothing_after_the_faulty_frame_is_delivered(server):
    """Messages before the bad frame are delivered, none after it; netsys
    closes without waiting for the peer's CLOSE."""
    with opened(server) as c:
        c.send(wire.data(b"before") + wire.header(0, 0x42) + wire.data(b"after"))
        close, before = read_close(c, 1002, "protocol error: unknown frame type 0x42")
        assert [f.payload for f in before if f.type == wire.DATA] == [b"before"], [f.describe() for f in before]
        frames = assert_eof(c, 2.0)
        assert not any(f.type == wire.DATA for f in frames), [f.describe() for f in frames]


@rule("R-1.8", "R-3.8")
def test_R_1_8_errors_before_welcome_are_rejects(server):
    cases = [
        (wire.header(0, 0x42), "bad hello: unknown frame type 0x42"),
        (wire.frame(wire.HELLO, wire.hello_payload(), flags=0x01), "bad hello: invalid flags"),
        (wire.data(b"hi"), "bad hello: expected HELLO, got DATA"),
        (wire.frame(wire.PING), "bad hello: expected HELLO, got PING"),
        (wire.close(1000, "bye"), "bad hello: expected HELLO, got CLOSE"),
        (wire.welcome(), "bad hello: expected HELLO, got WELCOME"),
    ]
    for first, reason in cases:
        with Conn.connect(server.port) as c:
            c.send(first)
            read_reject(c, 2003, reason, rule_id="R-1.8")
            frames = assert_eof(c, 3.0)
            assert not frames, f"after the REJECT netsys sent {[f.describe() for f in frames]} (R-3.11)"


@rule("R-3.5", "R-3.8")
def test_R_3_8_unexpected_frames_when_open(server):
    for payload, reason in [(wire.hello(), "protocol error: unexpected HELLO frame"),
                            (wire.welcome(), "protocol error: unexpected WELCOME frame"),
                            (wire.reject(2001, "x"), "protocol error: unexpected REJECT frame")]:
        with opened(server) as c:
            c.send(payload)
            read_close(c, 1002, reason)
