"""Compression settings and Python transform plugins (docs/protocol.md
sections 4-5), checked on the wire.

Statistics count payload bytes before compression, so what was negotiated
and what travelled is observed with a WireTap: a TCP relay on 127.0.0.1
between client and server that parses the frames going both ways (6-byte
header: length u32, type u8, flags u8).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import zlib
from typing import List, NamedTuple, Tuple

import pytest

import netsys
import netsys.aio
from conftest import WAIT, Recorder, wait_until

HELLO, WELCOME, REJECT, DATA = 1, 2, 3, 4
COMPRESSED = 0x01
CODEC_IDS = {"s2": 1, "zstd": 2}


class Frame(NamedTuple):
    direction: str  # "up" (client to server) or "down"
    type: int
    flags: int
    payload: bytes


class WireTap:
    """Relays every connection accepted on ``port`` to ``127.0.0.1:upstream``
    and records the frames of both directions."""

    def __init__(self, upstream: int) -> None:
        self._upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._frames: List[Frame] = []
        self._lock = threading.Lock()
        self._sockets: List[socket.socket] = []
        self._threads: List[threading.Thread] = []
        self._closing = threading.Event()
        self._start(self._accept_loop)

    def _start(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self._closing.is_set():
            try:
                downstream, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self._upstream), timeout=WAIT)
            upstream.settimeout(None)
            downstream.settimeout(None)
            self._sockets += [downstream, upstream]
            self._start(self._pump, downstream, upstream, "up")
            self._start(self._pump, upstream, downstream, "down")

    def _pump(self, source: socket.socket, sink: socket.socket, direction: str) -> None:
        pending = b""
        while True:
            try:
                chunk = source.recv(1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                # Pass the end of stream on, so each peer sees the other close.
                for sock in (sink, source):
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                return
            # Record before forwarding: once a peer has received a frame,
            # the test can find it here.
            pending += chunk
            while len(pending) >= 6:
                length, kind, flags = struct.unpack_from(">IBB", pending)
                if len(pending) < 6 + length:
                    break
                with self._lock:
                    self._frames.append(Frame(direction, kind, flags, pending[6:6 + length]))
                pending = pending[6 + length:]
            try:
                sink.sendall(chunk)
            except OSError:
                pass

    def frames(self, direction: str, kind: int) -> List[Frame]:
        with self._lock:
            return [f for f in self._frames if f.direction == direction and f.type == kind]

    def welcome_codec(self) -> int:
        welcomes = wait_until(lambda: self.frames("down", WELCOME), what="a WELCOME frame")
        # WELCOME: version u16, max_message u32, session_id u64, codec u8 (section 3.2).
        return welcomes[0].payload[14]

    def close(self) -> None:
        self._closing.set()
        self._listener.close()
        for sock in self._sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in self._threads:
            thread.join(WAIT)
        for sock in self._sockets:
            sock.close()


@pytest.fixture
def tap_for():
    taps: List[WireTap] = []

    def make(port: int) -> WireTap:
        taps.append(WireTap(port))
        return taps[-1]

    yield make
    for tap in taps:
        tap.close()


def echo(session: netsys.Session, data: bytes) -> None:
    session.send(data)


def compressible(size: int) -> bytes:
    text = b"netsys compresses repetitive application messages; "
    return (text * (size // len(text) + 1))[:size]


def round_trip(client: netsys.Client, messages: List[bytes]) -> None:
    for message in messages:
        client.send(message)
        got = client.recv(WAIT)
        assert got == message, f"{len(message)}-byte message came back as {len(got)} different bytes"


# --------------------------------------------------------------------------
# Compression
# --------------------------------------------------------------------------


@pytest.mark.parametrize("codec", ["s2", "zstd"])
def test_compression_round_trip_is_negotiated_and_compresses(codec, connect, tap_for):
    small, big = compressible(1024), compressible(64 * 1024)
    random_small, random_big = os.urandom(1024), os.urandom(64 * 1024)
    messages = [small, big, random_small, random_big]
    with netsys.Server("srv", bind_address="127.0.0.1", compression=codec, on_message=echo) as server:
        tap = tap_for(server.port)
        # The client prefers the other codec: the server's only one must win.
        other = "zstd" if codec == "s2" else "s2"
        client = connect(tap.port, compression=[other, codec])
        round_trip(client, messages)
        assert tap.welcome_codec() == CODEC_IDS[codec]
        for direction in ("up", "down"):
            frames = wait_until(lambda: len(tap.frames(direction, DATA)) == 4 and tap.frames(direction, DATA),
                                what=f"four DATA frames {direction}")
            # Compressible messages travel compressed and much smaller; random
            # ones do not shrink, so they go as they are with the flag clear.
            for frame, message in zip(frames[:2], (small, big)):
                assert frame.flags & COMPRESSED, f"{len(message)}-byte compressible message not compressed"
                assert len(frame.payload) < len(message) // 4
            for frame, message in zip(frames[2:], (random_small, random_big)):
                assert not frame.flags & COMPRESSED
                assert frame.payload == message
        # Statistics count the messages' own bytes, before compression.
        assert client.statistics().bytes_sent == sum(map(len, messages))


@pytest.mark.parametrize(
    "server_codec, client_codec",
    [("s2", None), (None, "s2"), ("zstd", None), (None, ["zstd", "s2"]), ("zstd", "s2")],
)
def test_mixed_peers_talk_uncompressed(server_codec, client_codec, connect, tap_for):
    messages = [compressible(1024), compressible(64 * 1024), os.urandom(1024)]
    with netsys.Server("srv", bind_address="127.0.0.1", compression=server_codec, on_message=echo) as server:
        tap = tap_for(server.port)
        client = connect(tap.port, compression=client_codec)
        round_trip(client, messages)
        assert tap.welcome_codec() == 0
        frames = tap.frames("up", DATA) + tap.frames("down", DATA)
        assert len(frames) == 6 and not any(f.flags & COMPRESSED for f in frames)


def test_min_compress_size_leaves_shorter_messages_uncompressed(connect, tap_for):
    small, big = compressible(1024), compressible(8192)
    with netsys.Server("srv", bind_address="127.0.0.1", compression="s2", min_compress_size=4096,
                       on_message=echo) as server:
        tap = tap_for(server.port)
        client = connect(tap.port, compression="s2", min_compress_size=4096)
        round_trip(client, [small, big])
        for direction in ("up", "down"):
            frames = wait_until(lambda: len(tap.frames(direction, DATA)) == 2 and tap.frames(direction, DATA),
                                what=f"two DATA frames {direction}")
            assert not frames[0].flags & COMPRESSED and frames[0].payload == small
            assert frames[1].flags & COMPRESSED


def test_bad_compression_settings_are_refused():
    with pytest.raises(netsys.InvalidArgumentError, match="lz4"):
        netsys.Client("cli", compression="lz4")
    with pytest.raises(netsys.InvalidArgumentError, match="str"):
        netsys.Server("srv", compression=["s2", 2])
    with pytest.raises(netsys.InvalidArgumentError, match="min_compress_size"):
        netsys.Server("srv", min_compress_size="big")


# --------------------------------------------------------------------------
# Transform plugins
# --------------------------------------------------------------------------


class XorChecksum:
    """A toy cipher with an integrity check: XOR every byte with a key, then
    append the CRC-32 of the plain message and 100 bytes of padding (more
    than the library's first buffer guess, so the size-query retry runs on
    every message). Counts its calls."""

    def __init__(self, key: int) -> None:
        self.key = key
        self._table = bytes(b ^ key for b in range(256))
        self.encodes = 0
        self.decodes = 0
        self._lock = threading.Lock()

    def encode(self, data: bytes) -> bytes:
        with self._lock:
            self.encodes += 1
        return data.translate(self._table) + struct.pack(">I", zlib.crc32(data)) + b"\xee" * 100

    def decode(self, wire: bytes) -> bytearray:
        with self._lock:
            self.decodes += 1
        if len(wire) < 104:
            raise ValueError(f"{len(wire)}-byte frame is shorter than the trailer")
        plain = bytearray(wire[:-104].translate(self._table))  # any bytes-like result is accepted
        if zlib.crc32(plain) != struct.unpack(">I", wire[-104:-100])[0]:
            raise ValueError("checksum mismatch")
        return plain


@pytest.fixture
def registered():
    """register(name, encode, decode); everything is unregistered afterwards."""
    names: List[str] = []

    def register(name: str, encode, decode) -> None:
        netsys.register_transform(name, encode, decode)
        names.append(name)

    yield register
    for name in set(names):
        try:
            netsys.unregister_transform(name)
        except netsys.NotFoundError:
            pass


def test_python_transform_round_trips_and_changes_the_wire(registered, connect, tap_for):
    cipher = XorChecksum(0x5A)
    registered("py-xor-crc", cipher.encode, cipher.decode)
    pattern = bytes(i * 7 & 0xFF for i in range(200_000))
    messages = [pattern[:n] for n in (0, 1, 100, 5000, 200_000)] + [os.urandom(1024)]
    with netsys.Server("srv", bind_address="127.0.0.1", transforms=["py-xor-crc"], on_message=echo) as server:
        tap = tap_for(server.port)
        client = connect(tap.port, transforms="py-xor-crc")
        round_trip(client, messages)
        for direction in ("up", "down"):
            frames = wait_until(lambda: len(tap.frames(direction, DATA)) == len(messages)
                                and tap.frames(direction, DATA), what=f"DATA frames {direction}")
            # The bytes on the wire are exactly what the Python encode made.
            assert [f.payload for f in frames] == [XorChecksum(0x5A).encode(m) for m in messages]
        # Client and server each encoded and decoded every message once:
        # the size-query retry reused the first result instead of calling again.
        assert cipher.encodes == 2 * len(messages)
        assert cipher.decodes == 2 * len(messages)
        # A client without transforms may still use the server.
        plain = connect(server.port, "plain")
        round_trip(plain, [b"untransformed"])


def test_transforms_and_compression_compose(registered, connect, tap_for):
    registered("py-reverse", lambda data: data[::-1], lambda data: data[::-1])
    message = compressible(64 * 1024)
    with netsys.Server("srv", bind_address="127.0.0.1", transforms=["py-reverse"], compression="zstd",
                       on_message=echo) as server:
        tap = tap_for(server.port)
        client = connect(tap.port, transforms=["py-reverse"], compression="zstd")
        round_trip(client, [message, b"short"])
        frames = wait_until(lambda: len(tap.frames("up", DATA)) == 2 and tap.frames("up", DATA),
                            what="two DATA frames up")
        assert frames[0].flags & COMPRESSED and len(frames[0].payload) < len(message) // 4
        # Short messages skip compression, not the transform (applied first).
        assert not frames[1].flags & COMPRESSED and frames[1].payload == b"trohs"


def test_transform_mismatch_makes_connect_raise_naming_it(registered):
    registered("py-only-client", bytes, bytes)
    registered("py-server-only", bytes, bytes)
    for server_transforms in (None, ["py-server-only"]):
        with netsys.Server("srv", bind_address="127.0.0.1", transforms=server_transforms) as server:
            with netsys.Client("cli", transforms=["py-only-client"]) as client:
                with pytest.raises(netsys.ConnectionRejectedError, match="transform mismatch: py-only-client"):
                    client.connect("127.0.0.1", server.port, timeout=WAIT)
                assert not client.is_connected


def test_naming_an_unregistered_transform_is_refused():
    with pytest.raises(netsys.InvalidArgumentError, match="py-never-registered"):
        netsys.Client("cli", transforms=["py-never-registered"])


@pytest.mark.parametrize("failure", ["raise", "wrong type"])
def test_failing_decode_closes_only_that_connection(failure, registered, connect, caplog):
    def decode(wire: bytes):
        if wire.startswith(b"poison"):
            if failure == "raise":
                raise RuntimeError("cannot decode poison")
            return "not bytes"
        return wire

    registered("py-picky", lambda data: data, decode)
    server_errors, server_gone, client_gone = Recorder(), Recorder(), Recorder()
    with caplog.at_level(logging.ERROR, logger="netsys"):
        with netsys.Server("srv", bind_address="127.0.0.1", transforms=["py-picky"], on_message=echo,
                           on_error=server_errors, on_disconnect=server_gone) as server:
            victim = connect(server.port, "victim", transforms=["py-picky"], on_disconnect=client_gone)
            bystander = connect(server.port, "bystander", transforms=["py-picky"])
            round_trip(victim, [b"fine"])
            victim.send(b"poison pill")
            session, exc = server_errors.wait(1)[0]
            assert session.client_id == "victim"
            assert isinstance(exc, netsys.TransformError) and "py-picky" in str(exc)
            gone_session, reason = server_gone.wait(1)[0]
            assert gone_session.client_id == "victim" and "transform" in reason
            assert "transform" in client_gone.wait(1)[0]
            wait_until(lambda: not victim.is_connected, what="the victim's disconnect")
            # Only that connection: the other client and the server carry on.
            round_trip(bystander, [b"still here", compressible(5000)])
            assert server.connection_count == 1 and server.is_running
    expected = "RuntimeError: cannot decode poison" if failure == "raise" else "TypeError"
    logged = [r.getMessage() for r in caplog.records if r.name == "netsys"]
    assert any("py-picky" in m and "decode" in m and expected in m for m in logged), logged


def test_reregistering_replaces_for_new_connections_only(registered, connect, tap_for):
    def versioned(tag: bytes):
        return (lambda data: data + tag), (lambda wire: wire[:-1] if wire.endswith(tag) else wire + b"?")

    registered("py-versioned", *versioned(b"1"))
    with netsys.Server("srv", bind_address="127.0.0.1", transforms=["py-versioned"], on_message=echo) as server:
        tap = tap_for(server.port)
        first = connect(tap.port, "first", transforms=["py-versioned"])
        round_trip(first, [b"a"])
        registered("py-versioned", *versioned(b"2"))
        second = connect(tap.port, "second", transforms=["py-versioned"])
        round_trip(second, [b"b"])
        round_trip(first, [b"c"])  # the first connection keeps the functions it negotiated
        netsys.unregister_transform("py-versioned")
        round_trip(first, [b"d"])  # and keeps them after unregistering
        round_trip(second, [b"e"])
        payloads = sorted(f.payload for f in tap.frames("up", DATA))
        assert payloads == [b"a1", b"b2", b"c1", b"d1", b"e2"]
        with pytest.raises(netsys.NotFoundError, match="py-versioned"):
            netsys.unregister_transform("py-versioned")
        with pytest.raises(netsys.InvalidArgumentError, match="py-versioned"):
            connect(server.port, "third", transforms=["py-versioned"])


def test_register_rejects_bad_arguments():
    with pytest.raises(netsys.InvalidArgumentError, match="1..255"):
        netsys.register_transform("", bytes, bytes)
    with pytest.raises(netsys.InvalidArgumentError, match="1..255"):
        netsys.register_transform("x" * 256, bytes, bytes)
    with pytest.raises(netsys.InvalidArgumentError, match="NUL"):
        netsys.register_transform("a\0b", bytes, bytes)
    with pytest.raises(netsys.InvalidArgumentError, match="str"):
        netsys.register_transform(b"name", bytes, bytes)  # type: ignore[arg-type]
    with pytest.raises(netsys.InvalidArgumentError, match="decode must be callable"):
        netsys.register_transform("py-half", bytes, None)  # type: ignore[arg-type]
    with pytest.raises(netsys.NotFoundError):
        netsys.unregister_transform("py-half")


def test_asyncio_client_and_server_with_transform_and_compression(registered, tap_for):
    cipher = XorChecksum(0x33)
    registered("py-aio-xor", cipher.encode, cipher.decode)
    messages = [compressible(64 * 1024), os.urandom(1024), b""]

    async def main() -> Tuple[int, List[Frame]]:
        async def on_message(session, data):  # a coroutine handler, run on the loop
            session.send(data)

        async with netsys.aio.Server("srv", bind_address="127.0.0.1", compression="s2",
                                     transforms=["py-aio-xor"], on_message=on_message) as server:
            tap = tap_for(server.port)
            async with netsys.aio.Client("cli", compression="s2", transforms=["py-aio-xor"]) as client:
                await client.connect("127.0.0.1", tap.port, timeout=WAIT)
                for message in messages:
                    await client.send(message)
                    assert await asyncio.wait_for(client.recv(), WAIT) == message
            return tap.welcome_codec(), tap.frames("up", DATA)

    codec, frames = asyncio.run(asyncio.wait_for(main(), 60))
    assert codec == CODEC_IDS["s2"]
    assert len(frames) == 3 and frames[0].flags & COMPRESSED
    # The empty message is encoded to 104 bytes, under min_compress_size: the
    # wire carries exactly the transform's output.
    assert not frames[2].flags & COMPRESSED and frames[2].payload == XorChecksum(0x33).encode(b"")
    assert cipher.encodes == cipher.decodes == 6


def test_forked_child_gets_forked_process_error_from_transform_calls():
    code = """
        import os, sys, netsys
        netsys.register_transform("py-parent", bytes, bytes)
        server = netsys.Server("parent", bind_address="127.0.0.1", transforms=["py-parent"]).start()
        pid = os.fork()
        if pid == 0:
            code = 0
            for use in (lambda: netsys.register_transform("py-child", bytes, bytes),
                        lambda: netsys.unregister_transform("py-parent")):
                try:
                    use()
                    code = 3
                except netsys.ForkedProcessError:
                    pass
                except BaseException:
                    code = 5
            server.close()
            sys.exit(code)
        _, status = os.waitpid(pid, 0)
        netsys.unregister_transform("py-parent")  # the parent's registry is intact
        server.close()
        print("CHILD", os.WEXITSTATUS(status) if os.WIFEXITED(status) else -os.WTERMSIG(status))  # 3.8 has no waitstatus_to_exitcode
        """
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=dict(os.environ),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "CHILD 0" in result.stdout, result.stdout + result.stderr
