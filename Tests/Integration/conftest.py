"""Fixtures for the Parley client-level integration suite.

Every test that asks for ``broker`` runs once per broker named in the
``BROKERS`` environment variable (comma separated; default
``mosquitto,parley``).  Each test gets a fresh broker process listening on
127.0.0.1 and a free port, configured from a Mosquitto-syntax file.

Extra configuration lines are requested per test with::

    @pytest.mark.broker_config("max_queued_messages 5", "queue_qos0_messages true")

Environment:
  BROKERS         which brokers to run against (mosquitto, parley)
  PARLEY_BIN      Parley executable (default <repo>/.build/debug/parley)
  MOSQUITTO_BIN   Mosquitto executable (default: found on PATH or /usr/sbin)
  BROKER_VERBOSE  if set, adds "log_type all" to every configuration
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from helpers import MqttClient, RawClient
from mqtt_packets import V5

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PARLEY_BIN = REPO_ROOT / ".build" / "debug" / "parley"
KNOWN_BROKERS = ("mosquitto", "parley")
START_DEADLINE = 10.0
STOP_DEADLINE = 5.0


def _broker_names():
    raw = os.environ.get("BROKERS", "mosquitto,parley")
    names = [n.strip().lower() for n in raw.split(",") if n.strip()]
    unknown = [n for n in names if n not in KNOWN_BROKERS]
    if unknown:
        raise pytest.UsageError(f"BROKERS: unknown broker(s) {unknown}; "
                                f"choose from {KNOWN_BROKERS}")
    return names


def _raise_fd_limit(wanted=16384):
    """The load test opens thousands of sockets; brokers inherit the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "broker_config(*lines): extra lines for the broker config file")
    _raise_fd_limit()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Brokers that were sent SIGTERM but may not have exited yet: (proc, deadline).
_stopping = []


def _terminate_and_reap(proc, deadline):
    try:
        proc.wait(max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        proc.kill()  # ignored SIGTERM for too long
        proc.wait(STOP_DEADLINE)


def _reap_stopping(block=False):
    """Collect exited brokers; SIGKILL those past their deadline."""
    still = []
    for proc, deadline in _stopping:
        if proc.poll() is not None:
            continue
        if block or time.monotonic() >= deadline:
            _terminate_and_reap(proc, deadline)
        else:
            still.append((proc, deadline))
    _stopping[:] = still


def pytest_sessionfinish(session, exitstatus):
    _reap_stopping(block=True)


class BrokerProcess:
    """One broker subprocess with its config file and captured log."""

    host = "127.0.0.1"

    def __init__(self, name: str, workdir: Path, extra_lines=()):
        self.name = name
        self.workdir = workdir
        self.extra_lines = list(extra_lines)
        self.port = None
        self.proc = None
        self.conf_path = workdir / "broker.conf"
        self.log_path = workdir / "broker.log"
        self._log_file = None

    def command(self):
        if self.name == "mosquitto":
            exe = os.environ.get("MOSQUITTO_BIN") or shutil.which("mosquitto") \
                or "/usr/sbin/mosquitto"
            return [exe, "-c", str(self.conf_path)]
        exe = os.environ.get("PARLEY_BIN", str(DEFAULT_PARLEY_BIN))
        # The broker alone: the chat (on by default) is tested by the chat suites.
        return [exe, "serve", "-c", str(self.conf_path), "--no-chat"]

    def write_config(self):
        lines = [f"listener {self.port} {self.host}", "allow_anonymous true"]
        if os.environ.get("BROKER_VERBOSE"):
            lines.append("log_type all")
        lines += self.extra_lines
        self.conf_path.write_text("\n".join(lines) + "\n")

    def start(self):
        last_error = None
        for _attempt in range(3):  # the free port might get stolen; retry
            self.port = free_port()
            self.write_config()
            self._log_file = open(self.log_path, "ab")
            self._log_file.write(f"=== {' '.join(self.command())} (port {self.port})\n"
                                 .encode())
            self._log_file.flush()
            self.proc = subprocess.Popen(
                self.command(), stdin=subprocess.DEVNULL, stdout=self._log_file,
                stderr=subprocess.STDOUT, cwd=self.workdir, start_new_session=True)
            try:
                self._wait_listening()
                return
            except RuntimeError as exc:
                last_error = exc
                self.stop()
        raise RuntimeError(f"{last_error}\n--- config ---\n{self.conf_path.read_text()}"
                           f"--- log ---\n{self.read_log()}")

    def _wait_listening(self):
        deadline = time.monotonic() + START_DEADLINE
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode} "
                                   f"during startup")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"{self.name} did not listen on {self.port} "
                           f"within {START_DEADLINE}s")

    def stop(self, wait=True):
        """SIGTERM the broker; SIGKILL it if it has not exited by the deadline.

        With ``wait=False`` the process is handed to the reaper below, which
        enforces the same deadline without making every test wait for the
        broker's shutdown.
        """
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            if wait:
                _terminate_and_reap(self.proc, time.monotonic() + STOP_DEADLINE)
            else:
                _stopping.append((self.proc, time.monotonic() + STOP_DEADLINE))
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def read_log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return "<no log>"

    def __repr__(self):
        return f"<{self.name} 127.0.0.1:{self.port}>"


@pytest.fixture(params=_broker_names())
def broker(request, tmp_path):
    name = request.param
    if name == "parley":
        exe = Path(os.environ.get("PARLEY_BIN", str(DEFAULT_PARLEY_BIN)))
        if not exe.exists():
            pytest.skip(f"Parley binary not found at {exe} "
                        f"(build it or set PARLEY_BIN)")
    extra = []
    for marker in reversed(list(request.node.iter_markers("broker_config"))):
        extra += list(marker.args)
    _reap_stopping()
    b = BrokerProcess(name, tmp_path, extra)
    b.start()
    request.node._broker_process = b
    yield b
    b.stop(wait=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach the broker log to the report of any failing phase."""
    outcome = yield
    report = outcome.get_result()
    b = getattr(item, "_broker_process", None)
    if report.failed and b is not None:
        report.sections.append((f"broker log ({b.name}, port {b.port})", b.read_log()))


@pytest.fixture
def mqtt(broker):
    """Factory: ``mqtt(proto, client_id=None, manual_ack=False)`` -> MqttClient.

    The client is *not* connected; call ``.connect()``.  Use ``connected``
    for the common case.  Everything is closed at teardown.
    """
    made = []

    def make(proto=V5, client_id=None, manual_ack=False):
        c = MqttClient(broker, proto, client_id, manual_ack)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


@pytest.fixture
def connected(mqtt):
    """Factory: a connected MqttClient (clean session by default)."""

    def make(proto=V5, client_id=None, clean=True, properties=None,
             manual_ack=False, sync=False):
        c = mqtt(proto, client_id, manual_ack)
        c.connect(clean=clean, properties=properties)
        if sync:
            c.enable_sync()
        return c

    return make


@pytest.fixture
def raw(broker):
    """Factory: ``raw(proto)`` -> RawClient (TCP connected, nothing sent)."""
    made = []

    def make(proto=V5):
        c = RawClient(broker, proto)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()
