"""The document itself: every rule has a test, the appendix examples are
what the protocol and the named libraries say, and the versioning rule's
promises about older peers hold (section 9)."""

import re
from pathlib import Path

import os

from peer import codecs, wire
from peer.conn import Conn
from peer.expect import rule

DOC = Path(os.environ.get("PROTOCOL_DOC", Path(__file__).resolve().parents[2] / "docs" / "protocol.md"))

# Rules the suite cannot observe on the wire, with the reason; everything
# else in the document must be named by at least one test.
NOT_ON_THE_WIRE = {
    "N-1.5": "memory held for a partial frame; core's resource tests measure it",
    "N-4.12": "the bound of 65,536 streams: filling it takes 65,537 handshakes, beyond the suite's time "
              "budget; core's tests check the eviction order",
}


def doc_text():
    assert DOC.exists(), f"{DOC} is missing"
    return DOC.read_text()


def doc_rules():
    return sorted(set(re.findall(r"\*\*([RN]-\d+\.\d+)\*\*", doc_text())), key=lambda r: (
        r[0], [int(x) for x in r[2:].split(".")]))


def collect_tested_rules():
    named = set()
    for p in Path(__file__).parent.glob("test_*.py"):
        for args in re.findall(r"@rule\(([^)]*)\)", p.read_text()):
            named.update(re.findall(r'"([RN]-\d+\.\d+)"', args))
    return named


def test_document_revision_3():
    assert "Protocol version 1, document revision 3." in doc_text()


def test_every_rule_is_tested():
    rules = doc_rules()
    assert len(rules) > 50, f"found only {len(rules)} rule ids in {DOC}"
    untested = [r for r in rules if r not in collect_tested_rules() and r not in NOT_ON_THE_WIRE]
    assert not untested, f"rules with no test naming them: {untested}"
    unknown = sorted(collect_tested_rules() - set(rules))
    assert not unknown, f"tests name rules the document does not have: {unknown}"


def appendix_hex(title_start: str) -> bytes:
    """The bytes of the appendix code block after the paragraph starting
    with title_start (comments after the hex columns are dropped)."""
    text = doc_text()
    i = text.index(title_start)
    block = text[text.index("```", i) + 3:]
    block = block[:block.index("```")]
    out = bytearray()
    for line in block.strip().splitlines():
        for tok in line.split():
            if re.fullmatch(r"[0-9a-f]{2}", tok):
                out.append(int(tok, 16))
            else:
                break
    return bytes(out)


@rule("R-3.4", "R-4.1")
def test_appendix_hello_is_accepted(server):
    hello = appendix_hex("A `HELLO` of version range 1..1")
    assert hello == wire.hello(client_id="alice", codecs=b"\x01\x02", extensions=wire.heartbeat(30000)), (
        "the appendix HELLO differs from the layout of section 3.2")
    with Conn.connect(server.port) as c:
        c.send(hello)
        f = c.read_frame()
        assert f.type == wire.WELCOME, f"the appendix HELLO was not welcomed: {f.describe()}"


def test_appendix_welcome_layout():
    w = appendix_hex("The `WELCOME` that answers it")
    assert w[:6] == wire.header(len(w) - 6, wire.WELCOME)
    parsed = wire.parse_welcome(w[6:])
    assert (parsed.version, parsed.max_message, parsed.session_id, parsed.codec, parsed.min_compress,
            parsed.transforms, parsed.heartbeat) == (1, 1 << 20, 1, 1, 256, [], 30000), parsed


def test_appendix_reject_and_compressed_examples():
    r = appendix_hex("A refusal of a client offering 3..5")
    assert r == wire.reject(2002, "unsupported version: offered 3..5, supported 1..1")
    s = appendix_hex("The 36-byte message `abc` repeated 12 times")
    assert s[:6] == wire.header(8, wire.DATA, wire.COMPRESSED)
    assert codecs.snappy_decompress(s[6:]) == b"abc" * 12, "the Snappy example does not decode with the library"
    z = appendix_hex("The same message as a zstd frame")
    assert z[:6] == wire.header(18, wire.DATA, wire.COMPRESSED)
    assert codecs.zstd_decompress_one(z[6:], 1 << 20) == b"abc" * 12


@rule("R-9.1", "R-4.2", "R-4.5")
def test_R_9_1_revision_1_hello_and_unknown_extensions(server):
    """A revision-1 HELLO (no extensions) and one with unknown tags and a
    (malformed) acknowledged-delivery offer are both welcomed by a server
    without acknowledged delivery enabled, which checks and answers nothing
    of the offer (R-4.5: what a revision-2 server does too)."""
    for ext in (b"", wire.tlv(0x7777, b"later") + wire.tlv(0x8001, b"") + wire.tlv(wire.TLV_ACK, b"x")):
        with Conn.connect(server.port) as c:
            w = c.handshake(extensions=ext)
            assert w.version == 1
            assert not any(t == wire.TLV_ACK for t, _ in w.extensions), (
                "a server without acknowledged delivery enabled answered tag 0x0002 (R-4.5)")


@rule("R-4.3")
def test_R_4_3_nothing_new_appears_without_agreement(server):
    """With no extension agreed, netsys sends only version-1 frames: the
    peer's reader fails on anything else (R-1.2) while the server answers
    PINGs, echoes and closes."""
    with Conn.connect(server.port) as c:
        c.handshake(extensions=b"")
        c.send(wire.frame(wire.PING, b"x") + wire.data(b"y") + wire.data(b"!disconnect"))
        frames = c.expect_eof(3)
        assert [f.type for f in frames] == [wire.PONG, wire.DATA, wire.CLOSE], [f.describe() for f in frames]


def test_appendix_acknowledged_delivery_examples():
    """Section 4.2's inline examples and the appendix HELLO, WELCOME and ACK
    are what the layouts of sections 3 and 4.2 say."""
    text = doc_text()
    for inline, want in (
            ("00 02 00 10 01 23 45 67 89 ab cd ef 00 00 00 00 00 00 00 01", wire.ack_offer(0x0123456789ABCDEF, 1)),
            ("00 02 00 08 00 00 00 00 00 00 00 05", wire.ack_accept(5)),
            ("00 00 00 08 08 00 00 00 00 00 00 00 00 07", wire.ack(7))):
        assert f"`{inline}`" in text, f"section 4.2 lacks the example {inline}"
        assert bytes.fromhex(inline) == want, f"the example {inline} is not {want.hex(' ')}"
    hello = appendix_hex("A `HELLO` offering acknowledged delivery")
    assert hello == wire.hello(client_id="bob", extensions=wire.heartbeat(30000)
                               + wire.ack_offer(0x0123456789ABCDEF, 1)), "the appendix HELLO differs from R-4.4"
    assert wire.parse_hello(hello[6:]).ack == (0x0123456789ABCDEF, 1)
    welcome = appendix_hex("The `WELCOME` of a server that agrees")
    assert welcome == wire.welcome(session_id=2, extensions=wire.heartbeat(30000) + wire.ack_accept(0)), (
        "the appendix WELCOME differs from R-4.5")
    assert wire.parse_welcome(welcome[6:]).delivered == 0
    assert appendix_hex("The client then sends messages 1, 2, 3") == wire.ack(3)
