# The two commands of the README: `make run` starts the broker, `make test` runs every test.
# Both install what they need (Debian and PyPI packages) when it is missing.
SWIFT ?= swift
CONFIG ?= config/parley.conf
PYTEST_FLAGS ?= -q -p no:cacheprovider

.PHONY: run test build unit-test integration-test deps-run deps-test paho-interop clean

run: deps-run
	$(SWIFT) run -c release parley serve -c $(CONFIG)

test: deps-test build unit-test integration-test

build:
	$(SWIFT) build --build-tests

unit-test:
	$(SWIFT) test --skip-build

integration-test:
	PARLEY_BIN=$$($(SWIFT) build --show-bin-path)/parley python3 -m pytest Tests/Integration $(PYTEST_FLAGS)

# Runs the Eclipse Paho interoperability suite (not part of the repository) against Parley.
paho-interop: build
	scripts/paho-interop.sh

deps-run:
	@scripts/install-deps.sh run

deps-test:
	@scripts/install-deps.sh test

clean:
	rm -rf .build
