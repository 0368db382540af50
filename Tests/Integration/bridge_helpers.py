"""Helpers for the bridge tests (test_bridge.py).

* ``Server``          - ``parley serve -c FILE --no-chat`` or ``mosquitto -c FILE`` on
                        127.0.0.1, on a free port or a fixed one (to restart a broker
                        where a bridge expects it); log captured, stopped by pid.
* ``bridge_lines``    - a Parley bridge block (``connection up`` ...) for a config file.
* ``state_topic``     - the bridge's notification topic.
* ``wait_state``      - wait for the latest retained link state at a broker.
* ``probe``           - publish a marker on one side until it crosses to the other:
                        proves a bridge direction is fully subscribed.
* ``shared_dir``      - a folder the ``mosquitto`` user can write (persistence).
* ``summary``/``settle`` - what a collector holds, and waiting for expected messages
                        plus a bounded quiet period to see duplicates.

Like helpers.py, nothing here sleeps to wait for an event: every wait polls a
condition with a deadline.  ``settle`` listens a bounded extra period after
the condition, as ``helpers.sync`` does, to catch duplicates.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

from helpers import DEFAULT_TIMEOUT, MqttClient, wait_until
from processes import HOST, ConfiguredBroker, parley_exe

PARLEY = Path(parley_exe())
BRIDGE = "up"  # connection name used by the tests


class Server(ConfiguredBroker):
    """One broker process: ``kind`` is "parley" or "mosquitto"; its files are
    named after ``label`` so several brokers share a folder."""

    def __init__(self, kind, workdir: Path, label=None, lines=(), port=None):
        label = label or kind
        super().__init__(kind, workdir, label, lines, port, name=f"{kind} ({label})")


def bridge_lines(remote_port, topics, version="mqttv311", extra=(), name=BRIDGE):
    """A Parley bridge block: ``topics`` are the words after ``topic``."""
    return [f"connection {name}", f"address {HOST}:{remote_port}",
            *[f"topic {t}" for t in topics],
            f"bridge_protocol_version {version}", "restart_timeout 1 2",
            "cleansession false", "notifications true", *extra]


def state_topic(name=BRIDGE):
    return f"$SYS/broker/connection/{name}/state"


def states(client: MqttClient, name=BRIDGE):
    """Payloads seen on the state topic, in order."""
    return [m.payload for m in client.messages.snapshot(state_topic(name))]


def wait_state(client: MqttClient, value: bytes, timeout=10.0, name=BRIDGE):
    """``client`` subscribes to the state topic (if not yet) and waits until the
    latest payload is ``value``."""
    if not getattr(client, "_state_subscribed", False):
        client.subscribe(state_topic(name), 1)
        client._state_subscribed = True
    wait_until(lambda: (states(client, name) or [None])[-1] == value, timeout,
               what=f"{state_topic(name)} = {value!r} (seen {states(client, name)})")


def probe(publisher: MqttClient, subscriber: MqttClient, pub_topic, sub_topic,
          timeout=10.0, interval=0.25):
    """Publish QoS 0 markers on ``pub_topic`` until one arrives as ``sub_topic``.

    The subscriber subscribes to ``sub_topic`` first.  Use topics no test
    assertion looks at: a few extra markers may still arrive afterwards.
    """
    subscriber.subscribe(sub_topic, 0)
    deadline = time.monotonic() + timeout
    while True:
        token = uuid.uuid4().hex.encode()
        publisher.publish(pub_topic, token, qos=0)
        step_end = min(deadline, time.monotonic() + interval)
        while time.monotonic() < step_end:
            if any(m.payload == token for m in subscriber.messages.snapshot(sub_topic)):
                return
            time.sleep(0.01)
        if time.monotonic() >= deadline:
            raise AssertionError(f"nothing published on {pub_topic!r} at "
                                 f"{publisher.broker!r} crossed to {sub_topic!r} at "
                                 f"{subscriber.broker!r} within {timeout}s")


def summary(client: MqttClient, prefix=""):
    """Counter of (topic, payload, qos, retain) of the messages under ``prefix``."""
    return Counter((m.topic, m.payload, m.qos, m.retain)
                   for m in client.messages.snapshot() if m.topic.startswith(prefix))


def settle(client: MqttClient, expected: Counter, prefix="", timeout=DEFAULT_TIMEOUT,
           quiet=0.5):
    """Wait until every expected message arrived, then listen ``quiet`` seconds
    more (bounded grace period, to see duplicates); return the final summary."""
    def complete():
        got = summary(client, prefix)
        return all(got[k] >= n for k, n in expected.items())

    try:
        wait_until(complete, timeout, what="expected messages")
    except AssertionError:
        raise AssertionError(f"at {client.broker!r}: expected {dict(expected)}, "
                             f"got {dict(summary(client, prefix))}") from None
    time.sleep(quiet)
    return summary(client, prefix)


class shared_dir:
    """A temporary folder anyone can write: Mosquitto started as root drops to
    the ``mosquitto`` user, which cannot enter pytest's (mode 0700) tmp_path."""

    def __enter__(self) -> Path:
        self.path = Path(tempfile.mkdtemp(prefix="parley-bridge-"))
        os.chmod(self.path, 0o777)
        return self.path

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)


def persistence_lines(folder: Path):
    return ["persistence true", f"persistence_location {folder}/", "autosave_interval 1"]
