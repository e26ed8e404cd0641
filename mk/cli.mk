# The netsys command-line tool (cmd/netsys, Go over core only; its tests run
# with the other Go tests). `make install` puts it into PREFIX/bin.
#
# Outputs: $(BUILD)/bin/netsys

CLI_BIN     := $(BUILD)/bin/netsys
# A file target, so that `sudo make install` after `make` need not run Go.
CLI_SOURCES := $(shell find cmd/netsys core -name '*.go' -not -name '*_test.go' 2>/dev/null) go.mod go.sum

BUILD_TARGETS += build-cli

.PHONY: build-cli install-cli

build-cli: $(CLI_BIN) ## The netsys command-line tool (build/bin/netsys; docs/netsys-cli.md)

$(CLI_BIN): $(CLI_SOURCES)
	@mkdir -p $(dir $@)
	$(say) GO "cmd/netsys -> build/bin/netsys"
	$(Q)$(GO) build -trimpath -o $@ ./cmd/netsys

# A prerequisite of install (mk/capi.mk), so that install's closing message
# comes last and can mention the tool.
install: install-cli
install-cli: $(CLI_BIN)
	$(Q)install -D -m 755 $(CLI_BIN) $(PREFIX)/bin/netsys
