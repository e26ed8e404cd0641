"""Section 4.2 of docs/protocol.md, acknowledged delivery, with the peer as a
server of netsys clients (Go core and C ABI drivers) started with
acknowledged delivery on (-ack): the offer, no early data, the fallback,
the client's ACKs and checks, the replay after a lost connection and what
the client reports. A build without the extension fails these tests saying
"acknowledged delivery not supported by this build"."""

from __future__ import annotations

import pytest

from peer import wire
from peer.conn import Timeout
from peer.expect import read_close, rule
from test_netsys_clients import Scenario, collect_early, pattern

FALLBACK_TEXT = "acknowledged delivery not agreed by the server: default delivery guarantees apply"


@pytest.fixture(params=["go", "c"])
def client_impl(request):
    return request.param


def ack_hello(sc: Scenario) -> wire.Hello:
    """The client's HELLO, which must offer acknowledged delivery (R-4.4)."""
    h = sc.hello()
    if h.ack is None:
        raise AssertionError("acknowledged delivery not supported by this build: the client runs with it on, "
                             f"but its HELLO has no TLV 0x0002 (R-4.4); extensions {h.extensions}")
    return h


def ack_welcome(sc: Scenario, delivered: int = 0, **kw):
    """Agrees acknowledged delivery (R-4.5)."""
    sc.welcome(extensions=wire.heartbeat(0) + wire.ack_accept(delivered), **kw)
    sc.c.ack = True


def read_data(sc: Scenario, n: int, timeout: float = 5.0) -> list[bytes]:
    """The next n DATA payloads (ACKs and PONGs in between are skipped)."""
    got = []
    for _ in range(n):
        f, _ = sc.c.read_until(lambda f: f.type == wire.DATA, timeout, f"DATA {len(got) + 1} of {n}")
        got.append(f.payload)
    return got


def undelivered(sc: Scenario) -> list[dict]:
    return [e for e in sc.events("error") if e["kind"] == "not_delivered"]


# --- negotiation ------------------------------------------------------------------


@rule("R-4.4", "R-4.9", "N-4.9")
def test_R_4_4_client_offers_acknowledged_delivery(client_impl):
    """With the option on, HELLO carries TLV 0x0002 of 16 bytes: a non-zero
    stream id, different for each client object, and first_seq 1."""
    streams = []
    for _ in range(2):
        with Scenario(client_impl, ack=True, wait_ms=100) as sc:
            h = ack_hello(sc)
            raw = wire.first_tlv(h.extensions, wire.TLV_ACK)
            assert len(raw) == 16, f"HELLO's TLV 0x0002 has {len(raw)} bytes, R-4.4 says 16: {raw.hex()}"
            stream, first = h.ack
            assert stream != 0 and first == 1, f"a new client offers stream != 0 and first_seq 1, got {h.ack}"
            streams.append(stream)
            ack_welcome(sc)
            read_close(sc.c, 1000, "client stopped", timeout=5)
            sc.answer_close()
            sc.finish()
    assert streams[0] != streams[1], f"two client objects offered the same stream id {streams[0]:#x} (N-4.9)"
    with Scenario(client_impl, wait_ms=100) as sc:
        h = sc.hello()
        assert h.ack is None, f"a client without the option offers acknowledged delivery: {h.extensions}"


@rule("R-4.11", "R-3.9", "R-4.16")
def test_R_4_11_no_early_data_in_ack_mode(client_impl):
    """A client offering acknowledged delivery waits for WELCOME before its
    first DATA, even when it sends at once; its ACK for the server's last
    message comes before its CLOSE."""
    with Scenario(client_impl, ack=True, early=True, count=5, recv=1, wait_ms=2000) as sc:
        ack_hello(sc)
        early = collect_early(sc)
        assert not early, f"early data with acknowledged delivery offered (R-4.11): {[f.describe() for f in early]}"
        ack_welcome(sc)
        assert read_data(sc, 5) == [pattern(i, 16) for i in range(5)]
        sc.c.send(wire.ack(5) + wire.data(b"done"))
        f, before = read_close(sc.c, 1000, "client stopped", timeout=5)
        assert [b.seq for b in before if b.type == wire.ACK] == [1], (
            f"expected the client's ACK(1) before its CLOSE (R-4.16): {[b.describe() for b in before]}")
        sc.answer_close()
        sc.finish()
        assert not undelivered(sc), f"all 5 messages were acknowledged: {undelivered(sc)}"


@rule("R-4.6", "N-4.6", "R-4.14", "N-4.20")
def test_R_4_6_client_falls_back(client_impl):
    """A WELCOME without TLV 0x0002: the client reports the fallback once,
    sends its messages as ordinary DATA, and treats 0x08 as unknown."""
    with Scenario(client_impl, ack=True, count=3, wait_ms=2000) as sc:
        ack_hello(sc)
        sc.welcome()  # a server that does not agree
        assert read_data(sc, 3) == [pattern(i, 16) for i in range(3)]
        try:
            ev = sc.prog.wait_event(lambda e: e["ev"] == "error" and FALLBACK_TEXT in e.get("msg", ""), 3,
                                    "the fallback report")
        except AssertionError as e:
            raise AssertionError(f"acknowledged delivery not supported by this build, or the fallback was not "
                                 f"reported (N-4.6): {e}") from None
        if client_impl == "c":
            assert ev["kind"] == "unsupported", f"the C client reports a fallback as NETSYS_E_UNSUPPORTED: {ev}"
        sc.c.send(wire.ack(3))
        read_close(sc.c, 1002, "protocol error: unknown frame type 0x08", rule_id="R-4.6")
        sc.finish()
        reports = [e for e in sc.events("error") if FALLBACK_TEXT in e.get("msg", "")]
        assert len(reports) == 1, f"the fallback is reported once (N-4.6): {reports}"


@rule("R-4.8")
@pytest.mark.parametrize("ext,detail", [
    (wire.tlv(wire.TLV_ACK, bytes(4)), "bad acknowledged delivery extension"),
    (wire.ack_accept(9), "WELCOME delivered 9 beyond 0 sent"),
], ids=["short", "delivered-beyond"])
def test_R_4_8_client_checks_welcome(client_impl, ext, detail):
    with Scenario(client_impl, ack=True, wait_ms=1000) as sc:
        ack_hello(sc)
        sc.c.send(wire.welcome(extensions=wire.heartbeat(0) + ext))
        read_close(sc.c, 1002, "protocol error: " + detail, timeout=5, rule_id="R-4.8")
        sc.finish()


# --- acknowledgements ------------------------------------------------------------------


@rule("R-4.15", "R-4.13")
def test_R_4_15_client_acks_server_data(client_impl):
    """The server's messages are numbered from 1: five in one write are
    acknowledged by cumulative ACKs ending with ACK(5); a PING brings a PONG
    and no ACK."""
    with Scenario(client_impl, ack=True, recv=5, wait_ms=2000) as sc:
        ack_hello(sc)
        ack_welcome(sc)
        sc.c.send(wire.frame(wire.PING, b"p"))
        f = sc.c.read_frame(3)
        assert f.type == wire.PONG, f"expected PONG, got {f.describe()}"
        later = sc.c.quiet_for(0.3)
        assert not later, f"a read without DATA was acknowledged (R-4.15): {[f.describe() for f in later]}"
        sc.c.send(b"".join(wire.data(b"srv-%d" % i) for i in range(1, 6)))
        f, before = read_close(sc.c, 1000, "client stopped", timeout=5)
        acks = [b.seq for b in before if b.type == wire.ACK]
        assert acks and acks[-1] == 5 and acks == sorted(acks) and len(acks) <= 5 and all(1 <= a <= 5 for a in acks), (
            f"expected cumulative ACKs ending with ACK(5) (R-4.15), got {acks}")
        sc.answer_close()
        sc.finish()
        assert [e["head"] for e in sc.events("message")] == [f"srv-{i}" for i in range(1, 6)]


@rule("R-4.17", "R-4.14")
@pytest.mark.parametrize("case", ["beyond", "below", "short"])
def test_R_4_17_client_checks_acks(client_impl, case):
    with Scenario(client_impl, ack=True, count=3, wait_ms=2000) as sc:
        ack_hello(sc)
        ack_welcome(sc)
        read_data(sc, 3)
        if case == "beyond":
            sc.c.send(wire.ack(4))
            read_close(sc.c, 1002, "protocol error: ACK 4 beyond 3 sent", rule_id="R-4.17")
        elif case == "below":
            sc.c.send(wire.ack(2) + wire.ack(2) + wire.frame(wire.PING, b"still"))
            sc.c.read_until(lambda f: f.type == wire.PONG, 3, "PONG: a repeated ACK is not an error")
            sc.c.send(wire.ack(1))
            read_close(sc.c, 1002, "protocol error: ACK 1 below 2", rule_id="R-4.17")
        else:
            sc.c.send(wire.frame(wire.ACK, bytes(7)))
            read_close(sc.c, 1002, "protocol error: short ACK payload", rule_id="R-4.14")
        sc.finish()


# --- replay and reports ---------------------------------------------------------------


@rule("R-4.10", "R-4.19", "R-4.9", "N-4.21")
def test_R_4_10_client_resends_after_a_lost_connection(client_impl):
    """Messages 1..6 sent, 1..2 acknowledged, then the connection is lost
    without CLOSE (as when the server crashes). The client reconnects with
    the same stream and first_seq 3; the WELCOME says 4 were delivered, so
    it sends messages 5 and 6 only, and nothing is reported undelivered."""
    with Scenario(client_impl, ack=True, count=6, reconnect_ms=100, recv=1, wait_ms=3000) as sc:
        stream, first = ack_hello(sc).ack
        ack_welcome(sc)
        assert read_data(sc, 6) == [pattern(i, 16) for i in range(6)]
        sc.c.send(wire.ack(2))
        sc.c.close()  # no CLOSE: the server "crashed"
        try:
            sc.c = sc.lst.accept(timeout=5)
        except Timeout:
            raise AssertionError(f"the client did not reconnect: {sc.prog.summary()}") from None
        h2 = ack_hello(sc)
        assert h2.ack == (stream, 3), (
            f"the reconnect must offer the same stream {stream:#x} with first_seq 3 (oldest held, R-4.9); "
            f"got {h2.ack}")
        ack_welcome(sc, delivered=4)
        assert read_data(sc, 2) == [pattern(4, 16), pattern(5, 16)], (
            "after delivered 4 the client sends messages 5 and 6 only (start = 5, R-4.10)")
        sc.c.send(wire.ack(6) + wire.data(b"done"))
        f, before = read_close(sc.c, 1000, "client stopped", timeout=5)
        assert not [b for b in before if b.type == wire.DATA], [b.describe() for b in before]
        sc.answer_close()
        sc.finish()
        assert not undelivered(sc), f"every message was acknowledged, yet: {undelivered(sc)}"


@rule("N-4.19", "N-4.21")
def test_N_4_19_client_reports_unacknowledged_at_stop(client_impl):
    with Scenario(client_impl, ack=True, count=4, recv=1, wait_ms=2000) as sc:
        ack_hello(sc)
        ack_welcome(sc)
        read_data(sc, 4)
        sc.c.send(wire.ack(1) + wire.data(b"done"))
        read_close(sc.c, 1000, "client stopped", timeout=5)
        sc.answer_close()
        sc.finish()
        lost = undelivered(sc)
        assert [e["count"] for e in lost] == [3], f"3 messages were not acknowledged at stop (N-4.19): {lost}"


@rule("N-4.19")
def test_N_4_19_client_reports_held_messages_after_the_queue_timeout(client_impl):
    """The connection is lost and the next attempt is 5 s away: after the
    reconnect queue timeout of 300 ms the 3 held messages are reported."""
    with Scenario(client_impl, ack=True, count=3, reconnect_ms=5000, queue_timeout_ms=300, wait_ms=1000) as sc:
        ack_hello(sc)
        ack_welcome(sc)
        read_data(sc, 3)
        sc.c.close()
        ev = sc.prog.wait_event(lambda e: e["ev"] == "error" and e["kind"] == "not_delivered", 2.5,
                                "the report of the held messages (N-4.19)")
        assert ev["count"] == 3, ev
        sc.finish()


@rule("N-4.9")
def test_N_4_9_client_ack_buffer(client_impl):
    """With AckBufferBytes 1000, messages of 100 bytes: 10 are held, the
    11th to 15th are refused while nothing is acknowledged."""
    with Scenario(client_impl, ack=True, ack_buffer=1000, count=15, size=100, recv=1, wait_ms=2000) as sc:
        ack_hello(sc)
        ack_welcome(sc)
        read_data(sc, 10)
        sent = sc.prog.wait_event("sent", 5)["count"]
        refused = sc.events("send_error")
        assert sent == 10 and [(int(e["i"]), e["kind"]) for e in refused] == [(i, "would_block") for i in range(10, 15)], (
            f"expected messages 10..14 refused with backpressure (N-4.9): sent {sent}, {refused}")
        sc.c.send(wire.ack(10) + wire.data(b"done"))
        read_close(sc.c, 1000, "client stopped", timeout=5)
        sc.answer_close()
        sc.finish()
        assert not undelivered(sc), undelivered(sc)
