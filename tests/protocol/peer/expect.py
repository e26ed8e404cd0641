"""Assertions that say what was expected and what netsys sent."""

from __future__ import annotations

import pytest

from . import wire
from .conn import Conn, PeerClosed, Timeout
from .wire import Frame


def rule(*ids: str):
    """Marks a test with the document rules it checks (docs/protocol.md)."""
    return pytest.mark.rule(*ids)


def _want(kind: str, code: int, reason: str | None, prefix: str | None) -> str:
    text = reason if reason is not None else (f"{prefix}[: ...]" if prefix else "...")
    return f"{kind} {code} {text!r}"


def check_code_reason(f: Frame, ftype: int, code: int, reason: str | None = None,
                      prefix: str | None = None, rule_id: str = ""):
    """The frame is `ftype` with `code` and the reason (exact) or the
    reason prefix (R-2.1); the message says which part differs."""
    want = _want(wire.type_name(ftype), code, reason, prefix)
    where = f" ({rule_id})" if rule_id else ""
    assert f.type == ftype and f.code == code, f"expected {want}{where}, got {f.describe()}"
    want_prefix = prefix if reason is None else wire.split_reason(reason)[0]
    got_prefix, _ = wire.split_reason(f.reason)
    if want_prefix is not None and got_prefix != want_prefix:
        raise AssertionError(f"{f.name} {code} as expected, but the reason {f.reason[:200]!r} does not have "
                             f"the prefix {want_prefix!r} (R-2.1; expected {want}){where}")
    if reason is not None and f.reason != reason:
        raise AssertionError(f"{f.name} {code} {want_prefix!r} as expected, but the detail differs: "
                             f"got {f.reason[:200]!r}, expected {reason!r}{where}")


def read_reject(c: Conn, code: int, reason: str | None = None, prefix: str | None = None,
                timeout: float = 3.0, rule_id: str = "") -> Frame:
    want = _want("REJECT", code, reason, prefix)
    try:
        f = c.read_frame(timeout)
    except (Timeout, PeerClosed) as e:
        raise AssertionError(f"expected {want}, got none: {e}") from None
    check_code_reason(f, wire.REJECT, code, reason, prefix, rule_id)
    return f


def read_close(c: Conn, code: int, reason: str | None = None, prefix: str | None = None,
               timeout: float = 3.0, rule_id: str = "") -> tuple[Frame, list[Frame]]:
    """Reads until CLOSE or REJECT (DATA and PING before it are returned)."""
    want = _want("CLOSE", code, reason, prefix)
    try:
        f, before = c.read_until(lambda f: f.type in (wire.CLOSE, wire.REJECT), timeout, "CLOSE")
    except (Timeout, PeerClosed) as e:
        raise AssertionError(f"expected {want}, got none: {e}") from None
    check_code_reason(f, wire.CLOSE, code, reason, prefix, rule_id)
    return f, before


def assert_eof(c: Conn, timeout: float = 2.0, what: str = "") -> list[Frame]:
    """The connection ends (EOF or reset) within timeout."""
    return c.expect_eof(timeout)
