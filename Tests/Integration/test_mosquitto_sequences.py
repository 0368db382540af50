"""Mosquitto's packet-level broker test data (``test/broker/data``) against Parley.

The data is not in this repository: the test runs when ``MOSQUITTO_TEST_DATA``
or ``MOSQUITTO_SOURCE`` says where it is (``mosquitto_sequences.py``) and is
skipped otherwise. ``make conformance`` runs it alone.

Every case passes but the deliberate, specification-backed differences listed
in ``mosquitto_differences.py``, which the README lists too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mosquitto_differences import DIFFERENCES
from mosquitto_sequences import Connection, cases_from_environment, connack_packet, connect_packet, run_all
from processes import REPO_ROOT, ConfiguredBroker, parley_exe

MINIMUM_PASSING = 1440


@pytest.fixture(scope="module")
def cases():
    found, missing = cases_from_environment()
    if missing:
        pytest.skip(missing)
    return found


def test_parley_answers_mosquittos_packet_sequences_but_for_listed_differences(cases, tmp_path):
    if not Path(parley_exe()).exists():
        pytest.skip("Parley binary not built")
    broker = ConfiguredBroker("parley", tmp_path, "sequences").start()
    try:
        failures = run_all(cases, broker.host, broker.port)
        assert broker.is_running(), "Parley exited during the run"
    finally:
        broker.stop()
    unexpected = {key: why for key, why in failures.items() if key not in DIFFERENCES}
    passed = len(cases) - len(failures)
    print(f"{passed} of {len(cases)} Mosquitto cases passed; {len(failures)} listed differences")
    assert not unexpected, "\n".join(f"{key}: {why}" for key, why in sorted(unexpected.items()))
    assert passed >= MINIMUM_PASSING


def test_every_listed_difference_is_in_the_readme():
    readme = (REPO_ROOT / "README.md").read_text()
    missing = [key for key in DIFFERENCES if f"`{' '.join(key.split())}`" not in readme]
    assert not missing, f"README's differences from Mosquitto lack: {missing}"


def test_default_v5_connack_has_mosquittos_bytes(tmp_path):
    """Property order carries no meaning, yet tools that replay Mosquitto transcripts compare
    bytes: Parley writes a CONNACK's properties in the order Mosquitto does."""
    if not Path(parley_exe()).exists():
        pytest.skip("Parley binary not built")
    broker = ConfiguredBroker("parley", tmp_path, "connack").start()
    try:
        connection = Connection(broker.host, broker.port, 5)
        try:
            connection.send(connect_packet("connack-bytes", 5))
            assert connection.read_packet("CONNACK") == connack_packet(5)
        finally:
            connection.close()
    finally:
        broker.stop()
