# The Python package (bindings/python): pure Python over ctypes. Its tests,
# demo and benchmark run against the library in $(BUILD)/lib through
# NETSYS_LIBRARY and the package source through PYTHONPATH: no pip, no
# virtualenv, no network. (`pip install ./bindings/python` builds a wheel with
# the library inside: mk/wheel.mk tests that path.)
#
#   make test-python         pytest suite (tests/python), part of `make test`
#   make test-python-typing  mypy --strict over the package, part of `make test`
#                            (reported as not measured without mypy: make deps)
#   make demo-python         Python examples: echo client against the C++ echo
#                            server (or the Python one if C++ is not built) and
#                            the asyncio chat room
#   make bench-python        64 B one-way throughput into a Python handler and
#                            ping-pong p50/p99 from Python (tests/python/bench)

PYTHON ?= python3
PY_ENV  = PYTHONPATH=$(CURDIR)/bindings/python NETSYS_LIBRARY=$(BUILD)/lib/libnetsys.so NETSYS_BUILD=$(BUILD) GO=$(GO)

TEST_TARGETS  += test-python test-python-typing
DEMO_TARGETS  += demo-python
BENCH_TARGETS += bench-python

.PHONY: test-python test-python-typing demo-python bench-python

# -p no:cacheprovider: no .pytest_cache in the source tree. The timeout is
# a backstop only: every test bounds its own waits. Counts come from
# pytest's JUnit report.
test-python: libnetsys ## Python binding tests (pytest)
	$(say) PYTEST "tests/python (about a minute)"
	$(Q)rm -f $(RESULTS)/test-python.xml; mkdir -p $(RESULTS); \
	$(PY_ENV) timeout 600 $(PYTHON) -m pytest -q -p no:cacheprovider --junitxml=$(RESULTS)/test-python.xml tests/python; \
	rc=$$?; sh mk/results.sh junit test-python $(RESULTS)/test-python.xml; exit $$rc

# The package, its build backend and the wheel test; the cache goes to
# build/, not into the source tree.
test-python-typing: ## mypy --strict over the Python package and its build backend
	$(Q)if $(PYTHON) -c 'import mypy' 2>/dev/null; then \
		echo "  MYPY    --strict: -p netsys, _build/backend.py, tests/wheel/check.py"; \
		cd bindings/python && $(PYTHON) -m mypy --strict --cache-dir $(BUILD)/mypy -p netsys && \
		$(PYTHON) -m mypy --strict --cache-dir $(BUILD)/mypy _build/backend.py $(CURDIR)/tests/wheel/check.py; \
		rc=$$?; cd $(CURDIR); \
		if [ $$rc -eq 0 ]; then sh mk/results.sh record test-python-typing 1 0 0; \
		else sh mk/results.sh record test-python-typing 0 1 0; fi; exit $$rc; \
	else \
		echo "test-python-typing: not measured: mypy not installed (make deps)"; \
		sh mk/results.sh record test-python-typing 0 0 1 "not measured: mypy not installed (make deps)"; \
	fi

demo-python: libnetsys ## Python examples talking to the C++ (or Python) echo server
	$(Q)$(PY_ENV) sh examples/python/demo.sh $(BUILD)/bin

bench-python: libnetsys ## Python binding benchmark (prints msg/s and p50/p99)
	$(say) BENCH "tests/python/bench/bench_python.py (about a minute)"
	$(Q)$(PY_ENV) timeout 600 $(PYTHON) tests/python/bench/bench_python.py
