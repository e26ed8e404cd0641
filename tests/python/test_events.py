"""The batch decoder (netsys._events) on synthetic event arrays: the fast
path for messages in order, a few bytes apart, must agree with the general
decoder, and fall back whenever the layout is anything else."""

from __future__ import annotations

import ctypes
from typing import List, Optional, Tuple

import pytest

from netsys import _events, _ffi

MESSAGE, CONNECT, ERROR = _ffi.EVENT_MESSAGE, _ffi.EVENT_CONNECT, _ffi.EVENT_ERROR


def buffer_with(events: List[Tuple[int, int, int, int, int]]) -> _events.EventBuffer:
    buf = _events.EventBuffer("netsys_server_poll", 1, max(len(events), 1))
    packed = b"".join(_events.EVENT_STRUCT.pack(*event) for event in events)
    buf._raw[: len(packed)] = packed
    return buf


def fast(events, arena) -> Optional[_events.MessageBatch]:
    """The fast path's answer; ``arena`` (the memory the pointers point
    into) is passed so that it provably outlives the call."""
    batch = buffer_with(events)._messages_only(len(events))
    del arena
    return batch


def test_back_to_back_messages_take_the_fast_path():
    payloads = [b"a" * 64, b"bc", b"\x00\xff" * 100, b"z"]
    arena = ctypes.create_string_buffer(b"".join(payloads))
    base = ctypes.addressof(arena)
    events, offset = [], 0
    for sid, payload in enumerate(payloads, start=7):
        events.append((MESSAGE, 0, sid, base + offset, len(payload)))
        offset += len(payload)
    batch = fast(events, arena)
    assert isinstance(batch, _events.MessageBatch)
    assert batch.datas == payloads and batch.sids == [7, 8, 9, 10]
    # It is also the general form, and agrees with the general decoder.
    assert list(batch) == _events.decode(events) == [(MESSAGE, 0, sid, p) for sid, p in zip(range(7, 11), payloads)]
    assert len(batch) == 4 and batch and batch[1] == (MESSAGE, 0, 8, b"bc")


def test_messages_with_frame_headers_between_them_take_the_fast_path():
    arena = ctypes.create_string_buffer(b"hhhhhhone" + b"hhhhhhtwo" + b"hhhhhhthree" + b"hthe end")
    base = ctypes.addressof(arena)
    events = [(MESSAGE, 0, 1, base + 6, 3), (MESSAGE, 0, 1, base + 15, 3), (MESSAGE, 0, 2, base + 24, 5),
              (MESSAGE, 0, 2, base + 30, 7)]
    batch = fast(events, arena)
    assert isinstance(batch, _events.MessageBatch)
    assert batch.datas == [b"one", b"two", b"three", b"the end"]
    assert list(batch) == _events.decode(events)


@pytest.mark.parametrize("shape", ["far apart", "overlap", "reordered", "empty message", "other type", "status"])
def test_other_layouts_fall_back_to_the_general_decoder(shape):
    arena = ctypes.create_string_buffer(b"0123456789abcdef" + bytes(2 * _events._MAX_GAP))
    base = ctypes.addressof(arena)
    events = {
        "far apart": [(MESSAGE, 0, 1, base, 4), (MESSAGE, 0, 1, base + 5 + _events._MAX_GAP, 4)],
        "overlap": [(MESSAGE, 0, 1, base, 4), (MESSAGE, 0, 1, base + 2, 4)],
        "reordered": [(MESSAGE, 0, 1, base + 4, 4), (MESSAGE, 0, 1, base, 4)],
        "empty message": [(MESSAGE, 0, 1, base, 4), (MESSAGE, 0, 1, 0, 0), (MESSAGE, 0, 1, base + 4, 4)],
        "other type": [(MESSAGE, 0, 1, base, 4), (CONNECT, 0, 1, base + 4, 3)],
        "status": [(MESSAGE, 0, 1, base, 4), (MESSAGE, 5, 1, base + 4, 4)],
    }[shape]
    assert fast(events, arena) is None
    decoded = _events.decode(events)
    for (etype, status, sid, ptr, size), (dtype, dstatus, dsid, data) in zip(events, decoded):
        assert (dtype, dstatus, dsid) == (etype, status, sid)
        expected = ctypes.string_at(ptr, size) if size else b""
        assert data == (expected if etype == MESSAGE else expected.decode())


def test_text_events_are_str_and_messages_bytes():
    arena = ctypes.create_string_buffer(b"client-1\x00payloadboom\x00")
    base = ctypes.addressof(arena)
    events = [(CONNECT, 0, 3, base, 8), (MESSAGE, 0, 3, base + 9, 7), (ERROR, 13, 3, base + 16, 4)]
    assert _events.decode(events) == [(CONNECT, 0, 3, "client-1"), (MESSAGE, 0, 3, b"payload"),
                                      (ERROR, 13, 3, "boom")]
