#!/usr/bin/env bash
# Parley against Debian's Mosquitto, side by side: every scenario of `parley bench`, the two
# brokers alternating (A B A B, each started fresh), the broker pinned to one core and the
# load generator to the other, medians of the rounds and the ratio Parley/Mosquitto.
#
#   scripts/compare-mosquitto.sh                      # 3 rounds, 10 s per measurement
#   scripts/compare-mosquitto.sh --rounds 1 --duration 3 --scenarios fan-in-qos0,latency
#
# Builds the release binary first. Options are those of scripts/compare-brokers.py (--help).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v mosquitto >/dev/null || scripts/install-deps.sh test
swift build -c release --product parley >&2
# Ten thousand idle connections need descriptors on both sides.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec python3 scripts/compare-brokers.py --parley "$(swift build -c release --show-bin-path)/parley" "$@"
