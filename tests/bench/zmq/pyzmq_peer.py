"""pyzmq as the Python peer: the receiving side of zmq_bench (zmq_bench.c)
written the way a Python application would write it with pyzmq: a loop
that receives each message as ``bytes`` and calls a handler function with
it, the handler being the one tests/bench/servers/python/server.py gives
netsys (sink messages, first byte ``S``, are consumed; everything else is
sent back).

Usage (started by zmq_bench, which sends from C so that the sender is not
the limit): ``pyzmq_peer.py pushpull|reqrep ENDPOINT``. Binds ENDPOINT,
prints ``ready``, handles messages until a 1-byte end marker (answered in
reqrep mode), then prints ``MESSAGES SECONDS CPU_SECONDS RSS_KB`` counted
from the first message.
"""

import resource
import sys
import time

try:
    import zmq
except ImportError:
    print("pyzmq_peer.py: not measured: pyzmq not installed (make deps)", file=sys.stderr)
    sys.exit(3)

SINK = ord("S")
#: Every wait is bounded: a sender that died does not leave this behind.
RECV_TIMEOUT_MS = 30_000


def cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def rss_kb() -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main() -> int:
    if len(sys.argv) != 3 or sys.argv[1] not in ("pushpull", "reqrep"):
        print("usage: pyzmq_peer.py pushpull|reqrep ENDPOINT", file=sys.stderr)
        return 2
    mode, endpoint = sys.argv[1], sys.argv[2]
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PULL if mode == "pushpull" else zmq.REP)
    sock.setsockopt(zmq.RCVTIMEO, RECV_TIMEOUT_MS)
    sock.bind(endpoint)
    send = sock.send

    def handle(data: bytes) -> None:
        if data and data[0] == SINK:
            return
        send(data)

    print("ready", flush=True)
    recv = sock.recv
    data = recv()  # copy=True: a bytes object, as netsys hands its handlers
    t0, cpu0 = time.perf_counter(), cpu_seconds()
    count = 0
    while len(data) != 1:  # the end marker
        handle(data)
        count += 1
        data = recv()
    if mode == "reqrep":
        send(data)
    secs, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    print(f"{count} {secs:.9f} {cpu:.9f} {rss_kb()}", flush=True)
    sock.close(linger=1000)
    ctx.term()
    return 0


if __name__ == "__main__":
    sys.exit(main())
