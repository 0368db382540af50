"""Interoperability with Debian's mosquitto_pub / mosquitto_sub command line clients.

Every invocation carries -W (mosquitto_sub) or a subprocess timeout so
nothing can hang.
"""

import shutil
import signal
import subprocess

import pytest

from helpers import DEFAULT_TIMEOUT, unique
from processes import LineReader

pytestmark = pytest.mark.skipif(
    not (shutil.which("mosquitto_pub") and shutil.which("mosquitto_sub")),
    reason="mosquitto-clients not installed")

VERSIONS = pytest.mark.parametrize("version", ["mqttv311", "mqttv5"])
FORMAT = "MSG|%t|%q|%r|%p"  # one line per received message
LINE_BUFFERED = ["stdbuf", "-oL"] if shutil.which("stdbuf") else []


def _common(broker, version):
    return ["-h", broker.host, "-p", str(broker.port), "-V", version]


def pub(broker, version, topic, message, *extra, timeout=DEFAULT_TIMEOUT):
    cmd = ["mosquitto_pub", *_common(broker, version), "-t", topic, "-m", message, *extra]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{cmd} failed: {r.stdout}{r.stderr}"


def sub_once(broker, version, topic, *extra, count=1, wait=5):
    """Run mosquitto_sub to completion (-C count, -W wait); return message lines."""
    cmd = ["mosquitto_sub", *_common(broker, version), "-t", topic, "-C", str(count),
           "-W", str(wait), "-F", FORMAT, *extra]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=wait + 5)
    assert r.returncode == 0, f"{cmd} exited {r.returncode}: {r.stdout}{r.stderr}"
    return [line for line in r.stdout.splitlines() if line.startswith("MSG|")]


class BackgroundSub(LineReader):
    """mosquitto_sub running in the background with -d, so we can tell when
    its SUBACK arrived before publishing."""

    what = "mosquitto_sub"

    def __init__(self, broker, version, topic, *extra, count=1, wait=10, fmt=FORMAT):
        # stdbuf: make mosquitto_sub's stdout line buffered so the debug
        # "received SUBACK" line reaches us immediately through the pipe.
        super().__init__([*LINE_BUFFERED, "mosquitto_sub", *_common(broker, version), "-d",
                          "-t", topic, "-C", str(count), "-W", str(wait), "-F", fmt, *extra])

    def wait_subscribed(self):
        self.wait_line(lambda l: "received SUBACK" in l)

    def messages(self, timeout=DEFAULT_TIMEOUT):
        """Wait for the process to exit (-C reached); return message lines."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"mosquitto_sub did not finish: {self.lines}")
        self._reader.join(2)
        return [l for l in self.lines if l and l.startswith("MSG|")]

    def kill(self, sig=signal.SIGKILL):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(5)


@pytest.fixture
def background(broker):
    made = []

    def make(*args, **kwargs):
        s = BackgroundSub(broker, *args, **kwargs)
        made.append(s)
        return s

    yield make
    for s in made:
        s.kill()


@VERSIONS
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_pub_sub_each_qos(broker, background, version, qos):
    topic = unique("cli")
    s = background(version, topic, "-q", str(qos))
    s.wait_subscribed()
    pub(broker, version, topic, f"hello-{qos}", "-q", str(qos))
    assert s.messages() == [f"MSG|{topic}|{qos}|0|hello-{qos}"]


@pytest.mark.broker_config("allow_duplicate_messages true")
def test_libmosquitto_v5_client_with_overlapping_identified_subscriptions_stays_connected(broker, background):
    """libmosquitto 2.0 (Debian 12's mosquitto_sub) drops a connection on a PUBLISH carrying
    two Subscription Identifiers; with one copy per subscription it gets every copy."""
    base = unique("cli-ids")
    s = background("mqttv5", f"{base}/#", "-t", f"{base}/+", "-q", "1",
                   "-D", "subscribe", "subscription-identifier", "5", count=4)
    s.wait_subscribed()
    pub(broker, "mqttv5", f"{base}/a", "one", "-q", "1")
    pub(broker, "mqttv5", f"{base}/a", "two", "-q", "1")
    assert s.messages() == [f"MSG|{base}/a|1|0|one"] * 2 + [f"MSG|{base}/a|1|0|two"] * 2


@VERSIONS
def test_multiple_messages_and_wildcards(broker, background, version):
    base = unique("cli-wild")
    s = background(version, f"{base}/#", "-q", "1", count=3)
    s.wait_subscribed()
    for i, t in enumerate(["a", "a/b", "c/d/e"]):
        pub(broker, version, f"{base}/{t}", str(i), "-q", "1")
    assert s.messages() == [f"MSG|{base}/a|1|0|0", f"MSG|{base}/a/b|1|0|1",
                            f"MSG|{base}/c/d/e|1|0|2"]


@VERSIONS
def test_retained_message(broker, version):
    topic = unique("cli-ret")
    pub(broker, version, topic, "sticky", "-r", "-q", "1")
    assert sub_once(broker, version, topic, "-q", "1") == [f"MSG|{topic}|1|1|sticky"]
    # Clear it again with an empty retained message (-n sends a null payload).
    r = subprocess.run(["mosquitto_pub", *_common(broker, version), "-t", topic, "-r", "-n"],
                       capture_output=True, text=True, timeout=DEFAULT_TIMEOUT)
    assert r.returncode == 0, r.stderr
    # Nothing retained any more: mosquitto_sub times out (exit code 27).
    r = subprocess.run(["mosquitto_sub", *_common(broker, version), "-t", topic, "-C", "1",
                        "-W", "1"], capture_output=True, text=True, timeout=8)
    assert r.returncode != 0 and r.stdout == ""


@VERSIONS
def test_will_topic_published_when_client_killed(broker, background, version):
    topic = unique("cli-will")
    watcher = background(version, topic, "-q", "1")
    watcher.wait_subscribed()
    dying = background(version, unique("cli-idle"), "--will-topic", topic,
                       "--will-payload", "client died", "--will-qos", "1", wait=30)
    dying.wait_subscribed()
    dying.kill(signal.SIGKILL)  # no DISCONNECT: the broker must send the will
    assert watcher.messages() == [f"MSG|{topic}|1|0|client died"]


@VERSIONS
def test_will_not_published_on_clean_exit(broker, background, version):
    topic = unique("cli-nowill")
    # -E: subscribe, then exit cleanly with DISCONNECT.
    r = subprocess.run(["mosquitto_sub", *_common(broker, version), "-t", unique("x"), "-E",
                        "--will-topic", topic, "--will-payload", "nope"],
                       capture_output=True, text=True, timeout=DEFAULT_TIMEOUT)
    assert r.returncode == 0, r.stderr
    # Marker message proves the broker has processed everything up to here.
    watcher = background(version, topic, "-q", "1", count=1)
    watcher.wait_subscribed()
    pub(broker, version, topic, "marker", "-q", "1")
    assert watcher.messages() == [f"MSG|{topic}|1|0|marker"]


@VERSIONS
def test_persistent_session_receives_message_sent_while_offline(broker, version):
    topic = unique("cli-persist")
    cid = unique("cli-id")
    # Connect with a persistent session, subscribe, exit (-E).
    r = subprocess.run(["mosquitto_sub", *_common(broker, version), "-c", "-i", cid,
                        "-t", topic, "-q", "1", "-E"],
                       capture_output=True, text=True, timeout=DEFAULT_TIMEOUT)
    assert r.returncode == 0, r.stdout + r.stderr
    pub(broker, version, topic, "while you were out", "-q", "1")
    # Reconnect the same session; the queued message arrives.
    got = sub_once(broker, version, topic, "-c", "-i", cid, "-q", "1")
    assert got == [f"MSG|{topic}|1|0|while you were out"]


@VERSIONS
def test_pub_from_file_and_stdin_lines(broker, background, version, tmp_path):
    topic = unique("cli-lines")
    s = background(version, topic, "-q", "1", count=3)
    s.wait_subscribed()
    r = subprocess.run(["mosquitto_pub", *_common(broker, version), "-t", topic, "-q", "1",
                        "-l"], input="one\ntwo\nthree\n", capture_output=True, text=True,
                       timeout=DEFAULT_TIMEOUT)
    assert r.returncode == 0, r.stderr
    assert s.messages() == [f"MSG|{topic}|1|0|{w}" for w in ("one", "two", "three")]


def test_v5_user_property_via_cli(broker, background):
    topic = unique("cli-props")
    s = background("mqttv5", topic, "-q", "1", fmt="MSG|%t|%p|%P")  # %P: user properties
    s.wait_subscribed()
    pub(broker, "mqttv5", topic, "with props", "-q", "1",
        "-D", "publish", "user-property", "colour", "blue")
    line = s.messages()[0]
    assert line.startswith(f"MSG|{topic}|with props|")
    assert "colour:blue" in line


def test_v311_client_and_v5_client_interoperate(broker, background):
    topic = unique("cli-mixed")
    s = background("mqttv311", topic, "-q", "2")
    s.wait_subscribed()
    pub(broker, "mqttv5", topic, "across versions", "-q", "2")
    assert s.messages() == [f"MSG|{topic}|2|0|across versions"]
