"""netsys.aio: asyncio client and server over the event descriptor."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading

import pytest

import netsys
import netsys.aio
from conftest import WAIT, Recorder


def run(coro, timeout: float = 60.0):
    """Run a coroutine with a hard bound."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def test_client_against_a_threaded_server(echo_server):
    async def main():
        async with netsys.aio.Client("acli") as client:
            assert await client.connect("127.0.0.1", echo_server.port) is client
            assert client.is_connected
            await client.send(b"one")
            await client.send("two")
            assert await client.recv() == b"one"
            assert await client.recv(timeout=WAIT) == b"two"
            with pytest.raises(netsys.NetsysTimeoutError):
                await client.recv(timeout=0.05)
            for _ in range(500):  # counters trail delivery by a moment (bounded wait)
                if client.statistics().messages_received == 2:
                    break
                await asyncio.sleep(0.01)
            assert client.statistics().messages_received == 2
        assert not client.is_connected

    run(main())


def test_no_extra_thread_for_delivery(echo_server):
    async def main():
        before = threading.active_count()
        async with netsys.aio.Client("acli") as client:
            await client.connect("127.0.0.1", echo_server.port)
            for i in range(100):
                await client.send(b"%d" % i)
            for i in range(100):
                assert await client.recv() == b"%d" % i
            assert threading.active_count() == before

    run(main())


def test_async_for_ends_when_the_server_closes_the_session():
    async def main():
        async with netsys.aio.Server("asrv", port=0, bind_address="127.0.0.1") as server:

            @server.on_message
            async def handler(session, data):
                for i in range(3):
                    session.send(b"%s-%d" % (data, i))
                session.disconnect("enough")

            async with netsys.aio.Client("acli") as client:
                await client.connect("127.0.0.1", server.port)
                await client.send(b"m")
                got = [message async for message in client]
                assert got == [b"m-0", b"m-1", b"m-2"]

    run(main())


def test_server_with_plain_and_coroutine_handlers():
    async def main():
        connects, disconnects = Recorder(), Recorder()
        server = netsys.aio.Server("asrv", port=0, bind_address="127.0.0.1",
                                   on_connect=lambda s: connects(s.client_id))

        @server.on_message
        async def echo(session, data):
            await asyncio.sleep(0.001)
            session.send(data)

        @server.on_disconnect
        async def gone(session, reason):
            disconnects(session.client_id)

        await server.start()
        async with netsys.aio.Client("c1") as client:
            await client.connect("127.0.0.1", server.port)
            await client.send(b"hello")
            assert await client.recv(WAIT) == b"hello"
            assert server.connection_count == 1
        for _ in range(200):
            if len(disconnects):
                break
            await asyncio.sleep(0.01)
        assert connects.items == ["c1"] and disconnects.items == ["c1"]
        await server.close()
        assert not server.is_running

    run(main())


def test_coroutine_handler_exceptions_are_reported(caplog):
    async def main():
        errors = Recorder()

        async def bad(session, data):
            await asyncio.sleep(0)
            if data == b"bad":
                raise ValueError("async boom")
            session.send(data)

        async with netsys.aio.Server("asrv", port=0, bind_address="127.0.0.1", on_message=bad,
                                     on_error=errors) as server:
            async with netsys.aio.Client("c") as client:
                await client.connect("127.0.0.1", server.port)
                await client.send(b"bad")
                await client.send(b"good")
                assert await client.recv(WAIT) == b"good"
                for _ in range(200):
                    if len(errors):
                        break
                    await asyncio.sleep(0.01)
                session, exc = errors.items[0]
                assert isinstance(exc, ValueError) and session.client_id == "c"

    with caplog.at_level(logging.ERROR, logger="netsys"):
        run(main())
    assert any("async boom" in r.getMessage() for r in caplog.records)


def test_connect_failure_raises():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    async def main():
        async with netsys.aio.Client("c") as client:
            with pytest.raises(netsys.ConnectError):
                await client.connect("127.0.0.1", port)
            assert not client.is_running
            with pytest.raises(netsys.ConnectionClosedError):
                await client.recv(0.1)

    run(main())


def test_two_hundred_concurrent_clients():
    clients_n, messages_n = 200, 5

    async def one(port: int, index: int) -> int:
        async with netsys.aio.Client(f"c{index}") as client:
            await client.connect("127.0.0.1", port)
            for j in range(messages_n):
                await client.send(b"%d:%d" % (index, j))
            for j in range(messages_n):
                assert await client.recv(WAIT) == b"%d:%d" % (index, j)
            return index

    async def main():
        # All of them handshake at once from one address: more than the
        # per-address default (16) admits.
        async with netsys.aio.Server("asrv", port=0, bind_address="127.0.0.1", max_connections=500,
                                     max_handshakes_per_address=clients_n,
                                     on_message=lambda s, d: s.send(d)) as server:
            done = await asyncio.gather(*(one(server.port, i) for i in range(clients_n)))
            assert sorted(done) == list(range(clients_n))
            for _ in range(500):  # counters trail delivery by a moment (bounded wait)
                if server.statistics().messages_received == clients_n * messages_n:
                    break
                await asyncio.sleep(0.01)
            stats = server.statistics()
            assert stats.total_connections == clients_n
            assert stats.messages_received == clients_n * messages_n

    run(main(), timeout=120)


def test_recv_buffer_limit_applies_backpressure():
    # A client that does not read: the server's sends must eventually see
    # backpressure instead of the client buffering without bound.
    async def main():
        async with netsys.aio.Server("asrv", port=0, bind_address="127.0.0.1",
                                     send_queue_limit=64 * 1024) as server:
            async with netsys.aio.Client("slow", recv_buffer_limit=16, event_queue_limit=64) as client:
                await client.connect("127.0.0.1", server.port)
                await asyncio.sleep(0.05)
                session = server.sessions()[0]
                sent = 0
                blocked = False
                for _ in range(200_000):  # bounded
                    try:
                        session.send(b"x" * 1024)
                        sent += 1
                    except netsys.BackpressureError:
                        blocked = True
                        break
                    if sent % 256 == 0:
                        await asyncio.sleep(0)  # let the client's reader run
                assert blocked, f"no backpressure after {sent} messages"
                # Everything sent arrives once the client reads.
                for _ in range(sent):
                    assert len(await client.recv(WAIT)) == 1024

    run(main(), timeout=120)


def test_coroutine_handlers_keep_each_sessions_order():
    async def main():
        seen = {}
        running = {}  # session -> handlers of it running now
        overlap = {"max_sessions": 0, "max_same_session": 0}

        async def handler(session, data):
            running[session.id] = running.get(session.id, 0) + 1
            overlap["max_same_session"] = max(overlap["max_same_session"], running[session.id])
            overlap["max_sessions"] = max(overlap["max_sessions"], sum(1 for n in running.values() if n))
            # Later messages sleep less: without per-session ordering they
            # would overtake the earlier ones.
            index = int(data.split(b":")[1])
            await asyncio.sleep(0.002 * (10 - index % 10))
            seen.setdefault(session.client_id, []).append(index)
            running[session.id] -= 1
            session.send(data)

        async with netsys.aio.Server("order", port=0, bind_address="127.0.0.1", on_message=handler) as server:
            async def client(name):
                async with netsys.aio.Client(name) as cli:
                    await cli.connect("127.0.0.1", server.port)
                    for i in range(30):
                        await cli.send(b"%s:%d" % (name.encode(), i))
                    return [int((await cli.recv(WAIT)).split(b":")[1]) for _ in range(30)]

            echoes = await asyncio.gather(client("a"), client("b"), client("c"))
        for name, echoed in zip("abc", echoes):
            assert echoed == list(range(30)) and seen[name] == list(range(30))
        assert overlap["max_same_session"] == 1  # one at a time per session
        assert overlap["max_sessions"] >= 2  # but sessions run concurrently

    run(main())


def test_connect_twice_keeps_the_first_connection(echo_server):
    async def main():
        async with netsys.aio.Client("twice") as client:
            await client.connect("127.0.0.1", echo_server.port)
            with pytest.raises(netsys.AlreadyRunningError):
                await client.connect("127.0.0.1", echo_server.port)
            with pytest.raises(netsys.InvalidArgumentError):
                await client.connect("127.0.0.1", 0)
            await client.send(b"still here")
            assert await client.recv(WAIT) == b"still here"

    run(main())


def test_async_for_and_close_from_another_task(echo_server):
    async def main():
        client = netsys.aio.Client("iter")
        await client.connect("127.0.0.1", echo_server.port)
        got = []

        async def consume():
            async for message in client:
                got.append(message)

        consumer = asyncio.create_task(consume())
        for i in range(10):
            await client.send(b"%d" % i)
        while len(got) < 10:
            await asyncio.sleep(0.01)
        await client.close()
        await asyncio.wait_for(consumer, WAIT)  # the iteration ends on close
        assert got == [b"%d" % i for i in range(10)]
        with pytest.raises(netsys.InvalidHandleError):
            await client.send(b"closed")

    run(main())


@pytest.mark.parametrize("kind", ["server", "client"])
def test_a_cancelled_close_still_releases_the_object(echo_server, kind):
    # asyncio.run() cancels what is still running when the program ends,
    # and asyncio.wait_for() may cancel a task a second time while it is in
    # its cleanup: a close() interrupted that way must still release the
    # library object instead of leaving it to garbage collection.
    before = netsys.live_handles()

    async def main():
        if kind == "server":
            obj = netsys.aio.Server("asrv", port=0, bind_address="127.0.0.1")
            await obj.start()
        else:
            obj = netsys.aio.Client("acli")
            await obj.connect("127.0.0.1", echo_server.port)
        closing = asyncio.ensure_future(obj.close())
        await asyncio.sleep(0)  # close() is now waiting for the graceful stop
        closing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await closing
        return obj

    obj = run(main())
    assert netsys.live_handles() == before
    del obj


def test_unfinished_coroutine_handlers_count_against_the_event_queue_bound():
    # Coroutine handlers that do not finish hold their events: the library
    # stops reading once queued plus unfinished reach event_queue_limit
    # (one bound, the library's), and everything arrives once they finish.
    async def main():
        gate = asyncio.Event()
        done = []

        async def handler(session, data):
            await gate.wait()
            done.append(data)

        flood, limit = 5000, 64
        async with netsys.aio.Server("holder", port=0, bind_address="127.0.0.1", event_queue_limit=limit,
                                     receive_buffer_size=16384, on_message=handler) as server:
            async with netsys.aio.Client("flooder", send_queue_limit=64 << 20) as client:
                await client.connect("127.0.0.1", server.port)
                for i in range(flood):
                    await client.send(b"%08d" % i)
                await asyncio.sleep(0.5)
                received = server.statistics().messages_received
                assert received < 4 * limit, f"{received} messages read while {limit} may be pending"
                gate.set()
                for _ in range(2000):  # bounded wait
                    if len(done) == flood:
                        break
                    await asyncio.sleep(0.01)
                assert len(done) == flood

    run(main(), timeout=120)
