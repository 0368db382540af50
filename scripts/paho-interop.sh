#!/usr/bin/env bash
# Run the Eclipse Paho MQTT interoperability suites (client_test.py for MQTT 3.1.1,
# client_test5.py for MQTT 5) against a broker started from a generated
# Mosquitto-syntax config file.
#
# The suite itself is NOT part of this repository; fetch it separately:
#   git clone https://github.com/eclipse/paho.mqtt.testing /tmp/paho.mqtt.testing
#
# Usage: scripts/paho-interop.sh [options] [TEST ...]
#   --suite-dir DIR        suite checkout (default /tmp/paho.mqtt.testing)
#   --broker-cmd "CMD"     broker command line; {conf} is replaced by the config
#                          path (default: ".build/debug/parley serve -c {conf}").
#                          Run from the repository root.
#   --suite v3|v5|both     which suite(s) to run (default both)
#   --test-timeout SECS    per-test watchdog (default 60)
#   --suite-timeout SECS   whole-suite watchdog (default 1800)
#   --start-timeout SECS   how long to wait for the broker port (default 20)
#   --mosquitto-extras auto|on|off
#                          add Mosquitto-only settings (allow_duplicate_messages,
#                          dynamic-security plugin denying subscriptions to
#                          test/nosubscribe). auto = on when the broker command
#                          runs a program named mosquitto (default auto); when
#                          off, an acl_file denies test/nosubscribe instead
#   --extra-conf FILE      append FILE to the generated config
#   --keep                 keep the work directory (config, logs) even on success
#   TEST ...               unittest names, e.g. Test.test_basic (use with --suite)
#
# Exit status: 0 all passed, 1 test failures/errors, 2 usage error or suite
# missing, 3 broker failed to start.

set -uo pipefail

SUITE_DIR=/tmp/paho.mqtt.testing
BROKER_CMD='.build/debug/parley serve -c {conf}'
SUITES=both
TEST_TIMEOUT=60
SUITE_TIMEOUT=1800
START_TIMEOUT=20
MOSQ_EXTRAS=auto
EXTRA_CONF=
KEEP=0
TESTS=()

usage() { awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"; }

die_usage() { echo "paho-interop: $*" >&2; usage >&2; exit 2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --suite-dir) [ $# -ge 2 ] || die_usage "--suite-dir needs a value"; SUITE_DIR=$2; shift 2 ;;
    --suite-dir=*) SUITE_DIR=${1#*=}; shift ;;
    --broker-cmd) [ $# -ge 2 ] || die_usage "--broker-cmd needs a value"; BROKER_CMD=$2; shift 2 ;;
    --broker-cmd=*) BROKER_CMD=${1#*=}; shift ;;
    --suite) [ $# -ge 2 ] || die_usage "--suite needs a value"; SUITES=$2; shift 2 ;;
    --suite=*) SUITES=${1#*=}; shift ;;
    --test-timeout) [ $# -ge 2 ] || die_usage "--test-timeout needs a value"; TEST_TIMEOUT=$2; shift 2 ;;
    --suite-timeout) [ $# -ge 2 ] || die_usage "--suite-timeout needs a value"; SUITE_TIMEOUT=$2; shift 2 ;;
    --start-timeout) [ $# -ge 2 ] || die_usage "--start-timeout needs a value"; START_TIMEOUT=$2; shift 2 ;;
    --mosquitto-extras) [ $# -ge 2 ] || die_usage "--mosquitto-extras needs a value"; MOSQ_EXTRAS=$2; shift 2 ;;
    --extra-conf) [ $# -ge 2 ] || die_usage "--extra-conf needs a value"; EXTRA_CONF=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; TESTS+=("$@"); break ;;
    -*) die_usage "unknown option $1" ;;
    *) TESTS+=("$1"); shift ;;
  esac
done

case "$SUITES" in
  v3) SUITE_LIST=(v3) ;;
  v5) SUITE_LIST=(v5) ;;
  both) SUITE_LIST=(v3 v5) ;;
  *) die_usage "--suite must be v3, v5 or both" ;;
esac
case "$MOSQ_EXTRAS" in auto|on|off) ;; *) die_usage "--mosquitto-extras must be auto, on or off" ;; esac
for n in "$TEST_TIMEOUT" "$SUITE_TIMEOUT" "$START_TIMEOUT"; do
  [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -gt 0 ] || die_usage "timeouts must be positive integers"
done
if [ ${#TESTS[@]} -gt 0 ] && [ "$SUITES" = both ]; then
  die_usage "test names differ between suites; pick one with --suite v3|v5"
fi
if [[ "$BROKER_CMD" != *"{conf}"* ]]; then
  die_usage "--broker-cmd must contain {conf}"
fi

if [ ! -f "$SUITE_DIR/interoperability/client_test.py" ] || [ ! -f "$SUITE_DIR/interoperability/client_test5.py" ]; then
  cat >&2 <<EOF
paho-interop: Paho interoperability suite not found in $SUITE_DIR
Get it (it is not vendored into this repository) with:
  git clone https://github.com/eclipse/paho.mqtt.testing /tmp/paho.mqtt.testing
or point --suite-dir at an existing checkout.
EOF
  exit 2
fi
SUITE_DIR=$(cd "$SUITE_DIR" && pwd)

command -v python3 >/dev/null 2>&1 || { echo "paho-interop: python3 is required" >&2; exit 2; }

# Broker commands such as .build/debug/parley are relative to the repo root.
REPO_ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO_ROOT" || exit 2

if [ "$MOSQ_EXTRAS" = auto ]; then
  read -r first_word _ <<<"$BROKER_CMD"
  case "$(basename "$first_word")" in
    mosquitto) MOSQ_EXTRAS=on ;;
    *) MOSQ_EXTRAS=off ;;
  esac
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/paho-interop.XXXXXX") || exit 2
# Mosquitto drops privileges to user "mosquitto" when started as root; keep the
# generated files readable for it.
chmod 755 "$WORK"
BROKER_PID=

stop_broker() {
  if [ -n "$BROKER_PID" ] && kill -0 "$BROKER_PID" 2>/dev/null; then
    kill -TERM "$BROKER_PID" 2>/dev/null
    for _ in $(seq 1 50); do
      kill -0 "$BROKER_PID" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$BROKER_PID" 2>/dev/null; then
      kill -KILL "$BROKER_PID" 2>/dev/null
    fi
    wait "$BROKER_PID" 2>/dev/null
  fi
  BROKER_PID=
}

OVERALL=0
on_exit() {
  stop_broker
  if [ "$KEEP" = 1 ] || [ "$OVERALL" != 0 ]; then
    echo "paho-interop: config and logs kept in $WORK" >&2
  else
    rm -rf "$WORK"
  fi
}
trap on_exit EXIT
trap 'exit 130' INT TERM

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()') || exit 2
CONF="$WORK/broker.conf"

# Settings the suites expect (cf. the suite's own broker defaults in
# interoperability/mqtt/brokers/start.py):
#  - max_keepalive 60: client_test5 test_server_keep_alive connects with
#    keepalive 120 and expects CONNACK Server Keep Alive == 60.
#  - max_packet_size 256: test_maximum_packet_size sends a PUBLISH of that many
#    payload bytes and expects DISCONNECT 0x95 (skipped if >= 65535 / absent).
#  - max_inflight_messages 20: advertised as CONNACK Receive Maximum; without
#    it test_flow_control2 would try 65536 QoS 2 publishes.
cat >"$CONF" <<EOF
# generated by scripts/paho-interop.sh
listener $PORT 127.0.0.1
allow_anonymous true
max_keepalive 60
max_packet_size 256
max_inflight_messages 20
max_queued_messages 1000
queue_qos0_messages false
retain_available true
log_dest stdout
log_type all
EOF

if [ "$MOSQ_EXTRAS" = on ]; then
  # allow_duplicate_messages true: Mosquitto 2.0 otherwise delivers one copy per
  # client using the QoS of the first matching subscription, failing the 3.1.1
  # overlapping-subscriptions test (max QoS rule, MQTT-3.3.5-1).
  echo "allow_duplicate_messages true" >>"$CONF"
  DYNSEC=
  for f in /usr/lib/*/mosquitto_dynamic_security.so /usr/lib/mosquitto_dynamic_security.so \
           /usr/local/lib/mosquitto_dynamic_security.so; do
    [ -f "$f" ] && { DYNSEC=$f; break; }
  done
  if [ -n "$DYNSEC" ]; then
    # acl_file cannot deny SUBSCRIBE in Mosquitto 2.0; the dynamic security
    # plugin can, which yields SUBACK 0x80 for test/nosubscribe.
    cat >"$WORK/dynsec.json" <<'EOF'
{
  "defaultACLAccess": {"publishClientSend": true, "publishClientReceive": true,
                       "subscribe": true, "unsubscribe": true},
  "clients": [],
  "groups": [{"groupname": "anonymous", "roles": [{"rolename": "nosubscribe", "priority": 0}]}],
  "roles": [{"rolename": "nosubscribe", "acls": [
    {"acltype": "subscribePattern", "topic": "test/nosubscribe", "priority": 0, "allow": false}]}],
  "anonymousGroup": "anonymous"
}
EOF
    chmod 644 "$WORK/dynsec.json"
    printf 'plugin %s\nplugin_opt_config_file %s\n' "$DYNSEC" "$WORK/dynsec.json" >>"$CONF"
  else
    echo "paho-interop: mosquitto_dynamic_security.so not found; test_subscribe_failure will fail" >&2
  fi
fi
if [ "$MOSQ_EXTRAS" != on ]; then
  # Parley's acl_file refuses a subscription that a deny covers: SUBACK 0x80 (3.1.1) for
  # test/nosubscribe, as test_subscribe_failure expects; 5.0 says 0x87 (Not authorized), a
  # failure code the spec allows where the suite expects 0x80.
  printf 'topic readwrite #\ntopic deny test/nosubscribe\n' >"$WORK/acl"
  chmod 644 "$WORK/acl"
  echo "acl_file $WORK/acl" >>"$CONF"
fi
if [ -n "$EXTRA_CONF" ]; then
  cat "$EXTRA_CONF" >>"$CONF" || exit 2
fi
chmod 644 "$CONF"

# Driver: runs a suite script unmodified as __main__, but
#  - passes the port as "-p PORT" and the host as "--hostname=HOST" (the
#    scripts treat "-h" as --help, and client_test.py leaves -p/--port in argv
#    where unittest rejects it), and gives unittest its own argv;
#  - adds a per-test watchdog (several tests loop forever if the broker never
#    sends the expected packet, e.g. test_flow_control2 waits for DISCONNECT);
#  - writes a JSON result.
cat >"$WORK/run_suite.py" <<'PYEOF'
import json, os, runpy, signal, sys, unittest

suite_dir, script, host, port, out, timeout = sys.argv[1:7]
tests = sys.argv[7:]
timeout = int(timeout)
os.chdir(os.path.join(suite_dir, "interoperability"))
sys.path.insert(0, os.getcwd())

class TestTimeout(Exception):
    pass

def on_alarm(signum, frame):
    # re-fires every second until the test ends, in case the test swallows it
    raise TestTimeout("test exceeded %d s watchdog" % timeout)

signal.signal(signal.SIGALRM, on_alarm)
outcome = {}

class Result(unittest.TextTestResult):
    def startTest(self, test):
        outcome[test.id()] = "running"
        signal.setitimer(signal.ITIMER_REAL, timeout, 1.0)
        super().startTest(test)
    def stopTest(self, test):
        signal.setitimer(signal.ITIMER_REAL, 0)
        super().stopTest(test)
    def addSuccess(self, test):
        outcome[test.id()] = "ok"; super().addSuccess(test)
    def addFailure(self, test, err):
        outcome[test.id()] = "FAIL"; super().addFailure(test, err)
    def addError(self, test, err):
        outcome[test.id()] = "TIMEOUT" if err[0] is TestTimeout else "ERROR"
        super().addError(test, err)
    def addSkip(self, test, reason):
        outcome[test.id()] = "skip"; super().addSkip(test, reason)

summary = {}
class Program(unittest.TestProgram):
    def __init__(self, *args, **kwargs):
        kwargs["argv"] = [script, "-v"] + tests
        kwargs["exit"] = False
        kwargs["testRunner"] = unittest.TextTestRunner(resultclass=Result, verbosity=2)
        super().__init__(*args, **kwargs)
        r = self.result
        name = lambda t: t.id().split(".")[-1]
        summary.update(ran=r.testsRun,
                       failures=[name(t) for t, _ in r.failures],
                       errors=[name(t) for t, _ in r.errors],
                       outcome={name_: v for name_, v in
                                ((k.split(".")[-1], v) for k, v in outcome.items())})
unittest.main = Program

sys.argv = [script, "--hostname=" + host, "-p", port]
try:
    runpy.run_path(script, run_name="__main__")
finally:
    signal.setitimer(signal.ITIMER_REAL, 0)
    if not summary:
        summary.update(ran=0, failures=[], errors=["<suite did not run: see log>"], outcome={})
    try:
        with open(out, "w") as f:
            json.dump(summary, f)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)  # do not wait for the suite's stray receiver threads
PYEOF

wait_for_port() {
  local deadline=$((SECONDS + START_TIMEOUT))
  while [ $SECONDS -lt $deadline ]; do
    if ! kill -0 "$BROKER_PID" 2>/dev/null; then
      return 1
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
      return 0
    fi
    sleep 0.2
  done
  return 1
}

start_broker() {
  local tag=$1 cmd
  cmd=${BROKER_CMD//\{conf\}/$CONF}
  echo "paho-interop: starting broker: $cmd (port $PORT)"
  bash -c "exec $cmd" >"$WORK/broker-$tag.log" 2>&1 &
  BROKER_PID=$!
  if ! wait_for_port; then
    echo "paho-interop: broker did not listen on 127.0.0.1:$PORT within ${START_TIMEOUT}s" >&2
    echo "---- broker log ($WORK/broker-$tag.log) ----" >&2
    tail -n 30 "$WORK/broker-$tag.log" >&2
    stop_broker
    return 1
  fi
  return 0
}

declare -A RESULT_LINE
for s in "${SUITE_LIST[@]}"; do
  if [ "$s" = v3 ]; then script=client_test.py; else script=client_test5.py; fi
  # fresh broker per suite, so no state leaks from one suite into the other
  if ! start_broker "$s"; then
    OVERALL=3
    exit 3
  fi
  echo "paho-interop: running $script against 127.0.0.1:$PORT"
  json="$WORK/result-$s.json"
  rm -f "$json"
  timeout --kill-after=10 "$SUITE_TIMEOUT" \
    python3 "$WORK/run_suite.py" "$SUITE_DIR" "$script" 127.0.0.1 "$PORT" "$json" "$TEST_TIMEOUT" \
      "${TESTS[@]}" 2>&1 | tee "$WORK/suite-$s.log"
  if ! kill -0 "$BROKER_PID" 2>/dev/null; then
    echo "paho-interop: WARNING: broker exited during the $s suite (see $WORK/broker-$s.log)" >&2
  fi
  stop_broker
  if [ -f "$json" ]; then
    RESULT_LINE[$s]=$(python3 - "$json" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))
bad = [k for k, v in r.get("outcome", {}).items() if v not in ("ok", "skip")]
for n in r["failures"] + r["errors"]:
    if n not in bad:
        bad.append(n)
status = "PASS" if not bad and r["ran"] > 0 else "FAIL"
detail = ", ".join("%s(%s)" % (n, r.get("outcome", {}).get(n, "error")) for n in bad)
print("%s ran=%d failures=%d errors=%d%s" % (status, r["ran"], len(r["failures"]),
      len(r["errors"]), ("  failing: " + detail) if detail else ""))
PYEOF
)
  else
    RESULT_LINE[$s]="FAIL suite aborted (watchdog after ${SUITE_TIMEOUT}s or crash); see $WORK/suite-$s.log"
  fi
  [[ "${RESULT_LINE[$s]}" == PASS* ]] || OVERALL=1
done

echo
echo "==================== paho-interop summary ===================="
echo "broker: ${BROKER_CMD}   suite: $SUITE_DIR"
for s in "${SUITE_LIST[@]}"; do
  if [ "$s" = v3 ]; then label="MQTT 3.1.1 (client_test.py) "; else label="MQTT 5     (client_test5.py)"; fi
  echo "$label: ${RESULT_LINE[$s]}"
done
exit "$OVERALL"
