"""Section 4.2 of docs/protocol.md, acknowledged delivery, with the peer as a
client of netsys servers started with acknowledged delivery on (-ack): the
negotiation, the server's ACKs, duplicates, the server stream and the ACK
checks. A build without the extension fails these tests saying
"acknowledged delivery not supported by this build"."""

from __future__ import annotations

import os
import random

import pytest

from peer import wire
from peer.conn import Conn, PeerClosed, Timeout
from peer.expect import read_close, read_reject, rule


@pytest.fixture
def start_ack_server(pool, impl):
    """The shared server with acknowledged delivery on, logging messages.
    Started in the test's body, not its setup: a build without the
    extension then counts as a failed test (not a setup error)."""
    return lambda: pool.get(impl, ack=True, log_messages=True)


def new_stream() -> int:
    return random.getrandbits(64) | 1  # never 0


def tag() -> str:
    return os.urandom(3).hex()


def ack_open(server, stream: int, first_seq: int = 1) -> tuple[Conn, wire.Welcome]:
    """Connects and offers acknowledged delivery; fails unless WELCOME
    agrees (R-4.5)."""
    c = Conn.connect(server.port)
    w = c.handshake(extensions=wire.heartbeat(0) + wire.ack_offer(stream, first_seq))
    if w.delivered is None:
        c.close()
        raise AssertionError(
            "acknowledged delivery not supported by this build: the server runs with it on, but its WELCOME "
            f"has no TLV 0x0002 (R-4.5); extensions {w.extensions}")
    return c, w


def read_acks(c: Conn, last: int, sent: int | None = None, timeout: float = 3.0) -> list[int]:
    """Reads frames until ACK(last) and returns the ACK values seen; each
    must be within what was sent and not decrease (R-4.15). Other frames
    (echoes, PONGs) are skipped."""
    sent = last if sent is None else sent
    seqs: list[int] = []

    def is_last(f: wire.Frame) -> bool:
        if f.type != wire.ACK:
            return False
        assert f.seq <= sent, f"the server sent ACK({f.seq}) but only {sent} messages were sent (R-4.15)"
        assert not seqs or f.seq >= seqs[-1], f"the server's ACKs decrease: {seqs + [f.seq]} (R-4.15)"
        seqs.append(f.seq)
        return f.seq == last

    try:
        c.read_until(is_last, timeout, f"ACK({last})")
    except (Timeout, PeerClosed) as e:
        raise AssertionError(f"expected ACK({last}) (R-4.15), got none; ACKs seen {seqs}: {e}") from None
    return seqs


def heads(server, sid: int) -> list[str]:
    """What the server's application received on session sid."""
    return [e["head"] for e in server.find(lambda e: e["ev"] == "message" and e.get("sid") == sid)]


def wait_head(server, sid: int, head: str):
    server.wait_event(lambda e: e["ev"] == "message" and e.get("sid") == sid and e["head"] == head, 3,
                      f"message {head!r} on session {sid}")


def frames(*payloads: bytes) -> bytes:
    return b"".join(wire.data(p) for p in payloads)


# --- negotiation (section 4.2.1) ------------------------------------------------


@rule("R-4.4", "R-4.5", "R-4.6")
def test_R_4_4_server_agrees(start_ack_server):
    """An offer gets WELCOME TLV 0x0002 of 8 bytes with delivered 0 for a
    new stream; DATA is then acknowledged."""
    ack_server = start_ack_server()
    c, w = ack_open(ack_server, new_stream())
    with c:
        raw = wire.first_tlv(w.extensions, wire.TLV_ACK)
        assert len(raw) == 8, f"WELCOME's TLV 0x0002 has {len(raw)} bytes, R-4.5 says 8: {raw.hex()}"
        assert w.delivered == 0, f"a new stream has delivered 0 (R-4.5), WELCOME says {w.delivered}"
        assert w.heartbeat is not None, "the heartbeat extension is still sent (N-4.1)"
        c.send_data(b"hello")
        read_acks(c, 1)


@rule("R-4.5", "R-4.6", "R-4.14")
def test_R_4_5_server_without_the_option_ignores_the_offer(server):
    """A server without acknowledged delivery enabled (as a revision-2
    server) ignores the offer: no TLV in WELCOME, no ACK, and 0x08 stays an
    unknown frame type."""
    with Conn.connect(server.port) as c:
        w = c.handshake(extensions=wire.heartbeat(0) + wire.ack_offer(new_stream(), 1))
        assert w.delivered is None, f"WELCOME carries TLV 0x0002 though the server has it off (R-4.5): {w.extensions}"
        c.send_data(b"plain")
        f = c.read_frame()
        assert (f.type, f.payload) == (wire.DATA, b"plain"), f"expected the echo, got {f.describe()}"
        later = c.quiet_for(0.3)  # the reader fails on any ACK: the connection did not agree
        assert not later, [f.describe() for f in later]
        c.send(wire.ack(1))
        read_close(c, 1002, "protocol error: unknown frame type 0x08", rule_id="R-4.6")


@rule("R-4.6", "R-4.5", "R-4.14", "R-3.8")
def test_R_4_6_ack_server_ordinary_connection(start_ack_server):
    """With the option on, a HELLO without the offer gets an ordinary
    connection (no TLV, no ACK, 0x08 unknown), and 0x08 as a first frame is
    a bad hello."""
    ack_server = start_ack_server()
    with Conn.connect(ack_server.port) as c:
        w = c.handshake(extensions=wire.heartbeat(0))
        assert w.delivered is None, f"WELCOME answers a HELLO without TLV 0x0002 with one (R-4.5): {w.extensions}"
        c.send_data(b"plain")
        f = c.read_frame()
        assert (f.type, f.payload) == (wire.DATA, b"plain"), f"expected the echo, got {f.describe()}"
        later = c.quiet_for(0.3)
        assert not later, [f.describe() for f in later]
        c.send(wire.ack(1))
        read_close(c, 1002, "protocol error: unknown frame type 0x08", rule_id="R-4.6")
    with Conn.connect(ack_server.port) as c:
        c.send(wire.ack(1))
        read_reject(c, 2003, "bad hello: unknown frame type 0x08", rule_id="R-4.14")


@rule("R-4.7")
@pytest.mark.parametrize("value,detail", [
    (bytes(8) + bytes([0, 0, 0, 0, 0, 0, 1]), "bad acknowledged delivery extension"),
    (bytes(8) + (1).to_bytes(8, "big"), "zero stream id"),
    ((5).to_bytes(8, "big") + bytes(8), "zero first seq"),
], ids=["short", "zero-stream", "zero-first-seq"])
def test_R_4_7_server_checks_the_offer(start_ack_server, value, detail):
    ack_server = start_ack_server()
    with Conn.connect(ack_server.port) as c:
        c.send(wire.hello(extensions=wire.heartbeat(0) + wire.tlv(wire.TLV_ACK, value)))
        read_reject(c, 2003, "bad hello: " + detail, rule_id="R-4.7")


# --- acknowledgements (sections 4.2.2, 4.2.3) -------------------------------------


@rule("R-4.15", "R-4.10", "R-4.14")
def test_R_4_15_server_acks_each_read(start_ack_server):
    """Messages 2..6 in one write are acknowledged by a few cumulative ACKs
    ending with ACK(6); a PING brings a PONG and no ACK; the next message
    gets ACK(7). The application receives everything once, in order."""
    ack_server = start_ack_server()
    t = tag()
    c, w = ack_open(ack_server, new_stream())
    with c:
        c.send_data(b"!quiet")
        read_acks(c, 1)
        c.send(frames(*[b"%s-%d" % (t.encode(), i) for i in range(2, 7)]))
        seqs = read_acks(c, 6)
        assert len(seqs) <= 5, f"more ACKs than messages: {seqs} (R-4.15: one per read)"
        c.send(wire.frame(wire.PING, b"p"))
        f = c.read_frame()
        assert f.type == wire.PONG, f"expected PONG, got {f.describe()}"
        later = c.quiet_for(0.3)
        assert not later, f"a read without DATA was acknowledged (R-4.15): {[f.describe() for f in later]}"
        c.send_data(b"")
        read_acks(c, 7)
        wait_head(ack_server, w.session_id, "")
        want = ["!quiet"] + [f"{t}-{i}" for i in range(2, 7)] + [""]
        assert heads(ack_server, w.session_id) == want


@rule("R-4.12", "R-4.10", "R-4.19")
def test_R_4_12_welcome_delivered_after_reconnect(start_ack_server):
    """After a connection delivered messages 1..5, a reconnect of the stream
    gets delivered 5 even with first_seq 3, and its DATA are numbered from
    6 (delivered, not dropped); another stream gets 0."""
    ack_server = start_ack_server()
    t, stream = tag(), new_stream()
    c, w = ack_open(ack_server, stream)
    with c:
        c.send(frames(b"!quiet", *[b"%s-a%d" % (t.encode(), i) for i in range(2, 6)]))
        read_acks(c, 5)
        c.send(wire.close(1000, "client stopped"))
        read_close(c, 1000)
        c.expect_eof(3)
    c, w2 = ack_open(ack_server, stream, first_seq=3)
    with c:
        assert w2.delivered == 5, f"the server delivered 1..5 of this stream; WELCOME says {w2.delivered} (R-4.12)"
        c.send(frames(b"!quiet", b"%s-b7" % t.encode()))
        read_acks(c, 7, timeout=3)
        wait_head(ack_server, w2.session_id, f"{t}-b7")
        assert heads(ack_server, w2.session_id) == ["!quiet", f"{t}-b7"], (
            "messages 6 and 7 (start = max(first_seq 3, delivered 5 + 1), R-4.10) must be delivered")
    c, w3 = ack_open(ack_server, new_stream())
    with c:
        assert w3.delivered == 0, f"another stream has delivered 0, WELCOME says {w3.delivered}"
    c, w4 = ack_open(ack_server, stream, first_seq=8)
    with c:
        assert w4.delivered == 7, f"WELCOME delivered {w4.delivered}, expected 7 (R-4.12, R-4.19)"


@rule("R-4.12", "R-4.15")
def test_R_4_12_overlapping_connections_drop_duplicates(start_ack_server):
    """Two connections of one stream, both starting at 1: the second one's
    messages 1..5 are duplicates (dropped, still acknowledged), 6 and 7 are
    delivered; the first one's next messages 6 and 7 are then duplicates
    and 8 is delivered. Each number reaches the application once."""
    ack_server = start_ack_server()
    t, stream = tag(), new_stream()
    c1, w1 = ack_open(ack_server, stream)
    c2, w2 = ack_open(ack_server, stream)
    with c1, c2:
        assert (w1.delivered, w2.delivered) == (0, 0)
        c1.send(frames(b"!quiet", *[b"%s-a%d" % (t.encode(), i) for i in range(2, 6)]))
        read_acks(c1, 5)
        c2.send(frames(b"!quiet", *[b"%s-b%d" % (t.encode(), i) for i in range(2, 8)]))
        read_acks(c2, 7)
        wait_head(ack_server, w2.session_id, f"{t}-b7")
        assert heads(ack_server, w2.session_id) == [f"{t}-b6", f"{t}-b7"], (
            "of the second connection's messages 1..7 only 6 and 7 are new (R-4.12)")
        echoes = {f.payload for f in c2.log if f.type == wire.DATA}
        assert echoes <= {b"%s-b6" % t.encode(), b"%s-b7" % t.encode()}, (
            f"the server's application echoed duplicates: {sorted(echoes)}")
        c1.send_data(b"%s-a6" % t.encode())
        read_acks(c1, 6)
        c1.send(frames(b"%s-a7" % t.encode(), b"%s-a8" % t.encode()))
        read_acks(c1, 8)
        wait_head(ack_server, w1.session_id, f"{t}-a8")
        assert heads(ack_server, w1.session_id) == ["!quiet"] + [f"{t}-a{i}" for i in range(2, 6)] + [f"{t}-a8"]


@rule("R-4.17", "R-4.14")
@pytest.mark.parametrize("case", ["beyond", "beyond-nothing-sent", "below", "short", "long"])
def test_R_4_17_server_checks_acks(start_ack_server, case):
    ack_server = start_ack_server()
    c, w = ack_open(ack_server, new_stream())
    with c:
        if case != "beyond-nothing-sent":
            c.send_data(b"!send 3 16")
            c.read_until(lambda f: f.type == wire.DATA and f.payload.startswith(b"00000002"), 3,
                         "the server's 3 messages")
        if case == "beyond":
            c.send(wire.ack(4))
            read_close(c, 1002, "protocol error: ACK 4 beyond 3 sent", rule_id="R-4.17")
        elif case == "beyond-nothing-sent":
            c.send(wire.ack(1))
            read_close(c, 1002, "protocol error: ACK 1 beyond 0 sent", rule_id="R-4.17")
        elif case == "below":
            c.send(wire.ack(2) + wire.ack(2) + wire.frame(wire.PING, b"still"))
            c.read_until(lambda f: f.type == wire.PONG, 3, "PONG: a repeated ACK is not an error")
            c.send(wire.ack(1))
            read_close(c, 1002, "protocol error: ACK 1 below 2", rule_id="R-4.17")
        elif case == "short":
            c.send(wire.frame(wire.ACK, bytes(7)))
            read_close(c, 1002, "protocol error: short ACK payload", rule_id="R-4.14")
        else:
            c.send(wire.frame(wire.ACK, bytes(9)))
            read_close(c, 1002, "protocol error: ACK frame too large", rule_id="R-4.14")


@rule("R-4.13", "N-4.13", "R-4.17")
def test_R_4_13_server_stream_is_numbered_per_connection(start_ack_server):
    """The server's DATA are numbered from 1 on each connection; the two the
    client did not acknowledge are reported when the connection ends."""
    ack_server = start_ack_server()
    stream = new_stream()
    c, w = ack_open(ack_server, stream)
    with c:
        c.send_data(b"!send 5 16")
        c.read_until(lambda f: f.type == wire.DATA and f.payload.startswith(b"00000004"), 3, "5 messages")
        c.send(wire.ack(3) + wire.close(1000, "client stopped"))
        read_close(c, 1000)
        c.expect_eof(3)
    ev = ack_server.wait_event(lambda e: e["ev"] == "error" and e.get("sid") == w.session_id, 3,
                               "the report of the 2 unconfirmed messages (N-4.13)")
    assert ev["kind"] == "not_delivered" and ev["count"] == 2, f"expected 2 not confirmed (N-4.13), got {ev}"
    c, w2 = ack_open(ack_server, stream, first_seq=2)
    with c:
        c.send_data(b"!send 2 16")
        c.read_until(lambda f: f.type == wire.DATA and f.payload.startswith(b"00000001"), 3, "2 messages")
        c.send(wire.ack(2) + wire.frame(wire.PING, b"n"))
        c.read_until(lambda f: f.type == wire.PONG, 3, "PONG: ACK(2) is valid on a new connection (R-4.13)")
        c.send(wire.ack(3))
        read_close(c, 1002, "protocol error: ACK 3 beyond 2 sent", rule_id="R-4.13")
    ack_server.wait_event(lambda e: e["ev"] == "disconnect" and e.get("sid") == w2.session_id, 3)
    reports = [e for e in ack_server.find(lambda e: e["ev"] == "error" and e.get("sid") == w2.session_id)
               if e["kind"] == "not_delivered"]
    assert not reports, f"both messages were acknowledged, yet the server reported {reports}"


@rule("R-4.16", "R-1.10")
@pytest.mark.parametrize("how", ["error", "close"])
def test_R_4_16_ack_before_close(start_ack_server, how):
    """The ACK owed for the DATA of a read goes out before the server's
    CLOSE, for an error close and for the answer to the client's CLOSE."""
    ack_server = start_ack_server()
    c, w = ack_open(ack_server, new_stream())
    with c:
        if how == "error":
            c.send(frames(b"!quiet", b"one", b"two") + wire.header(0, 0x42))
            f, before = read_close(c, 1002, "protocol error: unknown frame type 0x42")
        else:
            c.send(frames(b"!quiet", b"one", b"two") + wire.close(1000, "client stopped"))
            f, before = read_close(c, 1000, "normal close")
        acks = [b.seq for b in before if b.type == wire.ACK]
        assert acks and acks[-1] == 3, (
            f"expected ACK(3) before the server's CLOSE (R-4.16), got ACKs {acks} "
            f"in {[b.describe() for b in before]}")


@rule("R-4.18", "R-4.16", "R-8.3")
def test_R_4_18_server_discards_data_after_its_close(start_ack_server):
    """After its CLOSE the server acknowledges nothing and delivers none of
    the client's DATA; the client sends the message again on its next
    connection, where it is delivered once."""
    ack_server = start_ack_server()
    t, stream = tag(), new_stream()
    late = b"%s-late" % t.encode()
    c, w = ack_open(ack_server, stream)
    with c:
        c.send_data(b"!disconnect bye")
        f, before = read_close(c, 1000, "bye")
        assert [b.seq for b in before if b.type == wire.ACK][-1:] == [1], (
            f"the command was not acknowledged before the CLOSE (R-4.16): {[b.describe() for b in before]}")
        c.send(wire.data(late) + wire.close(1000, "normal close"))
        after = c.expect_eof(3)
        assert not [a for a in after if a.type == wire.ACK], f"ACK after the server's CLOSE: {after}"
    ack_server.wait_event(lambda e: e["ev"] == "disconnect" and e.get("sid") == w.session_id, 3)
    assert heads(ack_server, w.session_id) == ["!disconnect bye"], (
        f"the server delivered DATA that arrived after its CLOSE (R-4.18): {heads(ack_server, w.session_id)}")
    c, w2 = ack_open(ack_server, stream, first_seq=2)
    with c:
        assert w2.delivered == 1, f"WELCOME delivered {w2.delivered}: the late message must not count (R-4.18)"
        c.send_data(late)
        read_acks(c, 2)
        wait_head(ack_server, w2.session_id, late.decode())


@rule("N-4.13", "N-4.9")
def test_N_4_13_server_ack_buffer(pool, impl):
    """With AckBufferBytes 1000, a session holds at most 1000 bytes sent and
    not yet acknowledged: the 11th message of 100 bytes is refused; after
    ACK(10) sending works again."""
    srv = pool.get(impl, ack=True, ack_buffer=1000)
    c, w = ack_open(srv, new_stream())
    with c:
        c.send_data(b"!send 20 100")
        c.read_until(lambda f: f.type == wire.DATA and f.payload.startswith(b"00000009"), 3, "10 messages")
        ev = srv.wait_event(lambda e: e["ev"] == "send_error" and e.get("sid") == w.session_id, 3,
                            "a send refused past AckBufferBytes")
        assert ev["i"] == 10 and ev["kind"] == "would_block", f"expected message 10 refused (N-4.9), got {ev}"
        more = [f for f in c.quiet_for(0.2) if f.type == wire.DATA]
        assert not more, f"the server sent more than 1000 unacknowledged bytes: {[f.describe() for f in more]}"
        c.send(wire.ack(10) + wire.data(b"!send 5 100"))
        c.read_until(lambda f: f.type == wire.DATA and f.payload.startswith(b"00000004"), 3,
                     "5 messages after ACK(10)")
        errors = [e for e in srv.find(lambda e: e["ev"] == "send_error" and e.get("sid") == w.session_id)]
        assert len(errors) == 1, f"sends failed after ACK(10) freed the buffer: {errors}"
