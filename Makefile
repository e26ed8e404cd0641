# netsys build. `make` builds everything; `make test` runs every suite;
# `make demo` runs the multi-language demo; `make bench` runs the benchmarks.
#
# Each part of the tree owns a fragment in mk/ that appends its targets to
# BUILD_TARGETS, TEST_TARGETS, DEMO_TARGETS and BENCH_TARGETS, so the parts
# can grow without editing this file.
GO        ?= go
BUILD     ?= $(CURDIR)/build
PREFIX    ?= /usr/local
# A count, not a duration: a duration-based -fuzztime can fail spuriously with
# "context deadline exceeded" on a loaded machine (go.dev/issue/75804).
FUZZTIME  ?= 50000x

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

test: build $(TEST_TARGETS) ## Build everything and run every test suite

demo: build $(DEMO_TARGETS) ## Run the demo: servers and clients in several languages

bench: build $(BENCH_TARGETS) ## Run the benchmarks

build-go:
	$(GO) build ./...

test-go: ## go vet and the race-enabled Go tests
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...

test-cross: ## The core must build for the kqueue platforms too
	GOOS=darwin GOARCH=arm64 $(GO) build ./core/...
	GOOS=freebsd GOARCH=amd64 $(GO) build ./core/...

fuzz: ## Run each fuzz target briefly (seed corpora are committed)
	$(GO) test -run '^$$' -fuzz '^FuzzDecoder$$' -fuzztime $(FUZZTIME) ./core/internal/wire
	$(GO) test -run '^$$' -fuzz '^FuzzHandshake$$' -fuzztime $(FUZZTIME) ./core/internal/wire
	$(GO) test -run '^$$' -fuzz '^FuzzDecompress$$' -fuzztime $(FUZZTIME) ./core

demo-go:
	$(GO) run ./examples/go/demo

bench-go: ## Go micro-benchmarks of the core
	$(GO) test -run '^$$' -bench . -benchtime 2s ./core/...

clean: ## Remove build outputs
	rm -rf $(BUILD)

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'
