# Sourced by the demo scripts (examples/*/demo.sh): counts the demo's checks
# for the summary at the end of `make demo`.
#
#   demo_begin NAME      before the first step
#   step WHAT CMD...     runs CMD; counts it as a passed or failed check
#   demo_end             prints the part's result line, records it when
#                        RESULTS_DIR is set (mk/results.sh); fails if a step did
demo_begin() { demo_name=$1 demo_passed=0 demo_failed=0; }
step() {
    step_what=$1
    shift
    if "$@"; then
        demo_passed=$((demo_passed + 1))
    else
        demo_failed=$((demo_failed + 1))
        echo "$demo_name: FAIL: $step_what" >&2
    fi
}
demo_end() {
    if [ -n "${RESULTS_DIR:-}" ]; then
        mkdir -p "$RESULTS_DIR"
        echo "$demo_passed $demo_failed 0" >"$RESULTS_DIR/$demo_name.txt"
    fi
    echo "$demo_name: $demo_passed checks passed, $demo_failed failed"
    [ "$demo_failed" -eq 0 ]
}
