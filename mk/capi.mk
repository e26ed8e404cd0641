# The C ABI: libnetsys.so from capi/, its install tree (headers, CMake
# package, pkg-config file), the C tests, the C example and the C bench.
#
# Outputs:
#   $(BUILD)/lib/libnetsys.so.X.Y.Z (+ libnetsys.so.X, libnetsys.so symlinks;
#                                    X.Y.Z is the VERSION file's content)
#   $(BUILD)/stage/                  `make install` into the build tree (C++ tests use it)
#   $(BUILD)/bin/c_echo_server, c_echo_client, c_bench
#   $(BUILD)/ctest/                  the C test binaries (plain and sanitized)

# The version's single source is the VERSION file (mk/version.mk checks the
# copies that cannot read it: netsys.h, core.Version, the Python package).
NETSYS_VERSION := $(strip $(file < $(CURDIR)/VERSION))
NETSYS_SOMAJOR := $(firstword $(subst ., ,$(NETSYS_VERSION)))
LIBDIR         := $(BUILD)/lib
LIBNETSYS      := $(LIBDIR)/libnetsys.so.$(NETSYS_VERSION)
STAGE          := $(BUILD)/stage
CBIN           := $(BUILD)/bin
CTEST          := $(BUILD)/ctest
CC             ?= cc
# Warnings are errors for our own C; -std=c11 keeps the tests plain C11.
C_WARN         := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter
C_SAN          := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

# Rebuild the library when any Go, C or header input changes.
CAPI_SOURCES := $(shell find capi core -name '*.go' -not -name '*_test.go' 2>/dev/null) \
	$(wildcard capi/*.c capi/*.h capi/netsys.map) include/netsys.h go.mod go.sum VERSION

BUILD_TARGETS += libnetsys stage build-c
TEST_TARGETS  += test-c
DEMO_TARGETS  += demo-c
BENCH_TARGETS += bench-c

.PHONY: libnetsys stage install build-c test-c test-c-consumer demo-c bench-c

libnetsys: $(LIBNETSYS) ## Build build/lib/libnetsys.so (the C ABI)

# -z nodelete: dlclose() must not unmap the Go runtime (unsupported).
# The cgo-generated header is internal and is removed right away.
$(LIBNETSYS): $(CAPI_SOURCES)
	@mkdir -p $(LIBDIR)
	$(say) GO "capi -> $(patsubst $(CURDIR)/%,%,$@) (cgo c-shared build; about a minute from a cold Go cache)"
	$(Q)sh mk/progress.sh "building libnetsys" $(GO) build -buildmode=c-shared -trimpath \
		-ldflags "-extldflags '-Wl,-soname,libnetsys.so.$(NETSYS_SOMAJOR) -Wl,--version-script=$(CURDIR)/capi/netsys.map -Wl,-z,nodelete'" \
		-o $@ ./capi
	$(Q)rm -f $(LIBDIR)/libnetsys.so.*.h $(LIBDIR)/libnetsys.h
	$(Q)ln -sf libnetsys.so.$(NETSYS_VERSION) $(LIBDIR)/libnetsys.so.$(NETSYS_SOMAJOR)
	$(Q)ln -sf libnetsys.so.$(NETSYS_SOMAJOR) $(LIBDIR)/libnetsys.so

# install: library + symlinks, every header under include/ (C and C++),
# the relocatable CMake package and pkg-config file.
install: $(LIBNETSYS) ## Install into PREFIX (default /usr/local)
	$(Q)sh cmake/install.sh "$(CURDIR)" "$(LIBDIR)" "$(PREFIX)" "$(NETSYS_VERSION)" "$(NETSYS_SOMAJOR)"

# Not wiped first: other parts build against the stage while it is refreshed.
stage: $(LIBNETSYS) ## Install into build/stage (what the C++ tests build against)
	$(say) INSTALL "$(patsubst $(CURDIR)/%,%,$(STAGE)) (headers, library, CMake and pkg-config files)"
	$(Q)NETSYS_INSTALL_QUIET=1 sh cmake/install.sh "$(CURDIR)" "$(LIBDIR)" "$(STAGE)" "$(NETSYS_VERSION)" "$(NETSYS_SOMAJOR)"

# --- C programs -------------------------------------------------------------

C_TESTS  := $(patsubst tests/c/%.c,%,$(wildcard tests/c/test_*.c))
C_LINK   := -I include -L $(LIBDIR) -lnetsys -Wl,-rpath,$(LIBDIR) -lpthread

$(CBIN)/c_echo_server: examples/c/echo_server.c include/netsys.h $(LIBNETSYS)
	@mkdir -p $(CBIN)
	$(say) CC $<
	$(Q)$(CC) $(C_WARN) -O2 -o $@ $< $(C_LINK)

$(CBIN)/c_echo_client: examples/c/echo_client.c include/netsys.h $(LIBNETSYS)
	@mkdir -p $(CBIN)
	$(say) CC $<
	$(Q)$(CC) $(C_WARN) -O2 -o $@ $< $(C_LINK)

$(CBIN)/c_bench: tests/c/bench/c_bench.c include/netsys.h $(LIBNETSYS)
	@mkdir -p $(CBIN)
	$(say) CC $<
	$(Q)$(CC) $(C_WARN) -O2 -o $@ $< $(C_LINK)

$(CTEST)/%: tests/c/%.c tests/c/testutil.h include/netsys.h $(LIBNETSYS)
	@mkdir -p $(CTEST)
	$(say) CC $<
	$(Q)$(CC) $(C_WARN) -g -O1 -o $@ $< $(C_LINK)

$(CTEST)/%.asan: tests/c/%.c tests/c/testutil.h include/netsys.h $(LIBNETSYS)
	@mkdir -p $(CTEST)
	$(say) CC "$< (ASan+UBSan)"
	$(Q)$(CC) $(C_WARN) $(C_SAN) -g -O1 -o $@ $< $(C_LINK)

# The same library built with GOEXPERIMENT=cgocheck2: the Go runtime then
# checks every pointer C stores into or passes to Go memory. The plain test
# binaries run once more against it (LD_LIBRARY_PATH beats their RUNPATH).
CGOCHECK2_LIB := $(BUILD)/lib-cgocheck2/libnetsys.so.$(NETSYS_SOMAJOR)
$(CGOCHECK2_LIB): $(CAPI_SOURCES)
	@mkdir -p $(dir $@)
	$(say) GO "capi -> $(patsubst $(CURDIR)/%,%,$@) (GOEXPERIMENT=cgocheck2; a minute or two from a cold cache)"
	$(Q)GOEXPERIMENT=cgocheck2 sh mk/progress.sh "building the cgocheck2 library" $(GO) build -buildmode=c-shared \
		-ldflags "-extldflags '-Wl,-soname,libnetsys.so.$(NETSYS_SOMAJOR) -Wl,--version-script=$(CURDIR)/capi/netsys.map'" \
		-o $@ ./capi
	$(Q)rm -f $(dir $@)*.h

build-c: $(CBIN)/c_echo_server $(CBIN)/c_echo_client $(CBIN)/c_bench

# No sanitizer suppressions are needed: the Go runtime's memory is mmapped,
# outside ASan's heap, and LeakSanitizer (on by default) finds no leak at
# exit. Handle leaks are checked separately with netsys_live_handles().
C_ASAN_ENV := UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# Every program runs even after a failure; each run counts as one test.
test-c: $(addprefix $(CTEST)/,$(C_TESTS)) $(addprefix $(CTEST)/,$(addsuffix .asan,$(C_TESTS))) $(CGOCHECK2_LIB) ## C ABI tests: plain, ASan+UBSan, cgocheck2 library; symbols; consumers
	@sh mk/results.sh record test-c 0 0 0
	@echo "  CHECK   exported symbols (tests/c/check_symbols.sh)"
	@sh mk/results.sh check test-c check_symbols sh tests/c/check_symbols.sh $(LIBDIR) || true
	@echo "  CHECK   consumers of an installed, moved prefix: CMake, pkg-config, the C++ README snippet"
	@sh mk/results.sh check test-c consumers sh mk/progress.sh "consumer builds" $(MAKE) --no-print-directory test-c-consumer || true
	@for t in $(C_TESTS); do \
		echo "  RUN     $$t"; sh mk/results.sh check test-c $$t timeout 120 $(CTEST)/$$t; \
		echo "  RUN     $$t (asan+ubsan)"; sh mk/results.sh check test-c $$t.asan env $(C_ASAN_ENV) timeout 120 $(CTEST)/$$t.asan; \
		echo "  RUN     $$t (cgocheck2 library)"; sh mk/results.sh check test-c $$t.cgocheck2 env LD_LIBRARY_PATH=$(dir $(CGOCHECK2_LIB)) timeout 120 $(CTEST)/$$t; \
	done; read -r passed failed rest < $(RESULTS)/test-c.txt; [ "$$failed" -eq 0 ]

test-c-consumer: $(LIBNETSYS) ## find_package and pkg-config consumers against a fresh prefix
	$(Q)sh tests/consumer/run.sh "$(MAKE)" "$(BUILD)"

demo-c: $(CBIN)/c_echo_server $(CBIN)/c_echo_client ## C echo server and client talking
	sh examples/c/demo.sh $(CBIN)

# The pure-Go figures on the same loopback setup (one-loop server, one
# connection, 64 B) come from core's benchmarks, printed right after.
bench-c: $(CBIN)/c_bench ## One-way 64 B throughput and ping-pong latency: C API vs pure Go
	$(say) BENCH "build/bin/c_bench (C API, about 30 s)"
	$(Q)timeout 300 $(CBIN)/c_bench
	@echo "pure Go (core/bench_test.go, same setup):"
	timeout 300 $(GO) test -run '^$$' -bench '^Benchmark(Throughput64B|PingPong64B)$$' -benchtime 2s ./core/ | grep '^Benchmark'
