# The reliability suite (tests/reliability, docs/reliability.md): hostile
# peers against a live server while well-behaved clients exchange numbered
# messages, faults (kill -9, SIGSTOP, restarts, packet loss in network
# namespaces), load and soak, plus the fuzz targets of every parser and
# connection state.
#
#   make test-reliability   the fast part (part of `make test`, ~1.5 min)
#   make fuzz-reliability   the new fuzz targets, briefly (part of `make test`)
#   make soak               the long part: full counts and the churn soak
#                           (SOAK_SECONDS, default 180; ~9 minutes in all,
#                           with the C++ suite under ASan+UBSan)
#   make fuzz-long          every fuzz target for FUZZ_LONG executions each
#
# NETSYS_DELIVERY=acked checks the server restarts in acknowledged-delivery
# mode (NOT RUN while that option does not exist).
#
# Outputs: $(BUILD)/reliability/bin/ (relserver, relhostile, relclient,
# relfwd), results-fast.md / results-soak.md (+ .jsonl), fuzz-*.txt.

REL_DIR       := tests/reliability
REL_OUT       := $(BUILD)/reliability
REL_BIN       := $(REL_OUT)/bin
REL_FUZZTIME  ?= 20000x
REL_CONN_FUZZTIME ?= 20000x
FUZZ_LONG     ?= 1000000x
SOAK_SECONDS  ?= 180
NETSYS_DELIVERY ?= plain
REL_ENV        = NETSYS_RELIABILITY_BIN=$(REL_BIN) NETSYS_RELIABILITY_OUT=$(REL_OUT) NETSYS_DELIVERY=$(NETSYS_DELIVERY) GO=$(GO)

# Fuzz targets added with the suite (package:target); the older ones run
# in the top-level `fuzz` target.
REL_WIRE_FUZZ := ./core/internal/wire:FuzzCodeReason ./core/internal/wire:FuzzDecoderMemory
REL_CONN_FUZZ := ./core:FuzzServerConnBeforeHello ./core:FuzzServerConnAfterHello \
	./core:FuzzServerConnAfterWelcome ./core:FuzzServerConnAfterClose \
	./core:FuzzClientConnBeforeWelcome ./core:FuzzClientConnAfterWelcome
ALL_FUZZ      := ./core/internal/wire:FuzzDecoder ./core/internal/wire:FuzzHandshake ./core:FuzzDecompress \
	$(REL_WIRE_FUZZ) $(REL_CONN_FUZZ)

TEST_TARGETS += test-reliability fuzz-reliability

.PHONY: reliability-build test-reliability fuzz-reliability soak fuzz-long

reliability-build: ## Build the reliability suite's programs
	@mkdir -p $(REL_BIN)
	$(GO) build -o $(REL_BIN)/ ./$(REL_DIR)/cmd/...

# The results table is printed whatever the outcome; the target fails if
# any check failed.
test-reliability: reliability-build ## Reliability suite, fast part (hostile peers, faults, load)
	@rc=0; $(REL_ENV) NETSYS_RELIABILITY=fast timeout 900 $(GO) test -count=1 -timeout 850s ./$(REL_DIR)/ || rc=$$?; \
		cat $(REL_OUT)/results-fast.md 2>/dev/null; exit $$rc

# Both groups run even when the first fails, so every target reports.
fuzz-reliability: ## The suite's fuzz targets, briefly (count-based)
	@rc=0; sh $(REL_DIR)/fuzz.sh $(GO) $(REL_FUZZTIME) $(REL_OUT)/fuzz-wire.txt $(REL_WIRE_FUZZ) || rc=1; \
		sh $(REL_DIR)/fuzz.sh $(GO) $(REL_CONN_FUZZTIME) $(REL_OUT)/fuzz-conn.txt $(REL_CONN_FUZZ) || rc=1; exit $$rc

soak: reliability-build test-cpp-asan ## Reliability suite, long part: full counts, the churn soak (SOAK_SECONDS), the C++ suite under ASan
	@rc=0; $(REL_ENV) NETSYS_RELIABILITY=soak SOAK_SECONDS=$(SOAK_SECONDS) timeout 7200 $(GO) test -count=1 -timeout 7000s -v ./$(REL_DIR)/ || rc=$$?; \
		cat $(REL_OUT)/results-soak.md 2>/dev/null; exit $$rc

fuzz-long: ## Every fuzz target for FUZZ_LONG executions (default 1000000x)
	sh $(REL_DIR)/fuzz.sh $(GO) $(FUZZ_LONG) $(REL_OUT)/fuzz-long.txt $(ALL_FUZZ)
