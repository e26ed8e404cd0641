#!/bin/sh
# Runs fuzz targets one after the other for a count of executions and
# prints one summary line per target: "FUZZ <target> <package> execs=N
# result=PASS|FAIL". Counts, not durations: a duration-based -fuzztime
# can fail spuriously on a loaded machine (go.dev/issue/75804).
#
#   fuzz.sh GO COUNT SUMMARY_FILE PACKAGE:TARGET...
set -u
GO=$1 COUNT=$2 SUMMARY=$3
shift 3
mkdir -p "$(dirname "$SUMMARY")"
: >"$SUMMARY"
status=0
for spec in "$@"; do
	pkg=${spec%%:*} target=${spec#*:}
	log=$(mktemp)
	start=$(date +%s)
	timeout 3600 "$GO" test -run '^$' -fuzz "^${target}\$" -fuzztime "$COUNT" "$pkg" >"$log" 2>&1
	rc=$?
	secs=$(($(date +%s) - start))
	execs=$(grep -o 'execs: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
	result=PASS
	if [ $rc != 0 ]; then
		result=FAIL
		status=1
		tail -25 "$log"
		crasher=$(grep -o 'Failing input written to [^ ]*' "$log" | cut -d' ' -f5)
		[ -n "$crasher" ] && result="FAIL input=$crasher"
	fi
	line="FUZZ $target $pkg execs=${execs:-0} seconds=$secs result=$result"
	echo "$line" | tee -a "$SUMMARY"
	rm -f "$log"
done
exit $status
