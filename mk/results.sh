#!/bin/sh
# Per-suite results for the summary that ends `make test` (and `make demo`).
#
# Every test target records one line in $RESULTS_DIR/<target>.txt:
#     PASSED FAILED SKIPPED NOTE...
# (NOTE is optional free text, e.g. "not measured: libzmq3-dev not installed
# (make deps)"). The summary prints one line per target and the totals; a
# target that recorded nothing is listed as such.
#
#   results.sh record TARGET PASSED FAILED SKIPPED [NOTE...]
#   results.sh add    TARGET PASSED FAILED SKIPPED [NOTE...]   add to what TARGET recorded
#   results.sh junit  TARGET FILE.xml [NOTE...]               counts from a JUnit XML report
#   results.sh check  TARGET NAME COMMAND...                  run COMMAND; count it as one check
#   results.sh summary TITLE UNIT STATUS TARGET...            STATUS: the exit status of the run
#
# RESULTS_DIR defaults to build/test-results.
set -u
dir=${RESULTS_DIR:-build/test-results}
cmd=${1:?usage: results.sh record|add|junit|check|summary ...}
shift

write() { # TARGET PASSED FAILED SKIPPED NOTE
    mkdir -p "$dir"
    printf '%s %s %s %s\n' "$2" "$3" "$4" "$5" >"$dir/$1.txt"
}

case $cmd in
record)
    target=$1 passed=$2 failed=$3 skipped=$4
    shift 4
    write "$target" "$passed" "$failed" "$skipped" "$*"
    ;;
add)
    target=$1 passed=$2 failed=$3 skipped=$4
    shift 4
    note="$*"
    if [ -f "$dir/$target.txt" ]; then
        read -r p f s rest <"$dir/$target.txt"
        passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
        note=$(echo "${rest:-} $note" | sed 's/^ *//; s/ *$//')
    fi
    write "$target" "$passed" "$failed" "$skipped" "$note"
    ;;
junit)
    target=$1 file=$2
    shift 2
    if [ ! -f "$file" ]; then
        write "$target" 0 1 0 "no report ($file): the suite did not run to the end"
        exit 0
    fi
    # The first <testsuite ...> element carries the totals (pytest writes it
    # on one line, ctest one attribute per line: join the lines first).
    suite=$(tr '\n\t' '  ' <"$file" | grep -o '<testsuite [^>]*>' | head -n 1)
    attr() { echo "$suite" | sed -n 's/.* '"$1"'="\([0-9]*\)".*/\1/p'; }
    tests=$(attr tests) failures=$(attr failures) errors=$(attr errors) skipped=$(attr skipped)
    disabled=$(attr disabled) # ctest's DISABLED tests count as skipped
    tests=${tests:-0} failures=${failures:-0} errors=${errors:-0} skipped=$((${skipped:-0} + ${disabled:-0}))
    failed=$((failures + errors))
    write "$target" $((tests - failed - skipped)) "$failed" "$skipped" "$*"
    ;;
check)
    target=$1 name=$2
    shift 2
    if "$@"; then
        sh "$0" add "$target" 1 0 0
    else
        rc=$?
        sh "$0" add "$target" 0 1 0 "failed: $name"
        exit $rc
    fi
    ;;
summary)
    title=$1 unit=$2 status=$3
    shift 3
    total_p=0 total_f=0 total_s=0 missing=0 suites=0
    echo
    echo "== $title: results"
    for target in "$@"; do
        suites=$((suites + 1))
        if [ ! -f "$dir/$target.txt" ]; then
            missing=$((missing + 1))
            if [ "$status" -ne 0 ]; then
                printf '  %-22s FAILED before it recorded results (see its output above)\n' "$target"
            else
                printf '  %-22s ran (it records no counts)\n' "$target"
            fi
            continue
        fi
        read -r p f s note <"$dir/$target.txt"
        total_p=$((total_p + p)) total_f=$((total_f + f)) total_s=$((total_s + s))
        mark="  "
        [ "$f" -gt 0 ] && mark="!!"
        printf '%s%-22s %5d passed, %d failed, %d skipped%s\n' "$mark" "$target" "$p" "$f" "$s" "${note:+  ($note)}"
    done
    skipped_text=
    [ "$total_s" -gt 0 ] && skipped_text=", $total_s skipped"
    if [ "$status" -ne 0 ] && [ "$total_f" -eq 0 ]; then
        echo "$title: FAILED (exit status $status; $total_p $unit passed$skipped_text: see the errors above)"
    else
        echo "$title: $total_p $unit passed, $total_f failed$skipped_text ($suites targets)"
    fi
    [ "$status" -eq 0 ] && [ "$total_f" -eq 0 ] || exit 1
    ;;
*)
    echo "results.sh: unknown command $cmd" >&2
    exit 2
    ;;
esac
