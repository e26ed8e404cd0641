"""The peer as a server, against the netsys client (Go core and C ABI
drivers): what a netsys client sends and how it reacts (sections 2, 3, 5,
7, 8 of docs/protocol.md)."""

from __future__ import annotations

import struct
import time
import zlib

import pytest

from peer import codecs, wire
from peer.conn import Listener, PeerClosed, Timeout
from peer.expect import check_code_reason, read_close, rule
from peer.procs import check_client_options, run_client

SLACK = 0.9  # on top of R-7.4's 100 ms, for a loaded machine


def pattern(i: int, size: int) -> bytes:
    """The drivers' message i (progutil.Pattern / prog.h pattern)."""
    head = b"%08d" % i
    filler = b'{"seq":%d,"text":"the quick brown fox jumps over the lazy dog"}' % i
    b = head
    while len(b) < size:
        b += filler
    return b[:size]


class Scenario:
    """A driver connected to the peer's listener."""

    def __init__(self, impl: str, rcvbuf: int | None = None, **flags):
        flags.setdefault("wait_ms", 200)
        self.lst = Listener(rcvbuf=rcvbuf)
        self.prog = run_client(impl, self.lst.port, **flags)
        deadline = time.monotonic() + 5
        while True:
            try:
                self.c = self.lst.accept(timeout=0.1)
                break
            except Timeout:
                pass
            # A driver lacking an option exits at once: say so rather than
            # wait for a connection that never comes.
            if self.prog.find("exit") or self.prog.find("eof") or time.monotonic() > deadline:
                self.prog.kill()
                self.lst.close()
                check_client_options(self.prog)
                raise AssertionError(f"the netsys {impl} client did not connect: {self.prog.summary()}")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.prog.kill()
        self.c.close()
        self.lst.close()

    def hello(self) -> wire.Hello:
        f = self.c.read_frame()
        assert f.type == wire.HELLO, f"the client's first frame must be HELLO (R-3.1), got {f.describe()}"
        return wire.parse_hello(f.payload)

    def welcome(self, **kw) -> None:
        self.c.send(wire.welcome(**kw))
        self.c.open = True
        self.c.codec = kw.get("codec", 0) != 0
        self.c.transforms = len(kw.get("transforms", ()))

    def finish(self, timeout: float = 10.0) -> list[dict]:
        """Lets the driver end and returns its events."""
        self.prog.wait_exit(timeout)
        self.prog.wait_event("eof", 2)
        return self.prog.events

    def events(self, name: str) -> list[dict]:
        return self.prog.find(name)

    def answer_close(self):
        """Answers the client's CLOSE and waits for its end of the connection."""
        self.c.try_send(wire.close(1000, "normal close"))
        try:
            self.c.expect_eof(5)
        except Timeout:
            raise AssertionError("the netsys client did not close the TCP connection") from None


def failure(sc: Scenario, timeout=5.0) -> dict:
    """The event that reports a failed connect (sync or async)."""
    return sc.prog.wait_event(lambda e: e["ev"] in ("connect_failed", "error"), timeout, "a connect failure")


@pytest.fixture(params=["go", "c"])
def client_impl(request):
    return request.param


# --- handshake ----------------------------------------------------------------


@rule("R-3.1", "N-4.1", "N-7.3", "N-2.1", "R-8.2")
def test_R_3_1_hello_and_client_stop(client_impl):
    with Scenario(client_impl, id="drv", max_message=5000, codecs="zstd,snappy", idle_ms=7000) as sc:
        h = sc.hello()
        assert (h.min_version, h.max_version) == (1, 1), h
        assert h.max_message == 5000 and h.client_id == b"drv", h
        assert h.codecs == b"\x02\x01", f"codecs {h.codecs.hex()}, configured zstd,snappy"
        assert h.transforms == [], h
        assert h.heartbeat == 7000, f"HELLO heartbeat extension {h.heartbeat} ({h.extensions}), expected 7000 (N-4.1)"
        sc.welcome()
        f = sc.c.read_frame(5)
        check_code_reason(f, wire.CLOSE, 1000, "client stopped", rule_id="N-2.1")
        frames = []
        try:
            frames = [sc.c.read_frame(2)]
        except PeerClosed:
            pass  # FIN right after CLOSE
        assert not frames, f"after CLOSE the client sent {frames[0].describe()}"
        sc.answer_close()
        sc.finish()
    with Scenario(client_impl) as sc:
        assert sc.hello().heartbeat == 30_000, "the default idle timeout is 30 s (N-7.3)"


@rule("R-3.3", "R-3.11", "N-3.11")
def test_R_3_3_reject_before_hello_is_read(client_impl):
    with Scenario(client_impl) as sc:
        sc.c.send(wire.reject(2001, "server full: too many pending handshakes"))
        ev = failure(sc)
        assert ev["kind"] == "server_full", f"REJECT 2001 is a 'server full' refusal (N-3.11), got {ev}"
        assert "server full: too many pending handshakes" in ev["msg"], ev
        frames = sc.c.expect_eof(5)
        assert [f.type for f in frames] == [wire.HELLO], (
            f"after REJECT the client sends nothing (R-3.11): {[f.describe() for f in frames]}")
        sc.finish()


@rule("R-3.11", "N-3.11", "R-2.6")
@pytest.mark.parametrize("code,reason", [(2002, "unsupported version: offered 1..1, supported 2..2"),
                                         (2999, "a code from the future")])
def test_R_3_11_reject_after_hello(client_impl, code, reason):
    with Scenario(client_impl) as sc:
        sc.hello()
        sc.c.send(wire.reject(code, reason))
        ev = failure(sc)
        assert ev["kind"] == "rejected" and reason in ev["msg"], f"REJECT {code}: {ev}"
        frames = sc.c.expect_eof(5)
        assert not frames, f"after REJECT the client sent {[f.describe() for f in frames]}"
        sc.finish()


@rule("R-3.12")
def test_R_3_12_close_before_welcome_is_a_refusal(client_impl):
    with Scenario(client_impl) as sc:
        sc.hello()
        sc.c.send(wire.close(1001, "server stopping"))
        ev = failure(sc)
        assert ev["kind"] in ("rejected", "server_full", "closed") and "server stopping" in ev["msg"], ev
        frames = sc.c.expect_eof(5)
        assert not any(f.type == wire.DATA for f in frames), [f.describe() for f in frames]
        sc.finish()


WELCOME_FAULTS = {
    "version-3": (dict(version=3), "WELCOME version 3 was not offered"),
    "version-0": (dict(version=0), "WELCOME version 0 was not offered"),
    "codec-not-offered": (dict(codec=2), "WELCOME codec 2 was not offered"),
    "transforms-differ": (dict(transforms=["xsum"]), "WELCOME transforms differ from HELLO"),
    "zero-session": (dict(session_id=0), "zero session id"),
    "zero-max-message": (dict(max_message=0), "zero max message"),
    "bad-heartbeat": (dict(extensions=wire.tlv(wire.TLV_HEARTBEAT, b"\x00\x01")), "bad heartbeat extension"),
}


@rule("R-3.6", "R-1.9")
@pytest.mark.parametrize("fault", list(WELCOME_FAULTS) + ["truncated"])
def test_R_3_6_client_checks_welcome(client_impl, fault):
    with Scenario(client_impl) as sc:
        sc.hello()
        if fault == "truncated":
            sc.c.send(wire.frame(wire.WELCOME, wire.welcome_payload()[:5]))
            detail = "truncated max message"
        else:
            kw, detail = WELCOME_FAULTS[fault]
            sc.c.send(wire.welcome(**kw))
        read_close(sc.c, 1002, "protocol error: " + detail, timeout=5, rule_id="R-3.6")
        ev = failure(sc)
        assert ev["kind"] == "protocol", ev
        sc.c.expect_eof(3)
        sc.finish()


@rule("R-1.9", "R-1.5")
@pytest.mark.parametrize("frame,detail", [
    (wire.data(b"too soon"), "unexpected DATA frame"),
    (wire.frame(wire.PING, b"p"), "unexpected PING frame"),
    (wire.header(0, 0x42), "unknown frame type 0x42"),
    (wire.header(70_000, wire.DATA), "DATA frame too large"),
], ids=["data", "ping", "unknown-type", "oversize"])
def test_R_1_9_client_errors_before_welcome(client_impl, frame, detail):
    with Scenario(client_impl) as sc:
        sc.hello()
        sc.c.send(frame)
        read_close(sc.c, 1002, "protocol error: " + detail, timeout=5, rule_id="R-1.9")
        sc.c.expect_eof(3)
        sc.finish()


@rule("R-4.2", "R-9.1")
def test_R_4_2_client_skips_unknown_extensions(client_impl):
    with Scenario(client_impl, count=1) as sc:
        sc.hello()
        sc.welcome(extensions=wire.tlv(0x7777, b"future") + wire.tlv(wire.TLV_ACK, b"")
                   + wire.heartbeat(0))
        f = sc.c.read_frame(5)
        assert f.type == wire.DATA and f.payload == pattern(0, 16), f"expected message 0, got {f.describe()}"
        read_close(sc.c, 1000)
        sc.answer_close()
        sc.finish()


@rule("R-3.8")
def test_R_3_8_client_unexpected_welcome_when_open(client_impl):
    with Scenario(client_impl, wait_ms=2000) as sc:
        sc.hello()
        sc.welcome()
        sc.prog.wait_event("connected")
        sc.c.send(wire.welcome())
        read_close(sc.c, 1002, "protocol error: unexpected WELCOME frame")
        sc.finish()


# --- early data (section 3.6) --------------------------------------------------


def collect_early(sc: Scenario, quiet: float = 0.4) -> list[wire.Frame]:
    frames = []
    while True:
        try:
            frames.append(sc.c.read_frame(quiet))
        except Timeout:
            return frames


@rule("R-3.9")
def test_R_3_9_early_data_budget(client_impl):
    """100 messages of 1000 bytes sent at connect: at most 65,536 payload
    bytes before WELCOME, uncompressed; all arrive once, in order."""
    with Scenario(client_impl, early=True, count=100, size=1000, codecs="snappy", wait_ms=2000) as sc:
        sc.hello()
        early = collect_early(sc)
        assert early, "no early data: the client waited for WELCOME (R-3.9 allows up to 65,536 bytes)"
        assert all(f.type == wire.DATA and f.flags == 0 for f in early), [f.describe() for f in early[:3]]
        total = sum(len(f.payload) for f in early)
        assert total <= wire.EARLY_DATA_BUDGET, f"{total} bytes of early data, budget 65,536 (R-3.9a)"
        sc.welcome(codec=1, min_compress=1 << 30)
        close, rest = sc.c.read_until(lambda f: f.type == wire.CLOSE, 10)
        got = [f.payload for f in early]
        for f in rest:
            if f.type == wire.DATA:
                got.append(codecs.snappy_decompress(f.payload) if f.flags else f.payload)
        assert got == [pattern(i, 1000) for i in range(100)], (
            f"expected messages 0..99 once, in order; got {len(got)} messages")
        sc.answer_close()
        sc.finish()


@rule("R-3.9")
def test_R_3_9_no_early_data_with_transforms(client_impl):
    with Scenario(client_impl, early=True, count=5, transforms="xsum", wait_ms=700) as sc:
        h = sc.hello()
        assert h.transforms == ["xsum"], h
        early = collect_early(sc)
        assert not early, f"a client requesting transforms sent early data (R-3.9c): {[f.describe() for f in early]}"
        sc.welcome(transforms=["xsum"])
        frames = [sc.c.read_frame(5) for _ in range(5)]
        for i, f in enumerate(frames):
            assert f.type == wire.DATA and f.payload == pattern(i, 16) + bytes([sum(pattern(i, 16)) & 0xFF]), (
                f"message {i}: {f.describe()}")
        read_close(sc.c, 1000)
        sc.answer_close()
        sc.finish()


@rule("N-3.10", "N-3.11", "N-4.20")
def test_N_3_10_early_data_of_a_refused_connection_is_reported(client_impl):
    with Scenario(client_impl, early=True, count=5, wait_ms=2000) as sc:
        sc.hello()
        early = collect_early(sc, 0.3)
        sc.c.send(wire.reject(2001, "server full"))
        sc.c.expect_eof(5)
        sc.finish()
        lost = sc.events("error")
        undelivered = [e for e in lost if e["kind"] == "not_delivered"]
        assert undelivered and undelivered[0]["count"] == 5, (
            f"{len(early)} early messages were refused; expected them reported undelivered: {lost}")
        assert any(e["kind"] == "server_full" for e in lost), lost


# --- sizes and compression (section 5) --------------------------------------------


@rule("R-5.1", "N-5.1")
def test_N_5_1_client_refuses_messages_over_the_servers_limit(client_impl):
    with Scenario(client_impl, big=1001) as sc:
        sc.hello()
        sc.welcome(max_message=1000)
        err = sc.prog.wait_event("send_error", 5)
        assert err["kind"] == "too_large", err
        f, before = read_close(sc.c, 1000)
        assert not before, f"the refused message reached the wire: {[b.describe() for b in before]}"
        sc.answer_close()
        sc.finish()


@rule("R-1.4")
def test_R_1_4_welcome_max_message_above_2_30(client_impl):
    with Scenario(client_impl, count=1) as sc:
        sc.hello()
        sc.welcome(max_message=0xFFFFFFFF)
        f = sc.c.read_frame(5)
        assert f.type == wire.DATA, f"a WELCOME with max_message 0xFFFFFFFF is valid: got {f.describe()}"
        sc.answer_close()
        sc.finish()


@rule("R-5.2")
def test_R_5_2_client_limit(client_impl):
    with Scenario(client_impl, max_message=1000, wait_ms=2000) as sc:
        sc.hello()
        sc.welcome()
        sc.c.send(wire.data(b"a" * 1000))
        sc.c.send(wire.header(1001, wire.DATA))
        f, before = read_close(sc.c, 1009, "message too large: 1001 > 1000")
        sc.finish()
        assert [e["len"] for e in sc.events("message")] == [1000]


@rule("N-5.4", "R-5.6", "R-5.8", "N-5.6", "N-5.8")
@pytest.mark.parametrize("codec", [1, 2], ids=["snappy", "zstd"])
def test_N_5_4_client_compresses_with_its_own_threshold(client_impl, codec):
    name = {1: "snappy", 2: "zstd"}[codec]
    with Scenario(client_impl, codecs=name, min_compress=64, count=3, size=1000) as sc:
        sc.hello()
        sc.welcome(codec=codec, min_compress=1_000_000)
        for i in range(3):
            f = sc.c.read_frame(5)
            assert f.type == wire.DATA and f.flags == wire.COMPRESSED, (
                f"message {i}: expected compressed (own threshold 64, WELCOME's 1,000,000 is information): "
                f"{f.describe()}")
            try:
                got = (codecs.snappy_decompress(f.payload) if codec == 1
                       else codecs.zstd_decompress_one(f.payload, 1 << 20))
            except Exception as e:  # noqa: BLE001
                raise AssertionError(f"the client's {name} payload does not decode with the third-party "
                                     f"library: {e}") from None
            assert got == pattern(i, 1000)
            if codec == 2:
                assert codecs.zstd_single_segment(f.payload), "zstd frame is not single-segment (N-5.8)"
        read_close(sc.c, 1000)
        sc.answer_close()
        sc.finish()


TEXT = b"".join(b'{"n":%d,"msg":"compressible text compressible text"}' % i for i in range(60))


@rule("R-5.4", "R-5.6", "R-5.8")
@pytest.mark.parametrize("codec", [1, 2], ids=["snappy", "zstd"])
def test_R_5_4_client_decodes_compressed_data(client_impl, codec):
    name = {1: "snappy", 2: "zstd"}[codec]
    with Scenario(client_impl, codecs=name, recv=2) as sc:
        sc.hello()
        sc.welcome(codec=codec)
        packed = codecs.snappy_compress(TEXT) if codec == 1 else codecs.zstd_compress(TEXT)
        sc.c.send(wire.data(packed, wire.COMPRESSED) + wire.data(b"plain"))
        read_close(sc.c, 1000)
        sc.answer_close()
        sc.finish()
        msgs = [(e["len"], e["adler32"]) for e in sc.events("message")]
        assert msgs == [(len(TEXT), zlib.adler32(TEXT)), (5, zlib.adler32(b"plain"))], msgs


@rule("R-5.7", "R-5.9", "N-5.10")
@pytest.mark.parametrize("case", ["snappy-4GiB", "zstd-two-frames", "zstd-no-content-size"])
def test_R_5_7_client_bombs(client_impl, case):
    codec = 1 if case.startswith("snappy") else 2
    one = codecs.zstd_compress(b"abc" * 12)
    payload, code, reason = {
        "snappy-4GiB": (codecs.uvarint(0xFFFFFFFF) + codecs.snappy_literal(b"x"), 1009,
                        "message too large: 4294967295 > 1048576"),
        "zstd-two-frames": (one + one, 1002, "protocol error: corrupt compressed frame"),
        "zstd-no-content-size": (codecs.zstd_compress(b"abc" * 12, content_size=False), 1002,
                                 "protocol error: corrupt compressed frame"),
    }[case]
    with Scenario(client_impl, codecs="snappy,zstd", wait_ms=2000) as sc:
        sc.hello()
        sc.welcome(codec=codec)
        sc.c.send(wire.data(payload, wire.COMPRESSED))
        read_close(sc.c, code, reason)
        sc.finish()
        assert not sc.events("message"), sc.events("message")


# --- heartbeats (section 7) ----------------------------------------------------------


@rule("R-7.1")
def test_R_7_1_client_answers_ping(client_impl):
    with Scenario(client_impl, wait_ms=1500) as sc:
        sc.hello()
        sc.welcome()
        sc.c.send(wire.frame(wire.PING, b"abc"))
        f = sc.c.read_frame(3)
        assert (f.type, f.payload) == (wire.PONG, b"abc"), f.describe()
        sc.c.send(wire.header(65, wire.PING))
        read_close(sc.c, 1002, "protocol error: PING frame too large")
        sc.finish()


@rule("R-7.3", "R-7.4")
def test_R_7_3_client_pings_on_the_servers_announced_timeout(client_impl):
    with Scenario(client_impl, idle_ms=-1, wait_ms=1500) as sc:
        sc.hello()
        sc.welcome(extensions=wire.heartbeat(600))
        start = time.monotonic()
        try:
            f = sc.c.read_frame(0.3 + 0.1 + SLACK)
        except Timeout:
            raise AssertionError("no PING within 1.3s: the client ignored WELCOME's heartbeat of 600 ms "
                                 "(its own idle timeout is off), expected one after 0.3s (R-7.3)") from None
        took = time.monotonic() - start
        assert f.type == wire.PING and 0.28 <= took, (
            f"expected a PING ~0.3s after WELCOME announced 600 ms, got {f.describe()} after {took:.3f}s")
        sc.c.send(wire.frame(wire.PONG, f.payload))
        read_close(sc.c, 1000, timeout=5)
        sc.answer_close()
        sc.finish()


@rule("R-7.3", "R-7.2")
def test_R_7_3_client_idle_close(client_impl):
    with Scenario(client_impl, idle_ms=800, wait_ms=3000) as sc:
        sc.hello()
        sc.welcome(extensions=b"")  # a server that announces nothing
        start = time.monotonic()
        f = sc.c.read_frame(0.4 + 0.1 + SLACK)
        assert f.type == wire.PING, f.describe()
        read_close(sc.c, 1008, "idle timeout", timeout=0.4 + 0.1 + SLACK + 1)
        took = time.monotonic() - start
        assert 0.78 <= took <= 0.8 + 0.1 + SLACK, f"CLOSE 1008 after {took:.3f}s, T = 0.8s"
        sc.answer_close()
        sc.finish()


# --- closing (sections 2 and 8) ------------------------------------------------------


@rule("R-2.5", "N-2.5", "R-8.5")
@pytest.mark.parametrize("code,kind", [(1000, None), (1001, None), (1002, "protocol"), (1008, "timeout"),
                                       (1009, "too_large"), (1011, "transform"), (4000, "closed")])
def test_R_2_5_client_close_codes_on_receipt(client_impl, code, kind):
    with Scenario(client_impl, wait_ms=3000) as sc:
        sc.hello()
        sc.welcome()
        sc.prog.wait_event("connected")
        sc.c.send(wire.close(code, f"code {code} from the server"))
        frames = sc.c.expect_eof(5)
        sc.finish()
        errors = [e for e in sc.events("error") if e["kind"] != "not_delivered"]
        if kind is None:
            assert not errors, f"CLOSE {code} is a normal end, but the client reported {errors}"
        else:
            assert [e["kind"] for e in errors] == [kind], f"CLOSE {code}: expected a {kind} error (N-2.5), got {errors}"
        assert sc.events("disconnect"), "no disconnect reported"
        closes = [f for f in frames if f.type == wire.CLOSE]
        assert closes, f"the client did not answer CLOSE {code} with a CLOSE (R-8.5): {[f.describe() for f in frames]}"
        check_code_reason(closes[0], wire.CLOSE, 1000, "normal close", rule_id="R-8.5")


@rule("R-2.4")
def test_R_2_4_client_short_close_payload(client_impl):
    with Scenario(client_impl, wait_ms=2000) as sc:
        sc.hello()
        sc.welcome()
        sc.c.send(wire.frame(wire.CLOSE, b"\x03"))
        read_close(sc.c, 1002, "protocol error: short CLOSE payload")
        sc.finish()


@rule("R-2.3")
def test_R_2_3_client_accepts_an_invalid_reason(client_impl):
    with Scenario(client_impl, wait_ms=2000) as sc:
        sc.hello()
        sc.welcome()
        sc.prog.wait_event("connected")
        sc.c.send(wire.frame(wire.CLOSE, struct.pack(">H", 1000) + b"\xff" * 5000 + b"end"))
        sc.c.expect_eof(3)
        sc.finish()
        disc = sc.events("disconnect")
        assert disc, "no disconnect reported"
        raw = bytes.fromhex(disc[0]["reason_hex"])
        assert raw.endswith(b"end") and b"\xef\xbf\xbd" in raw and b"\xff" not in raw, (
            f"expected the invalid UTF-8 of the reason replaced by U+FFFD (R-2.3), got {raw[:12].hex()}...")
        assert not [e for e in sc.events("error")], sc.events("error")


@rule("R-8.2", "R-8.3")
def test_R_8_3_client_delivers_data_after_its_close(client_impl):
    with Scenario(client_impl, count=20, size=100, wait_ms=100) as sc:
        sc.hello()
        sc.welcome()
        f, before = read_close(sc.c, 1000, "client stopped", timeout=5)
        assert [b.payload for b in before] == [pattern(i, 100) for i in range(20)], "queued messages before CLOSE"
        sc.c.send(b"".join(wire.data(b"late-%d" % i) for i in range(3)) + wire.close(1000, "normal close"))
        sc.c.expect_eof(3)
        sc.finish()
        heads = [e["head"] for e in sc.events("message")]
        assert heads == ["late-0", "late-1", "late-2"], f"messages delivered after the client's CLOSE: {heads}"


@rule("R-8.4", "R-8.5")
def test_R_8_5_client_flushes_its_queue_after_receiving_close(client_impl):
    with Scenario(client_impl, rcvbuf=4096, sndbuf=4096, count=300, size=1000, wait_ms=3000) as sc:
        sc.hello()
        sc.welcome()
        sent = sc.prog.wait_event("sent", 5)["count"]
        sc.c.send(wire.close(1001, "server stopping"))
        time.sleep(0.3)
        f, before = read_close(sc.c, 1000, "normal close", timeout=10)
        got = [b.payload for b in before if b.type == wire.DATA]
        assert len(got) == sent == 300, f"the client sent {len(got)} of {sent} queued messages before its CLOSE"
        assert got == [pattern(i, 1000) for i in range(300)]
        sc.c.expect_eof(3)
        sc.finish()
