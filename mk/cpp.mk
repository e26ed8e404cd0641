# The C++ wrapper: header-only network_system over include/netsys.h.
# Everything C++ is built with CMake against the staged install
# ($(BUILD)/stage, from `make stage`), exactly as a user's project would
# find it: find_package(NetworkSystem CONFIG) -> NetworkSystem::Core.
#
# Outputs:
#   $(BUILD)/cpp/            GoogleTest suite (tests/cpp)
#   $(BUILD)/cpp-bench/      the same project in Release, for the benchmark
#   $(BUILD)/cpp-examples/   examples (examples/cpp)
#   $(BUILD)/bin/cpp_*       example binaries

CPP_STAGE    := $(BUILD)/stage
CPP_TEST_DIR := $(BUILD)/cpp
CPP_BENCH_DIR := $(BUILD)/cpp-bench
CPP_EX_DIR   := $(BUILD)/cpp-examples
CPP_BIN      := $(BUILD)/bin
CPP_CMAKE    := cmake -G Ninja -DCMAKE_PREFIX_PATH=$(CPP_STAGE)
# ninja prints one short line per step; V=1 shows the compiler commands.
CPP_BUILD    := sh mk/progress.sh "compiling C++" cmake --build $(if $(filter 1,$(V)),--verbose)

BUILD_TARGETS += build-cpp
TEST_TARGETS  += test-cpp
DEMO_TARGETS  += demo-cpp
BENCH_TARGETS += bench-cpp

.PHONY: build-cpp test-cpp demo-cpp bench-cpp

build-cpp: stage ## C++ examples (cpp_echo_server, cpp_echo_client, cpp_chat_server, cpp_chat_client)
	$(say) CMAKE "examples/cpp -> build/bin/cpp_* (CMake + ninja against build/stage)"
	$(Q)$(CPP_CMAKE) -DCMAKE_BUILD_TYPE=RelWithDebInfo -S examples/cpp -B $(CPP_EX_DIR) -DNETSYS_BIN_DIR=$(CPP_BIN) >/dev/null
	$(Q)$(CPP_BUILD) $(CPP_EX_DIR)

# Counts come from ctest's JUnit report.
test-cpp: stage ## GoogleTest suite of the C++ wrapper, via ctest
	$(say) CMAKE "tests/cpp (GoogleTest; compiling takes a minute or two)"
	$(Q)$(CPP_CMAKE) -DCMAKE_BUILD_TYPE=RelWithDebInfo -S tests/cpp -B $(CPP_TEST_DIR) >/dev/null
	$(Q)$(CPP_BUILD) $(CPP_TEST_DIR)
	$(say) CTEST "$(patsubst $(CURDIR)/%,%,$(CPP_TEST_DIR))"
	$(Q)rm -f $(RESULTS)/test-cpp.xml; mkdir -p $(RESULTS); \
	cd $(CPP_TEST_DIR) && ctest --output-on-failure --timeout 120 --output-junit $(RESULTS)/test-cpp.xml; rc=$$?; \
	cd $(CURDIR) && sh mk/results.sh junit test-cpp $(RESULTS)/test-cpp.xml; exit $$rc

demo-cpp: build-cpp ## C++ echo server + client, then the chat room with groups
	$(Q)sh examples/cpp/demo.sh $(CPP_BIN)

# Google Benchmark comes from the system (make deps); without it there is
# nothing to measure, which is said instead of installing it.
bench-cpp: stage ## Google Benchmark of the C++ wrapper (echo, multi-client, large messages)
	$(Q)$(CPP_CMAKE) -DCMAKE_BUILD_TYPE=Release -S tests/cpp -B $(CPP_BENCH_DIR) >/dev/null
	$(Q)if grep -q '^benchmark_DIR:PATH=.*NOTFOUND' $(CPP_BENCH_DIR)/CMakeCache.txt; then \
		echo "bench-cpp: not measured: libbenchmark-dev (Google Benchmark) not installed (make deps)"; \
	else \
		$(CPP_BUILD) $(CPP_BENCH_DIR) --target benchmark_network_performance && \
		$(CPP_BENCH_DIR)/benchmark_network_performance; \
	fi

# Not in TEST_TARGETS (it doubles the build time): the same suite under
# AddressSanitizer + UndefinedBehaviorSanitizer. detect_leaks=0 because LSan
# cannot tell the Go runtime's never-freed heap inside libnetsys from a leak.
CPP_ASAN_DIR := $(BUILD)/cpp-asan
.PHONY: test-cpp-asan
test-cpp-asan: stage ## The C++ suite under ASan+UBSan
	$(Q)$(CPP_CMAKE) -DCMAKE_BUILD_TYPE=Debug \
		-DCMAKE_CXX_FLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
		-S tests/cpp -B $(CPP_ASAN_DIR) >/dev/null
	$(Q)$(CPP_BUILD) $(CPP_ASAN_DIR)
	$(Q)cd $(CPP_ASAN_DIR) && ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 \
		ctest --output-on-failure --timeout 120
