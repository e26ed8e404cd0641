# netsys build. `make` builds everything; `make test` runs every suite;
# `make demo` runs the multi-language demo; `make bench` runs the benchmarks.
GO        ?= go
BUILD     ?= build
PREFIX    ?= /usr/local
GOFLAGS   ?=
FUZZTIME  ?= 5s

.PHONY: all test test-go test-cross fuzz demo bench clean help

all: ## Build everything
	$(GO) build ./...

test: test-go test-cross fuzz ## Build everything and run every test suite

test-go: ## go vet and the race-enabled Go tests
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...

test-cross: ## The core must build for the kqueue platforms too
	GOOS=darwin GOARCH=arm64 $(GO) build ./core/...
	GOOS=freebsd GOARCH=amd64 $(GO) build ./core/...

fuzz: ## Run each fuzz target briefly (seed corpora are committed)
	$(GO) test -run '^$$' -fuzz '^FuzzDecoder$$' -fuzztime $(FUZZTIME) ./core/internal/wire
	$(GO) test -run '^$$' -fuzz '^FuzzHandshake$$' -fuzztime $(FUZZTIME) ./core/internal/wire

demo: ## Run the demo: a server and clients exchanging messages
	$(GO) run ./examples/go/demo

bench: ## Run the benchmarks
	$(GO) test -run '^$$' -bench . -benchtime 2s ./core/...

clean: ## Remove build outputs
	rm -rf $(BUILD)

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'
