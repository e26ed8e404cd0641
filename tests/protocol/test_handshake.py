"""Section 3 of docs/protocol.md: HELLO, WELCOME, version negotiation,
refusal, handshake bounds. The peer is a client of a netsys server."""

import struct
import time

import pytest

from peer import wire
from peer.conn import Conn
from peer.expect import assert_eof, read_close, read_reject, rule

# Timer tolerance on top of R-7.4's 100 ms, for a loaded 2-CPU machine.
SLACK = 0.9


def good_hello_parts():
    """A HELLO cut field by field: (payload, detail of its truncation)."""
    full = wire.hello_payload(client_id=b"abc", codecs=b"\x01", transforms=["xsum"],
                              extensions=wire.heartbeat(0))
    cuts = [
        (1, "min version"), (3, "max version"), (7, "max message"), (8, "client id length"),
        (10, "client id"), (12, "codec count"), (13, "codecs"), (14, "transform count"),
        (15, "transform name length"), (17, "transform name"), (21, "extension tag"),
        (23, "extension length"), (26, "extension"),
    ]
    return [(full[:n], "truncated " + what) for n, what in cuts]


@rule("R-3.1", "R-3.2", "R-3.5", "N-1.4")
def test_R_3_2_welcome_answers_hello(server):
    with Conn.connect(server.port) as c:
        c.send(wire.hello(client_id="alice"))
        f = c.read_frame()
        assert f.type == wire.WELCOME, f"expected exactly one WELCOME first (R-3.2), got {f.describe()}"
        w = wire.parse_welcome(f.payload)
        assert w.version == 1 and w.max_message == 1 << 20 and w.codec == 0 and w.transforms == [], w
        assert w.session_id != 0, "session_id 0 (R-3.5)"
        assert w.min_compress == 256, f"min_compress {w.min_compress}, expected the server's threshold 256"
        assert server.wait_event(lambda e: e["ev"] == "connect" and e["sid"] == w.session_id)["client_id"] == "alice"


@rule("N-1.4")
def test_N_1_4_largest_own_limit_is_2_30(pool, impl):
    s = pool.get(impl, max_message=1 << 30)
    with Conn.connect(s.port) as c:
        assert c.handshake().max_message == 1 << 30


@rule("R-3.5", "N-3.5")
def test_N_3_5_session_ids_are_distinct(server):
    ids = set()
    for _ in range(3):
        with Conn.connect(server.port) as c:
            ids.add(c.handshake().session_id)
    assert len(ids) == 3 and 0 not in ids, ids


@rule("R-3.4")
@pytest.mark.parametrize("cut", range(13))
def test_R_3_4_truncated_hello(server, cut):
    payload, detail = good_hello_parts()[cut]
    with Conn.connect(server.port) as c:
        c.send_frame(wire.HELLO, payload)
        read_reject(c, 2003, "bad hello: " + detail)


@rule("R-3.4")
@pytest.mark.parametrize("payload,detail", [
    (wire.hello_payload(max_message=0), "zero max message"),
    (wire.hello_payload(client_id=b"\xff\xfe"), "client id is not UTF-8"),
    (wire.hello_payload(codecs=bytes([1]) * 17), "too many codecs"),
    (wire.hello_payload(transforms=["t%d" % i for i in range(17)]), "too many transforms"),
    (wire.hello_payload(transforms=[b""]), "empty transform name"),
    (wire.hello_payload(transforms=[b"\xc3"]), "transform name is not UTF-8"),
    (wire.hello_payload(extensions=wire.tlv(wire.TLV_HEARTBEAT, b"\x00\x01")), "bad heartbeat extension"),
], ids=["zero-max", "id-utf8", "codecs-17", "transforms-17", "empty-name", "name-utf8", "heartbeat-len2"])
def test_R_3_4_bad_hello_fields(server, payload, detail):
    with Conn.connect(server.port) as c:
        c.send_frame(wire.HELLO, payload)
        read_reject(c, 2003, "bad hello: " + detail)


@rule("R-3.4", "R-5.3")
def test_R_3_4_unknown_codec_ids_are_not_an_error(pool, impl):
    s = pool.get(impl, codecs="snappy,zstd")
    with Conn.connect(s.port) as c:
        w = c.handshake(codecs=bytes([9, 200, 2]))
        assert w.codec == 2, f"offer 9,200,2 with zstd enabled: expected codec 2, got {w.codec}"


@rule("R-3.7")
@pytest.mark.parametrize("lo,hi,answer", [
    (0, 0, "unsupported version: offered 0..0, supported 1..1"),
    (0, 1, 1),
    (3, 1, "unsupported version: offered 3..1, supported 1..1"),
    (1, 5, 1),
    (2, 5, "unsupported version: offered 2..5, supported 1..1"),
    (1, 1, 1),
], ids=["0..0", "0..1", "3..1", "1..5", "2..5", "1..1"])
def test_R_3_7_negotiation_table(server, lo, hi, answer):
    with Conn.connect(server.port) as c:
        c.send(wire.hello(min_version=lo, max_version=hi))
        if isinstance(answer, int):
            f = c.read_frame()
            assert f.type == wire.WELCOME, f"offer {lo}..{hi}: expected WELCOME v{answer}, got {f.describe()}"
            assert wire.parse_welcome(f.payload).version == answer
        else:
            read_reject(c, 2002, answer)


@rule("R-3.3", "R-3.13", "N-3.13", "R-7.4")
def test_R_3_13_handshake_timeout(pool, impl):
    s = pool.get(impl, handshake_ms=300)
    with Conn.connect(s.port) as silent, Conn.connect(s.port) as partial:
        start = time.monotonic()
        partial.send(wire.hello()[:5])  # a partial HELLO does not extend the timeout
        for c in (silent, partial):
            read_reject(c, 2004, "handshake timeout", timeout=0.3 + SLACK + 1)
        took = time.monotonic() - start
        assert 0.3 - 0.02 <= took <= 0.3 + 0.1 + SLACK, f"REJECT 2004 after {took:.3f}s, timeout 0.3s (R-7.4)"
        assert_eof(silent, 2.0)


@rule("R-3.11")
def test_R_3_11_refused_connection_is_only_discarded(pool, impl):
    """After REJECT the server decodes nothing: a flood of junk, even
    invalid headers, gets no second frame, and the connection closes
    within the shutdown timeout."""
    s = pool.get(impl, shutdown_ms=600)
    with Conn.connect(s.port) as c:
        c.send(wire.hello(min_version=9, max_version=9))
        read_reject(c, 2002, prefix="unsupported version")
        junk = (wire.header(0xFFFFFFFF, 0x42, 0xFF) + b"\xff" * 4096) * 64
        c.try_send(junk)
        c.sock.settimeout(0.2)
        try:
            extra = c.sock.recv(1 << 16)
        except OSError:
            extra = b""
        assert not extra and not c.buf, f"after REJECT netsys sent {(c.buf + extra)[:64].hex()}"
        took = c.wait_closed(0.6 + 0.1 + SLACK + 2, probe=junk[:4096])
        assert took <= 0.6 + 0.1 + SLACK, f"a refused connection stayed open {took:.2f}s, shutdown timeout 0.6s"


@rule("N-3.3")
def test_N_3_3_max_connections_counts_open_sessions_only(fresh, impl):
    s = fresh(impl, max_connections=1)
    with Conn.connect(s.port) as p1, Conn.connect(s.port) as p2, Conn.connect(s.port) as a:
        time.sleep(0.1)  # two pending handshakes do not count
        a.handshake()
        with Conn.connect(s.port) as b:
            b.send(wire.hello())
            read_reject(b, 2001, "server full")
        p1.send(wire.hello())
        read_reject(p1, 2001, "server full")


@rule("N-3.3", "R-3.3")
def test_N_3_3_pending_per_address_refuses_the_oldest_before_hello(fresh, impl):
    s = fresh(impl, per_address=2)
    with Conn.connect(s.port) as oldest:
        time.sleep(0.05)
        with Conn.connect(s.port) as second:
            time.sleep(0.05)
            with Conn.connect(s.port) as third:
                read_reject(oldest, 2001, "server full: too many pending handshakes", rule_id="N-3.3")
                took = oldest.wait_closed(2.0)
                assert took < 0.5, f"the refused pending handshake was closed after {took:.2f}s, not at once"
                for c in (second, third):
                    c.handshake()


@rule("N-3.3")
def test_N_3_3_pending_global_bound(fresh, impl):
    s = fresh(impl, pending=2)
    conns = []
    try:
        for src in ("127.0.0.11", "127.0.0.12", "127.0.0.13"):
            conns.append(Conn.connect(s.port, source=src))
            time.sleep(0.05)
        read_reject(conns[0], 2001, "server full: too many pending handshakes")
        conns[1].handshake()
        conns[2].handshake()
    finally:
        for c in conns:
            c.close()


@rule("R-8.7", "R-8.2", "R-8.3")
def test_R_8_7_stop_rejects_handshaking_and_closes_open(fresh, impl):
    s = fresh(impl, shutdown_ms=2000)
    with Conn.connect(s.port) as pending, Conn.connect(s.port) as opened:
        opened.handshake()
        opened.send_data(b"hi")
        assert opened.read_frame().payload == b"hi"
        time.sleep(0.05)
        s.close_stdin()
        read_reject(pending, 2006, "server stopping", rule_id="R-8.7")
        took = pending.wait_closed(2.0)
        assert took < 0.5, f"the handshaking connection was closed {took:.2f}s after REJECT 2006, not at once"
        read_close(opened, 1001, "server stopping", rule_id="R-8.7")
        opened.send(wire.close(1000, "normal close"))
        assert_eof(opened, 2.0)
        s.wait_exit(5)
