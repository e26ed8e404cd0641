# The reliability suite (tests/reliability, docs/reliability.md): hostile
# peers against a live server while well-behaved clients exchange numbered
# messages, faults (kill -9, SIGSTOP, restarts, packet loss in network
# namespaces), load and soak, plus the fuzz targets of every parser and
# connection state.
#
#   make test-reliability   the fast part (part of `make test`, ~1.5 min)
#   make fuzz               every fuzz target briefly (part of `make test`;
#                           the list is ALL_FUZZ below)
#   make soak               the long part: full counts and the churn soak
#                           (SOAK_SECONDS, default 180; ~9 minutes in all,
#                           with the C++ suite under ASan+UBSan)
#   make fuzz-long          every fuzz target for FUZZ_LONG executions each
#
# NETSYS_DELIVERY=acked runs the suite with the server restarts in
# acknowledged-delivery mode; `make test-reliability-acked` (part of `make
# test`, ~10 s) runs just those restarts in that mode, where "nothing lost
# silently" must hold across kill -9 too.
#
# Outputs: $(BUILD)/reliability/bin/ (relserver, relhostile, relclient,
# relfwd), results-fast.md / results-soak.md (+ .jsonl), fuzz-*.txt.

REL_DIR       := tests/reliability
REL_OUT       := $(BUILD)/reliability
REL_BIN       := $(REL_OUT)/bin
FUZZ_LONG     ?= 1000000x
SOAK_SECONDS  ?= 180
NETSYS_DELIVERY ?= plain
REL_ENV        = NETSYS_RELIABILITY_BIN=$(REL_BIN) NETSYS_RELIABILITY_OUT=$(REL_OUT) NETSYS_DELIVERY=$(NETSYS_DELIVERY) GO=$(GO)

# Every fuzz target (package:target): every parser and every connection
# state. `make fuzz` (in make test) runs each FUZZTIME times, fuzz-long
# FUZZ_LONG times.
ALL_FUZZ := ./core/internal/wire:FuzzDecoder ./core/internal/wire:FuzzHandshake \
	./core/internal/wire:FuzzCodeReason ./core/internal/wire:FuzzDecoderMemory ./core:FuzzDecompress \
	./core:FuzzServerConnBeforeHello ./core:FuzzServerConnAfterHello \
	./core:FuzzServerConnAfterWelcome ./core:FuzzServerConnAfterClose \
	./core:FuzzClientConnBeforeWelcome ./core:FuzzClientConnAfterWelcome

TEST_TARGETS += test-reliability test-reliability-acked

.PHONY: reliability-build test-reliability test-reliability-acked soak fuzz-long

reliability-build: ## Build the reliability suite's programs
	@mkdir -p $(REL_BIN)
	$(say) GO "$(REL_BIN)/ (relserver, relhostile, relclient, relfwd)"
	$(Q)$(GO) build -o $(REL_BIN)/ ./$(REL_DIR)/cmd/...

# The results table is printed whatever the outcome; the target fails if
# any check failed.
test-reliability: reliability-build $(GOTEST_TOOL) ## Reliability suite, fast part (hostile peers, faults, load)
	$(say) TEST "tests/reliability, fast profile (about 1.5 minutes)"
	$(Q)rc=0; $(REL_ENV) NETSYS_RELIABILITY=fast timeout 900 $(GOTEST) -suite test-reliability -- -count=1 -timeout 850s ./$(REL_DIR)/ || rc=$$?; \
		cat $(REL_OUT)/results-fast.md 2>/dev/null; exit $$rc

# The server restarts (graceful and kill -9) with acknowledged delivery;
# results in $(REL_OUT)/acked/.
test-reliability-acked: reliability-build $(GOTEST_TOOL) ## Server restarts (graceful, kill -9) with acknowledged delivery: nothing lost silently
	$(say) TEST "tests/reliability, server restarts with acknowledged delivery (about 10 s)"
	$(Q)rc=0; NETSYS_RELIABILITY_BIN=$(REL_BIN) NETSYS_RELIABILITY_OUT=$(REL_OUT)/acked NETSYS_DELIVERY=acked GO=$(GO) \
		NETSYS_RELIABILITY=fast timeout 300 $(GOTEST) -suite test-reliability-acked -- -count=1 -timeout 250s \
		-run '^TestFaultServerRestart$$' ./$(REL_DIR)/ || rc=$$?; \
		cat $(REL_OUT)/acked/results-fast.md 2>/dev/null; exit $$rc

soak: reliability-build test-cpp-asan ## Reliability suite, long part: full counts, the churn soak (SOAK_SECONDS), the C++ suite under ASan
	@rc=0; $(REL_ENV) NETSYS_RELIABILITY=soak SOAK_SECONDS=$(SOAK_SECONDS) timeout 7200 $(GO) test -count=1 -timeout 7000s -v ./$(REL_DIR)/ || rc=$$?; \
		cat $(REL_OUT)/results-soak.md 2>/dev/null; exit $$rc

fuzz-long: ## Every fuzz target for FUZZ_LONG executions (default 1000000x)
	sh $(REL_DIR)/fuzz.sh $(GO) $(FUZZ_LONG) $(REL_OUT)/fuzz-long.txt $(ALL_FUZZ)
