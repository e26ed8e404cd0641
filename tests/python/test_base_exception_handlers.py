"""A handler that raises a BaseException which is not an Exception
(SystemExit, or an application's own BaseException subclass) is treated
like any failing handler: the rest of its batch is still handled, on_error
hears of every one, and the server carries on. Nothing is dropped silently."""

from __future__ import annotations

import pytest

import netsys
from conftest import WAIT, Recorder, wait_until


class Abort(BaseException):
    """An application's own BaseException (not an Exception)."""


@pytest.mark.parametrize("exc_type", [SystemExit, Abort])
def test_server_handler_base_exception_drops_nothing(connect, exc_type):
    handled = Recorder()
    errors = Recorder()
    total = 1000
    raising = [i for i in range(total) if i % 10 == 7]

    def on_message(session, data):
        handled(data)
        if int(data[1:]) % 10 == 7:
            raise exc_type("from the handler")
        session.send(data)

    with netsys.Server("srv", port=0, bind_address="127.0.0.1", on_message=on_message,
                       on_error=errors) as server:
        client = connect(server.port)
        for i in range(total):
            client.send(b"m%d" % i)
        wait_until(lambda: len(handled) >= total, WAIT,
                   f"all {total} messages handled (have {len(handled)}; a raising handler dropped its batch?)")
        got = errors.wait(len(raising))
        assert all(isinstance(exc, exc_type) for _, exc in got), [type(e) for _, e in got]
        echoes = [client.recv(WAIT) for _ in range(total - len(raising))]
        assert echoes == [b"m%d" % i for i in range(total) if i % 10 != 7]
        # The server still works after it.
        client.send(b"m1")
        assert client.recv(WAIT) == b"m1"
