# The benchmark harness (tests/bench, its own Go module so gnet never becomes
# a dependency of the library): servers, load generator, runner.
#
#   make bench-peers                 full run (3 repetitions), about 5 minutes
#   make bench-peers BENCH_QUICK=1   one short repetition, about a minute
#   make test-bench                  the harness's own smoke test (< 60 s)
#   make bench-doc                   paste build/bench/results.md and the chart
#                                    into docs/benchmarks.md (a full run of a
#                                    committed tree; BENCH_DOC_FORCE=1: any run)
#   make deps-bench                  matplotlib, for the chart (not in make deps)
#
# bench-build builds everything it measures, the library and the staged
# headers included, so `make bench-peers` works on a fresh clone.
# Outputs: $(BUILD)/bench/bin/ (binaries), $(BUILD)/bench/results.jsonl,
# results.md, summary.json, benchmarks.png, netsysgo-stream64-pprof.txt.
# A peer that cannot be built leaves bin/NAME.skip with the reason; the
# runner prints it as a "not measured" row instead of a figure. Nothing here
# installs anything: the ZeroMQ peers need libzmq3-dev and pyzmq from
# `make deps`; without them their rows say "not measured ... (make deps)".

BENCH_DIR   := tests/bench
BENCH_OUT   := $(BUILD)/bench
BENCH_BIN   := $(BENCH_OUT)/bin
BENCH_LIB   := $(BUILD)/lib
BENCH_QUICK ?=
BENCH_DOC   ?= docs/benchmarks.md
BENCH_DOC_FORCE ?=
BENCH_CFLAGS := -O2 -Wall -Wextra -Werror

BENCH_TARGETS += bench-peers
TEST_TARGETS  += test-bench

.PHONY: bench-build bench-peers test-bench bench-doc deps-bench

# The reasons a peer is not measured (the runner prints "not measured: "
# before them).
ZMQ_MISSING   := libzmq3-dev not installed (make deps)
PYZMQ_MISSING := pyzmq not installed (make deps)

# pyzmq, the Python peer (its wheel carries its own libzmq), from PyPI.
DEPS_PIP += pyzmq=zmq

# matplotlib draws the chart only: no test or figure needs it, and with
# numpy, Pillow and fonttools it is some 40 MB that CI would install for
# nothing, so `make deps` leaves it out and `make deps-bench` installs it.
DEPS_PIP_BENCH := matplotlib=matplotlib

# The runner's Python (the Python servers, the chart) is the build's.
BENCH_RUN = $(BENCH_BIN)/runner -bin $(BENCH_BIN) -src $(CURDIR)/$(BENCH_DIR) -lib $(BENCH_LIB) -python $(PYTHON)

# Every binary is rebuilt each time (a few seconds): the Go build cache
# makes the Go ones cheap, and stale C servers would be worse. libnetsys
# (C, C++ and Python servers) and stage (the installed C++ headers) are
# prerequisites, not assumptions: a library that fails to build fails here.
# So is the Python package's C extension: without it the Python server runs
# as pure Python, about half as fast, and the figures would not be those a
# `make` or `pip install` user gets.
bench-build: libnetsys stage python-accel ## Build the benchmark servers, loadgen and runner (and the library they use)
	@mkdir -p $(BENCH_BIN)
	@rm -f $(BENCH_BIN)/*.skip
	$(say) GO "tests/bench -> build/bench/bin/ (loadgen, runner, Go servers incl. gnet)"
	$(Q)cd $(BENCH_DIR) && $(GO) build -o $(BENCH_BIN)/ ./loadgen ./runner ./servers/netsysgo ./servers/gonet ./servers/gnet
	$(say) CC $(BENCH_DIR)/servers/rawc/rawc_server.c
	$(Q)$(CC) $(BENCH_CFLAGS) -o $(BENCH_BIN)/rawc $(BENCH_DIR)/servers/rawc/rawc_server.c
	$(say) CC $(BENCH_DIR)/servers/netsysc/netsysc_server.c
	$(Q)$(CC) $(BENCH_CFLAGS) -Iinclude -o $(BENCH_BIN)/netsysc $(BENCH_DIR)/servers/netsysc/netsysc_server.c \
		-L$(BENCH_LIB) -lnetsys -Wl,-rpath,$(BENCH_LIB) \
		|| { rm -f $(BENCH_BIN)/netsysc; echo "the C server did not compile against include/netsys.h (see make output)" > $(BENCH_BIN)/netsysc.skip; }
	$(say) CXX "$(BENCH_DIR)/servers/netsyscpp/netsyscpp_server.cpp (against build/stage)"
	$(Q)$(CXX) -std=c++17 $(BENCH_CFLAGS) -I$(STAGE)/include -o $(BENCH_BIN)/netsyscpp $(BENCH_DIR)/servers/netsyscpp/netsyscpp_server.cpp \
		-L$(BENCH_LIB) -lnetsys -Wl,-rpath,$(BENCH_LIB) -lpthread \
		|| { rm -f $(BENCH_BIN)/netsyscpp; echo "the C++ server did not compile against the staged network_system headers (see make output)" > $(BENCH_BIN)/netsyscpp.skip; }
	@if [ -e /usr/include/zmq.h ]; then \
		echo "  CC      $(BENCH_DIR)/zmq/zmq_bench.c"; \
		$(CC) $(BENCH_CFLAGS) -o $(BENCH_BIN)/zmq_bench $(BENCH_DIR)/zmq/zmq_bench.c -lzmq \
		|| echo "zmq_bench did not compile (see make output)" > $(BENCH_BIN)/zmq_bench.skip; \
	else echo "  (libzmq peer: not measured: $(ZMQ_MISSING))"; echo "$(ZMQ_MISSING)" > $(BENCH_BIN)/zmq_bench.skip; fi
	@$(PYTHON) -c 'import zmq' 2>/dev/null || { echo "  (pyzmq peer: not measured: $(PYZMQ_MISSING))"; echo "$(PYZMQ_MISSING)" > $(BENCH_BIN)/pyzmq.skip; }

bench-peers: bench-build ## Benchmarks against peers and the raw C limit (BENCH_QUICK=1: fast)
	$(say) BENCH "runner: every server and scenario (4-5 minutes; BENCH_QUICK=1: about one)"
	$(Q)$(BENCH_RUN) -out $(BENCH_OUT) $(if $(BENCH_QUICK),-quick) \
		-command "make bench-peers$(if $(BENCH_QUICK), BENCH_QUICK=1)"
	@cat $(BENCH_OUT)/results.md

# Only the runner is built: pasting must not rebuild what was measured.
bench-doc: ## Rewrite docs/benchmarks.md's tables and chart from build/bench (BENCH_DOC_FORCE=1: from any run)
	$(say) GO "tests/bench/runner -> build/bench/bin/runner"
	$(Q)mkdir -p $(BENCH_BIN) && cd $(BENCH_DIR) && $(GO) build -o $(BENCH_BIN)/ ./runner
	$(Q)$(BENCH_RUN) -out $(BENCH_OUT) -doc $(abspath $(BENCH_DOC)) $(if $(BENCH_DOC_FORCE),-doc-force)

deps-bench: ## Install matplotlib for the benchmark chart (pip; not part of make deps)
	$(Q)$(MAKE) --no-print-directory deps-pip DEPS_PIP="$(DEPS_PIP_BENCH)"

# The harness's own tests count per test; the runner's smoke run (every
# server, tiny runs) is one more. A ZeroMQ peer missing for want of `make
# deps` is counted as skipped with its reason, not as a failure.
test-bench: bench-build $(GOTEST_TOOL) ## Smoke test of the benchmark harness (tiny runs of every server, < 60 s)
	$(say) VET "tests/bench: go vet, go mod tidy -diff"
	$(Q)cd $(BENCH_DIR) && $(GO) vet ./... && \
		{ $(GO) mod tidy -diff || { echo "tests/bench/go.mod is not tidy: cd tests/bench && go mod tidy" >&2; exit 1; }; }
	$(Q)$(GOTEST) -suite test-bench -dir $(BENCH_DIR) -- -count=1 ./...
	$(say) SMOKE "runner -smoke (every server, tiny runs; about 30 s)"
	$(Q)sh mk/results.sh check test-bench "runner -smoke" \
		$(BENCH_RUN) -smoke -out $(BENCH_OUT)/smoke $(if $(filter 1,$(V)),-v)
	@if [ -e $(BENCH_BIN)/zmq_bench.skip ]; then sh mk/results.sh add test-bench 0 0 1 "libzmq peer not measured: $$(cat $(BENCH_BIN)/zmq_bench.skip)"; fi
	@if [ -e $(BENCH_BIN)/pyzmq.skip ]; then sh mk/results.sh add test-bench 0 0 1 "pyzmq peer not measured: $$(cat $(BENCH_BIN)/pyzmq.skip)"; fi
