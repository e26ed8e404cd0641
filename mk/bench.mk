# The benchmark harness (tests/bench, its own Go module so gnet never becomes
# a dependency of the library): servers, load generator, runner.
#
#   make bench                 full run (3 repetitions), < 10 minutes
#   make bench BENCH_QUICK=1   one repetition, short runs
#   make test-bench            the harness's own smoke test (< 60 s)
#
# Outputs: $(BUILD)/bench/bin/ (binaries), $(BUILD)/bench/results.jsonl,
# results.md, summary.json, benchmarks.png, netsysgo-stream64-pprof.txt.
# A server that cannot be built leaves bin/NAME.skip with the reason; the
# runner prints it as a "not measured" row instead of a figure.

BENCH_DIR   := tests/bench
BENCH_OUT   := $(BUILD)/bench
BENCH_BIN   := $(BENCH_OUT)/bin
BENCH_LIB   := $(BUILD)/lib
BENCH_QUICK ?=
BENCH_CFLAGS := -O2 -Wall -Wextra -Werror

BENCH_TARGETS += bench-peers
TEST_TARGETS  += test-bench

.PHONY: bench-build bench-peers test-bench bench-zmq-dev

# Every binary is rebuilt each time (a few seconds): the Go build cache
# makes the Go ones cheap, and stale C servers would be worse.
bench-build: bench-zmq-dev ## Build the benchmark servers, loadgen and runner
	@mkdir -p $(BENCH_BIN)
	rm -f $(BENCH_BIN)/*.skip
	cd $(BENCH_DIR) && $(GO) build -o $(BENCH_BIN)/ ./loadgen ./runner ./servers/netsysgo ./servers/gonet ./servers/gnet
	$(CC) $(BENCH_CFLAGS) -o $(BENCH_BIN)/rawc $(BENCH_DIR)/servers/rawc/rawc_server.c
	@if [ -e $(BENCH_LIB)/libnetsys.so ]; then \
		echo "$(CC) ... -o $(BENCH_BIN)/netsysc"; \
		$(CC) $(BENCH_CFLAGS) -Iinclude -o $(BENCH_BIN)/netsysc $(BENCH_DIR)/servers/netsysc/netsysc_server.c \
			-L$(BENCH_LIB) -lnetsys -Wl,-rpath,$(BENCH_LIB) \
		|| echo "the C server did not compile against include/netsys.h (see make output)" > $(BENCH_BIN)/netsysc.skip; \
		echo "$(CXX) ... -o $(BENCH_BIN)/netsyscpp"; \
		$(CXX) -std=c++17 $(BENCH_CFLAGS) -Iinclude -o $(BENCH_BIN)/netsyscpp $(BENCH_DIR)/servers/netsyscpp/netsyscpp_server.cpp \
			-L$(BENCH_LIB) -lnetsys -Wl,-rpath,$(BENCH_LIB) -lpthread \
		|| echo "the C++ server did not compile against include/network_system (see make output)" > $(BENCH_BIN)/netsyscpp.skip; \
	else \
		rm -f $(BENCH_BIN)/netsysc $(BENCH_BIN)/netsyscpp; \
		for s in netsysc netsyscpp netsyspy; do echo "$(BENCH_LIB)/libnetsys.so was not built" > $(BENCH_BIN)/$$s.skip; done; \
	fi
	@if [ -e /usr/include/zmq.h ]; then \
		$(CC) $(BENCH_CFLAGS) -o $(BENCH_BIN)/zmq_bench $(BENCH_DIR)/zmq/zmq_bench.c -lzmq \
		|| echo "zmq_bench did not compile (see make output)" > $(BENCH_BIN)/zmq_bench.skip; \
	else echo "libzmq3-dev is not installed" > $(BENCH_BIN)/zmq_bench.skip; fi

# libzmq's headers for the reference figures; installed only when absent
# (the CI script needs the same: apt-get install -y libzmq3-dev).
bench-zmq-dev:
	@[ -e /usr/include/zmq.h ] || { apt-get install -y libzmq3-dev || { apt-get update && apt-get install -y libzmq3-dev; }; } || echo "bench: libzmq3-dev unavailable; zmq reference not measured"

bench-peers: bench-build ## Benchmarks against peers and the raw C limit (BENCH_QUICK=1: fast)
	$(BENCH_BIN)/runner -bin $(BENCH_BIN) -src $(BENCH_DIR) -out $(BENCH_OUT) -lib $(BENCH_LIB) $(if $(BENCH_QUICK),-quick) \
		-command "make bench-peers$(if $(BENCH_QUICK), BENCH_QUICK=1)"
	@cat $(BENCH_OUT)/results.md

test-bench: bench-build ## Smoke test of the benchmark harness (tiny runs, < 60 s)
	cd $(BENCH_DIR) && $(GO) vet ./... && $(GO) test -count=1 ./...
	$(BENCH_BIN)/runner -smoke -bin $(BENCH_BIN) -src $(BENCH_DIR) -out $(BENCH_OUT)/smoke -lib $(BENCH_LIB)
