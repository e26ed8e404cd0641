"""Sections 4.1 and 7 of docs/protocol.md: PING/PONG, the heartbeat
extension, idle, frame and send-stall timeouts, timer granularity. The peer
is a client of a netsys server."""

import struct
import time

from peer import wire
from peer.conn import Conn, PeerClosed, Timeout
from peer.expect import read_close, rule

SLACK = 0.9  # on top of R-7.4's 100 ms, for a loaded machine


def first_frame(c, within, expected):
    """The next frame within `within` seconds, failing with what was expected."""
    try:
        return c.read_frame(within)
    except (Timeout, PeerClosed) as e:
        raise AssertionError(f"expected {expected} within {within:.2f}s, got none ({e})") from None


@rule("R-7.1")
def test_R_7_1_ping_is_answered_with_the_same_payload(server):
    with Conn.connect(server.port) as c:
        c.handshake()
        for payload in (b"", b"\x01\x02", bytes(range(64))):
            c.send_frame(wire.PING, payload)
            f = c.read_frame()
            assert (f.type, f.payload) == (wire.PONG, payload), f"PING {payload[:8].hex()}: got {f.describe()}"


@rule("R-7.1")
def test_R_7_1_unsolicited_pong_is_ignored(server):
    with Conn.connect(server.port) as c:
        c.handshake()
        c.send_frame(wire.PONG, b"unasked")
        c.send_data(b"still open")
        f = c.read_frame()
        assert (f.type, f.payload) == (wire.DATA, b"still open"), f"got {f.describe()}"


@rule("N-4.1", "N-7.3")
def test_N_4_1_welcome_announces_the_idle_timeout(pool, impl):
    for flags, want in [({}, 30_000), ({"idle_ms": 4000}, 4000), ({"idle_ms": -1}, 0)]:
        s = pool.get(impl, **flags)
        with Conn.connect(s.port) as c:
            w = c.handshake()
            assert w.heartbeat == want, (f"server {flags or 'default'}: WELCOME heartbeat extension "
                                         f"{w.heartbeat} (extensions {w.extensions}), expected {want} ms")


@rule("R-7.3", "R-7.2", "R-7.4")
def test_R_7_3_silent_peer_gets_ping_at_half_then_idle_close(pool, impl):
    s = pool.get(impl, idle_ms=600)
    with Conn.connect(s.port) as c:
        c.handshake(extensions=b"")  # a peer that announces nothing
        start = time.monotonic()
        f = first_frame(c, 0.3 + 0.1 + SLACK, "a PING after T/2 = 0.3s")
        t_ping = time.monotonic() - start
        assert f.type == wire.PING, f"expected a PING after 0.3s of silence, got {f.describe()}"
        assert 0.3 - 0.02 <= t_ping <= 0.3 + 0.1 + SLACK, f"PING after {t_ping:.3f}s, T/2 = 0.3s"
        read_close(c, 1008, "idle timeout", timeout=0.3 + 0.1 + SLACK + 0.5)
        t_close = time.monotonic() - start
        assert 0.6 - 0.02 <= t_close <= 0.6 + 0.1 + SLACK, f"CLOSE 1008 after {t_close:.3f}s, T = 0.6s"


@rule("R-7.3", "R-7.2")
def test_R_7_3_peer_announcing_a_shorter_timeout_gets_pinged_sooner(pool, impl):
    """Server 4000 ms, peer 300 ms: PINGs every 150 ms (not after 2 s)."""
    s = pool.get(impl, idle_ms=4000)
    with Conn.connect(s.port) as c:
        c.handshake(extensions=wire.heartbeat(300))
        start = time.monotonic()
        f = first_frame(c, 0.15 + 0.1 + SLACK, "a PING after min(4000, 300)/2 = 0.15s")
        took = time.monotonic() - start
        assert f.type == wire.PING and 0.15 - 0.02 <= took <= 0.15 + 0.1 + SLACK, (
            f"expected a PING after ~0.15s (min(4000, 300)/2 ms), got {f.describe()} after {took:.3f}s")
        pings = 1
        c.send_frame(wire.PONG, f.payload)
        deadline = time.monotonic() + 1.3
        while time.monotonic() < deadline:
            try:
                f = c.read_frame(max(0.01, deadline - time.monotonic()))
            except Timeout:
                break
            assert f.type == wire.PING, f"expected only PINGs while answering them, got {f.describe()}"
            pings += 1
            c.send_frame(wire.PONG, f.payload)
        assert pings >= 5, f"only {pings} PINGs in 1.3s at a 0.15s schedule"


@rule("R-7.3")
def test_R_7_3_server_without_idle_timeout_pings_but_never_closes(pool, impl):
    s = pool.get(impl, idle_ms=-1)
    with Conn.connect(s.port) as c:
        c.handshake(extensions=wire.heartbeat(400))
        f = first_frame(c, 0.2 + 0.1 + SLACK, "a PING after the peer's 400 ms / 2")
        assert f.type == wire.PING, f"expected a PING after ~0.2s (peer's 400 ms / 2), got {f.describe()}"
        end = time.monotonic() + 1.0
        while time.monotonic() < end:  # never answered: still no close
            try:
                f = c.read_frame(max(0.01, end - time.monotonic()))
            except Timeout:
                break
            assert f.type == wire.PING, f"a server with no idle timeout must not close: {f.describe()}"
        c.send_data(b"alive")
        f = c.read_until(lambda f: f.type == wire.DATA, 1.0)[0]
        assert f.payload == b"alive"


@rule("R-7.3")
def test_R_7_3_peer_heartbeat_zero_leaves_the_servers_own_timeout(pool, impl):
    s = pool.get(impl, idle_ms=600)
    with Conn.connect(s.port) as c:
        c.handshake(extensions=wire.heartbeat(0))
        start = time.monotonic()
        f = first_frame(c, 0.3 + 0.1 + SLACK, "a PING after 0.3s")
        took = time.monotonic() - start
        assert f.type == wire.PING and took >= 0.28, f"PING after {took:.3f}s, expected 0.3s: {f.describe()}"


@rule("R-4.2")
def test_R_4_2_heartbeat_longer_than_4_bytes_and_repeated_tags(pool, impl):
    """Bytes after the first 4 are skipped; the first occurrence of a tag wins."""
    s = pool.get(impl, idle_ms=4000)
    with Conn.connect(s.port) as c:
        ext = wire.tlv(wire.TLV_HEARTBEAT, struct.pack(">I", 300) + b"future") + wire.heartbeat(5000)
        c.handshake(extensions=ext)
        start = time.monotonic()
        f = first_frame(c, 0.15 + 0.1 + SLACK, "a PING after 0.15s (the first heartbeat TLV, 300 ms)")
        took = time.monotonic() - start
        assert f.type == wire.PING and took <= 0.15 + 0.1 + SLACK, f"PING after {took:.3f}s, expected 0.15s"


@rule("N-7.4", "R-8.6")
def test_N_7_4_frame_timeout(pool, impl):
    s = pool.get(impl, frame_ms=400, shutdown_ms=3000)
    with Conn.connect(s.port) as c:
        c.handshake()
        c.send(wire.header(100, wire.DATA) + b"x")
        start = time.monotonic()
        read_close(c, 1008, "frame timeout", timeout=0.4 + 0.1 + SLACK + 1)
        took = time.monotonic() - start
        assert 0.38 <= took <= 0.4 + 0.1 + SLACK, f"CLOSE 1008 'frame timeout' after {took:.3f}s, timeout 0.4s"
        closed = c.wait_closed(2.0)
        assert closed < 0.5, f"closed {closed:.2f}s after the frame-timeout CLOSE, not at once (N-7.4)"


@rule("N-7.5")
def test_N_7_5_send_stall(pool, impl):
    """A peer that never reads is dropped after the send-stall timeout."""
    s = pool.get(impl, stall_ms=400, sndbuf=4096)
    with Conn.connect(s.port, rcvbuf=4096) as c:
        sid = c.handshake().session_id
        c.send_data(b"!send 200 10000")
        err = s.wait_event(lambda e: e["ev"] == "error" and e["sid"] == sid, 0.4 + 0.1 + SLACK + 2,
                           "the send-stall error")
        assert err["kind"] == "timeout" and "peer not reading" in err["msg"], err
        try:
            frames = c.expect_eof(3.0)
        except (PeerClosed, Timeout) as e:
            raise AssertionError(f"the stalled connection was not closed: {e}")
        closes = [f for f in frames if f.type == wire.CLOSE]
        if closes:  # best effort: the CLOSE is behind data the peer never read
            assert closes[0].code == 1008 and closes[0].reason == "peer not reading", closes[0].describe()
