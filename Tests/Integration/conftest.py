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
from pathlib import Path

import pytest

from helpers import MqttClient, RawClient
from mqtt_packets import V5
# Re-exported: the test modules import these from conftest.
from processes import (DEFAULT_PARLEY_BIN, REPO_ROOT, START_DEADLINE, STOP_DEADLINE,  # noqa: F401
                       ConfiguredBroker, free_port, parley_exe, reap_stopping)

KNOWN_BROKERS = ("mosquitto", "parley")


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


def pytest_sessionfinish(session, exitstatus):
    reap_stopping(block=True)


class BrokerProcess(ConfiguredBroker):
    """One broker subprocess with its config file and captured log."""

    def __init__(self, name: str, workdir: Path, extra_lines=()):
        super().__init__(name, workdir, "broker", extra_lines)

    def config_lines(self):
        lines = super().config_lines()
        if os.environ.get("BROKER_VERBOSE"):
            lines.insert(2, "log_type all")
        return lines


@pytest.fixture(params=_broker_names())
def broker(request, tmp_path):
    name = request.param
    if name == "parley":
        exe = Path(parley_exe())
        if not exe.exists():
            pytest.skip(f"Parley binary not found at {exe} "
                        f"(build it or set PARLEY_BIN)")
    extra = []
    for marker in reversed(list(request.node.iter_markers("broker_config"))):
        extra += list(marker.args)
    reap_stopping()
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
