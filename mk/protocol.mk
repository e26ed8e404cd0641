# The protocol conformance suite (tests/protocol): a peer written in Python
# from docs/protocol.md alone, against netsys servers and clients in Go and
# through the C ABI.
#
#   make test-protocol      build the programs and run the suite (< 60 s)
#
# Outputs: $(BUILD)/protocol/ (goserver, goclient, cserver, cclient).
# The peer needs the Python packages cramjam (Snappy) and zstandard; `make
# deps` (mk/deps.mk) and .ci/run install them. The suite never installs
# anything: a test that needs a missing package fails and says how to
# install it.

PROTO_DIR    := tests/protocol
PROTO_BIN    := $(BUILD)/protocol
PROTO_CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter -O1 -g
PROTO_C_LINK := -I include -L $(LIBDIR) -lnetsys -Wl,-rpath,$(LIBDIR) -lpthread
PROTO_PYTHON ?= python3

# The codec libraries docs/protocol.md names for a third-party peer
# (installed by `make deps`, mk/deps.mk).
DEPS_PIP += cramjam=cramjam zstandard=zstandard

TEST_TARGETS += test-protocol

.PHONY: protocol-programs test-protocol

$(PROTO_BIN)/cserver: $(PROTO_DIR)/servers/cserver.c $(PROTO_DIR)/cprog/prog.h include/netsys.h $(LIBNETSYS)
	@mkdir -p $(PROTO_BIN)
	$(say) CC "$@"
	$(Q)$(CC) $(PROTO_CFLAGS) -o $@ $< $(PROTO_C_LINK)

$(PROTO_BIN)/cclient: $(PROTO_DIR)/drivers/cclient.c $(PROTO_DIR)/cprog/prog.h include/netsys.h $(LIBNETSYS)
	@mkdir -p $(PROTO_BIN)
	$(say) CC "$@"
	$(Q)$(CC) $(PROTO_CFLAGS) -o $@ $< $(PROTO_C_LINK)

# go build caches: rebuilding every time costs little and never goes stale.
protocol-programs: $(PROTO_BIN)/cserver $(PROTO_BIN)/cclient ## The suite's netsys server and client programs
	$(say) GO "$(PROTO_BIN)/goserver, goclient"
	$(Q)$(GO) build -o $(PROTO_BIN)/goserver ./$(PROTO_DIR)/servers/goserver
	$(Q)$(GO) build -o $(PROTO_BIN)/goclient ./$(PROTO_DIR)/drivers/goclient

# -p no:cacheprovider: no .pytest_cache in the source tree. The timeout is
# a backstop only: every socket read and wait in the suite is bounded.
test-protocol: protocol-programs ## Protocol conformance suite (docs/protocol.md)
	$(say) PYTEST "tests/protocol (under a minute)"
	$(Q)rm -f $(RESULTS)/test-protocol.xml; mkdir -p $(RESULTS); \
	PROTOCOL_BIN=$(PROTO_BIN) PROTOCOL_DOC=$(CURDIR)/docs/protocol.md \
		timeout 300 $(PROTO_PYTHON) -m pytest -q -p no:cacheprovider --junitxml=$(RESULTS)/test-protocol.xml $(PROTO_DIR); \
	rc=$$?; sh mk/results.sh junit test-protocol $(RESULTS)/test-protocol.xml; exit $$rc
