# The two commands of the README: `make run` starts the broker, `make test` runs every test.
# Both install what they need (Debian and PyPI packages) when it is missing.
SWIFT ?= swift
CONFIG ?= config/parley.conf
PYTEST_FLAGS ?= -q -p no:cacheprovider

.PHONY: run test build unit-test integration-test conformance fuzz deps-run deps-test paho-interop storm clean

run: deps-run
	$(SWIFT) run -c release parley serve -c $(CONFIG)

test: deps-test build unit-test integration-test fuzz

build:
	$(SWIFT) build --build-tests

# Suites run in parallel and each starts brokers and clients: allow the descriptors the hard
# limit allows (a fresh machine's soft limit is often 1,024).
unit-test:
	ulimit -n $$(ulimit -Hn) 2>/dev/null || true; $(SWIFT) test --skip-build

integration-test:
	ulimit -n $$(ulimit -Hn) 2>/dev/null || true; PARLEY_BIN=$$($(SWIFT) build --show-bin-path)/parley python3 -m pytest Tests/Integration $(PYTEST_FLAGS)

# Mosquitto's packet-level test data (test/broker/data, not in this repository) against Parley:
# MOSQUITTO_SOURCE=/path/to/mosquitto (checkout or bare git directory; MOSQUITTO_REF picks the
# commit) or MOSQUITTO_TEST_DATA=/path/to/test/broker/data. `make test` runs it too when either is set.
conformance: deps-test build
	@if [ -z "$$MOSQUITTO_SOURCE$$MOSQUITTO_TEST_DATA" ]; then \
		echo "conformance: set MOSQUITTO_SOURCE or MOSQUITTO_TEST_DATA (see README, Differences from Mosquitto)" >&2; exit 2; fi
	PARLEY_BIN=$$($(SWIFT) build --show-bin-path)/parley python3 -m pytest Tests/Integration/test_mosquitto_sequences.py $(PYTEST_FLAGS) -s

# libFuzzer over the MQTT decoders and the persistence store's reader (Tests/Fuzz), with
# AddressSanitizer, in a build folder of its own; FUZZ_SECONDS per run (CI: 60).
# swiftc keeps only the last -sanitize= flag, and SwiftPM orders two --sanitize options as it
# pleases: both go in one flag, so Swift code always gets coverage (what libFuzzer steers by)
# and AddressSanitizer. fuzz.sh fails a run whose target reports no coverage.
FUZZ_SECONDS ?= 60
fuzz:
	PARLEY_FUZZ=1 $(SWIFT) build -c debug --build-path .build-fuzz --sanitize=fuzzer -Xswiftc -sanitize=fuzzer,address --product ParleyFuzz
	scripts/fuzz.sh .build-fuzz/debug/ParleyFuzz $(FUZZ_SECONDS)

# Runs the Eclipse Paho interoperability suite (not part of the repository) against Parley.
paho-interop: build
	scripts/paho-interop.sh

# Connection storms against Parley and Debian's Mosquitto: memory after each round (README, Limits).
STORM_FLAGS ?= --rounds 4 --connections 10000
storm: deps-test
	$(SWIFT) build -c release --product parley
	scripts/connection-storm.py --spawn "$$($(SWIFT) build -c release --show-bin-path)/parley serve --no-chat -p {port}" $(STORM_FLAGS)
	scripts/connection-storm.py --spawn "mosquitto -p {port}" $(STORM_FLAGS)

deps-run:
	@scripts/install-deps.sh run

deps-test:
	@scripts/install-deps.sh test

clean:
	rm -rf .build
