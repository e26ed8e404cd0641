"""An exception in a Python handler is logged, passed to on_error, and never
stops the dispatcher, the library or the process."""

from __future__ import annotations

import logging

import netsys
from conftest import WAIT, Recorder


class Boom(Exception):
    pass


def test_server_handler_exceptions_go_to_on_error_and_the_log(connect, caplog):
    errors = Recorder()
    calls = Recorder()

    def on_message(session, data):
        calls(data)
        if data.startswith(b"bad"):
            raise Boom(data.decode())
        session.send(data)

    def on_connect(session):
        raise Boom("connect handler")

    with caplog.at_level(logging.ERROR, logger="netsys"):
        with netsys.Server("srv", port=0, bind_address="127.0.0.1", on_message=on_message,
                           on_connect=on_connect, on_error=errors) as server:
            client = connect(server.port)
            for i in range(20):
                client.send(b"bad %d" % i if i % 2 else b"good %d" % i)
            # Every good message is still echoed, in order.
            assert [client.recv(WAIT) for _ in range(10)] == [b"good %d" % i for i in range(0, 20, 2)]
            got = errors.wait(11)
            assert got[0][0].client_id == "cli" and isinstance(got[0][1], Boom)  # from on_connect
            assert all(isinstance(exc, Boom) for _, exc in got)
            assert str(got[1][1]) == "bad 1"
            assert len(calls) == 20
    assert sum("raised Boom" in r.getMessage() for r in caplog.records) >= 11


def test_a_failing_on_error_is_only_logged(connect, caplog):
    def on_message(session, data):
        raise Boom("first")

    def on_error(session, exc):
        raise Boom("second")

    with caplog.at_level(logging.ERROR, logger="netsys"):
        with netsys.Server("srv", port=0, bind_address="127.0.0.1", on_message=on_message,
                           on_error=on_error) as server:
            client = connect(server.port)
            for _ in range(3):
                client.send(b"x")
            from conftest import wait_until

            wait_until(lambda: sum("on_error handler raised" in r.getMessage() for r in caplog.records) >= 3,
                       what="three logged on_error failures")
            # The server still works.
            server.on_message(lambda s, d: s.send(d))
            client.send(b"alive")
            assert client.recv(WAIT) == b"alive"


def test_client_handler_exceptions(echo_server):
    errors = Recorder()
    seen = Recorder()

    def on_message(data):
        seen(data)
        raise Boom("client handler")

    with netsys.Client("cli", on_message=on_message, on_error=errors) as client:
        client.connect("127.0.0.1", echo_server.port)
        for _ in range(5):
            client.send(b"m")
        assert len(seen.wait(5)) == 5
        assert all(isinstance(exc, Boom) for exc in errors.wait(5))
        assert client.is_connected


def test_coroutine_handler_on_the_threaded_server_is_reported(connect):
    errors = Recorder()

    async def on_message(session, data):  # belongs on netsys.aio.Server
        session.send(data)

    with netsys.Server("srv", port=0, bind_address="127.0.0.1", on_message=on_message,
                       on_error=errors) as server:
        client = connect(server.port)
        client.send(b"x")
        session, exc = errors.wait(1)[0]
        assert isinstance(exc, TypeError) and "netsys.aio" in str(exc)


def test_library_errors_reach_on_error():
    # A failed connect raises in the caller and is also reported to on_error
    # as the library's error event, with the same class.
    import socket

    errors = Recorder()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with netsys.Client("cli", on_error=errors) as client:
        try:
            client.connect("127.0.0.1", port)
        except netsys.ConnectError:
            pass
        else:
            raise AssertionError("connect to a closed port succeeded")
        exc = errors.wait(1)[0]
        assert isinstance(exc, netsys.ConnectError) and "refused" in str(exc)
