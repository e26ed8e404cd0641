# netsys build. `make` builds everything; `make test` runs every suite;
# `make demo` runs the multi-language demo; `make bench` runs the benchmarks;
# `make deps` installs what they need (the only target that installs).
#
# Each part of the tree owns a fragment in mk/ that appends its targets to
# BUILD_TARGETS, TEST_TARGETS, DEMO_TARGETS and BENCH_TARGETS, so the parts
# can grow without editing this file.
#
# Output: commands are shown as one short line each ("  GO      capi ->
# build/lib/libnetsys.so.1.2.0"); `make V=1` shows the full commands.
GO        ?= go
BUILD     ?= $(CURDIR)/build
PREFIX    ?= /usr/local
# A count, not a duration: a duration-based -fuzztime can fail spuriously with
# "context deadline exceeded" on a loaded machine (go.dev/issue/75804).
FUZZTIME  ?= 20000x

V ?= 0
ifeq ($(V),1)
Q   :=
say := @true
else
Q   := @
say := @printf '  %-7s %s\n'
endif
# make -s: not even the short lines (as kbuild).
ifneq ($(findstring s,$(firstword -$(MAKEFLAGS))),)
say := @true
endif

# Each test target records its counts here (mk/results.sh); `make test`
# prints them at the end. The demo's parts do the same in DEMO_RESULTS.
RESULTS      := $(BUILD)/test-results
DEMO_RESULTS := $(BUILD)/demo-results
GOTEST_TOOL  := $(BUILD)/tools/gotest-summary
GOTEST       := $(GOTEST_TOOL) -go $(GO) -results $(RESULTS)
export RESULTS_DIR := $(RESULTS)

BUILD_TARGETS := build-go
TEST_TARGETS  := test-go test-cross fuzz
DEMO_TARGETS  := demo-go
BENCH_TARGETS := bench-go

.PHONY: all test demo bench clean help build-go test-go test-cross fuzz demo-go bench-go

# The default goal must come before the fragments' rules.
all: build

-include $(sort $(wildcard mk/*.mk))

.PHONY: build
build: $(BUILD_TARGETS) ## Build everything

# Every suite runs (one after the other, each saying what it is), even after
# a failure, then one line per suite; the exit status is non-zero if any
# failed. A target that records no counts (mk/results.sh) counts as one.
test: ## Build everything and run every test suite, then one summary line per suite
	@rm -rf $(RESULTS)
	@$(MAKE) --no-print-directory build || { sh mk/results.sh summary "make test" tests 1 build; exit 1; }
	@rc=0; for t in $(TEST_TARGETS); do \
		echo; echo "== $$t: $$(sed -n "s/^$$t:.*## //p" $(MAKEFILE_LIST) | head -n 1)"; \
		if $(MAKE) --no-print-directory $$t; then \
			[ -f $(RESULTS)/$$t.txt ] || sh mk/results.sh record $$t 1 0 0; \
		else \
			rc=1; [ -f $(RESULTS)/$$t.txt ] || sh mk/results.sh record $$t 0 1 0; \
		fi; \
	done; sh mk/results.sh summary "make test" tests $$rc $(TEST_TARGETS)

# The same for the demo: each part records its checks in DEMO_RESULTS.
demo: ## Run the demo: servers and clients in several languages, then the overall result
	@rm -rf $(DEMO_RESULTS)
	@$(MAKE) --no-print-directory build || exit 1
	@rc=0; for t in $(DEMO_TARGETS); do \
		echo; echo "== $$t: $$(sed -n "s/^$$t:.*## //p" $(MAKEFILE_LIST) | head -n 1)"; \
		if RESULTS_DIR=$(DEMO_RESULTS) $(MAKE) --no-print-directory $$t RESULTS=$(DEMO_RESULTS); then \
			[ -f $(DEMO_RESULTS)/$$t.txt ] || RESULTS_DIR=$(DEMO_RESULTS) sh mk/results.sh record $$t 1 0 0; \
		else \
			rc=1; [ -f $(DEMO_RESULTS)/$$t.txt ] || RESULTS_DIR=$(DEMO_RESULTS) sh mk/results.sh record $$t 0 1 0; \
		fi; \
	done; RESULTS_DIR=$(DEMO_RESULTS) sh mk/results.sh summary demo checks $$rc $(DEMO_TARGETS)

bench: build $(BENCH_TARGETS) ## Run the benchmarks

build-go:
	$(say) GO "go build ./..."
	$(Q)$(GO) build ./...

$(GOTEST_TOOL): mk/gotest-summary.go
	@mkdir -p $(dir $@)
	$(Q)$(GO) build -o $@ mk/gotest-summary.go

test-go: $(GOTEST_TOOL) ## go vet, go.mod tidy, and the race-enabled Go tests
	$(say) VET "go vet ./..."
	$(Q)$(GO) vet ./...
	$(say) TIDY "go mod tidy -diff (root module)"
	$(Q)$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy" >&2; exit 1; }
	$(say) TEST "go test -race ./... (a few minutes; one line per package)"
	$(Q)$(GOTEST) -suite test-go -- -race -count=1 $$($(GO) list ./... | grep -v /tests/reliability)

test-cross: ## The core must build for the kqueue platforms too
	$(say) GO "core for darwin/arm64"
	$(Q)GOOS=darwin GOARCH=arm64 $(GO) build ./core/...
	$(say) GO "core for freebsd/amd64"
	$(Q)GOOS=freebsd GOARCH=amd64 $(GO) build ./core/...
	@sh mk/results.sh record test-cross 2 0 0

fuzz: ## Every fuzz target briefly (count-based; corpora are committed under testdata/fuzz)
	$(say) FUZZ "$(words $(ALL_FUZZ)) targets, $(FUZZTIME) executions each"
	$(Q)rc=0; sh tests/reliability/fuzz.sh $(GO) $(FUZZTIME) $(RESULTS)/fuzz-log.txt $(ALL_FUZZ) || rc=1; \
	sh mk/results.sh record fuzz $$(grep -c 'result=PASS' $(RESULTS)/fuzz-log.txt) $$(grep -c 'result=FAIL' $(RESULTS)/fuzz-log.txt) 0; \
	exit $$rc

demo-go: ## The Go walk-through: chat server, groups, reconnect, statistics
	$(Q)$(GO) run ./examples/go/demo --results $(RESULTS)/demo-go.txt

bench-go: ## Go micro-benchmarks of the core
	$(GO) test -run '^$$' -bench . -benchtime 2s ./core/...

clean: ## Remove build outputs
	rm -rf $(BUILD)

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'
