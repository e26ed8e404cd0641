#!/bin/sh
# Packet loss and delay between a netsys client and server, each in a
# network namespace of its own, joined by relfwd (a userspace TUN
# forwarder that drops and delays packets: this kernel has no netem qdisc).
#
#   netem.sh BIN_DIR LOSS_PERCENT DELAY DURATION [CLIENT_INTERVAL]
#   netem.sh build/reliability/bin 5 20ms 5s
#
# Output lines: "NOTRUN <reason>" when namespaces or TUN devices cannot be
# created here (never a pass), else "RESULT <relclient JSON>",
# "FWD <relfwd STATS>" and "RETRANS <TCP segments retransmitted>".
# The namespaces, and every process in them, are removed on any exit.
set -u
BIN=$1 LOSS=$2 DELAY=$3 DUR=$4 INTERVAL=${5:-5ms}
ID=$$
NC=relc$ID NS=rels$ID DC=rlc$ID DS=rls$ID
WORK=$(mktemp -d)
FWD= SRV=

cleanup() {
	for p in $FWD $SRV; do kill -9 "$p" 2>/dev/null; done
	for ns in $NC $NS; do
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
		ip netns del "$ns" 2>/dev/null
	done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

notrun() { echo "NOTRUN $*"; exit 0; }

[ "$(id -u)" = 0 ] || notrun "network namespaces need root (uid $(id -u))"
[ -c /dev/net/tun ] || notrun "/dev/net/tun is missing"
ip netns add "$NC" 2>"$WORK/err" || notrun "ip netns add: $(cat "$WORK/err")"
ip netns add "$NS" 2>"$WORK/err" || notrun "ip netns add: $(cat "$WORK/err")"

# The forwarder creates one TUN device in each namespace.
mkfifo "$WORK/fwd.in"
"$BIN/relfwd" -ns-a "$NC" -dev-a "$DC" -ns-b "$NS" -dev-b "$DS" -loss "$LOSS" -delay "$DELAY" -max-run 10m \
	<"$WORK/fwd.in" >"$WORK/fwd.out" 2>"$WORK/fwd.err" &
FWD=$!
exec 3>"$WORK/fwd.in" # keeps the forwarder's stdin open
i=0
until grep -q READY "$WORK/fwd.out" 2>/dev/null; do
	i=$((i + 1))
	[ $i -gt 100 ] && notrun "relfwd could not create TUN devices: $(cat "$WORK/fwd.err")"
	kill -0 $FWD 2>/dev/null || notrun "relfwd could not create TUN devices: $(cat "$WORK/fwd.err")"
	sleep 0.05
done

set -e
ip -n "$NC" link set lo up
ip -n "$NS" link set lo up
ip -n "$NC" addr add 10.201.0.1 peer 10.201.0.2 dev "$DC"
ip -n "$NS" addr add 10.201.0.2 peer 10.201.0.1 dev "$DS"
ip -n "$NC" link set "$DC" up
ip -n "$NS" link set "$DS" up
set +e

mkfifo "$WORK/srv.in"
ip netns exec "$NS" "$BIN/relserver" -bind 10.201.0.2 -port 9000 -loops 1 <"$WORK/srv.in" >"$WORK/srv.out" 2>&1 &
SRV=$!
exec 4>"$WORK/srv.in"
i=0
until grep -q READY "$WORK/srv.out" 2>/dev/null; do
	i=$((i + 1))
	if [ $i -gt 100 ]; then echo "ERROR relserver did not start: $(head -c 500 "$WORK/srv.out")"; exit 1; fi
	sleep 0.05
done

timeout 300 ip netns exec "$NC" "$BIN/relclient" -mode echo -addr 10.201.0.2:9000 -conns 2 -interval "$INTERVAL" \
	-duration "$DUR" -max-run 4m >"$WORK/client.out" 2>"$WORK/client.err"
rc=$?
[ $rc = 0 ] || { echo "ERROR relclient exited $rc: $(head -c 500 "$WORK/client.err")"; exit 1; }
echo "RESULT $(cat "$WORK/client.out")"
echo "FWD $(grep STATS "$WORK/fwd.out" | tail -1)"
retrans() { ip netns exec "$1" awk '/^Tcp:/ { if (seen) { for (i = 1; i <= NF; i++) if (h[i] == "RetransSegs") print $i } else { split($0, h); seen = 1 } }' /proc/net/snmp; }
echo "RETRANS client=$(retrans "$NC") server=$(retrans "$NS")"
