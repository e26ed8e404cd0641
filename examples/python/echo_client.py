#!/usr/bin/env python3
"""Python example echo client of netsys (the shared example contract).

    echo_client.py --port P [--host 127.0.0.1] [--count 1000] [--size 64] [--timeout 10]

Connects, sends --count messages of --size bytes one at a time, checks that
each comes back unchanged, and prints one line:

    python client: 1000/1000 echoed, 25000 msg/s, p50 38 us

Exits 0 on success, 1 with a message on stderr on any failure (connect,
send, wrong echo, lost connection, or the run exceeding --timeout), 2 for
bad arguments. Run it with PYTHONPATH=bindings/python and
NETSYS_LIBRARY=build/lib/libnetsys.so when netsys is not installed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import netsys


def parse_args(argv: list) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="server host (default 127.0.0.1)")
    parser.add_argument("--port", type=int, required=True, help="server port")
    parser.add_argument("--count", type=int, default=1000, help="number of messages (default 1000)")
    parser.add_argument("--size", type=int, default=64, help="message size in bytes (default 64)")
    parser.add_argument("--timeout", type=float, default=10.0, help="deadline for the whole run, seconds")
    args = parser.parse_args(argv)
    if not 1 <= args.port <= 65535 or args.count < 1 or args.size < 0 or args.timeout <= 0:
        parser.error("need 1 <= port <= 65535, count >= 1, size >= 0, timeout > 0")
    return args


def message(index: int, size: int) -> bytes:
    """A payload of ``size`` bytes that differs per message, so a reordered
    or stale echo is caught."""
    stamp = b"%08d:" % index
    return (stamp * (size // len(stamp) + 1))[:size]


def run(args: argparse.Namespace) -> str:
    deadline = time.monotonic() + args.timeout
    latencies = []
    with netsys.Client("python-echo-client") as client:
        client.connect(args.host, args.port, timeout=args.timeout)
        started = time.perf_counter()
        for i in range(args.count):
            payload = message(i, args.size)
            sent_at = time.perf_counter()
            client.send(payload)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"timed out after {i}/{args.count} echoes")
            try:
                echo = client.recv(timeout=remaining)
            except netsys.NetsysTimeoutError:
                raise TimeoutError(f"timed out after {i}/{args.count} echoes") from None
            latencies.append(time.perf_counter() - sent_at)
            if echo != payload:
                raise ValueError(f"echo {i} differs: sent {len(payload)} bytes, got {len(echo)}")
        elapsed = time.perf_counter() - started
        client.stop()
    rate = args.count / elapsed if elapsed > 0 else float("inf")
    p50_us = statistics.median(latencies) * 1e6
    return f"python client: {args.count}/{args.count} echoed, {rate:.0f} msg/s, p50 {p50_us:.0f} us"


def main(argv: list) -> int:
    args = parse_args(argv)
    try:
        print(run(args), flush=True)
    except (netsys.NetsysError, OSError, ValueError) as exc:  # TimeoutError is an OSError
        print(f"python client: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
