#!/usr/bin/env python3
"""Python example echo server of netsys (the shared example contract).

    echo_server.py [--port 0] [--bind 127.0.0.1]

Prints ``listening on PORT`` (flushed) once it accepts connections, echoes
every message back to its sender, and stops gracefully on SIGINT, SIGTERM or
end of standard input.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

import netsys


def main(argv: list) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="TCP port, 0 for an ephemeral one (default 0)")
    parser.add_argument("--bind", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    args = parser.parse_args(argv)

    done = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: done.set())

    def watch_stdin() -> None:
        # End of input means the parent (e.g. the demo script) is gone.
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except (OSError, ValueError):
            pass
        done.set()

    with netsys.Server("python-echo-server", port=args.port, bind_address=args.bind) as server:

        @server.on_message
        def echo(session: netsys.Session, data: bytes) -> None:
            session.send(data)

        @server.on_error
        def report(session, exc: netsys.NetsysError) -> None:
            print(f"python server: session {session.id if session else '-'}: {exc}", file=sys.stderr)

        print(f"listening on {server.port}", flush=True)
        threading.Thread(target=watch_stdin, daemon=True).start()
        while not done.wait(0.2):  # wake up regularly so signals are handled promptly
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
