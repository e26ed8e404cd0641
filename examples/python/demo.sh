#!/bin/sh
# make demo-python: the Python examples.
#  1. echo_client.py against the C++ example echo server (build/bin/
#     cpp_echo_server); if the C++ examples are not built, against the
#     Python example echo server instead, and says so.
#  2. chat_client.py against the C++ chat server (build/bin/cpp_chat_server),
#     when it is built.
#  3. chat_room.py: an asyncio chat room with groups, all in Python.
# Expects PYTHONPATH and NETSYS_LIBRARY from mk/python.mk. Every child is
# bounded by a timeout and cleaned up on exit.
set -eu
BIN=${1:?usage: demo.sh BUILD_BIN_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../demo-steps.sh"
demo_begin demo-python
PYTHON=${PYTHON:-python3}
TMP=$(mktemp -d)
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

# start_server NAME ARGV...: runs a server that prints "listening on PORT"
# and stops at end of stdin; sets PORT and SERVER_PID. Its stdin is a fifo
# held open on fd 3 until stop_server.
start_server() {
    name=$1
    shift
    rm -f "$TMP/stdin" "$TMP/server.out"
    mkfifo "$TMP/stdin"
    timeout 60 "$@" < "$TMP/stdin" > "$TMP/server.out" &
    SERVER_PID=$!
    exec 3> "$TMP/stdin"
    i=0
    until grep -q '^listening on [0-9][0-9]*$' "$TMP/server.out" 2>/dev/null; do
        i=$((i + 1))
        if [ $i -gt 100 ] || ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "demo-python: $name did not start" >&2
            exit 1
        fi
        sleep 0.1
    done
    PORT=$(sed -n 's/^listening on \([0-9]*\).*/\1/p' "$TMP/server.out" | head -n 1)
}

stop_server() {
    exec 3>&-
    wait "$SERVER_PID" || true
    SERVER_PID=
}

if [ -x "$BIN/cpp_echo_server" ]; then
    NAME="C++ echo server ($BIN/cpp_echo_server)"
    start_server "$NAME" "$BIN/cpp_echo_server" --port 0
else
    NAME="Python echo server (the C++ one is not built: $BIN/cpp_echo_server)"
    start_server "$NAME" "$PYTHON" "$HERE/echo_server.py" --port 0
fi
echo "== Python echo client -> $NAME on port $PORT"
step "2000 messages of 64 B echoed" timeout 30 "$PYTHON" "$HERE/echo_client.py" --port "$PORT" --count 2000 --size 64
stop_server

if [ -x "$BIN/cpp_chat_server" ]; then
    start_server "C++ chat server" "$BIN/cpp_chat_server" --port 0
    echo "== Python chat client -> C++ chat server on port $PORT"
    chat() {
        printf '/join python\n/to python hello, python room\nhello, everyone\n/rooms\n' |
            timeout 30 "$PYTHON" "$HERE/chat_client.py" --port "$PORT" --name pythonista
    }
    step "the Python chat client talked to the C++ chat server" chat
    stop_server
else
    echo "== Python chat client: skipped, the C++ chat server is not built ($BIN/cpp_chat_server)"
fi

echo "== Python asyncio chat room (netsys.aio server and clients, groups)"
step "the asyncio chat room ran" timeout 30 "$PYTHON" "$HERE/chat_room.py"
demo_end
