# Python wheels with libnetsys inside (bindings/python/_build/backend.py: the
# build backend runs the Go build itself; see bindings/python/README.md).
#
#   make wheel       build/wheel/netsys-X.Y.Z-cp38-abi3-<platform>.whl: one
#                    stripped libnetsys.so.MAJOR and the C extension
#                    (netsys/_accel.abi3.so, any CPython >= 3.8) inside;
#                    py3-none-<platform> and no extension where it cannot
#                    be built (no Python headers or C compiler); retagged
#                    manylinux_* by auditwheel when auditwheel and patchelf
#                    are installed (make deps), linux_<arch> otherwise
#   make test-wheel  checks the wheel, installs it into a fresh venv in
#                    build/wheel-test and runs an echo round trip there; then
#                    does the same for `pip install ./bindings/python`.
#                    No network: pip runs with --no-index, and the Go build
#                    uses the module cache that `make` filled.
#
# pip runs with --no-build-isolation: on Python >= 3.11 the backend needs
# nothing but the standard library (older Pythons: tomli, from make deps).

WHEEL_DIR      := $(BUILD)/wheel
WHEEL_TEST_DIR := $(BUILD)/wheel-test

TEST_TARGETS += test-wheel

.PHONY: wheel test-wheel

wheel: ## Platform wheel of the Python package with libnetsys inside (build/wheel/)
	@rm -rf $(WHEEL_DIR) && mkdir -p $(WHEEL_DIR)/raw
	$(say) WHEEL "bindings/python -> build/wheel/ (pip wheel; the backend runs the Go build)"
	$(Q)GO=$(GO) $(PYTHON) -m pip wheel -q --no-index --no-deps --no-build-isolation \
		-w $(WHEEL_DIR)/raw ./bindings/python
	$(Q)if command -v auditwheel >/dev/null && command -v patchelf >/dev/null; then \
		echo "  AUDIT   auditwheel repair (manylinux tag)"; \
		auditwheel repair -w $(WHEEL_DIR) $(WHEEL_DIR)/raw/*.whl >$(WHEEL_DIR)/auditwheel.log 2>&1 \
		|| { cat $(WHEEL_DIR)/auditwheel.log; exit 1; }; \
	else \
		echo "  (auditwheel and patchelf not installed: keeping the linux_* tag; make deps installs them)"; \
		mv $(WHEEL_DIR)/raw/*.whl $(WHEEL_DIR)/; \
	fi
	@rm -rf $(WHEEL_DIR)/raw
	@ls $(WHEEL_DIR)/*.whl

# The extension is expected in the wheels where `make` could build it
# (python-accel: the same Python, headers and compiler).
test-wheel: wheel python-accel ## The wheel and `pip install ./bindings/python` work in a fresh venv
	$(Q)GO=$(GO) $(PYTHON) tests/wheel/check.py --root $(CURDIR) --wheel-dir $(WHEEL_DIR) \
		--work $(WHEEL_TEST_DIR) --results $(RESULTS)/test-wheel.txt $(if $(wildcard $(PYACCEL)),--expect-accel)
