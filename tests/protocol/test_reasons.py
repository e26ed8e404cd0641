"""Section 2 of docs/protocol.md: reason texts and what CLOSE codes mean on
receipt. The peer is a client of a netsys server."""

import socket
import struct

import pytest

from peer import wire
from peer.conn import Conn
from peer.expect import read_close, rule


def session_end(server, sid, timeout=3.0):
    """The server's disconnect event of session sid and the errors before it."""
    disc = server.wait_event(lambda e: e["ev"] == "disconnect" and e["sid"] == sid, timeout,
                             f"disconnect of session {sid}")
    errors = server.find(lambda e: e["ev"] == "error" and e["sid"] == sid)
    return disc, errors


@rule("R-2.2", "N-2.1")
def test_R_2_2_reasons_are_cut_at_1024_bytes_on_a_code_point(server):
    with Conn.connect(server.port) as c:
        c.handshake()
        c.send_data(("!disconnect " + "\u20ac" * 400).encode())  # 1200 bytes of 3-byte characters
        f, _ = read_close(c, 1000)
        assert len(f.reason_bytes) <= 1024, f"reason of {len(f.reason_bytes)} bytes, at most 1024 (R-2.2)"
        try:
            text = f.reason_bytes.decode("utf-8")
        except UnicodeDecodeError as e:
            raise AssertionError(f"reason cut inside a UTF-8 sequence: ...{f.reason_bytes[-4:].hex()} ({e})")
        assert text == "\u20ac" * 341, f"expected the longest whole-character prefix (341 characters), got {len(text)}"


@rule("R-2.3", "R-2.5")
def test_R_2_3_long_invalid_reason_is_accepted_and_replaced(server):
    with Conn.connect(server.port) as c:
        sid = c.handshake().session_id
        reason = b"\xff" * 60_000 + b" ok"
        c.send(wire.frame(wire.CLOSE, struct.pack(">H", 1000) + reason))
        disc, errors = session_end(server, sid)
        assert not errors, f"a long, invalid reason is not an error (R-2.3): {errors}"
        raw = bytes.fromhex(disc["reason_hex"])
        assert raw.endswith(b" ok") and b"\xef\xbf\xbd" in raw and b"\xff" not in raw, (
            f"expected invalid UTF-8 replaced by U+FFFD, got {raw[:16].hex()}...{raw[-8:].hex()}")


@rule("R-2.4")
def test_R_2_4_short_close_payload(server):
    with Conn.connect(server.port) as c:
        sid = c.handshake().session_id
        c.send(wire.frame(wire.CLOSE, b"\x03"))
        read_close(c, 1002, "protocol error: short CLOSE payload")
        _, errors = session_end(server, sid)
        assert [e["kind"] for e in errors] == ["protocol"], errors


@rule("R-2.5", "N-2.5")
@pytest.mark.parametrize("code,kind", [
    (1000, None), (1001, None), (1002, "protocol"), (1008, "timeout"), (1009, "too_large"),
    (1011, "transform"), (4000, "closed"), (999, "closed"), (1003, "closed"),
])
def test_R_2_5_close_codes_on_receipt(server, code, kind):
    with Conn.connect(server.port) as c:
        sid = c.handshake().session_id
        c.send(wire.close(code, f"code {code} from the peer"))
        disc, errors = session_end(server, sid)
        if kind is None:
            assert not errors, f"CLOSE {code} is a normal end, but netsys reported {errors}"
            if "state" in disc:
                assert disc["state"] == "disconnected", disc
        else:
            assert [e["kind"] for e in errors] == [kind], (
                f"CLOSE {code}: expected one error of kind {kind} (N-2.5), got {[e.get('kind') for e in errors]}")
            msg = errors[0]["msg"]
            assert f"code {code} from the peer" in msg and "protocol error: protocol error" not in msg, msg
            if "state" in disc:
                assert disc["state"] == "error", f"session state after CLOSE {code}: {disc['state']}"


@rule("N-2.1")
def test_N_2_1_disconnect_reasons(server):
    for cmd, reason in [(b"!disconnect bye now", "bye now"), (b"!disconnect", "disconnected by server")]:
        with Conn.connect(server.port) as c:
            c.handshake()
            c.send_data(cmd)
            read_close(c, 1000, reason)


@rule("N-8.6")
def test_N_8_6_end_without_close(server):
    with Conn.connect(server.port) as c:
        sid = c.handshake().session_id
        c.shutdown_write()
        disc, _ = session_end(server, sid)
        assert disc["reason"] == "connection closed by peer", disc
    c = Conn.connect(server.port)
    sid = c.handshake().session_id
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()  # RST
    disc, _ = session_end(server, sid)
    assert disc["reason"] == "connection reset by peer", disc


@rule("R-2.1")
def test_R_2_1_every_reason_has_the_prefix_of_its_code(server):
    """Reasons are "<prefix>" or "<prefix>: <detail>" with the prefix listed
    for the code (section 2)."""
    triggers = [
        (wire.hello(min_version=5, max_version=6), False),
        (wire.data(b"x"), False),
        (wire.header(0, 0x42), True),
        (wire.header((1 << 20) + 1, wire.DATA), True),
    ]
    seen = []
    for payload, after_open in triggers:
        with Conn.connect(server.port) as c:
            if after_open:
                c.handshake()
            c.send(payload)
            f = c.read_until(lambda f: f.type in (wire.REJECT, wire.CLOSE), 3)[0]
            prefix, detail = wire.split_reason(f.reason)
            seen.append(f"{f.code} {f.reason!r}")
            assert prefix in wire.PREFIXES[f.code], (
                f"{f.name} {f.code}: reason {f.reason!r} does not start with one of {wire.PREFIXES[f.code]} (R-2.1)")
            assert detail is None or detail, f"empty detail after ': ' in {f.reason!r}"
