"""Blocking sockets with deadlines: the peer's side of one connection.

Every read has a deadline; nothing here can hang a test. The reader
validates what netsys sends against the document (R-1.2, R-1.3) so that a
malformed frame from netsys fails the test that received it.
"""

from __future__ import annotations

import errno
import socket
import time

from . import wire
from .wire import Frame


class Timeout(AssertionError):
    pass


class PeerClosed(AssertionError):
    """EOF (or a reset) where a frame was expected."""

    def __init__(self, msg: str, reset: bool = False):
        super().__init__(msg)
        self.reset = reset


class Conn:
    def __init__(self, sock: socket.socket, name: str = "peer", max_message: int = 1 << 20,
                 codec: bool = False, transforms: int = 0):
        self.sock = sock
        self.name = name
        self.buf = b""
        # What the peer accepts from netsys: its own announced limits.
        self.max_message = max_message
        self.codec = codec
        self.transforms = transforms
        self.open = False
        # Whether this connection agreed acknowledged delivery: only
        # then may netsys send ACK.
        self.ack = False
        self.log: list[Frame] = []

    # -- setup ---------------------------------------------------------------

    @classmethod
    def connect(cls, port: int, host: str = "127.0.0.1", source: str | None = None,
                rcvbuf: int | None = None, timeout: float = 3.0, **kw) -> "Conn":
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if source:
            s.bind((source, 0))
        s.settimeout(timeout)
        s.connect((host, port))
        return cls(s, **kw)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- sending -------------------------------------------------------------

    def send(self, b: bytes, timeout: float = 5.0):
        """Writes all of b (bounded: a peer that stops reading fails it)."""
        self.sock.settimeout(timeout)
        self.sock.sendall(b)

    def try_send(self, b: bytes) -> bool:
        """Writes b, reporting False instead of raising when netsys has
        already closed the connection."""
        try:
            self.send(b)
            return True
        except (BrokenPipeError, ConnectionResetError, socket.timeout, OSError):
            return False

    def send_frame(self, ftype: int, payload: bytes = b"", flags: int = 0):
        self.send(wire.frame(ftype, payload, flags))

    def send_data(self, payload: bytes, flags: int = 0):
        self.send(wire.data(payload, flags))

    def shutdown_write(self):
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    # -- receiving -----------------------------------------------------------

    def _fill(self, n: int, deadline: float, what: str):
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout(f"{self.name}: no {what} within the deadline "
                              f"(have {len(self.buf)} of {n} bytes: {wire.hexdump(self.buf)})")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(1 << 20)
            except socket.timeout:
                continue
            except ConnectionResetError as e:
                raise PeerClosed(f"{self.name}: connection reset while waiting for {what} "
                                 f"(have {len(self.buf)} bytes: {wire.hexdump(self.buf)})", reset=True) from e
            if not chunk:
                raise PeerClosed(f"{self.name}: EOF while waiting for {what} "
                                 f"(have {len(self.buf)} bytes: {wire.hexdump(self.buf)})")
            self.buf += chunk

    def _limit(self, ftype: int) -> int:
        if ftype in (wire.PING, wire.PONG):
            return wire.PING_LIMIT
        if ftype == wire.ACK:
            return wire.ACK_PAYLOAD
        if ftype == wire.DATA and self.open:
            return min(self.max_message, wire.MAX_MESSAGE_CAP) + (
                wire.TRANSFORM_ALLOWANCE if self.transforms else 0)
        return wire.CONTROL_LIMIT

    def read_frame(self, timeout: float = 3.0, check: bool = True) -> Frame:
        """The next frame, within timeout. With check, a header netsys may
        not send fails the test (R-1.2, R-1.3)."""
        deadline = time.monotonic() + timeout
        self._fill(wire.HEADER, deadline, "frame header")
        h = self.buf[:wire.HEADER]
        length = int.from_bytes(h[:4], "big")
        ftype, flags = h[4], h[5]
        if check:
            assert ftype in wire.VERSION_1_TYPES or (ftype == wire.ACK and self.ack and self.open), (
                f"{self.name}: netsys sent frame type 0x{ftype:02x}, which this connection did not agree "
                f"(R-1.2, R-4.6, R-4.14) [{wire.hexdump(self.buf)}]")
            if ftype == wire.ACK:
                assert length == wire.ACK_PAYLOAD and flags == 0, (
                    f"{self.name}: netsys sent an ACK of {length} bytes with flags 0x{flags:02x}; "
                    f"R-4.14 says exactly 8 bytes, no flags")
            ok_flags = flags == 0 or (flags == wire.COMPRESSED and ftype == wire.DATA and self.codec)
            assert ok_flags, f"{self.name}: netsys sent invalid flags 0x{flags:02x} on {wire.type_name(ftype)} (R-1.2)"
            assert length <= self._limit(ftype), (f"{self.name}: netsys sent a {wire.type_name(ftype)} of "
                                                  f"{length} bytes, over the limit {self._limit(ftype)} (R-1.3, R-5.1)")
        self._fill(wire.HEADER + length, deadline, f"{wire.type_name(ftype)} payload of {length} bytes")
        f = Frame(ftype, flags, self.buf[wire.HEADER:wire.HEADER + length], h)
        self.buf = self.buf[wire.HEADER + length:]
        self.log.append(f)
        return f

    def read_until(self, pred, timeout: float = 3.0, what: str = "frame") -> tuple[Frame, list[Frame]]:
        """Reads until pred(frame); returns it and the frames before it."""
        deadline = time.monotonic() + timeout
        seen: list[Frame] = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout(f"{self.name}: no {what} within {timeout}s; got "
                              + ", ".join(f.describe() for f in seen[-5:]))
            try:
                f = self.read_frame(left)
            except (Timeout, PeerClosed) as e:
                if not seen:
                    raise
                raise type(e)(f"{e}; before that: " + ", ".join(f.describe() for f in seen[-5:])) from None
            if pred(f):
                return f, seen
            seen.append(f)

    def expect_eof(self, timeout: float = 3.0) -> list[Frame]:
        """Reads frames until EOF or reset; returns them. Fails if the
        connection stays open past timeout."""
        deadline = time.monotonic() + timeout
        frames: list[Frame] = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout(f"{self.name}: netsys did not close the connection within {timeout}s; "
                              f"frames meanwhile: " + ", ".join(f.describe() for f in frames[-5:]))
            try:
                frames.append(self.read_frame(left, check=False))
            except PeerClosed:
                return frames

    def wait_closed(self, timeout: float, probe: bytes | None = None) -> float:
        """Seconds until netsys has closed its socket (not just sent FIN):
        probes are written every 20 ms, whatever arrives is discarded, and
        the first write that fails (netsys answered a probe with RST) ends
        the wait. Fails if the socket is still open after timeout."""
        probe = probe if probe is not None else wire.frame(wire.PING, b"probe")
        start = time.monotonic()
        self.sock.setblocking(False)
        try:
            while True:
                elapsed = time.monotonic() - start
                if elapsed > timeout:
                    raise Timeout(f"{self.name}: netsys still had the connection open after {timeout}s")
                try:
                    while self.sock.recv(1 << 16):
                        pass
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    return time.monotonic() - start
                try:
                    self.sock.send(probe)
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    return time.monotonic() - start
                time.sleep(0.02)
        finally:
            try:
                self.sock.setblocking(True)
            except OSError:
                pass

    def closed_within(self, timeout: float) -> float:
        """Waits for EOF, discarding data; returns the seconds it took."""
        start = time.monotonic()
        self.expect_eof(timeout)
        return time.monotonic() - start

    def quiet_for(self, seconds: float) -> list[Frame]:
        """Reads for `seconds`; returns what arrived (EOF ends early)."""
        deadline = time.monotonic() + seconds
        frames = []
        while time.monotonic() < deadline:
            try:
                frames.append(self.read_frame(max(0.001, deadline - time.monotonic())))
            except Timeout:
                break
            except PeerClosed:
                break
        return frames

    # -- the handshake (section 3) --------------------------------------------

    def handshake(self, timeout: float = 3.0, **hello_fields) -> wire.Welcome:
        """Sends HELLO and reads the WELCOME (failing on anything else)."""
        self.max_message = hello_fields.get("max_message", 1 << 20)
        self.send(wire.hello(**hello_fields))
        f = self.read_frame(timeout)
        assert f.type == wire.WELCOME, f"{self.name}: expected WELCOME, got {f.describe()}"
        w = wire.parse_welcome(f.payload)
        self.open = True
        self.codec = w.codec != 0
        self.transforms = len(w.transforms)
        self.ack = w.delivered is not None and wire.first_tlv(
            wire.parse_hello(wire.hello_payload(**hello_fields)).extensions, wire.TLV_ACK) is not None
        return w


class Listener:
    """The peer as a server, for the netsys client drivers."""

    def __init__(self, rcvbuf: int | None = None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]

    def accept(self, timeout: float = 5.0, **kw) -> Conn:
        self.sock.settimeout(timeout)
        try:
            s, _ = self.sock.accept()
        except socket.timeout as e:
            raise Timeout(f"the netsys client did not connect within {timeout}s") from e
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return Conn(s, name="peer-server", **kw)

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def is_reset(e: OSError) -> bool:
    return getattr(e, "errno", None) in (errno.ECONNRESET, errno.EPIPE)
