#!/usr/bin/env bash
# Runs the libFuzzer binary built by `make fuzz` for SECONDS, from seeds written here: valid
# packets of each MQTT version and a valid store, so the fuzzer starts past the checksums and
# length fields. A crash fails the run and leaves its input in FUZZ_ARTIFACTS
# (.build-fuzz/artifacts by default); replay it with `BINARY FILE`.
set -euo pipefail
binary=$1
seconds=${2:-60}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus"
python3 - "$work/corpus" <<'PY'
import os, struct, sys
corpus = sys.argv[1]
def write(name, data):
    open(os.path.join(corpus, name), "wb").write(data)
def mqtt_string(s):
    b = s.encode()
    return struct.pack(">H", len(b)) + b
def packet(first, body):
    length, encoded = len(body), b""
    while True:
        byte = length % 128
        length //= 128
        encoded += bytes([byte | (0x80 if length else 0)])
        if not length:
            return bytes([first]) + encoded + body
for mode, level in ((0, 3), (1, 4), (2, 5)):
    props = b"\x00" if level == 5 else b""
    name = b"MQIsdp" if level == 3 else b"MQTT"
    connect = packet(0x10, struct.pack(">H", len(name)) + name + bytes([level, 0xC2]) + b"\x00\x3c" + props
                     + mqtt_string("fuzz") + mqtt_string("user") + mqtt_string("pw"))
    publish = packet(0x32, mqtt_string("a/b") + b"\x00\x01" + props + b"payload")
    subscribe = packet(0x82, b"\x00\x02" + props + mqtt_string("a/#") + b"\x01")
    write(f"packets-{level}", bytes([mode]) + connect + publish + subscribe + packet(0xC0, b""))
# Mode 4: type, length, body chunks that the harness frames with valid checksums.
header = b"PARLEY\x01"
message = (struct.pack(">Q", 1) + mqtt_string("t") + b"\x01\x00" + b"\x00" + struct.pack(">I", 2) + b"hi")
session = (struct.pack(">Q", 7) + mqtt_string("client") + struct.pack(">I", 300) + b"\x00"
           + struct.pack(">q", -1) + struct.pack(">I", 1) + mqtt_string("t/#") + b"\x01\x00\x00" + struct.pack(">i", -1))
queued = struct.pack(">QQ", 7, 1) + b"\x01\x00" + struct.pack(">H", 0)
sent = struct.pack(">QQ", 7, 1) + struct.pack(">H", 5)
chunks = [(0, header), (1, message), (4, session), (7, queued), (8, sent), (2, struct.pack(">Q", 1) + mqtt_string("t"))]
write("store-records", bytes([4]) + b"".join(bytes([t, len(b)]) + b for t, b in chunks))
PY
artifacts=${FUZZ_ARTIFACTS:-.build-fuzz/artifacts}
mkdir -p "$artifacts"
status=0
"$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$artifacts/" \
    -print_final_stats=1 "$work/corpus" > "$work/log" 2>&1 || status=$?
tail -n 25 "$work/log"
[ "$status" = 0 ] || exit "$status"
# A binary built without coverage runs every input blind and finds nothing: that is a failure.
if grep -q "no interesting inputs were found" "$work/log" || ! grep -q "cov: [1-9]" "$work/log"; then
    echo "fuzz.sh: the fuzz target reports no coverage; it was built without -sanitize=fuzzer" >&2
    exit 1
fi
