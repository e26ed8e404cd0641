"""Section 8 of docs/protocol.md: the close sequences. The peer is a client
of a netsys server."""

import time

from peer import wire
from peer.conn import Conn
from peer.expect import read_close, rule

SLACK = 0.9  # on top of R-7.4's 100 ms, for a loaded machine
SMALL = 4096


def data_payloads(frames):
    return [f.payload for f in frames if f.type == wire.DATA]


@rule("R-8.2")
def test_R_8_2_closing_side_sends_its_queue_first(pool, impl):
    s = pool.get(impl, sndbuf=SMALL)
    with Conn.connect(s.port, rcvbuf=SMALL) as c:
        c.handshake()
        c.send_data(b"!sendclose 300 1000 bye")
        time.sleep(0.3)  # not reading: the server's queue backs up
        f, before = read_close(c, 1000, "bye", timeout=10)
        got = data_payloads(before)
        assert len(got) == 300, f"expected 300 messages before CLOSE, got {len(got)}"
        assert [m[:8] for m in got] == [b"%08d" % i for i in range(300)], "messages out of order"
        c.send(wire.close(1000, "normal close"))
        c.expect_eof(3)


@rule("R-8.3", "R-8.1")
def test_R_8_3_closing_side_keeps_delivering_until_the_peers_close(pool, impl):
    s = pool.get(impl, log_messages=True)
    with Conn.connect(s.port) as c:
        sid = c.handshake().session_id
        c.send_data(b"!disconnect bye")
        read_close(c, 1000, "bye")
        for i in range(5):
            c.send_data(b"late-%d" % i)
        c.send_frame(wire.PING, b"p")
        c.send(wire.close(1000, "normal close"))
        after = c.expect_eof(3)
        assert not after, f"after its CLOSE netsys sent {[f.describe() for f in after]} (R-8.1)"
        s.wait_event(lambda e: e["ev"] == "disconnect" and e["sid"] == sid)
        heads = [e["head"] for e in s.find(lambda e: e["ev"] == "message" and e["sid"] == sid)]
        assert heads[1:] == ["late-%d" % i for i in range(5)], f"delivered after the server's CLOSE: {heads}"


@rule("R-8.3", "N-8.3", "R-7.4")
def test_R_8_3_one_bound_in_all_no_extra_linger(pool, impl):
    """A peer that never answers the CLOSE is dropped at the shutdown
    timeout (0.5 s here), not later."""
    s = pool.get(impl, shutdown_ms=500)
    with Conn.connect(s.port) as c:
        c.handshake()
        c.send_data(b"!disconnect bye")
        read_close(c, 1000, "bye")
        took = c.wait_closed(0.5 + 0.1 + SLACK + 2.5)
        assert 0.4 <= took <= 0.5 + 0.1 + SLACK, f"closed {took:.2f}s after CLOSE, shutdown timeout 0.5s (R-8.3)"


@rule("R-8.4", "R-8.5")
def test_R_8_5_after_receiving_close_the_whole_queue_goes_out(pool, impl):
    s = pool.get(impl, sndbuf=SMALL)
    with Conn.connect(s.port, rcvbuf=SMALL) as c:
        c.handshake()
        c.send(wire.data(b"!send 300 1000") + wire.close(1000, "done") + wire.data(b"ignored"))
        time.sleep(0.3)
        f, before = read_close(c, 1000, "normal close", timeout=10)
        got = data_payloads(before)
        assert len(got) == 300, f"expected all 300 queued messages before the answering CLOSE, got {len(got)}"
        c.expect_eof(3)


@rule("R-8.5", "R-8.1")
def test_R_8_5_crossing_closes_get_no_second_close(server):
    with Conn.connect(server.port) as c:
        c.handshake()
        c.send(wire.data(b"!disconnect bye") + wire.close(1000, "me too"))
        frames = c.expect_eof(3)
        closes = [f for f in frames if f.type == wire.CLOSE]
        assert len(closes) == 1 and closes[0].reason == "bye", [f.describe() for f in frames]


@rule("R-8.6", "R-1.10")
def test_R_8_6_error_close_does_not_wait(pool, impl):
    s = pool.get(impl, shutdown_ms=3000)
    with Conn.connect(s.port) as c:
        c.handshake()
        c.send(wire.header(0, 0x42))
        read_close(c, 1002)  # the code only: reasons are R-2.1's tests
        took = c.wait_closed(3)
        assert took < 0.5 + SLACK, f"after CLOSE 1002 the server waited {took:.2f}s for the peer (R-8.6)"
