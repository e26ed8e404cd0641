# The Python package (bindings/python): pure Python over ctypes, so nothing
# is compiled here. Its tests, demo and benchmark run against the library in
# $(BUILD)/lib through NETSYS_LIBRARY and the package source through
# PYTHONPATH: no pip, no virtualenv, no network on a fresh CI machine.
# (`pip install ./bindings/python` is for users; see bindings/python/README.md.)
#
#   make test-python     pytest suite (tests/python), part of `make test`
#   make demo-python     Python examples: echo client against the C++ echo
#                        server (or the Python one if C++ is not built) and
#                        the asyncio chat room
#   make bench-python    64 B one-way throughput into a Python handler and
#                        ping-pong p50/p99 from Python (tests/python/bench)

PYTHON ?= python3
PY_ENV  = PYTHONPATH=$(CURDIR)/bindings/python NETSYS_LIBRARY=$(BUILD)/lib/libnetsys.so NETSYS_BUILD=$(BUILD) GO=$(GO)

TEST_TARGETS  += test-python
DEMO_TARGETS  += demo-python
BENCH_TARGETS += bench-python

.PHONY: test-python demo-python bench-python

# -p no:cacheprovider: no .pytest_cache in the source tree. The timeout is
# a backstop only: every test bounds its own waits.
test-python: libnetsys ## Python binding tests (pytest)
	$(PY_ENV) timeout 600 $(PYTHON) -m pytest -q -p no:cacheprovider tests/python

demo-python: libnetsys ## Python examples talking to the C++ (or Python) echo server
	$(PY_ENV) sh examples/python/demo.sh $(BUILD)/bin

bench-python: libnetsys ## Python binding benchmark (prints msg/s and p50/p99)
	$(PY_ENV) timeout 600 $(PYTHON) tests/python/bench/bench_python.py
