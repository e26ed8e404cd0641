"""netsys through its Python binding: the bench server contract
(tests/bench/README.md) written as a Python application would write it.

Sink messages (first byte ``S``) are consumed by the handler, everything
else is echoed to its session. Usage: ``PORT=9000 python3 server.py``
(127.0.0.1:$PORT until SIGTERM/SIGINT); needs the ``netsys`` package on
PYTHONPATH and ``NETSYS_LIBRARY`` pointing at libnetsys.so.
"""

import os
import signal
import sys
import threading

import netsys

SINK = ord("S")


def main() -> int:
    try:
        port = int(os.environ["PORT"])
    except (KeyError, ValueError):
        print("server.py: PORT must hold a TCP port", file=sys.stderr)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    # The idle scenario holds 10,000 connections; the default cap is 1,000.
    # The load generator, on one address, pipelines 256 handshakes at a time.
    srv = netsys.Server("bench-py", port=port, bind_address="127.0.0.1", max_connections=20000,
                        max_pending_handshakes=20000, max_handshakes_per_address=20000)

    @srv.on_message
    def handle(session, data):
        if data and data[0] == SINK:
            return
        session.send(data)

    srv.start()
    while not stop.wait(0.1):
        pass
    srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
