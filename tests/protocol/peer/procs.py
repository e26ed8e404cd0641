"""The netsys programs under test: servers (servers/goserver, servers/cserver)
and client drivers (drivers/goclient, drivers/cclient), built by
`make protocol-programs` into $PROTOCOL_BIN (default build/protocol).

Each prints JSON lines on stdout; a reader thread collects them as events.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(os.environ.get("PROTOCOL_BIN", ROOT / "build" / "protocol"))

SERVERS = {"go": "goserver", "c": "cserver"}
CLIENTS = {"go": "goclient", "c": "cclient"}


# The options of acknowledged delivery (docs/protocol.md section 4.2), as the
# Go programs (config field names) and the C programs (option names) report
# them when the library under test lacks them.
ACK_OPTIONS = {"Acknowledged", "AckBufferBytes", "NETSYS_OPT_ACKNOWLEDGED", "NETSYS_OPT_ACK_BUFFER_BYTES"}


def fail_unsupported(label: str, missing: list[str]):
    """Fails the test (a failure, not a skip) because the program lacks
    options it needs, naming the missing feature."""
    names = ", ".join(missing)
    if ACK_OPTIONS & set(missing):
        pytest.fail(f"acknowledged delivery not supported by this build: {label} lacks {names} "
                    "(docs/protocol.md section 4.2)", pytrace=False)
    pytest.fail(f"{label} lacks the option(s) {names} that this test needs "
                "(the implementation does not have them yet)", pytrace=False)


def binary(name: str) -> str:
    p = BIN / name
    if not p.exists():
        pytest.fail(f"{p} is missing: build the suite's programs with `make protocol-programs`", pytrace=False)
    return str(p)


def flags_to_argv(flags: dict) -> list[str]:
    argv = []
    for k, v in sorted(flags.items()):
        name = "-" + k.replace("_", "-")
        if v is True:
            argv.append(name)
        elif v is False or v is None:
            continue
        else:
            argv += [name, str(v)]
    return argv


class Program:
    """A running netsys program and the events it printed."""

    def __init__(self, argv: list[str], label: str):
        self.label = label
        self.argv = argv
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.events: list[dict] = []
        self.cond = threading.Condition()
        self.stderr = b""
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                ev = {"ev": "garbage", "line": line.decode("utf-8", "replace")}
            ev["t"] = time.monotonic()
            with self.cond:
                self.events.append(ev)
                self.cond.notify_all()
        with self.cond:
            self.events.append({"ev": "eof", "t": time.monotonic()})
            self.cond.notify_all()

    def _read_err(self):
        data = self.proc.stderr.read()
        self.stderr = data or b""

    def wait_event(self, pred, timeout: float = 3.0, what: str = "event"):
        """The first event (in order) matching pred, waiting up to timeout."""
        if isinstance(pred, str):
            name = pred
            pred = lambda e: e["ev"] == name  # noqa: E731
            what = name
        deadline = time.monotonic() + timeout
        with self.cond:
            i = 0
            while True:
                while i < len(self.events):
                    if pred(self.events[i]):
                        return self.events[i]
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{self.label}: no {what} within {timeout}s; events: "
                                         f"{self.summary()}")
                self.cond.wait(left)

    def find(self, pred) -> list[dict]:
        if isinstance(pred, str):
            name = pred
            pred = lambda e: e["ev"] == name  # noqa: E731
        with self.cond:
            return [e for e in self.events if pred(e)]

    def summary(self, n: int = 12) -> str:
        with self.cond:
            evs = [{k: v for k, v in e.items() if k != "t" and not k.endswith("_hex")} for e in self.events[-n:]]
        return json.dumps(evs)[:3000]

    def unsupported(self) -> list[str]:
        return [e["option"] for e in self.find("unsupported")]

    def close_stdin(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass

    def wait_exit(self, timeout: float = 10.0) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise AssertionError(f"{self.label} did not exit within {timeout}s; events: {self.summary()}")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


class Server(Program):
    def __init__(self, kind: str, flags: dict):
        self.kind = kind
        self.flags = flags
        super().__init__([binary(SERVERS[kind])] + flags_to_argv(flags), f"netsys {kind} server")
        ev = self.wait_event(lambda e: e["ev"] in ("listening", "fatal", "eof"), 10.0, "listening line")
        if ev["ev"] != "listening":
            self.kill()
            pytest.fail(f"{self.label} did not start with {flags}: {self.summary()} "
                        f"{self.stderr.decode('utf-8', 'replace')[-1000:]}", pytrace=False)
        self.port = ev["port"]
        missing = self.unsupported()
        if missing:
            self.kill()
            fail_unsupported(self.label, missing)

    def stop(self, timeout: float = 15.0):
        self.close_stdin()
        self.wait_exit(timeout)


class ServerPool:
    """Servers shared by the tests that need the same configuration."""

    def __init__(self):
        self.servers: dict[tuple, Server] = {}

    def get(self, kind: str, **flags) -> Server:
        key = (kind, tuple(sorted(flags.items())))
        s = self.servers.get(key)
        if s is None or s.proc.poll() is not None:
            s = Server(kind, flags)
            self.servers[key] = s
        return s

    def close(self):
        for s in self.servers.values():
            s.close_stdin()
        for s in self.servers.values():
            try:
                s.wait_exit(10)
            except AssertionError:
                pass


def check_client_options(prog: Program):
    """Fails the test if the client driver reported options it lacks (it
    then exits without connecting)."""
    missing = prog.unsupported()
    if missing:
        prog.kill()
        fail_unsupported(prog.label, missing)


def run_client(kind: str, port: int, **flags) -> Program:
    flags = dict(flags)
    flags["port"] = port
    return Program([binary(CLIENTS[kind])] + flags_to_argv(flags), f"netsys {kind} client")
