# The netsys command-line tool (cmd/netsys, Go over core only; its tests run
# with the other Go tests). `make install` puts it into PREFIX/bin.
#
# Outputs: $(BUILD)/bin/netsys

CLI_BIN := $(BUILD)/bin/netsys

BUILD_TARGETS += build-cli

.PHONY: build-cli install-cli

# go build caches: running it every time costs little and never goes stale.
build-cli: ## The netsys command-line tool (build/bin/netsys; docs/netsys-cli.md)
	@mkdir -p $(dir $(CLI_BIN))
	$(say) GO "cmd/netsys -> build/bin/netsys"
	$(Q)$(GO) build -trimpath -o $(CLI_BIN) ./cmd/netsys

# A prerequisite of install (mk/capi.mk), so that install's closing message
# comes last and can mention the tool.
install: install-cli
install-cli: build-cli
	$(Q)install -D -m 755 $(CLI_BIN) $(PREFIX)/bin/netsys
