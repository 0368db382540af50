#!/usr/bin/env bash
# Installs what `make run` or `make test` needs on a Debian machine, skipping what is present.
#   scripts/install-deps.sh run    what the build needs (libmosquitto; Swift is expected on PATH)
#   scripts/install-deps.sh test   plus the Mosquitto broker, its clients and the Python test tools
set -euo pipefail
mode=${1:-test}
cd "$(dirname "$0")/.."

need=()
want() { dpkg -s "$1" >/dev/null 2>&1 || need+=("$1"); }
# libmosquitto carries PubSub's messages, so even the broker's build links it.
want libmosquitto-dev
want pkg-config
if [ "$mode" = test ]; then
  want mosquitto
  want mosquitto-clients
  # The chat page's browser tests drive Debian's headless Chromium through Selenium.
  want chromium
  want chromium-driver
  # TLS tests make their certificates with the openssl command; WebSocket tests also speak
  # through Node's MQTT.js.
  want openssl
  want node-mqtt
fi
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && sudo="sudo"
  echo "installing Debian packages: ${need[*]}"
  $sudo apt-get -o DPkg::Lock::Timeout=600 update -qq || true
  DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${need[@]}"
fi

if [ "$mode" = test ]; then
  if ! python3 -c 'import paho.mqtt, pytest, selenium, websocket, prometheus_client; websocket.create_connection' 2>/dev/null; then
    echo "installing Python test packages"
    python3 -m pip install -q -r Tests/Integration/requirements.txt \
      || python3 -m pip install -q --break-system-packages -r Tests/Integration/requirements.txt
  fi
fi
