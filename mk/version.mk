# The version: VERSION is the single source (mk/version.sh says where it is
# read and which copies it checks).
#
#   make test-version              every copy and generated file agrees with VERSION
#   make set-version V=X.Y.Z       write VERSION and the copies

TEST_TARGETS += test-version

.PHONY: test-version set-version

test-version: stage ## The version in VERSION, netsys.h, core, Python, pkg-config, CMake agree
	@sh mk/version.sh check $(CURDIR) $(STAGE)

set-version: ## Set the version everywhere: make set-version V=X.Y.Z
	@sh mk/version.sh set $(CURDIR) $(V)
