"""Shared fixtures of the Python binding's tests.

The tests run against the library named by NETSYS_LIBRARY (set by
`make test-python` to build/lib/libnetsys.so) and the package in
bindings/python (on PYTHONPATH, or installed). Every network test uses
127.0.0.1 and an ephemeral port; every wait is bounded.
"""

from __future__ import annotations

import gc
import os
import pathlib
import threading
import time
from typing import Any, Callable, List

import pytest

import netsys

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("NETSYS_BUILD", ROOT / "build"))

#: Upper bound of every wait in the tests, seconds.
WAIT = 10.0


def wait_until(predicate: Callable[[], Any], timeout: float = WAIT, what: str = "condition") -> Any:
    """Poll ``predicate`` until it is truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.005)


class Recorder:
    """Thread-safe list of what handlers saw."""

    def __init__(self) -> None:
        self.items: List[Any] = []
        self._lock = threading.Lock()

    def __call__(self, *args: Any) -> None:
        with self._lock:
            self.items.append(args if len(args) != 1 else args[0])

    def __len__(self) -> int:
        with self._lock:
            return len(self.items)

    def wait(self, count: int, timeout: float = WAIT) -> List[Any]:
        wait_until(lambda: len(self) >= count, timeout, f"{count} handler calls (have {len(self)})")
        with self._lock:
            return list(self.items)


@pytest.fixture
def recorder() -> Callable[[], Recorder]:
    return Recorder


@pytest.fixture
def echo_server():
    """A started echo server on 127.0.0.1."""
    server = netsys.Server("echo", port=0, bind_address="127.0.0.1")

    @server.on_message
    def echo(session: netsys.Session, data: bytes) -> None:
        session.send(data)

    server.start()
    yield server
    server.close()


@pytest.fixture
def connect(request):
    """Factory of connected clients that are closed after the test."""
    clients: List[netsys.Client] = []

    def make(port: int, client_id: str = "cli", **kwargs: Any) -> netsys.Client:
        client = netsys.Client(client_id, **kwargs)
        clients.append(client)
        client.connect("127.0.0.1", port, timeout=5.0)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture(autouse=True)
def no_leaked_handles():
    """Every test must close what it creates (checked through the library's
    live handle counters)."""
    before = netsys.live_handles()
    yield
    gc.collect()
    wait_until(lambda: netsys.live_handles() <= before, 5.0, f"handles back to {before}, have "
               f"{netsys.live_handles()}")
