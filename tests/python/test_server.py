"""netsys.Server and netsys.Session."""

from __future__ import annotations

import socket

import pytest

import netsys
from conftest import WAIT, Recorder, wait_until


def test_start_port_and_context_manager():
    with netsys.Server("srv", port=0, bind_address="127.0.0.1") as server:
        assert server.is_running
        assert 0 < server.port < 65536
        assert server.id == "srv"
        assert server.connection_count == 0
        with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT):
            pass  # the port really listens
    assert not server.is_running
    with pytest.raises(netsys.InvalidHandleError):
        server.start()


def test_handlers_by_decorator_see_the_session_lifecycle(connect):
    server = netsys.Server("srv", port=0, bind_address="127.0.0.1", max_connections=10,
                           message_size_limit=1 << 20)
    connects, messages, disconnects = Recorder(), Recorder(), Recorder()

    @server.on_connect
    def on_connect(session):
        connects(session)

    @server.on_message
    def on_message(session, data):
        messages(session, data)
        session.send(data.upper())

    @server.on_disconnect
    def on_disconnect(session, reason):
        disconnects(session, reason)

    # The decorators return the function unchanged.
    assert on_connect.__name__ == "on_connect"
    server.start()
    try:
        client = connect(server.port, "alice")
        session = connects.wait(1)[0]
        assert isinstance(session, netsys.Session)
        assert session.client_id == "alice"
        assert session.remote_address == "127.0.0.1"
        assert session.remote_port > 0
        assert session.state == netsys.SessionState.CONNECTED
        assert session.id == client.session_id

        client.send(b"hello")
        client.send("text")  # str goes as UTF-8
        assert client.recv(WAIT) == b"HELLO"
        assert client.recv(WAIT) == b"TEXT"
        got = messages.wait(2)
        assert got[0] == (session, b"hello") and got[1] == (session, b"text")
        assert got[0][0] is session  # the same object for the whole connection

        client.stop()
        closed_session, reason = disconnects.wait(1)[0]
        assert closed_session is session and isinstance(reason, str)
        assert session.state in (netsys.SessionState.DISCONNECTED, netsys.SessionState.ERROR)
        with pytest.raises(netsys.SessionClosedError):
            session.send(b"late")
    finally:
        server.close()


def test_handlers_as_constructor_keywords(connect):
    messages = Recorder()
    with netsys.Server("srv", port=0, bind_address="127.0.0.1",
                       on_message=lambda s, d: (messages(d), s.send(d))[1]) as server:
        client = connect(server.port)
        client.send(b"kw")
        assert client.recv(WAIT) == b"kw"
        assert messages.wait(1) == [b"kw"]


def test_non_callable_handler_is_refused():
    with pytest.raises(TypeError):
        netsys.Server("srv", on_message=42)


def test_sessions_lookup_and_disconnect(connect):
    with netsys.Server("srv", port=0, bind_address="127.0.0.1") as server:
        first = connect(server.port, "one")
        second = connect(server.port, "two")
        wait_until(lambda: server.connection_count == 2, what="two sessions")
        sessions = server.sessions()
        assert [s.client_id for s in sessions] == ["one", "two"]
        assert server.session(first.session_id).client_id == "one"
        assert server.session(987654) is None

        server.disconnect_session(second.session_id, "bye")
        wait_until(lambda: not second.is_connected, what="second client disconnected")
        wait_until(lambda: server.connection_count == 1, what="one session left")
        with pytest.raises(netsys.NotFoundError):
            server.disconnect_session(987654)
        assert first.is_connected

        server.session(first.session_id).disconnect("done")
        wait_until(lambda: server.connection_count == 0, what="no sessions")


def test_session_data_and_groups(connect):
    with netsys.Server("srv", port=0, bind_address="127.0.0.1") as server:
        clients = [connect(server.port, f"c{i}") for i in range(3)]
        wait_until(lambda: server.connection_count == 3, what="three sessions")
        sessions = server.sessions()

        data = sessions[0].data
        data["user"] = "alice"
        data["room"] = "lobby"
        assert data["user"] == "alice"
        assert "room" in data and "nope" not in data
        assert sorted(data) == ["room", "user"] and len(data) == 2
        assert dict(data) == {"room": "lobby", "user": "alice"}
        del data["room"]
        with pytest.raises(KeyError):
            data["room"]
        with pytest.raises(KeyError):
            del data["room"]
        assert data.get("room", "gone") == "gone"
        data.clear()
        assert len(data) == 0
        assert len(sessions[1].data) == 0  # per session

        sessions[0].join_group("red")
        sessions[1].join_group("red")
        sessions[1].join_group("blue")
        assert sessions[1].groups == ["blue", "red"]
        assert sessions[0].in_group("red") and not sessions[2].in_group("red")
        assert [s.id for s in server.group_members("red")] == [sessions[0].id, sessions[1].id]

        assert server.broadcast_to_group("red", b"to-red") == 2
        assert clients[0].recv(WAIT) == b"to-red"
        assert clients[1].recv(WAIT) == b"to-red"
        with pytest.raises(netsys.NetsysTimeoutError):
            clients[2].recv(0.2)
        assert server.broadcast_to_group("nobody", b"x") == 0

        sessions[1].leave_group("red")
        assert sessions[1].groups == ["blue"]

        assert server.broadcast("all") == 3
        for client in clients:
            assert client.recv(WAIT) == b"all"


def test_statistics(connect, echo_server):
    client = connect(echo_server.port)
    for _ in range(5):
        client.send(b"12345")
    for _ in range(5):
        assert client.recv(WAIT) == b"12345"
    # Counters are updated by the I/O threads right after they hand a
    # message over, so they may trail the delivery by a moment.
    wait_until(lambda: echo_server.statistics().messages_sent == 5
               and client.statistics().messages_received == 5, what="counters")
    stats = echo_server.statistics()
    assert isinstance(stats, netsys.ServerStatistics)
    assert stats.total_connections == 1 and stats.current_connections == 1
    assert stats.messages_received == 5 and stats.bytes_received == 25
    assert stats.messages_sent == 5 and stats.bytes_sent == 25
    assert stats.start_time is not None and stats.last_activity is not None
    session_stats = echo_server.sessions()[0].statistics()
    assert session_stats.messages_received == 5
    cstats = client.statistics()
    assert isinstance(cstats, netsys.ClientStatistics)
    assert cstats.messages_sent == 5 and cstats.messages_received == 5 and cstats.bytes_received == 25
    echo_server.reset_statistics()
    assert echo_server.statistics().messages_received == 0


def test_max_connections_refuses_with_server_full(connect):
    with netsys.Server("srv", port=0, bind_address="127.0.0.1", max_connections=1) as server:
        connect(server.port, "first")
        with pytest.raises(netsys.ServerFullError) as info:
            connect(server.port, "second")
        assert isinstance(info.value, ConnectionError)
        wait_until(lambda: server.statistics().rejected_connections >= 1, what="the rejection counted")


def test_oversize_message_is_refused_locally_and_by_the_peer(connect):
    with netsys.Server("srv", port=0, bind_address="127.0.0.1", message_size_limit=1024) as server:
        errors = Recorder()
        server.on_error(errors)
        client = connect(server.port)
        with pytest.raises(netsys.MessageTooLargeError) as info:
            client.send(b"x" * 2048)  # the server announced its limit in the handshake
        assert isinstance(info.value, ValueError)
        client.send(b"x" * 1024)  # exactly the limit is fine
        wait_until(lambda: server.statistics().messages_received == 1, what="the message at the limit")


def test_bind_errors():
    with netsys.Server("a", port=0, bind_address="127.0.0.1") as first:
        second = netsys.Server("b", port=first.port, bind_address="127.0.0.1")
        try:
            with pytest.raises(netsys.BindError) as info:
                second.start()
            assert isinstance(info.value, OSError)
        finally:
            second.close()
    bad = netsys.Server("c", port=0, bind_address="not-an-address")
    try:
        with pytest.raises(netsys.NetsysError) as info:
            bad.start()
        assert isinstance(info.value, (netsys.BadAddressError, netsys.InvalidArgumentError))
    finally:
        bad.close()


def test_bad_options_are_clear_errors():
    with pytest.raises(netsys.InvalidArgumentError, match="port"):
        netsys.Server("x", port=70000)
    with pytest.raises(netsys.InvalidArgumentError, match="max_connections"):
        netsys.Server("x", max_connections="many")
    with pytest.raises(netsys.InvalidArgumentError, match="unknown option"):
        netsys.Server("x", no_such_option=1)
    with pytest.raises(netsys.InvalidArgumentError):
        netsys.Server("x", bind_address="a\0b")


def test_restart_after_stop(connect):
    server = netsys.Server("srv", port=0, bind_address="127.0.0.1",
                           on_message=lambda s, d: s.send(d))
    try:
        server.start()
        server.stop()
        server.stop()  # idempotent
        assert not server.is_running
        server.start()
        client = connect(server.port)
        client.send(b"again")
        assert client.recv(WAIT) == b"again"
    finally:
        server.close()
    server.close()  # idempotent


def test_stop_from_a_handler(connect):
    server = netsys.Server("srv", port=0, bind_address="127.0.0.1")
    server.on_message(lambda session, data: server.stop())
    try:
        server.start()
        client = connect(server.port)
        client.send(b"stop please")
        assert server.wait(WAIT)
        wait_until(lambda: not server.is_running, what="server stopped")
        wait_until(lambda: not client.is_connected, what="client disconnected")
    finally:
        server.close()


def test_send_from_another_thread_while_serving(connect, echo_server):
    import threading

    client = connect(echo_server.port)
    wait_until(lambda: echo_server.connection_count == 1, what="session")
    session = echo_server.sessions()[0]
    threads = [threading.Thread(target=lambda i=i: [session.send(b"t%d" % i) for _ in range(50)])
               for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    received = [client.recv(WAIT) for _ in range(200)]
    assert sorted(set(received)) == [b"t0", b"t1", b"t2", b"t3"]
