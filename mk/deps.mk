# `make deps` installs what the test suites need and a fresh machine may
# lack; .ci/run does the same before `make test`. Test targets never
# install anything. Each part adds its own prerequisite to `deps` (rules
# without a recipe accumulate), so this file stays a single line.
.PHONY: deps
deps: ## Install the test suites' missing dependencies
