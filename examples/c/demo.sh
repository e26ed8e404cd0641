#!/bin/sh
# demo-c: the C example server and client talking over 127.0.0.1.
# usage: demo.sh BIN_DIR
set -eu
bin=$1
. "$(dirname "$0")/../demo-steps.sh"
demo_begin demo-c
tmp=$(mktemp -d)
fifo=$tmp/stdin
mkfifo "$fifo"
# The server runs until its stdin closes: hold the fifo open on fd 9.
"$bin/c_echo_server" --port 0 <"$fifo" >"$tmp/out" 2>"$tmp/err" &
pid=$!
exec 9>"$fifo"
cleanup() { exec 9>&-; wait "$pid" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
i=0
until grep -q '^listening on [0-9][0-9]*$' "$tmp/out"; do
    i=$((i + 1))
    if [ $i -gt 100 ]; then echo "demo-c: the server did not start" >&2; cat "$tmp/err" >&2; exit 1; fi
    sleep 0.05
done
port=$(sed -n 's/^listening on //p' "$tmp/out")
echo "demo-c: c_echo_server listening on $port"
step "1000 messages of 64 B echoed" "$bin/c_echo_client" --port "$port" --count 1000 --size 64
step "200 messages of 64 KiB echoed" "$bin/c_echo_client" --port "$port" --count 200 --size 65536
exec 9>&-
step "the server stopped cleanly at end of input" wait "$pid"
cat "$tmp/err"
demo_end
