# The Python package (bindings/python): pure Python over ctypes, plus an
# optional C extension (bindings/python/_ext/_accel.c: the per-message
# loops) built into $(BUILD)/python/netsys/, not into the source tree. Its
# tests, demo and benchmark run against the library in $(BUILD)/lib through
# NETSYS_LIBRARY, the package source through PYTHONPATH and the extension
# through NETSYS_BUILD: no pip, no virtualenv, no network. (`pip install
# ./bindings/python` builds a wheel with the library and the extension
# inside: mk/wheel.mk tests that path.)
#
#   make python-accel        the C extension, part of `make build` (without
#                            Python headers or a C compiler: one line says
#                            so, and the package runs pure Python)
#   make test-python         pytest suite (tests/python), part of `make test`:
#                            once with the extension (when built), once more
#                            as pure Python (NETSYS_PYTHON_ACCEL=0)
#   make test-python-typing  mypy --strict over the package, part of `make test`
#                            (reported as not measured without mypy: make deps)
#   make demo-python         Python examples: echo client against the C++ echo
#                            server (or the Python one if C++ is not built) and
#                            the asyncio chat room
#   make bench-python        64 B one-way throughput into a Python handler and
#                            ping-pong p50/p99 from Python (tests/python/bench)

PYTHON ?= python3
PY_ENV  = PYTHONPATH=$(CURDIR)/bindings/python NETSYS_LIBRARY=$(BUILD)/lib/libnetsys.so NETSYS_BUILD=$(BUILD) GO=$(GO)

BUILD_TARGETS += python-accel
TEST_TARGETS  += test-python test-python-typing
DEMO_TARGETS  += demo-python
BENCH_TARGETS += bench-python

.PHONY: python-accel test-python test-python-typing demo-python bench-python

# The extension uses CPython's stable ABI (3.8 and later): one
# _accel.abi3.so for every CPython 3 on this platform. The package's build
# backend compiles it (the same command as for the wheel, with the headers
# of $(PYTHON)); warnings are errors, as for our other C. It says in one
# line when it cannot (no Python headers, no compiler).
PYACCEL     := $(BUILD)/python/netsys/_accel.abi3.so
PYACCEL_SRC := bindings/python/_ext/_accel.c

python-accel: $(PYACCEL) ## The Python package's optional C extension (build/python/netsys/)

$(PYACCEL): $(PYACCEL_SRC) include/netsys.h bindings/python/_build/backend.py
	$(Q)V=$(V) $(PYTHON) bindings/python/_build/backend.py extension include $@ $(C_WARN)

# -p no:cacheprovider: no .pytest_cache in the source tree. The timeout is
# a backstop only: every test bounds its own waits. Counts come from
# pytest's JUnit reports, both passes added up. The first pass uses the C
# extension when it was built (tests/python/test_accel.py fails if it was
# built and does not load); the second runs the package as pure Python.
test-python: libnetsys python-accel ## Python binding tests (pytest): with the C extension, then pure Python
	$(say) PYTEST "tests/python, with the C extension if built (about a minute)"
	$(Q)rm -f $(RESULTS)/test-python.xml $(RESULTS)/test-python-pure.xml; mkdir -p $(RESULTS); \
	$(PY_ENV) timeout 600 $(PYTHON) -m pytest -q -p no:cacheprovider --junitxml=$(RESULTS)/test-python.xml tests/python; \
	rc=$$?; sh mk/results.sh junit test-python $(RESULTS)/test-python.xml; \
	echo "  PYTEST  tests/python, pure Python (NETSYS_PYTHON_ACCEL=0; about a minute)"; \
	$(PY_ENV) NETSYS_PYTHON_ACCEL=0 timeout 600 $(PYTHON) -m pytest -q -p no:cacheprovider \
		--junitxml=$(RESULTS)/test-python-pure.xml tests/python || rc=1; \
	sh mk/results.sh junit test-python-pure $(RESULTS)/test-python-pure.xml; \
	read -r p f s rest < $(RESULTS)/test-python-pure.txt; rm -f $(RESULTS)/test-python-pure.txt; \
	sh mk/results.sh add test-python $$p $$f $$s; exit $$rc

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
