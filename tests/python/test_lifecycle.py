"""Object lifetime, options and the examples."""

from __future__ import annotations

import datetime
import gc
import subprocess
import sys
import threading

import pytest

import netsys
from conftest import ROOT, WAIT, wait_until
from test_cross_language import child_env


def test_dropped_objects_are_collected_and_released():
    before = netsys.live_handles()
    server = netsys.Server("gc", port=0, bind_address="127.0.0.1", on_message=lambda s, d: s.send(d)).start()
    client = netsys.Client("gc")
    client.connect("127.0.0.1", server.port)
    assert netsys.live_handles() == (before[0] + 1, before[1] + 1)
    threads = threading.active_count()
    del server, client
    gc.collect()
    wait_until(lambda: netsys.live_handles() == before, what="handles released by garbage collection")
    wait_until(lambda: threading.active_count() <= threads - 2, what="dispatcher threads ended")


def test_options_with_units_and_codecs():
    with netsys.Server("opts", port=0, bind_address="127.0.0.1", idle_timeout=datetime.timedelta(seconds=30),
                       handshake_timeout=2.5, compression=["s2", "zstd"], min_compress_size=128,
                       send_queue_limit=1 << 20, on_message=lambda s, d: s.send(d)) as server:
        with netsys.Client("opts", compression="zstd", connect_timeout=5, shutdown_timeout=1.0,
                           reconnect_queue_limit=10) as client:
            client.connect("127.0.0.1", server.port)
            big = b"compressible " * 1000
            client.send(big)
            assert client.recv(WAIT) == big
    with pytest.raises(netsys.InvalidArgumentError, match="must not be negative"):
        netsys.Server("x", idle_timeout=-1)
    with pytest.raises(netsys.InvalidArgumentError, match="True or False"):
        netsys.Client("x", auto_reconnect=1)
    with pytest.raises(netsys.NetsysError):
        netsys.Client("x", compression="lz4")
    # The reconnect queue is bounded in bytes and in time as well.
    netsys.Client("x", reconnect_queue_bytes=4096, reconnect_queue_timeout=datetime.timedelta(seconds=5))
    netsys.Client("x", reconnect_queue_timeout=0)  # off, as for the other timeouts
    with pytest.raises(netsys.InvalidArgumentError, match="must not be negative"):
        netsys.Client("x", reconnect_queue_bytes=-1)


def _idle_option(server):
    import ctypes

    from netsys import _ffi

    value = ctypes.c_int64(99)
    _ffi.check(_ffi.native().netsys_server_get_int(server._handle, _ffi.OPT_IDLE_TIMEOUT_MS, ctypes.byref(value)), "get")
    return value.value


def test_idle_timeout_is_on_by_default_and_zero_turns_it_off():
    # None (the default) leaves the library's 30 s; 0 is "off" (-1 in C).
    with netsys.Server("idle-default", bind_address="127.0.0.1") as server:
        assert _idle_option(server) == 0
    with netsys.Server("idle-off", bind_address="127.0.0.1", idle_timeout=0) as server:
        assert _idle_option(server) == -1
    with netsys.Server("idle-set", bind_address="127.0.0.1", idle_timeout=1.5) as server:
        assert _idle_option(server) == 1500


def test_options_cannot_change_while_running(echo_server):
    # connect(timeout=...) sets an option: on a running client that is an error.
    with netsys.Client("cli") as client:
        client.connect("127.0.0.1", echo_server.port)
        with pytest.raises(netsys.AlreadyRunningError):
            client.connect("127.0.0.1", echo_server.port, timeout=1.0)
        with pytest.raises(netsys.AlreadyRunningError):
            client.connect("127.0.0.1", echo_server.port)


def test_chat_room_example():
    result = subprocess.run([sys.executable, "examples/python/chat_room.py"], cwd=ROOT, env=child_env(),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "every user got exactly its room's messages" in result.stdout


def test_interpreter_exit_closes_everything():
    # Objects left open at exit are closed by the atexit hook: the process
    # exits promptly and cleanly with threads still blocked in the library.
    code = """
import netsys
srv = netsys.Server("exit", port=0, bind_address="127.0.0.1", on_message=lambda s, d: s.send(d)).start()
cli = netsys.Client("exit")
cli.connect("127.0.0.1", srv.port)
cli.send(b"x")
assert cli.recv(5) == b"x"
print("done")
"""
    result = subprocess.run([sys.executable, "-c", code], env=child_env(), capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "done" and "Traceback" not in result.stderr


def test_no_descriptor_leak_over_many_objects():
    import os

    def open_fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    def cycle(close: bool) -> None:
        server = netsys.Server("fd", port=0, bind_address="127.0.0.1", on_message=lambda s, d: s.send(d)).start()
        client = netsys.Client("fd")
        client.connect("127.0.0.1", server.port)
        client.send(b"x")
        assert client.recv(WAIT) == b"x"
        if close:
            client.close()
            server.close()

    cycle(True)
    gc.collect()
    baseline = open_fds()
    for i in range(30):
        cycle(close=i % 2 == 0)  # half closed, half dropped
    gc.collect()
    wait_until(lambda: gc.collect() is not None and open_fds() <= baseline + 2,
               what=f"descriptors back to {baseline} (have {open_fds()})")
