"""One Session object per connection, held by the library.

The server keeps no table of sessions: each connection's object hangs on
the library's session (its per-session pointer) and is let go of by the
library's release callback, in the poll after the session's disconnect or
when the server is destroyed. These tests check the identity promise and
that every object is released (weak references die) on each of those paths.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import weakref
from typing import Any, Dict, List

import pytest

import netsys
import netsys.aio
from conftest import WAIT, Recorder, wait_until

#: How long a released session object may take to become garbage, seconds.
RELEASE_WAIT = 5.0


def wait_collected(refs: List["weakref.ref[Any]"], what: str) -> None:
    """Wait (bounded) until every weakly referenced object has been freed."""
    wait_until(lambda: gc.collect() is not None and all(ref() is None for ref in refs), RELEASE_WAIT,
               f"{what} ({sum(ref() is not None for ref in refs)} of {len(refs)} still alive)")


def test_the_same_object_reaches_every_handler_and_lookup(connect):
    seen: Dict[str, Any] = {}
    messages = Recorder()
    disconnects = Recorder()
    server = netsys.Server("srv", port=0, bind_address="127.0.0.1")

    @server.on_connect
    def on_connect(session):
        session.nickname = "nick-" + session.client_id  # an attribute of the application's own
        session.join_group("room")
        seen["connect"] = session

    @server.on_message
    def on_message(session, data):
        messages(session is seen["connect"], getattr(session, "nickname", None), data)
        session.send(data)

    @server.on_disconnect
    def on_disconnect(session, reason):
        disconnects(session is seen["connect"], session.nickname, session.state)

    with server.start():
        client = connect(server.port, "alice")
        wait_until(lambda: "connect" in seen, what="on_connect")
        for i in range(20):
            client.send(b"m%d" % i)
        for i in range(20):
            assert client.recv(WAIT) == b"m%d" % i
        assert messages.wait(20) == [(True, "nick-alice", b"m%d" % i) for i in range(20)]

        session = seen["connect"]
        assert server.sessions() == [session] and server.sessions()[0] is session
        assert server.session(client.session_id) is session
        assert server.group_members("room")[0] is session
        assert session.server is server

        client.close()
        assert disconnects.wait(1) == [(True, "nick-alice", netsys.SessionState.DISCONNECTED)]


def test_the_server_keeps_no_table_of_sessions(connect):
    # Connected sessions are held by the library alone (the dispatcher only
    # carries over the objects of sessions that sent lately, and these sent
    # nothing).
    with netsys.Server("srv", port=0, bind_address="127.0.0.1") as server:
        for i in range(3):
            connect(server.port, f"c{i}")
        wait_until(lambda: server.connection_count == 3, what="three sessions")
        assert len(server.sessions()) == 3
        assert not hasattr(server, "_sessions")
        for name, value in vars(server).items():
            if isinstance(value, (dict, list, set, tuple)):
                items = value.values() if isinstance(value, dict) else value
                assert not any(isinstance(item, netsys.Session) for item in items), name


def test_batches_of_several_sessions_pass_each_its_own_object(connect):
    # A handler that stalls makes the next poll return the messages of every
    # client in one batch: each message still reaches its session's object.
    stalled = threading.Event()
    results = Recorder()
    batch_sessions: List[int] = []
    server = netsys.Server("srv", port=0, bind_address="127.0.0.1")

    @server.on_connect
    def on_connect(session):
        session.owner = session.client_id

    @server.on_message
    def on_message(session, data):
        if data == b"stall":
            stalled.wait(WAIT)
            return
        results(session.owner == data.decode().split(":")[0] and server.session(session.id) is session)

    dispatch = server._dispatch_messages

    def spy(sids, datas, sessions=None):
        batch_sessions.append(len(set(sids)))
        dispatch(sids, datas, sessions)

    server._dispatch_messages = spy
    with server.start():
        clients = [connect(server.port, f"c{i}") for i in range(4)]
        wait_until(lambda: server.connection_count == 4, what="four sessions")
        clients[0].send(b"stall")
        wait_until(lambda: batch_sessions, what="the stalling message dispatched")
        for i in range(50):
            for index, client in enumerate(clients):
                client.send(f"c{index}:{i}")
        time.sleep(0.2)  # let every message reach the library's queue
        stalled.set()
        assert results.wait(200) == [True] * 200
        assert max(batch_sessions) > 1, batch_sessions  # the path with several sessions per batch was taken


def test_what_the_dispatcher_carries_between_batches_is_bounded(connect):
    # The objects carried from batch to batch spare a library call per
    # session and batch; past event_batch sessions they start over (checked
    # before each batch, so at most twice that).
    seen = Recorder()
    server = netsys.Server("srv", port=0, bind_address="127.0.0.1", event_batch=4,
                           on_message=lambda session, data: seen(session.id))
    with server.start():
        clients = [connect(server.port, f"c{i}") for i in range(12)]
        for round_ in range(3):
            for client in clients:
                client.send(b"x")
            seen.wait(12 * (round_ + 1))
        assert len(server._recent) <= 2 * 4
        assert set(seen.items) == {client.session_id for client in clients}


def test_a_session_object_is_released_after_its_disconnect(connect):
    refs: List["weakref.ref[Any]"] = []
    disconnected = Recorder()
    server = netsys.Server("srv", port=0, bind_address="127.0.0.1",
                           on_connect=lambda session: refs.append(weakref.ref(session)),
                           on_disconnect=lambda session, reason: disconnected(session.id))
    with server.start():
        client = connect(server.port)
        wait_until(lambda: refs, what="on_connect")
        gc.collect()
        assert refs[0]() is not None  # held by the library while the connection lasts
        assert server.sessions()[0] is refs[0]()
        client.close()
        disconnected.wait(1)
        wait_collected(refs, "the session object released after the disconnect")


def test_a_session_the_program_keeps_outlives_its_connection(connect):
    kept: List[netsys.Session] = []
    disconnected = Recorder()

    def on_connect(session):
        session.tag = "kept"
        kept.append(session)

    server = netsys.Server("srv", port=0, bind_address="127.0.0.1", on_connect=on_connect,
                           on_disconnect=lambda session, reason: disconnected(reason))
    with server.start():
        client = connect(server.port)
        wait_until(lambda: kept, what="on_connect")
        client.close()
        disconnected.wait(1)
        wait_until(lambda: server.connection_count == 0, what="no sessions")
        session = kept[0]
        assert session.tag == "kept"
        assert session.state == netsys.SessionState.DISCONNECTED and not session.is_connected
        with pytest.raises(netsys.SessionClosedError):
            session.send(b"late")
        session.disconnect()  # does nothing once ended, as before
        assert server.session(session.id) is None


def test_closing_a_server_releases_its_open_sessions(connect):
    refs: List["weakref.ref[Any]"] = []
    server = netsys.Server("srv", port=0, bind_address="127.0.0.1",
                           on_connect=lambda session: refs.append(weakref.ref(session)),
                           on_message=lambda session, data: session.send(data)).start()
    clients = [connect(server.port, f"c{i}") for i in range(3)]
    wait_until(lambda: len(refs) == 3, what="three connects")
    for client in clients:  # sessions that are busy, not only connected
        client.send(b"x")
        assert client.recv(WAIT) == b"x"
    gc.collect()
    assert all(ref() is not None for ref in refs)
    server.close()
    wait_collected(refs, "the session objects released by close()")


def test_closing_a_server_from_its_handler_releases_every_session(connect):
    refs: List["weakref.ref[Any]"] = []
    closed = threading.Event()
    server = netsys.Server("srv", port=0, bind_address="127.0.0.1",
                           on_connect=lambda session: refs.append(weakref.ref(session)))

    @server.on_message
    def on_message(session, data):
        # Destroying from the dispatcher hands every session back at once,
        # the open ones included; this one is still usable until it returns.
        server.close()
        assert session.state == netsys.SessionState.DISCONNECTED
        closed.set()

    server.start()
    clients = [connect(server.port, f"c{i}") for i in range(3)]
    wait_until(lambda: len(refs) == 3, what="three connects")
    clients[0].send(b"close")
    assert closed.wait(WAIT)
    wait_collected(refs, "the session objects released by a close() in a handler")


def test_a_dropped_server_is_collected_and_releases_its_sessions(connect):
    # The library holds every open session's object, and a session holds its
    # server weakly: a server the program drops is still collected (which
    # closes it) while clients are connected.
    refs: List["weakref.ref[Any]"] = []
    server = netsys.Server("srv", port=0, bind_address="127.0.0.1",
                           on_connect=lambda session: refs.append(weakref.ref(session))).start()
    client = connect(server.port)
    wait_until(lambda: refs, what="on_connect")
    server_ref = weakref.ref(server)
    del server
    wait_until(lambda: gc.collect() is not None and server_ref() is None, RELEASE_WAIT, "the server collected")
    wait_collected(refs, "the session objects released when the server was collected")
    wait_until(lambda: not client.is_connected, what="the client disconnected by the collected server")


def test_a_session_kept_after_its_server_was_collected_reports_it(connect):
    kept: List[netsys.Session] = []
    server = netsys.Server("srv", port=0, bind_address="127.0.0.1", on_connect=kept.append).start()
    connect(server.port)
    wait_until(lambda: kept, what="on_connect")
    server_ref = weakref.ref(server)
    del server
    wait_until(lambda: gc.collect() is not None and server_ref() is None, RELEASE_WAIT, "the server collected")
    session = kept[0]
    with pytest.raises(netsys.InvalidHandleError):
        session.server
    assert session.state == netsys.SessionState.DISCONNECTED
    with pytest.raises(netsys.NetsysError):
        session.send(b"late")


def test_many_connections_leave_no_session_object_behind(connect):
    refs: List["weakref.ref[Any]"] = []
    disconnected = Recorder()
    server = netsys.Server("srv", port=0, bind_address="127.0.0.1",
                           on_connect=lambda session: refs.append(weakref.ref(session)),
                           on_message=lambda session, data: session.send(data),
                           on_disconnect=lambda session, reason: disconnected(session.id))
    with server.start():
        for i in range(40):
            with netsys.Client(f"cycle{i}") as client:
                client.connect("127.0.0.1", server.port, timeout=WAIT)
                client.send(b"x")
                assert client.recv(WAIT) == b"x"
        disconnected.wait(40)
        assert len(refs) == 40 and server.sessions() == []
        wait_collected(refs, "every cycle's session object released")


def test_concurrent_lookups_never_make_a_second_object(connect):
    # A thread listing the sessions while they connect races the dispatcher
    # to make each session's object: whoever wins, there is one object.
    connected: Dict[int, Any] = {}
    server = netsys.Server("srv", port=0, bind_address="127.0.0.1",
                           on_connect=lambda session: connected.__setitem__(session.id, session))
    stop = threading.Event()
    listed: Dict[int, List[Any]] = {}

    def lister() -> None:
        while not stop.is_set():
            for session in server.sessions():
                found = listed.setdefault(session.id, [])
                if not any(session is other for other in found):
                    found.append(session)

    with server.start():
        thread = threading.Thread(target=lister)
        thread.start()
        try:
            clients = [connect(server.port, f"c{i}") for i in range(20)]
            wait_until(lambda: len(connected) == 20, what="twenty connects")
        finally:
            stop.set()
            thread.join(WAIT)
        for client in clients:
            assert server.session(client.session_id) is connected[client.session_id]
        for sid, objects in listed.items():
            assert len(objects) == 1 and objects[0] is connected[sid], sid


def test_asyncio_server_passes_one_object_and_releases_it():
    async def main() -> None:
        refs: List["weakref.ref[Any]"] = []
        seen: List[bool] = []
        done = asyncio.Event()

        async def on_connect(session):
            session.greeting = "hi"
            refs.append(weakref.ref(session))

        async def on_message(session, data):
            seen.append(session is refs[0]() and session.greeting == "hi")
            session.send(data)

        async def on_disconnect(session, reason):
            seen.append(session is refs[0]())
            done.set()

        async with netsys.aio.Server("asrv", port=0, bind_address="127.0.0.1", on_connect=on_connect,
                                     on_message=on_message, on_disconnect=on_disconnect) as server:
            async with netsys.aio.Client("acli") as client:
                await client.connect("127.0.0.1", server.port)
                await client.send(b"ping")
                assert await asyncio.wait_for(client.recv(), WAIT) == b"ping"
                assert server.sessions()[0] is refs[0]()
            await asyncio.wait_for(done.wait(), WAIT)
            assert seen == [True, True]
            for _ in range(int(RELEASE_WAIT / 0.01)):  # the loop's next poll releases it
                gc.collect()
                if refs[0]() is None:
                    break
                await asyncio.sleep(0.01)
            assert refs[0]() is None

    asyncio.run(main())
