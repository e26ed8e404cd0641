"""An exception in a Python handler is logged, passed to on_error, and never
stops the dispatcher, the library or the process."""

from __future__ import annotations

import logging
import threading

import pytest

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


# ---------------------------------------------------------------------------
# Exceptions that are not Exceptions: SystemExit, KeyboardInterrupt, ...
# ---------------------------------------------------------------------------

#: Messages per run: several batches, each with several raising handler calls.
FLOOD = 1000


class Unusual(BaseException):
    """A BaseException that is neither Exception, SystemExit nor KeyboardInterrupt."""


def _flood(client, count: int = FLOOD) -> None:
    for i in range(count):
        client.send_timeout(b"%d" % i, WAIT)



@pytest.mark.parametrize("kind", [SystemExit, KeyboardInterrupt, Unusual])
def test_server_handler_raising_a_base_exception_loses_nothing(connect, caplog, kind):
    # Every 7th message raises. Before, the rest of that message's batch was
    # dropped silently (hundreds of 1,000 messages never handled) and
    # on_error was not called.
    handled = Recorder()
    errors = Recorder()

    def on_message(session, data):
        handled(data)
        if int(data) % 7 == 0:
            raise kind(f"from message {int(data)}")

    with caplog.at_level(logging.ERROR, logger="netsys"):
        with netsys.Server("srv", port=0, bind_address="127.0.0.1", on_message=on_message,
                           on_error=errors) as server:
            client = connect(server.port)
            _flood(client)
            got = handled.wait(FLOOD)
            assert got == [b"%d" % i for i in range(FLOOD)]
            raised = errors.wait(len(range(0, FLOOD, 7)))
            assert all(isinstance(exc, kind) for _, exc in raised)
            assert [str(exc) for _, exc in raised] == [f"from message {i}" for i in range(0, FLOOD, 7)]
            # The dispatcher survived: the server still answers.
            server.on_message(lambda s, d: s.send(d))
            client.send(b"alive")
            assert client.recv(WAIT) == b"alive"
    assert sum(f"raised {kind.__name__}" in r.getMessage() for r in caplog.records) >= len(raised)


def test_client_handler_raising_system_exit_loses_nothing(echo_server):
    handled = Recorder()
    errors = Recorder()

    def on_message(data):
        handled(data)
        if int(data) % 5 == 0:
            raise SystemExit(int(data))

    with netsys.Client("cli", on_message=on_message, on_error=errors) as client:
        client.connect("127.0.0.1", echo_server.port)
        _flood(client)
        assert handled.wait(FLOOD) == [b"%d" % i for i in range(FLOOD)]
        assert [exc.code for exc in errors.wait(FLOOD // 5)] == list(range(0, FLOOD, 5))
        assert client.is_connected


def test_system_exit_from_a_handler_on_the_recv_thread_is_re_raised_there(echo_server):
    # Without on_message, recv() dispatches the other events on its own
    # thread: a SystemExit raised by one of those handlers is re-raised by
    # recv() once the batch is dispatched (the program owns that thread).
    calls = Recorder()

    def on_disconnect(reason):
        calls(reason)
        raise SystemExit(3)

    with netsys.Client("cli", on_disconnect=on_disconnect) as client:
        client.connect("127.0.0.1", echo_server.port)
        client.send(b"before")
        assert client.recv(WAIT) == b"before"
        # The disconnect comes while recv() waits, so recv() is the thread
        # that drains it (between two recv() calls the dispatcher thread may
        # take over, and then the exception is raised there).
        kick = threading.Timer(0.05, echo_server.disconnect_all, args=("bye",))
        kick.start()
        try:
            with pytest.raises(SystemExit) as info:
                while True:
                    client.recv(WAIT)
        finally:
            kick.join()
        assert info.value.code == 3
        assert len(calls.wait(1)) == 1


def test_system_exit_in_an_asyncio_handler_stops_the_loop_after_the_batch():
    # On the asyncio loop's thread the exception is re-raised after the
    # whole batch has been dispatched, as asyncio does for its own callbacks:
    # run() ends with it, and no message of the batch was skipped.
    import asyncio

    import netsys.aio

    handled = Recorder()
    errors = Recorder()

    async def main():
        def on_message(session, data):
            handled(data)
            if data == b"stop":
                raise SystemExit("stop requested")

        async with netsys.aio.Server("asrv", port=0, bind_address="127.0.0.1", on_message=on_message,
                                     on_error=errors) as server:
            with netsys.Client("cli") as client:
                client.connect("127.0.0.1", server.port)
                for i in range(50):
                    client.send(b"%d" % i)
                client.send(b"stop")
                for i in range(50, 100):
                    client.send(b"%d" % i)
                while len(handled) < 101:
                    await asyncio.sleep(0.01)

    with pytest.raises(SystemExit, match="stop requested"):
        asyncio.run(asyncio.wait_for(main(), 60))
    got = handled.items
    assert got[:51] == [b"%d" % i for i in range(50)] + [b"stop"]
    # What arrived in the batch of "stop" was dispatched before the re-raise.
    assert got[51:] == [b"%d" % i for i in range(50, 50 + len(got) - 51)]
    assert len(errors.items) == 1 and isinstance(errors.items[0][1], SystemExit)
