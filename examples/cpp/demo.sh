#!/bin/sh
# make demo-cpp: the C++ echo server with the C++ client, then the chat room
# (rooms = netsys groups, broadcast) with two scripted users.
# Usage: demo.sh BIN_DIR. Every step is bounded (timeouts); the servers this
# script starts are stopped by their PIDs.
set -eu
BIN=$1
. "$(dirname "$0")/../demo-steps.sh"
demo_begin demo-cpp
WORK=$(mktemp -d)
SERVER_PID=""
cleanup() {
    [ -n "$SERVER_PID" ] && kill -TERM "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# Starts "$@" in the background (signals only: --ignore-stdin) and waits up
# to 5 s for its "listening on PORT" line; sets SERVER_PID and PORT.
start_server() {
    "$@" --ignore-stdin >"$WORK/server.out" 2>"$WORK/server.err" &
    SERVER_PID=$!
    i=0
    while ! grep -q '^listening on [0-9][0-9]*$' "$WORK/server.out" 2>/dev/null; do
        i=$((i + 1))
        if [ "$i" -gt 50 ]; then
            echo "demo-cpp: $1 did not start" >&2
            cat "$WORK/server.err" >&2
            exit 1
        fi
        sleep 0.1
    done
    PORT=$(sed -n 's/^listening on //p' "$WORK/server.out")
}

stop_server() {
    kill -TERM "$SERVER_PID"
    wait "$SERVER_PID" || true
    SERVER_PID=""
    cat "$WORK/server.err"
}

echo "== C++ echo: cpp_echo_client -> cpp_echo_server"
start_server "$BIN/cpp_echo_server" --port 0
echo "cpp_echo_server listening on $PORT"
step "2000 messages of 64 B echoed" timeout 20 "$BIN/cpp_echo_client" --port "$PORT" --count 2000 --size 64
step "200 messages of 64 KiB echoed" timeout 20 "$BIN/cpp_echo_client" --port "$PORT" --count 200 --size 65536
stop_server

echo "== C++ chat room: alice and bob, rooms and broadcast"
start_server "$BIN/cpp_chat_server" --port 0
echo "cpp_chat_server listening on $PORT"
# bob joins room "cpp" and waits; alice talks to everyone, then to room cpp.
( sleep 0.2; echo "/join cpp"; sleep 0.8; echo "/rooms" ) |
    timeout 20 "$BIN/cpp_chat_client" --port "$PORT" --name bob --linger 500 >"$WORK/bob.out" &
BOB=$!
( sleep 0.5; echo "hello everyone"; echo "/join cpp"; echo "/to cpp only the cpp room sees this";
  echo "/leave lobby"; echo "/rooms" ) |
    timeout 20 "$BIN/cpp_chat_client" --port "$PORT" --name alice --linger 500 >"$WORK/alice.out"
step "bob's chat client ended normally" wait "$BOB"
cat "$WORK/alice.out" "$WORK/bob.out"
step "bob received alice's message to the cpp room" \
    grep -q "\[cpp\] alice: only the cpp room sees this" "$WORK/bob.out"
stop_server
demo_end
