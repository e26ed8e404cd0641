"""netsys.Client."""

from __future__ import annotations

import logging
import socket
import threading
import time

import pytest

import netsys
from conftest import WAIT, Recorder, wait_until


def free_port() -> int:
    """A port nothing listens on (bound and released at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_connect_send_recv_stop(echo_server):
    client = netsys.Client("cli", auto_reconnect=False)
    try:
        assert not client.is_connected and not client.is_running
        assert client.connect("127.0.0.1", echo_server.port, timeout=5.0) is client
        assert client.is_connected and client.is_running
        assert client.id == "cli" and client.session_id > 0
        client.send(b"hi")
        client.send("text")
        client.send(bytearray(b"ba"))
        client.send(memoryview(b"mv"))
        client.send(b"")  # an empty message is a message
        assert [client.recv(WAIT) for _ in range(5)] == [b"hi", b"text", b"ba", b"mv", b""]
        client.stop()
        client.stop()  # idempotent
        assert not client.is_connected
        with pytest.raises(netsys.ConnectionClosedError):
            client.recv(1.0)
        with pytest.raises((netsys.NotRunningError, netsys.NotConnectedError)):
            client.send(b"after stop")
        # It may connect again.
        client.connect("127.0.0.1", echo_server.port)
        client.send(b"again")
        assert client.recv(WAIT) == b"again"
    finally:
        client.close()
    with pytest.raises(netsys.InvalidHandleError):
        client.send(b"closed")


def test_context_manager(echo_server):
    with netsys.Client("cli") as client:
        client.connect("127.0.0.1", echo_server.port)
        client.send(b"x")
        assert client.recv(WAIT) == b"x"
    assert not client.is_connected


def test_recv_timeout(connect, echo_server):
    client = connect(echo_server.port)
    with pytest.raises(netsys.NetsysTimeoutError) as info:
        client.recv(timeout=0.05)
    assert isinstance(info.value, TimeoutError)


def test_messages_received_before_a_disconnect_are_kept(connect):
    with netsys.Server("srv", port=0, bind_address="127.0.0.1") as server:
        server.on_message(lambda s, d: (s.send(d), s.send(d), s.disconnect("done")))
        client = connect(server.port)
        client.send(b"twice")
        assert client.recv(WAIT) == b"twice"
        assert client.recv(WAIT) == b"twice"
        with pytest.raises(netsys.ConnectionClosedError, match="done"):
            client.recv(WAIT)


def test_recv_with_a_handler_is_a_wrong_mode(connect, echo_server):
    got = Recorder()
    client = connect(echo_server.port, on_message=got)
    with pytest.raises(netsys.WrongModeError):
        client.recv(0.1)
    client.send(b"to the handler")
    assert got.wait(1) == [b"to the handler"]


def test_client_handlers(echo_server):
    connects, disconnects, messages = Recorder(), Recorder(), Recorder()
    client = netsys.Client("cli")
    try:
        client.on_connect(lambda: connects("up"))
        client.on_disconnect(disconnects)
        client.on_message(messages)
        client.connect("127.0.0.1", echo_server.port)
        assert connects.wait(1) == ["up"]
        client.send(b"m")
        assert messages.wait(1) == [b"m"]
        echo_server.disconnect_all("server says bye")
        assert "server says bye" in disconnects.wait(1)[0]
    finally:
        client.close()


def test_connect_refused():
    client = netsys.Client("cli")
    try:
        with pytest.raises(netsys.ConnectError) as info:
            client.connect("127.0.0.1", free_port(), timeout=5.0)
        assert isinstance(info.value, ConnectionError)
        assert not client.is_running
        with pytest.raises(netsys.ConnectionClosedError):
            client.recv(0.1)
    finally:
        client.close()


def test_connect_argument_errors():
    with netsys.Client("cli") as client:
        with pytest.raises(netsys.InvalidArgumentError):
            client.connect("127.0.0.1", 0)
        with pytest.raises(netsys.InvalidArgumentError):
            client.connect("127.0.0.1", "80")  # type: ignore[arg-type]
        with pytest.raises(netsys.InvalidArgumentError):
            client.send(12345)  # type: ignore[arg-type]
        with pytest.raises(netsys.InvalidArgumentError):
            netsys.Client("x" * 300)


def test_connect_timeout_to_a_silent_server():
    # A listener that never answers the handshake: the connect must give up.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        with netsys.Client("cli") as client:
            with pytest.raises(netsys.NetsysTimeoutError):
                client.connect("127.0.0.1", listener.getsockname()[1], timeout=0.3)


def test_auto_reconnect(connect):
    echo = dict(on_message=lambda s, d: s.send(d))
    server = netsys.Server("srv", port=0, bind_address="127.0.0.1", **echo).start()
    port = server.port
    client = connect(port, auto_reconnect=True, reconnect_interval=0.05, reconnect_max_interval=0.2)
    try:
        server.close()
        wait_until(lambda: not client.is_connected, what="client notices the stop")
        assert client.is_running  # still trying
        server = netsys.Server("srv2", port=port, bind_address="127.0.0.1", **echo).start()
        wait_until(lambda: client.is_connected, what="reconnection")
        client.send(b"back")
        assert client.recv(WAIT) == b"back"
        assert client.statistics().reconnects >= 1
    finally:
        server.close()


def test_send_from_many_threads(connect, echo_server):
    client = connect(echo_server.port)

    def blast(tag: bytes) -> None:
        for _ in range(100):
            client.send(tag)

    threads = [threading.Thread(target=blast, args=(b"%d" % i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    received = [client.recv(WAIT) for _ in range(400)]
    assert sorted(received) == sorted([b"0", b"1", b"2", b"3"] * 100)


def test_ipv6_loopback():
    if not socket.has_ipv6:
        pytest.fail("IPv6 is not available")
    with netsys.Server("v6", port=0, bind_address="::1", on_message=lambda s, d: s.send(d)) as server:
        with netsys.Client("cli") as client:
            client.connect("::1", server.port)
            client.send(b"six")
            assert client.recv(WAIT) == b"six"
            assert server.sessions()[0].remote_address == "::1"


def test_blocking_calls_release_the_gil():
    # While the main thread blocks in the library (a connect that waits for
    # a handshake that never comes, then a wait with a timeout), another
    # Python thread keeps running.
    progress = 0
    stop = threading.Event()

    def spin() -> None:
        nonlocal progress
        while not stop.is_set():
            progress += 1

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        thread = threading.Thread(target=spin)
        thread.start()
        try:
            with netsys.Client("cli") as client:
                before = progress
                with pytest.raises(netsys.NetsysTimeoutError):
                    client.connect("127.0.0.1", listener.getsockname()[1], timeout=0.3)
                during_connect = progress - before
            with netsys.Server("srv", port=0, bind_address="127.0.0.1") as server:
                before = progress
                assert server.wait(0.2) is False  # still running at the deadline
                during_wait = progress - before
        finally:
            stop.set()
            thread.join(WAIT)
    # A thread starved of the GIL would manage a handful of increments per
    # switch interval at most; a free one does many thousands.
    assert during_connect > 10_000 and during_wait > 10_000, (during_connect, during_wait)


def test_send_after_the_server_closed_the_connection(connect):
    with netsys.Server("srv", port=0, bind_address="127.0.0.1") as server:
        client = connect(server.port)
        wait_until(lambda: server.connection_count == 1, what="session")
        server.disconnect_all("go away")
        wait_until(lambda: not client.is_running, what="client stopped after the server closed it")
        with pytest.raises(netsys.NetsysError) as info:
            client.send(b"anyone?")
        assert isinstance(info.value, (netsys.NotConnectedError, netsys.NotRunningError,
                                       netsys.ConnectionClosedError))
        assert isinstance(info.value, (ConnectionError, RuntimeError))


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_raised_connect_failure_is_not_also_logged(caplog):
    # connect() raises the failure; logging it as a warning as well (there
    # is no on_error handler) would report one failure twice.
    port = _closed_port()
    with caplog.at_level(logging.DEBUG, logger="netsys"):
        with netsys.Client("quiet") as client:
            for _ in range(3):
                with pytest.raises(netsys.ConnectError):
                    client.connect("127.0.0.1", port)
            time.sleep(0.2)  # the library's error events are dispatched meanwhile
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert noisy == [], [r.getMessage() for r in noisy]


def test_connect_failure_message_names_the_address_once():
    port = _closed_port()
    with netsys.Client("cli") as client:
        with pytest.raises(netsys.ConnectError) as info:
            client.connect("127.0.0.1", port)
    text = str(info.value)
    assert text.count(f"127.0.0.1:{port}") == 1, text
    assert "refused" in text, text


def test_acknowledged_delivery_options(echo_server):
    """acknowledged / ack_buffer_bytes / reconnect_queue_timeout reach the
    library: with a server that has acknowledged delivery the messages flow
    without an error; the plain echo server does not agree, which is
    reported once as UnsupportedError and the messages still arrive."""
    server = netsys.Server("acks", port=0, bind_address="127.0.0.1", acknowledged=True, ack_buffer_bytes=1 << 16)

    @server.on_message
    def echo(session: netsys.Session, data: bytes) -> None:
        session.send(data)

    server.start()
    try:
        for port, agreed in ((server.port, True), (echo_server.port, False)):
            errors: list = []
            got: list = []
            client = netsys.Client("acked", acknowledged=True, ack_buffer_bytes=1 << 16,
                                   reconnect_queue_timeout=2.0, on_error=errors.append, on_message=got.append)
            try:
                client.connect("127.0.0.1", port, timeout=5.0)
                for i in range(10):
                    client.send(b"m%d" % i)
                wait_until(lambda: len(got) == 10, what="10 echoes")
                assert got == [b"m%d" % i for i in range(10)]
                client.stop()
            finally:
                client.close()
            if agreed:
                assert errors == []
            else:
                assert len(errors) == 1 and isinstance(errors[0], netsys.UnsupportedError), errors
                assert "acknowledged delivery not agreed by the server" in str(errors[0])
    finally:
        server.close()
    with pytest.raises(netsys.InvalidArgumentError):
        netsys.Client("bad", ack_buffer_bytes=-1)


def test_unread_messages_count_against_the_one_bound(connect):
    # A client that does not read: messages it has not taken count against
    # the library's event queue bound (recv_buffer_limit), so the socket is
    # paused after about that many, not after a recv buffer's worth plus a
    # full event queue (8 MiB here) as when the two were separate bounds.
    with netsys.Server("srv", port=0, bind_address="127.0.0.1", send_queue_limit=64 * 1024) as server:
        client = connect(server.port, recv_buffer_limit=16)
        wait_until(lambda: server.sessions(), WAIT)
        session = server.sessions()[0]
        # Send until the client has plainly stopped reading: the send queue
        # stays full for half a second (a full queue alone only means the
        # loop has not flushed yet).
        sent = 0
        blocked_since = None
        for _ in range(200_000):  # bounded
            try:
                session.send(b"x" * 1024)
                sent += 1
                blocked_since = None
            except netsys.BackpressureError:
                now = time.monotonic()
                blocked_since = blocked_since or now
                if now - blocked_since > 0.5:
                    break
                time.sleep(0.005)
        assert blocked_since is not None, f"no backpressure after {sent} messages"
        taken_in = client.statistics().messages_received
        # 16, plus what one read brings (256 KiB); 8,256 with separate bounds.
        assert taken_in <= 1024, f"{taken_in} messages taken in past a bound of 16"
        for _ in range(sent):
            assert len(client.recv(WAIT)) == 1024


def test_a_batch_of_messages_and_other_events_is_handled_in_order():
    # A poll that returns messages around a disconnect (what a reconnecting
    # client sees): each run of messages goes the way a batch of only
    # messages does, and a failing handler loses nothing else.
    from netsys import _ffi

    calls = []

    def on_message(data):
        calls.append(("message", data))
        if data == b"boom":
            raise RuntimeError("handler failed")

    client = netsys.Client("mixed")
    try:
        client.on_connect(lambda: calls.append(("connect",)))
        client.on_disconnect(lambda reason: calls.append(("disconnect", reason)))
        client.on_message(on_message)
        message = _ffi.EVENT_MESSAGE
        client._dispatch([(_ffi.EVENT_CONNECT, 0, 1, "srv"), (message, 0, 1, b"a"), (message, 0, 1, b"boom"),
                          (message, 0, 1, b"b"), (_ffi.EVENT_DISCONNECT, 0, 1, "bye"), (message, 0, 2, b"c")])
        assert calls == [("connect",), ("message", b"a"), ("message", b"boom"), ("message", b"b"),
                         ("disconnect", "bye"), ("message", b"c")]
    finally:
        client.close()
