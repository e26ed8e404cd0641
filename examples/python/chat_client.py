#!/usr/bin/env python3
"""Python example: a line client for the C++ chat server (cpp_chat_server).

    chat_client.py --port P [--host 127.0.0.1] [--name NAME] [--linger 300]

Sends ``/nick NAME`` first when --name is given, then every line of
standard input as one message; prints every message it receives (from the
client's on_message handler, on the dispatcher thread). At end of input it
waits --linger milliseconds for the last replies, then exits 0 (1 on a
connection failure).
"""

from __future__ import annotations

import argparse
import sys
import time

import netsys


def main(argv: list) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--name", default="")
    parser.add_argument("--linger", type=int, default=300, help="ms to wait for replies after the input ends")
    args = parser.parse_args(argv)

    def show(data: bytes) -> None:
        print(data.decode("utf-8", "replace"), flush=True)

    def lost(reason: str) -> None:
        print(f"(disconnected: {reason})", flush=True)

    try:
        with netsys.Client(args.name or "python-chat", on_message=show, on_disconnect=lost) as client:
            client.connect(args.host, args.port, timeout=5.0)
            if args.name:
                client.send(f"/nick {args.name}")
            for line in sys.stdin:
                line = line.rstrip("\n")
                if line:
                    client.send(line)
            time.sleep(args.linger / 1000.0)
    except netsys.NetsysError as exc:
        print(f"chat client: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
