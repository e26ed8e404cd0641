"""Draining the C ABI's pull interface in batches.

One ``netsys_*_poll`` call fills an array of ``struct netsys_event``; this
module turns the array into Python tuples ``(type, status, session_id,
data)`` where ``data`` is ``bytes`` for a message and ``str`` for the text of
connect, disconnect and error events.

Why batches: a ctypes callback per message costs about 11 microseconds (a
new thread state each time), while a poll of up to ``capacity`` events costs
one foreign call for the lot. Dispatchers sleep on the event descriptor
(GIL released) and poll without waiting; ctypes releases the GIL during the
poll too.

Why one copy per message and no more: ``ctypes.string_at`` is itself a
foreign call (about 0.5 us), too slow to make per message at the throughput
goal (500k msg/s in a Python handler). The library copies each message once,
from its read buffer into the memory it hands out, and lays the data of the
events of one poll out in order, each a few bytes after the one before (a
message's frame header; a text is followed by its NUL). When the pointers
show that layout, that memory is viewed in place (a ctypes array over it,
no copy) and each message becomes its ``bytes`` with its one copy: two
copies in all from the socket to a Python handler. The check is made on
the pointers themselves, before any memory is read, so a library that lays
its data out differently is still read correctly, event by event, just
more slowly: the fast path never reads a byte that is not inside some
event's documented data (the bytes between events are skipped, not read).

The hottest case, a batch made only of messages, has its own path
(EventBuffer._messages_only, returning a MessageBatch of parallel sid and
data lists) that does its per-message work in C-implemented builtins: one
``struct.unpack_from`` splits the batch into its messages. Where the
optional C extension is loaded (netsys._speedups), its ``split_messages``
does the same split in one pass over the array, at about a quarter of the
cost.
"""

from __future__ import annotations

import ctypes
import itertools
import operator
import struct
import sys
from typing import Any, List, Optional, Tuple

from . import _ffi, _speedups

#: struct netsys_event with the platform's C alignment: type, status,
#: session_id, data, size.
EVENT_STRUCT = struct.Struct("@IiQPN")
assert EVENT_STRUCT.size == ctypes.sizeof(_ffi.Event), "netsys_event layout mismatch"

#: A decoded event: (type, status, session id, bytes payload or str text).
DecodedEvent = Tuple[int, int, int, object]

_MESSAGE = _ffi.EVENT_MESSAGE
_string_at = ctypes.string_at
_add = operator.add
_sub = operator.sub
_repeat = itertools.repeat

#: The event layout the fast path assumes: 8-byte pointers and sizes, so an
#: event is exactly four 64-bit words.
_FAST_LAYOUT = EVENT_STRUCT.size == 32 and ctypes.sizeof(ctypes.c_void_p) == 8
#: The first word of a message event with status 0: type in the low 32
#: bits on little-endian machines, in the high ones on big-endian.
_MESSAGE_WORD = _MESSAGE if sys.byteorder == "little" else _MESSAGE << 32
#: The C splitter (netsys._speedups), or None: then _messages_only runs.
_split_messages = _speedups.split_messages


class EventBuffer:
    """A reusable event array for one handle, and the decoding of it.

    Only one thread may poll through it at a time (its owner serializes
    that: a lock shared by the dispatcher and Client.recv(), or the asyncio
    loop's single thread); the library also refuses a second concurrent
    poller with NETSYS_E_BUSY. The poll function is looked up by name on
    every call, through _ffi.native(), so that a child forked after the
    library started gets ForkedProcessError instead of a hang.
    """

    __slots__ = ("_poll_name", "_handle", "_capacity", "_raw", "_array", "_view", "_count", "_count_ref", "_words")

    def __init__(self, poll_name: str, handle: int, capacity: int = 2048) -> None:
        self._poll_name = poll_name
        self._handle = handle
        self._capacity = capacity
        self._raw = bytearray(capacity * EVENT_STRUCT.size)
        self._array = (ctypes.c_char * len(self._raw)).from_buffer(self._raw)
        self._view = memoryview(self._raw)
        self._count = ctypes.c_size_t(0)
        self._count_ref = ctypes.byref(self._count)
        # The fast path reads each 32-byte event as four 64-bit words: type
        # and status share the first one. Only on 64-bit platforms.
        self._words = self._view.cast("Q") if _FAST_LAYOUT else None

    @property
    def capacity(self) -> int:
        """How many events one poll may return."""
        return self._capacity

    def poll(self, timeout_ms: int) -> List[DecodedEvent]:
        """Drain up to ``capacity`` events, waiting up to ``timeout_ms``
        (-1: until one arrives) for the first. The GIL is released while
        waiting. Raises the status's NetsysError (InvalidHandleError once the
        handle is destroyed)."""
        poll = getattr(_ffi.native(), self._poll_name)
        status = poll(self._handle, self._array, self._capacity, timeout_ms, self._count_ref)
        if status:
            raise _ffi.error(status, "poll")
        n = self._count.value
        if not n:
            return []
        if _split_messages is not None:
            # It reads the events through struct netsys_event itself, so it
            # needs no _FAST_LAYOUT.
            split = _split_messages(self._raw, n)
            if split is not None:
                return MessageBatch(split[0], split[1])
        elif self._words is not None:
            batch = self._messages_only(n)
            if batch is not None:
                return batch
        return decode(list(EVENT_STRUCT.iter_unpack(self._view[: n * EVENT_STRUCT.size])))

    def _messages_only(self, n: int) -> "Optional[MessageBatch]":
        """The fast path, for a batch of non-empty messages each a few bytes
        after the one before (what a busy connection produces): the event
        array is read as 64-bit words with strided memoryview slices, and
        the checks and slicing run in C (list compare, map), so the
        Python-level cost per message is a few list items. Returns None
        when the batch is not of that shape; the general decoder then
        handles it."""
        assert self._words is not None
        words = self._words[: 4 * n]
        if words[0::4].tolist().count(_MESSAGE_WORD) != n:
            return None  # another event type, or a status
        sizes = words[3::4].tolist()
        if 0 in sizes:
            return None  # an empty message, whose data is NULL
        ptrs = words[2::4].tolist()
        ends = list(map(_add, ptrs, sizes))
        gaps = list(map(_sub, ptrs[1:], ends[:-1]))
        if gaps and (min(gaps) < 0 or max(gaps) > _MAX_GAP):
            return None  # out of order, or far apart
        # In order and close, so one unpack of "<size>s" fields with the
        # gaps skipped as pad bytes, over the span viewed in place, makes
        # each message's bytes with its one copy.
        view = (ctypes.c_char * (ends[-1] - ptrs[0])).from_address(ptrs[0])
        return MessageBatch(words[1::4].tolist(), list(_splitter(sizes, gaps).unpack_from(view)))


#: The largest gap between two messages the fast path skips (the library
#: leaves a frame header, 6 bytes, or a small frame of another kind).
_MAX_GAP = 4096

#: Splitters of batches of n messages of one size with one gap between them
#: (the common shape: a stream of equal messages), by (size, n, gap);
#: bounded.
_uniform_splitters: "dict[Tuple[int, int, int], struct.Struct]" = {}
_UNIFORM_SPLITTERS_MAX = 64


def _splitter(sizes: List[int], gaps: List[int]) -> struct.Struct:
    """A Struct of one bytes field per message, of the messages' sizes,
    with the gaps between them as pad bytes."""
    n = len(sizes)
    first = sizes[0]
    gap = gaps[0] if gaps else 0
    if sizes.count(first) == n and gaps.count(gap) == n - 1:
        key = (first, n, gap)
        splitter = _uniform_splitters.get(key)
        if splitter is None:
            if len(_uniform_splitters) >= _UNIFORM_SPLITTERS_MAX:
                _uniform_splitters.clear()
            splitter = _uniform_splitters[key] = struct.Struct(f"{first}s" + f"{gap}x{first}s" * (n - 1))
        return splitter
    return struct.Struct(f"{first}s" + "".join(f"{g}x{s}s" for g, s in zip(gaps, sizes[1:])))


class MessageBatch(list):  # type: ignore[type-arg]
    """A polled batch made only of messages: ``sids`` and ``datas`` are
    parallel lists. It is also a list of the usual (type, status, sid, data)
    tuples (built on first use), so code that does not know the fast path
    still works."""

    __slots__ = ("sids", "datas", "_filled")

    def __init__(self, sids: List[int], datas: List[bytes]) -> None:
        super().__init__()
        self.sids = sids
        self.datas = datas
        self._filled = False

    def _fill(self) -> None:
        if not self._filled:
            self._filled = True
            self.extend(zip(_repeat(_MESSAGE), _repeat(0), self.sids, self.datas))

    def __iter__(self):  # type: ignore[no-untyped-def]
        self._fill()
        return super().__iter__()

    def __len__(self) -> int:
        return len(self.datas)

    def __bool__(self) -> bool:
        return bool(self.datas)

    def __getitem__(self, index):  # type: ignore[no-untyped-def]
        self._fill()
        return super().__getitem__(index)


def decode(raw: List[Tuple[int, int, int, int, int]]) -> List[DecodedEvent]:
    """Turn unpacked netsys_event tuples into (type, status, sid, data), reading
    the data before the next poll invalidates it."""
    base = 0
    expected = 0
    one_span = True
    for etype, _status, _sid, ptr, size in raw:
        if not size:
            if etype != _MESSAGE:
                # An empty text may or may not leave its NUL in the slab: we
                # cannot tell where the next event starts, so read one by one.
                one_span = False
                break
            continue
        if not base:
            base = expected = ptr
        elif not expected <= ptr <= expected + _MAX_GAP:
            one_span = False
            break
        expected = ptr + size + (etype != _MESSAGE)

    out: List[DecodedEvent] = []
    append = out.append
    if one_span:
        # Viewed in place: slicing the ctypes array makes each bytes with
        # its one copy.
        slab: Any = (ctypes.c_char * (expected - base)).from_address(base) if base else b""
        for etype, status, sid, ptr, size in raw:
            if etype == _MESSAGE:
                if size:
                    off = ptr - base
                    append((etype, status, sid, slab[off : off + size]))
                else:
                    append((etype, status, sid, b""))
            else:
                off = ptr - base
                append((etype, status, sid, slab[off : off + size].decode("utf-8", "replace")))
        return out

    for etype, status, sid, ptr, size in raw:
        data = _string_at(ptr, size) if size else b""
        append((etype, status, sid, data if etype == _MESSAGE else data.decode("utf-8", "replace")))
    return out
