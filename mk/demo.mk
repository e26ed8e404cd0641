# The Go example programs and the cross-language demo.
#
# Outputs:
#   $(BUILD)/bin/go_echo_server, go_echo_client   the Go examples (examples/README.md)
#   $(BUILD)/bin/netsys_crossdemo                   runs every client against every server
#
# The Go examples' tests run with the other Go tests (test-go: go test ./...).

GO_EXAMPLES_BIN := $(BUILD)/bin

BUILD_TARGETS += build-examples-go
DEMO_TARGETS  += demo-cross

.PHONY: build-examples-go demo-cross

# go build caches: running it every time costs little and never goes stale.
build-examples-go: ## Build the Go example echo server and client, and the demo runner
	@mkdir -p $(GO_EXAMPLES_BIN)
	$(say) GO "examples/go -> build/bin/go_echo_server, go_echo_client, netsys_crossdemo"
	$(Q)$(GO) build -o $(GO_EXAMPLES_BIN)/go_echo_server ./examples/go/echo-server
	$(Q)$(GO) build -o $(GO_EXAMPLES_BIN)/go_echo_client ./examples/go/echo-client
	$(Q)$(GO) build -o $(GO_EXAMPLES_BIN)/netsys_crossdemo ./examples/go/crossdemo

# Depends on build so that every language's programs exist, even with -j.
demo-cross: build ## Every language's echo client against the Go server, and back
	$(Q)$(GO_EXAMPLES_BIN)/netsys_crossdemo --root $(CURDIR) --bin $(GO_EXAMPLES_BIN) --lib $(BUILD)/lib/libnetsys.so \
		--results $(RESULTS)/demo-cross.txt
