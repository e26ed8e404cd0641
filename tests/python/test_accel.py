"""The optional C extension (netsys._accel, netsys._speedups) against the
pure-Python code it replaces: the same split of every crafted event array,
the same handler calls, failures, results and session objects, on fake
hosts and on real servers and clients.

`make test-python` runs the whole suite twice: with the extension when it
was built (NETSYS_BUILD/python/netsys/), then with NETSYS_PYTHON_ACCEL=0.
The comparisons here load the built extension directly in both passes; if
it was built and does not load, they fail rather than skip.
"""

from __future__ import annotations

import ctypes
import logging
import os
import random
import sys
import threading
from types import ModuleType
from typing import Any, Dict, List, Optional, Tuple

import pytest

import netsys
from conftest import BUILD, WAIT, Recorder, wait_until
from netsys import _client, _events, _ffi, _handlers, _server, _speedups

MESSAGE, CONNECT, ERROR = _ffi.EVENT_MESSAGE, _ffi.EVENT_CONNECT, _ffi.EVENT_ERROR
DISABLED = os.environ.get(_speedups.ENV_VAR, "").strip() == "0"


def built_extension() -> List[str]:
    return sorted(str(p) for p in (BUILD / "python" / "netsys").glob("_accel*.so"))


@pytest.fixture(scope="module")
def accel() -> ModuleType:
    """The extension, loaded whatever NETSYS_PYTHON_ACCEL says; skipped only
    when it was not built."""
    if _speedups.module is not None:
        return _speedups.module
    if not built_extension():
        if sys.implementation.name == "cpython" and not DISABLED and (BUILD / "lib").is_dir():
            pytest.skip(f"the C extension was not built ({_speedups.REASON})")
        pytest.skip("the C extension was not built")
    module, why = _speedups._from_build_dir()
    assert module is not None, f"the C extension was built ({built_extension()}) but does not load: {why}"
    return module


# -- which code runs ----------------------------------------------------------


def test_the_built_extension_is_used_unless_disabled():
    if DISABLED:
        assert not netsys.accelerated() and "NETSYS_PYTHON_ACCEL=0" in _speedups.REASON
        assert _events._split_messages is None
        assert _server._to_session is _server._messages_to_session
        assert _server._to_sessions is _server._messages_to_sessions
        assert _client._to_client is _client._messages_to_client
        return
    if not built_extension():
        pytest.skip(f"the C extension was not built ({_speedups.REASON})")
    assert netsys.accelerated(), f"built ({built_extension()}) but not in use: {_speedups.REASON}"
    module = _speedups.module
    assert module is not None
    assert _events._split_messages is module.split_messages
    if sys.version_info < (3, 11):
        assert _server._to_session is module.dispatch_session
        assert _server._to_sessions is module.dispatch_sessions
        assert _client._to_client is module.dispatch_client
    else:  # the Python loops cost less there (see netsys._speedups)
        assert _server._to_session is _server._messages_to_session
        assert _client._to_client is _client._messages_to_client


def test_the_extension_matches_the_event_layout(accel):
    assert accel.API_VERSION == _speedups.API_VERSION
    assert accel.EVENT_SIZE == ctypes.sizeof(_ffi.Event) == _events.EVENT_STRUCT.size
    assert accel.EVENT_MESSAGE == _ffi.EVENT_MESSAGE


# -- the splitter ------------------------------------------------------------

Event = Tuple[int, int, int, int, int]


def buffer_with(events: List[Event], capacity: Optional[int] = None) -> _events.EventBuffer:
    buf = _events.EventBuffer("netsys_server_poll", 1, capacity or max(len(events), 1))
    packed = b"".join(_events.EVENT_STRUCT.pack(*event) for event in events)
    buf._raw[: len(packed)] = packed
    return buf


def both_splits(accel: ModuleType, events: List[Event], n: Optional[int] = None,
                capacity: Optional[int] = None) -> Optional[Tuple[List[int], List[bytes]]]:
    """The two splitters' answers, checked equal; returns it."""
    buf = buffer_with(events, capacity)
    n = len(events) if n is None else n
    py = buf._messages_only(n)
    c = accel.split_messages(buf._raw, n)
    if py is None:
        assert c is None, (events, c)
        return None
    assert c is not None, events
    assert type(c[0]) is list and type(c[1]) is list
    assert c[0] == py.sids and c[1] == py.datas
    assert all(type(d) is bytes for d in c[1]) and all(type(s) is int for s in c[0])
    return c


class Arena:
    """Memory the crafted events point into (kept alive by the test)."""

    def __init__(self, size: int = 4096) -> None:
        self.buf = ctypes.create_string_buffer(bytes(random.Random(size).getrandbits(8) for _ in range(size)))
        self.base = ctypes.addressof(self.buf)

    def read(self, offset: int, size: int) -> bytes:
        return ctypes.string_at(self.base + offset, size)


def back_to_back(arena: Arena, sizes: List[int], sids: Optional[List[int]] = None, start: int = 0,
                 gaps: Optional[List[int]] = None) -> List[Event]:
    """Message events over arena, in order from start, each gaps[i] bytes
    after the one before (none by default; 6 is a frame header)."""
    events, offset = [], start
    for i, size in enumerate(sizes):
        if gaps and i:
            offset += gaps[i]
        events.append((MESSAGE, 0, sids[i] if sids else 7, arena.base + offset, size))
        offset += size
    return events


def test_splitters_agree_on_back_to_back_messages(accel):
    arena = Arena()
    for sizes in ([64] * 50, [1], [3, 1, 200, 7, 64], [64] * 2048 and [1] * 300):
        events = back_to_back(arena, sizes, sids=[i % 5 + 1 for i in range(len(sizes))])
        sids, datas = both_splits(accel, events)
        offset = 0
        for size, data in zip(sizes, datas):
            assert data == arena.read(offset, size)
            offset += size


def test_splitters_skip_the_frame_headers_between_messages(accel):
    arena = Arena()
    for sizes, gaps in (([64] * 50, [6] * 50), ([3, 1, 200, 7], [0, 6, 40, 4096]), ([5, 5, 5], [6, 0, 6])):
        events = back_to_back(arena, sizes, gaps=gaps)
        sids, datas = both_splits(accel, events)
        offset = 0
        for i, (size, data) in enumerate(zip(sizes, datas)):
            offset += gaps[i] if i else 0
            assert data == arena.read(offset, size)
            offset += size


def test_splitters_agree_on_large_session_ids(accel):
    arena = Arena()
    events = back_to_back(arena, [4, 4, 4], sids=[0, 2**64 - 1, 2**63])
    assert both_splits(accel, events)[0] == [0, 2**64 - 1, 2**63]


@pytest.mark.parametrize("shape", [
    "far apart", "overlap", "reordered", "NULL empty first", "NULL empty middle", "NULL empty last", "all NULL empty",
    "one NULL empty", "one empty at an address", "all empty at an address", "other type first",
    "other type last", "connect only", "status", "negative status", "unknown type",
])
def test_splitters_agree_on_every_other_shape(accel, shape):
    arena = Arena()
    b = arena.base
    events = {
        "far apart": [(MESSAGE, 0, 1, b, 4), (MESSAGE, 0, 1, b + 4 + 4097, 4)],
        "overlap": [(MESSAGE, 0, 1, b, 4), (MESSAGE, 0, 1, b + 3, 4)],
        "reordered": [(MESSAGE, 0, 1, b + 4, 4), (MESSAGE, 0, 1, b, 4)],
        "NULL empty first": [(MESSAGE, 0, 1, 0, 0), (MESSAGE, 0, 1, b, 4)],
        "NULL empty middle": [(MESSAGE, 0, 1, b, 4), (MESSAGE, 0, 1, 0, 0), (MESSAGE, 0, 1, b + 4, 4)],
        "NULL empty last": [(MESSAGE, 0, 1, b, 4), (MESSAGE, 0, 1, 0, 0)],
        "all NULL empty": [(MESSAGE, 0, 1, 0, 0)] * 3,
        "one NULL empty": [(MESSAGE, 0, 1, 0, 0)],
        "one empty at an address": [(MESSAGE, 0, 1, b, 0)],
        "all empty at an address": [(MESSAGE, 0, 1, b, 0)] * 3,
        "other type first": [(CONNECT, 0, 1, b, 3), (MESSAGE, 0, 1, b + 4, 4)],
        "other type last": [(MESSAGE, 0, 1, b, 4), (ERROR, 5, 1, b + 4, 3)],
        "connect only": [(CONNECT, 0, 1, b, 3)],
        "status": [(MESSAGE, 0, 1, b, 4), (MESSAGE, 5, 1, b + 4, 4)],
        "negative status": [(MESSAGE, -1, 1, b, 4)],
        "unknown type": [(MESSAGE, 0, 1, b, 4), (99, 0, 1, b + 4, 4)],
    }[shape]
    assert both_splits(accel, events) is None


def test_splitters_leave_empty_messages_to_the_general_decoder(accel):
    # Even one whose pointer is where the previous one ended: the library
    # hands out NULL for an empty message, so neither splitter reads it.
    arena = Arena()
    b = arena.base
    events = [(MESSAGE, 0, 1, b, 4), (MESSAGE, 0, 2, b + 4, 0), (MESSAGE, 0, 3, b + 4, 2)]
    assert both_splits(accel, events) is None


def test_splitters_read_only_the_first_n_events(accel):
    arena = Arena()
    events = back_to_back(arena, [4, 4]) + [(CONNECT, 0, 1, arena.base + 8, 3)]
    assert both_splits(accel, events, n=2) == ([7, 7], [arena.read(0, 4), arena.read(4, 4)])
    assert both_splits(accel, events, n=3) is None
    # More than the array holds: neither reads past it.
    assert both_splits(accel, back_to_back(arena, [4, 4]), n=3) is None


def test_splitters_agree_on_random_batches(accel):
    arena = Arena(1 << 16)
    rng = random.Random(1234)
    fast = 0
    for _ in range(600):
        n = rng.randint(1, 40)
        sizes = [rng.choice([1, 2, 63, 64, 65, 700]) for _ in range(n)]
        gaps = [rng.choice([0, 6, 6, 6, 31]) for _ in range(n)]
        events = back_to_back(arena, sizes, sids=[rng.choice([1, 2, 3, 2**40]) for _ in range(n)],
                              start=rng.randint(0, 100), gaps=gaps)
        mutation = rng.randint(0, 7)
        if mutation and n > 1:
            i = rng.randrange(n)
            etype, status, sid, ptr, size = events[i]
            if mutation == 1:
                events[i] = (rng.choice([CONNECT, ERROR, _ffi.EVENT_DISCONNECT, 99]), status, sid, ptr, size)
            elif mutation == 2:
                events[i] = (etype, rng.choice([1, -3]), sid, ptr, size)
            elif mutation == 3:
                events[i] = (etype, status, sid, 0, 0)
            elif mutation == 4:
                events[i] = (etype, status, sid, ptr + rng.choice([-7, 1, 4097]), size)
            elif mutation == 5:
                events[i], events[0] = events[0], events[i]
        if both_splits(accel, events) is not None:
            fast += 1
    assert 100 < fast < 600  # both outcomes were exercised


# -- the handler loops on fake hosts -----------------------------------------


class FakeSession:
    def __init__(self, sid: int) -> None:
        self.id = sid


class Host(_handlers.HandlerHost):
    """A server or client as the loops see it, recording what they call."""

    _label = "fake host"

    def __init__(self, log: List[Any]) -> None:
        self.log = log
        self.sessions_made: Dict[int, FakeSession] = {}

    def _handler_failed(self, where: str, exc: BaseException, *error_args: Any) -> None:
        self.log.append(("failed", where, type(exc).__name__, str(exc), error_args, sys.exc_info()[1] is exc))
        super()._handler_failed(where, exc, *error_args)

    def _deliver_result(self, result: Any, where: str, error_args: Tuple[Any, ...]) -> None:
        self.log.append(("result", result, where, error_args))

    def _session_for(self, sid: int) -> FakeSession:
        self.log.append(("session_for", sid))
        if sid == 666:
            raise LookupError("no such session")
        session = self.sessions_made[sid] = FakeSession(sid)
        return session

    def _buffer_message(self, data: bytes) -> None:
        self.log.append(("buffered", data))


def handler_program(host: Host, client: bool) -> Any:
    """A handler whose behaviour each message's data chooses."""

    def other(*args: Any) -> Any:
        host.log.append(("other",) + tuple(getattr(a, "id", a) for a in args))
        return None

    def handler(*args: Any) -> Any:
        data = args[-1]
        host.log.append(("call",) + tuple(getattr(a, "id", a) for a in args))
        if data == b"raise":
            raise ValueError("boom")
        if data == b"interrupt":
            raise KeyboardInterrupt("ctrl-c")
        if data == b"exit":
            raise SystemExit(3)
        if data == b"base":
            raise GeneratorExit("base exception")
        if data == b"result":
            return ("a result", data)
        if data == b"zero":
            return 0
        if data == b"swap":
            host._on_message = other
        if data == b"none":
            host._on_message = None
        return None

    return handler


PROGRAMS = [
    [b"a", b"b", b"c"],
    [b"a", b"raise", b"b", b"interrupt", b"exit", b"base", b"c"],
    [b"result", b"zero", b"a"],
    [b"a", b"swap", b"b", b"c"],
    [b"a", b"none", b"b", b"c"],
    [b"raise", b"result", b"none", b"result"],
]


def run_server_loops(accel: ModuleType, use_c: bool, datas: List[bytes], sids: Optional[List[int]] = None,
                     known: Optional[Dict[int, Any]] = None, container: Any = list) -> Tuple[List[Any], Host]:
    log: List[Any] = []
    host = Host(log)
    host._on_message = handler_program(host, client=False)
    if sids is None:
        session = FakeSession(5)
        (accel.dispatch_session if use_c else _server._messages_to_session)(host, session, container(datas))
    else:
        sessions = dict(known or {})
        (accel.dispatch_sessions if use_c else _server._messages_to_sessions)(host, container(sids),
                                                                               container(datas), sessions)
        made = host.sessions_made
        log.append(("sessions", sorted(sessions),
                    all(s is (known or {}).get(sid) or s is made.get(sid) for sid, s in sessions.items())))
    return normalized(log), host


def normalized(log: List[Any]) -> List[Any]:
    out = []
    for entry in log:
        out.append(tuple(tuple(getattr(a, "id", a) for a in x) if isinstance(x, tuple) else x for x in entry))
    return out


@pytest.mark.parametrize("program", PROGRAMS)
@pytest.mark.parametrize("container", [list, tuple, iter])
def test_one_session_loop_is_the_same_in_c(accel, program, container, caplog):
    with caplog.at_level(logging.CRITICAL, logger="netsys"):
        py, py_host = run_server_loops(accel, False, program, container=container)
        c, c_host = run_server_loops(accel, True, program, container=container)
    assert c == py
    # KeyboardInterrupt/SystemExit are reported, not raised, and the first one
    # is kept for the program's thread (as _handlers documents).
    assert type(c_host._pending_exit) is type(py_host._pending_exit)


@pytest.mark.parametrize("program", PROGRAMS)
def test_several_sessions_loop_is_the_same_in_c(accel, program, caplog):
    sids = [1, 2, 1, 3, 2, 4, 1][: len(program)]
    known = {1: FakeSession(1), 3: FakeSession(3)}
    with caplog.at_level(logging.CRITICAL, logger="netsys"):
        py, _ = run_server_loops(accel, False, program, sids, known)
        c, _ = run_server_loops(accel, True, program, sids, known)
    assert c == py
    assert ("session_for", 2) in c and ("session_for", 1) not in c


def test_several_sessions_loop_stops_at_the_shorter_sequence(accel):
    for sids, datas in (([1, 2, 3], [b"a"]), ([1], [b"a", b"b", b"c"])):
        py, _ = run_server_loops(accel, False, datas, sids, {1: FakeSession(1)})
        c, _ = run_server_loops(accel, True, datas, sids, {1: FakeSession(1)})
        assert c == py


def test_a_failing_lookup_or_report_propagates_from_both_loops(accel):
    # Only the package's own steps may raise out of a loop (a handler's
    # exceptions never do): the same exception, after the same calls.
    for use_c in (False, True):
        log: List[Any] = []
        host = Host(log)
        host._on_message = handler_program(host, client=False)
        with pytest.raises(LookupError):
            (accel.dispatch_sessions if use_c else _server._messages_to_sessions)(
                host, [1, 666, 1], [b"a", b"b", b"c"], {1: FakeSession(1)})
        assert normalized(log) == [("call", 1, b"a"), ("session_for", 666)]

        def failing_report(where: str, exc: BaseException, *args: Any) -> None:
            raise RuntimeError("report failed")

        host._handler_failed = failing_report  # type: ignore[method-assign]
        with pytest.raises(RuntimeError, match="report failed"):
            (accel.dispatch_session if use_c else _server._messages_to_session)(
                host, FakeSession(1), [b"raise", b"a"])


def test_what_on_error_raises_is_chained_to_the_handler_exception(accel, caplog):
    # As in `except BaseException as exc:`: the handler's exception is the
    # one being handled while _handler_failed runs.
    for use_c in (False, True):
        host = Host([])
        host._on_message = handler_program(host, client=False)

        def on_error(session: Any, exc: BaseException) -> None:
            raise RuntimeError("on_error failed")

        host._on_error = on_error
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="netsys"):
            (accel.dispatch_session if use_c else _server._messages_to_session)(host, FakeSession(1), [b"raise"])
        second = [r for r in caplog.records if "on_error handler raised" in r.getMessage()]
        assert len(second) == 1 and second[0].exc_info is not None
        context = second[0].exc_info[1].__context__  # type: ignore[union-attr]
        assert isinstance(context, ValueError) and str(context) == "boom"
        failed = [entry for entry in host.log if entry[0] == "failed"]
        assert failed[0][-1] is True  # sys.exc_info() in _handler_failed was the handler's exception


def test_handler_exception_tracebacks_reach_the_handler(accel, caplog):
    host = Host([])
    host._on_message = handler_program(host, client=False)
    with caplog.at_level(logging.ERROR, logger="netsys"):
        accel.dispatch_session(host, FakeSession(1), [b"raise"])
    record = [r for r in caplog.records if "raised ValueError" in r.getMessage()][0]
    assert record.exc_info is not None
    tb = record.exc_info[2]
    names = []
    while tb is not None:
        names.append(tb.tb_frame.f_code.co_name)
        tb = tb.tb_next
    assert "handler" in names


@pytest.mark.parametrize("program", PROGRAMS)
def test_client_loop_is_the_same_in_c(accel, program, caplog):
    logs = []
    for fn in (_client._messages_to_client, accel.dispatch_client):
        log: List[Any] = []
        host = Host(log)
        host._on_message = handler_program(host, client=True)
        with caplog.at_level(logging.CRITICAL, logger="netsys"):
            fn(host, list(program))
        logs.append(normalized(log))
    assert logs[0] == logs[1]
    if b"none" in program:  # the rest went to recv()
        assert logs[0][-1][0] == "buffered"


def test_loops_survive_a_handler_that_empties_the_batch(accel):
    # The batch's list changed by a handler: read as Python's for loop
    # reads it, never past its end.
    for fn in (_server._messages_to_session, accel.dispatch_session):
        datas = [b"a", b"b", b"c"]
        seen: List[bytes] = []
        host = Host([])

        def handler(session: Any, data: bytes) -> None:
            seen.append(data)
            datas.clear()

        host._on_message = handler
        fn(host, FakeSession(1), datas)
        assert seen == [b"a"]


# -- real servers and clients with each implementation -------------------------


@pytest.fixture(params=["python", "c"])
def implementation(request, monkeypatch, accel):
    """Run the server and client with the pure-Python code or with all of the
    extension's (its handler loops included, whatever the Python version)."""
    if request.param == "c":
        monkeypatch.setattr(_events, "_split_messages", accel.split_messages)
        monkeypatch.setattr(_server, "_to_session", accel.dispatch_session)
        monkeypatch.setattr(_server, "_to_sessions", accel.dispatch_sessions)
        monkeypatch.setattr(_client, "_to_client", accel.dispatch_client)
    else:
        monkeypatch.setattr(_events, "_split_messages", None)
        monkeypatch.setattr(_server, "_to_session", _server._messages_to_session)
        monkeypatch.setattr(_server, "_to_sessions", _server._messages_to_sessions)
        monkeypatch.setattr(_client, "_to_client", _client._messages_to_client)
    return request.param


def burst(client: netsys.Client, messages: List[bytes]) -> None:
    for message in messages:
        client.send_timeout(message, WAIT)


def test_server_stream_errors_results_and_sessions(implementation, connect, caplog):
    seen = Recorder()
    errors = Recorder()
    sessions: List[Any] = []
    gate = threading.Event()

    async def coroutine_handler() -> None:  # returned by a threaded handler: reported
        pass

    def on_message(session, data):
        if data == b"gate":
            gate.wait(WAIT)  # the rest of the burst piles up into big batches
            return None
        sessions.append(session)
        seen(data)
        n = int(data)
        if n % 97 == 0:
            raise ValueError(f"bad {n}")
        if n % 101 == 0:
            raise KeyboardInterrupt
        if n % 211 == 0:
            return coroutine_handler()
        return None

    count = 3000
    with caplog.at_level(logging.CRITICAL, logger="netsys"):
        with netsys.Server("srv", port=0, bind_address="127.0.0.1", on_message=on_message,
                           on_error=errors) as server:
            client = connect(server.port)
            client.send(b"gate")
            burst(client, [b"%d" % i for i in range(1, count + 1)])
            gate.set()
            assert seen.wait(count) == [b"%d" % i for i in range(1, count + 1)]
            want_errors = sorted(set(range(97, count + 1, 97)) | set(range(101, count + 1, 101))
                                 | set(range(211, count + 1, 211)))
            got = errors.wait(len(want_errors))
            assert len(got) == len(want_errors)
            kinds = {type(exc).__name__ for _, exc in got}
            assert kinds == {"ValueError", "KeyboardInterrupt", "TypeError"}
            assert all(s is sessions[0] for s, _ in got)
            assert all(s is sessions[0] for s in sessions)
            assert server.session(sessions[0].id) is sessions[0]
            assert server.is_running  # neither KeyboardInterrupt nor anything else stopped it


def test_server_handler_swapped_and_removed_mid_batch(implementation, connect):
    first, second, gone = Recorder(), Recorder(), Recorder()
    gate = threading.Event()

    def on_second(session, data):
        second(data)
        if data == b"300":
            server._on_message = None  # the rest of the stream is dropped

    def on_first(session, data):
        if data == b"gate":
            gate.wait(WAIT)
            return
        first(data)
        if data == b"100":
            server.on_message(on_second)

    count = 500
    with netsys.Server("srv", port=0, bind_address="127.0.0.1", on_message=on_first,
                       on_disconnect=lambda session, reason: gone(session)) as server:
        client = connect(server.port)
        client.send(b"gate")
        burst(client, [b"%d" % i for i in range(1, count + 1)])
        gate.set()
        wait_until(lambda: server.statistics().messages_received >= count + 1, what="every message received")
        client.stop()
        gone.wait(1)  # dispatched after every message
        assert first.wait(100) == [b"%d" % i for i in range(1, 101)]
        assert second.wait(200) == [b"%d" % i for i in range(101, 301)]
        assert len(first) == 100 and len(second) == 200


def test_server_sessions_keep_their_objects_across_batches(implementation, connect):
    seen = Recorder()
    gate = threading.Event()

    def on_message(session, data):
        if data == b"gate":
            gate.wait(WAIT)
            return
        seen((session, data))

    with netsys.Server("srv", port=0, bind_address="127.0.0.1", on_message=on_message) as server:
        clients = [connect(server.port, f"c{i}") for i in range(3)]
        wait_until(lambda: server.connection_count == 3, what="three sessions")
        clients[0].send(b"gate")
        for round_ in range(100):
            for index, client in enumerate(clients):
                client.send(b"c%d:%d" % (index, round_))
        gate.set()
        got = seen.wait(300)
        by_client: Dict[str, List[Any]] = {}
        for session, data in got:
            by_client.setdefault(data.split(b":")[0].decode(), []).append(session)
        assert sorted(by_client) == ["c0", "c1", "c2"]
        for name, objects in by_client.items():
            assert all(o is objects[0] for o in objects) and objects[0].client_id == name
            assert server.session(objects[0].id) is objects[0]


def test_client_stream_handler_removed_mid_batch_goes_to_recv(implementation, connect, echo_server):
    seen = Recorder()
    gate = threading.Event()
    client = connect(echo_server.port)

    def on_message(data):
        if data == b"gate":
            gate.wait(WAIT)
            return
        seen(data)
        if data == b"50":
            client._on_message = None  # the rest goes to recv()
        if data == b"7":
            raise ValueError("bad 7")

    errors = Recorder()
    client.on_error(errors)
    client.on_message(on_message)
    client.send(b"gate")
    burst(client, [b"%d" % i for i in range(1, 201)])
    gate.set()
    assert seen.wait(50) == [b"%d" % i for i in range(1, 51)]
    assert [client.recv(WAIT) for _ in range(150)] == [b"%d" % i for i in range(51, 201)]
    assert [type(exc) for exc in errors.wait(1)] == [ValueError]
