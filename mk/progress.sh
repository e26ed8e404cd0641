#!/bin/sh
# Runs a long build step and says, every 15 seconds while it runs, that it is
# still running: tools such as ninja print a step only when it ends, which
# leaves long silent stretches on a loaded machine.
#
#   progress.sh WHAT COMMAND...     the exit status is COMMAND's
what=$1
shift
(
    n=0
    while sleep 15 </dev/null >/dev/null 2>&1; do
        n=$((n + 15))
        echo "  ...     $what: still running (${n} s)"
    done
) &
ticker=$!
"$@"
rc=$?
kill "$ticker" 2>/dev/null
wait "$ticker" 2>/dev/null
exit $rc
