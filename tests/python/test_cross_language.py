"""Python against the other languages' example programs: a Python client
against the C++ echo server, a Python server against the Go echo client, and
the Python example programs against the Go ones.

The C++ server is built by `make` (build/bin/cpp_echo_server); when it is
missing the test fails (it never skips), because `make test` builds
everything first.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
from typing import Iterator, List

import pytest

import netsys
from conftest import BUILD, ROOT, WAIT, wait_until

GO = os.environ.get("GO", "go")


class Program:
    """A child process that prints "listening on PORT" first."""

    def __init__(self, argv: List[str]) -> None:
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, cwd=ROOT, env=child_env())
        line = self.proc.stdout.readline()  # bounded: every server prints it at once or exits
        if not line.startswith("listening on "):
            self.proc.kill()
            out, err = self.proc.communicate(timeout=WAIT)
            pytest.fail(f"{argv[0]} did not print 'listening on PORT': {line!r} {out!r} {err!r}")
        self.port = int(line.split()[2])

    def close(self) -> str:
        """End it the contract's way (stdin EOF) and return its stderr."""
        try:
            _, err = self.proc.communicate(timeout=WAIT)  # closes stdin first
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate(timeout=WAIT)
            pytest.fail(f"server did not exit on stdin EOF; stderr: {err}")
        return err


def child_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "bindings/python"), env.get("PYTHONPATH")]))
    return env


@pytest.fixture(scope="module")
def go_programs(tmp_path_factory) -> pathlib.Path:
    """The Go example echo client and server, built once."""
    if shutil.which(GO) is None:
        pytest.fail(f"the Go tool {GO!r} is needed for the cross-language tests")
    out = tmp_path_factory.mktemp("gobin")
    subprocess.run([GO, "build", "-o", str(out) + "/", "./examples/go/echo-client", "./examples/go/echo-server"],
                   cwd=ROOT, check=True, timeout=300)
    return out


@pytest.fixture
def cpp_echo_server() -> Iterator[Program]:
    binary = BUILD / "bin" / "cpp_echo_server"
    if not binary.exists():
        pytest.fail(f"{binary} was not built (it comes from the C++ examples; run `make` first)")
    program = Program([str(binary), "--port", "0"])
    yield program
    program.close()


def test_python_client_against_cpp_echo_server(cpp_echo_server):
    sizes = [0, 1, 64, 1000, 65536, 300_000]
    with netsys.Client("py-to-cpp") as client:
        client.connect("127.0.0.1", cpp_echo_server.port, timeout=5.0)
        for size in sizes:
            client.send(bytes(range(256)) * (size // 256) + b"z" * (size % 256))
        for size in sizes:
            echo = client.recv(WAIT)
            assert len(echo) == size and echo == bytes(range(256)) * (size // 256) + b"z" * (size % 256)
        client.send("unicode ✓")
        assert client.recv(WAIT) == "unicode ✓".encode()


def test_go_client_against_python_server(go_programs, echo_server):
    result = subprocess.run([str(go_programs / "echo-client"), "--port", str(echo_server.port), "--count", "300",
                             "--size", "200"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("go client: 300/300 echoed"), result.stdout
    wait_until(lambda: echo_server.statistics().messages_received == 300, what="the server's counters")
    assert echo_server.statistics().bytes_received == 300 * 200


def test_python_example_client_against_go_server(go_programs):
    server = Program([str(go_programs / "echo-server"), "--port", "0"])
    try:
        result = subprocess.run([sys.executable, "examples/python/echo_client.py", "--port", str(server.port),
                                 "--count", "500", "--size", "64"], cwd=ROOT, env=child_env(),
                                capture_output=True, text=True, timeout=60)
    finally:
        server.close()
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("python client: 500/500 echoed, "), result.stdout
    assert " msg/s, p50 " in result.stdout and result.stdout.rstrip().endswith(" us")


def test_python_example_server_with_the_go_client(go_programs):
    server = Program([sys.executable, "examples/python/echo_server.py", "--port", "0"])
    try:
        result = subprocess.run([str(go_programs / "echo-client"), "--port", str(server.port), "--count", "200"],
                                capture_output=True, text=True, timeout=60)
    finally:
        err = server.close()
    assert result.returncode == 0, result.stderr + err
    assert result.stdout.startswith("go client: 200/200 echoed"), result.stdout
    assert server.proc.returncode == 0, err


def test_python_example_client_fails_cleanly_without_a_server():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = subprocess.run([sys.executable, "examples/python/echo_client.py", "--port", str(port)], cwd=ROOT,
                            env=child_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "python client:" in result.stderr and "ConnectError" in result.stderr


def test_python_chat_client_against_cpp_chat_server():
    binary = BUILD / "bin" / "cpp_chat_server"
    if not binary.exists():
        pytest.fail(f"{binary} was not built (it comes from the C++ examples; run `make` first)")
    server = Program([str(binary), "--port", "0"])
    try:
        result = subprocess.run([sys.executable, "examples/python/chat_client.py", "--port", str(server.port),
                                 "--name", "py"], input="/join snakes\n/to snakes hiss\nhello all\n", cwd=ROOT,
                                env=child_env(), capture_output=True, text=True, timeout=60)
    finally:
        server.close()
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "[snakes] py: hiss" in lines and "py: hello all" in lines, result.stdout
