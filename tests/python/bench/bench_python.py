#!/usr/bin/env python3
"""Benchmark of the Python binding (`make bench-python`); prints numbers.

1. One-way throughput: a Go sender process (tests/python/bench/sender) sends
   N messages of 64 B to a netsys.Server whose on_message handler counts
   them; reported as messages per second delivered into the Python handler
   (from the session's connect to the last message).
2. Ping-pong latency: the Go example echo client makes M round trips to a
   Python echo handler (its own summary line, with p50); then a
   netsys.Client (threaded, recv()) and a netsys.aio.Client each make M
   round trips of 64 B to the Go example echo server; reported as p50 / p99
   round-trip times.

Options: --count N (one-way messages), --rounds M (round trips), --runs R.
The same figures through C (build/bin/c_bench, from `make bench-c`) are
printed after them when that program is built.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import List

import netsys
import netsys.aio

ROOT = pathlib.Path(__file__).resolve().parents[3]
GO = os.environ.get("GO", "go")


def build_go(out: pathlib.Path) -> None:
    subprocess.run([GO, "build", "-o", str(out) + "/", "./tests/python/bench/sender", "./examples/go/echo-server",
                    "./examples/go/echo-client"], cwd=ROOT, check=True, timeout=300)


def python_server_round_trips(client: pathlib.Path, rounds: int, size: int) -> str:
    """The Go example client's own summary line, against a Python echo server."""
    with netsys.Server("bench-echo", port=0, bind_address="127.0.0.1",
                       on_message=lambda session, data: session.send(data)) as server:
        result = subprocess.run([str(client), "--port", str(server.port), "--count", str(rounds), "--size",
                                 str(size), "--timeout", "120s"], capture_output=True, text=True, timeout=180)
    if result.returncode != 0:
        return f"failed: {result.stderr.strip()}"
    return result.stdout.strip()


def one_way(sender: pathlib.Path, count: int, size: int) -> float:
    received = 0
    started = [0.0]
    finished = threading.Event()
    ended = [0.0]

    def on_connect(session: netsys.Session) -> None:
        started[0] = time.perf_counter()

    def on_message(session: netsys.Session, data: bytes) -> None:
        nonlocal received
        received += 1
        if received == count:
            ended[0] = time.perf_counter()
            finished.set()

    with netsys.Server("bench", port=0, bind_address="127.0.0.1", on_connect=on_connect,
                       on_message=on_message) as server:
        proc = subprocess.Popen([str(sender), "-port", str(server.port), "-count", str(count), "-size", str(size)])
        try:
            if not finished.wait(120):
                raise RuntimeError(f"only {received}/{count} messages arrived within 120 s")
        finally:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.returncode != 0:
            raise RuntimeError(f"sender exited with {proc.returncode}")
    return count / (ended[0] - started[0])


def percentiles(samples: List[float]) -> str:
    ordered = sorted(samples)
    p50 = statistics.median(ordered) * 1e6
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e6
    return f"p50 {p50:7.1f} us   p99 {p99:7.1f} us"


def ping_pong(port: int, rounds: int, size: int) -> List[float]:
    payload = b"p" * size
    samples = []
    with netsys.Client("bench-pp") as client:
        client.connect("127.0.0.1", port)
        for _ in range(min(rounds // 10, 1000)):  # warm-up
            client.send(payload)
            client.recv(10)
        clock = time.perf_counter
        for _ in range(rounds):
            t0 = clock()
            client.send(payload)
            client.recv(10)
            samples.append(clock() - t0)
    return samples


async def ping_pong_aio(port: int, rounds: int, size: int) -> List[float]:
    payload = b"p" * size
    samples = []
    async with netsys.aio.Client("bench-aio") as client:
        await client.connect("127.0.0.1", port)
        for _ in range(min(rounds // 10, 1000)):
            await client.send(payload)
            await client.recv(10)
        clock = time.perf_counter
        for _ in range(rounds):
            t0 = clock()
            await client.send(payload)
            await client.recv(10)
            samples.append(clock() - t0)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description="netsys Python binding benchmark")
    parser.add_argument("--count", type=int, default=2_000_000, help="one-way messages per run")
    parser.add_argument("--rounds", type=int, default=20_000, help="ping-pong round trips")
    parser.add_argument("--runs", type=int, default=3, help="one-way repetitions")
    parser.add_argument("--size", type=int, default=64, help="message size")
    args = parser.parse_args()

    print(f"netsys Python binding {netsys.__version__}, library {netsys.library_version()} "
          f"({netsys.library_path()}), Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        bindir = pathlib.Path(tmp)
        build_go(bindir)

        rates = [one_way(bindir / "sender", args.count, args.size) for _ in range(args.runs)]
        print(f"one-way {args.size} B into a Python on_message handler: "
              f"best {max(rates):,.0f} msg/s, median {statistics.median(rates):,.0f} msg/s "
              f"({args.runs} runs of {args.count:,} messages; Go sender process)")

        print(f"ping-pong {args.size} B, Go client -> Python netsys.Server echo handler: "
              f"{python_server_round_trips(bindir / 'echo-client', args.rounds, args.size)}")

        server = subprocess.Popen([str(bindir / "echo-server"), "--port", "0"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            port = int(server.stdout.readline().split()[2])
            print(f"ping-pong {args.size} B, Python netsys.Client -> Go echo server: "
                  f"{percentiles(ping_pong(port, args.rounds, args.size))} ({args.rounds:,} round trips)")
            samples = asyncio.run(ping_pong_aio(port, args.rounds, args.size))
            print(f"ping-pong {args.size} B, Python netsys.aio.Client -> Go echo server: "
                  f"{percentiles(samples)} ({args.rounds:,} round trips)")
        finally:
            server.stdin.close()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    c_bench = pathlib.Path(os.environ.get("NETSYS_BUILD", ROOT / "build")) / "bin" / "c_bench"
    if not c_bench.exists():
        print(f"the same through C: not measured ({c_bench} is not built; `make bench-c`)")
        return 0
    # For comparison: the C host on the same paths (throughput/events is the
    # events-mode batch drain this binding uses), client and server in one
    # process (tests/c/bench/c_bench.c).
    result = subprocess.run([str(c_bench)], capture_output=True, text=True, timeout=300)
    print("the same through C (build/bin/c_bench, client and server in one process):")
    for line in result.stdout.splitlines():
        print("   ", line)
    if result.returncode != 0:
        print(f"    c_bench failed with status {result.returncode}: {result.stderr.strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
