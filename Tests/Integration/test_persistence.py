"""Persistence (`persistence true`): what a broker finds again after a restart.

* SIGTERM: persistent sessions, their subscriptions, queued QoS 1/2 messages
  and retained messages come back (both brokers).
* kill -9 under a numbered QoS 1 stream (and a QoS 2 one): every message whose
  PUBACK/PUBCOMP the publisher got reaches an online and an offline persistent
  subscriber, in order; a retained message set just before the crash is kept.
  Mosquitto saves only periodically and on exit, so it loses them: xfail.
* A damaged store (torn tail, garbage in the middle): Parley starts, says what
  it dropped, and serves.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from bridge_helpers import shared_dir
from conftest import _broker_names
from helpers import BOTH_PROTOCOLS, V5, V311, MqttClient, connect_props, unique, wait_until
from processes import ConfiguredBroker, parley_exe

KINDS = _broker_names()


def persistent_broker(kind, workdir, folder, label="persist", extra=()):
    if kind == "parley" and not Path(parley_exe()).exists():
        pytest.skip("Parley binary not built")
    lines = ["persistence true", f"persistence_location {folder}/", *extra]
    return ConfiguredBroker(kind, workdir, label, lines=lines)


def resume(broker, proto, client_id, clean=False):
    client = MqttClient(broker, proto, client_id=client_id)
    props = connect_props(SessionExpiryInterval=3600) if proto == V5 and not clean else None
    _, flags, _ = client.connect(clean=clean, properties=props)
    return client, flags


def payloads(collector, topic=None):
    return [m.payload for m in collector.snapshot(topic)]


@pytest.mark.parametrize("kind", KINDS)
@BOTH_PROTOCOLS
def test_sigterm_restart_keeps_sessions_queues_and_retained(kind, proto, tmp_path):
    with shared_dir() as folder:
        broker = persistent_broker(kind, tmp_path, folder).start()
        try:
            sid = unique("keeper")
            sub, _ = resume(broker, proto, sid)
            sub.subscribe("p1/#", 1)
            sub.subscribe("p2/#", 2)
            sub.disconnect()
            pub, _ = resume(broker, proto, unique("pub"), clean=True)
            for i in range(5):
                pub.publish("p1/x", f"one-{i}".encode(), 1)
                pub.publish("p2/x", f"two-{i}".encode(), 2)
            pub.publish("r/lamp", b"on", 1, retain=True)
            pub.disconnect()
            broker.stop()
            broker.start()

            back, flags = resume(broker, proto, sid)
            assert flags.session_present
            back.messages.wait_for(10, timeout=10)
            assert payloads(back.messages, "p1/x") == [f"one-{i}".encode() for i in range(5)]
            assert payloads(back.messages, "p2/x") == [f"two-{i}".encode() for i in range(5)]
            back.close()
            late, _ = resume(broker, proto, unique("late"), clean=True)
            late.subscribe("r/#", 1)
            retained = late.messages.wait_for(1)
            assert retained[0].payload == b"on" and retained[0].retain
            late.close()
        finally:
            broker.stop()


class NumberedPublisher:
    """Publishes up to ``limit`` ``stream/TAG`` messages numbered from 0 as fast
    as the broker acknowledges them, remembering which were acknowledged.
    Packet ids stay below paho's wrap-around, so a mid names one message."""

    limit = 5000

    def __init__(self, broker, tag, qos):
        self.tag, self.qos = tag, qos
        self.numbers = {}  # mid -> message number
        self.acked_mids = []
        self.stop = threading.Event()
        self.client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2,
                                  client_id=unique(f"pub-{tag}"), protocol=paho.MQTTv311,
                                  reconnect_on_failure=False)
        self.client.max_queued_messages_set(200)
        self.client.on_publish = lambda c, u, mid, rc, props: self.acked_mids.append(mid)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        number = 0
        while not self.stop.is_set() and number < self.limit:
            info = self.client.publish(f"stream/{self.tag}", str(number).encode(), self.qos)
            if info.rc == paho.MQTT_ERR_SUCCESS:
                self.numbers[info.mid] = number
                number += 1
            elif info.rc == paho.MQTT_ERR_QUEUE_SIZE:
                time.sleep(0.001)
            else:
                return  # the connection is gone

    def acknowledged(self):
        return {self.numbers[m] for m in list(self.acked_mids) if m in self.numbers}

    def close(self):
        self.stop.set()
        self.thread.join(5)
        self.client.loop_stop()


def numbers(collector, tag):
    return [int(m.payload) for m in collector.snapshot(f"stream/{tag}")]


def awaiting_pubrel(client, tag):
    """QoS 2 messages the subscriber holds, PUBREC sent, when its broker dies.

    paho hands a QoS 2 message to ``on_message`` only at PUBREL (MQTT 4.3.3
    lets the receiver choose). Once it has sent PUBREC the message is the
    client's: a resumed session owes it a PUBREL, not the message again, and a
    client that does not keep its in-flight state (this one) never sees it."""
    held = list(client.client._in_messages.values())
    return [int(m.payload) for m in held if m.topic == f"stream/{tag}"]


def first_seen_in_order(values):
    seen, order = set(), []
    for v in values:
        if v not in seen:
            seen.add(v)
            order.append(v)
    return order


@pytest.mark.parametrize("kind,fsync", [(k, False) for k in KINDS] + ([("parley", True)] if "parley" in KINDS else []))
def test_kill_9_loses_nothing_acknowledged(kind, fsync, tmp_path, request):
    if kind == "mosquitto":
        request.applymarker(pytest.mark.xfail(reason="Mosquitto saves its database only periodically and on exit"))
    with shared_dir() as folder:
        # Queues hold the whole stream: what a queue limit drops is not what is tested here.
        extra = ["max_queued_messages 0"] + (["persistence_fsync true"] if fsync else [])
        broker = persistent_broker(kind, tmp_path, folder, extra=extra).start()
        offline_id, online_id = unique("offline"), unique("online")
        offline, _ = resume(broker, V311, offline_id)
        offline.subscribe("stream/#", 2)
        offline.disconnect()
        online, _ = resume(broker, V311, online_id)
        online.subscribe("stream/#", 2)
        publishers = [NumberedPublisher(broker, "q1", 1), NumberedPublisher(broker, "q2", 2)]
        try:
            for p in publishers:
                p.thread.start()
            wait_until(lambda: all(len(p.acknowledged()) >= 1500 for p in publishers), timeout=60,
                       what="1500 acknowledged messages per publisher")
            setter = MqttClient(broker, V311)
            setter.connect()
            setter.publish("state/valve", b"closed", 1, retain=True)
            broker.kill()
        finally:
            for p in publishers:
                p.close()
        acked = {p.tag: p.acknowledged() for p in publishers}
        online.close()
        before = {tag: numbers(online.messages, tag) + awaiting_pubrel(online, tag) for tag in acked}
        setter.close()

        broker.start()
        try:
            back, flags = resume(broker, V311, online_id)
            assert flags.session_present
            away, flags = resume(broker, V311, offline_id)
            assert flags.session_present

            def complete():
                for tag, wanted in acked.items():
                    if not wanted <= set(numbers(away.messages, tag)):
                        return False
                    if not wanted <= set(before[tag]) | set(numbers(back.messages, tag)):
                        return False
                return True

            def missing():
                report = []
                for tag, wanted in acked.items():
                    offline_missing = sorted(wanted - set(numbers(away.messages, tag)))
                    online_missing = sorted(wanted - set(before[tag]) - set(numbers(back.messages, tag)))
                    report.append(f"{tag}: {len(wanted)} acknowledged; offline misses {len(offline_missing)} "
                                  f"{offline_missing[:5]}, online misses {len(online_missing)} {online_missing[:5]}")
                return "; ".join(report)

            try:
                wait_until(complete, timeout=30, what="every acknowledged message at both subscribers")
            except AssertionError as error:
                raise AssertionError(f"{error}: {missing()}") from None
            for tag in acked:
                received = numbers(away.messages, tag)
                assert received == sorted(received), f"offline subscriber, stream {tag}: out of order"
                online_order = first_seen_in_order(before[tag] + numbers(back.messages, tag))
                assert online_order == sorted(online_order), f"online subscriber, stream {tag}: out of order"
            offline_q2 = numbers(away.messages, "q2")
            assert len(offline_q2) == len(set(offline_q2)), "QoS 2 duplicated at the offline subscriber"
            late, _ = resume(broker, V311, unique("late"), clean=True)
            late.subscribe("state/#", 1)
            assert late.messages.wait_for(1)[0].payload == b"closed"
            for c in (back, away, late):
                c.close()
        finally:
            broker.stop()


def store_path(folder):
    return folder / "parley.db"


def prepared_store(tmp_path, folder):
    """A Parley store holding one persistent session with a queued message and
    a retained message, plus later changes appended after a restart."""
    broker = persistent_broker("parley", tmp_path, folder, label="damaged").start()
    sid = unique("kept")
    sub, _ = resume(broker, V311, sid)
    sub.subscribe("queued/#", 1)
    sub.disconnect()
    pub = MqttClient(broker, V311)
    pub.connect()
    pub.publish("retained/early", b"early", 1, retain=True)
    broker.stop()
    broker.start()
    pub = MqttClient(broker, V311)
    pub.connect()
    pub.publish("queued/one", b"queued", 1)
    pub.publish("retained/late", b"x" * 400, 1, retain=True)
    pub.close()
    broker.kill()
    return broker, sid


@pytest.mark.skipif("parley" not in KINDS, reason="Parley's own store")
def test_a_store_with_its_last_bytes_cut_off_is_used_up_to_there(tmp_path):
    with shared_dir() as folder:
        broker, sid = prepared_store(tmp_path, folder)
        data = store_path(folder).read_bytes()
        store_path(folder).write_bytes(data[:-100])
        broker.start()
        try:
            assert "incomplete record" in broker.read_log()
            late = MqttClient(broker, V311)
            late.connect()
            late.subscribe("retained/#", 1)
            got = late.messages.wait_for(1)
            assert [m.payload for m in got] == [b"early"]
            back, flags = resume(broker, V311, sid)
            assert flags.session_present
            assert back.messages.wait_for(1)[0].payload == b"queued"
            late.close()
            back.close()
        finally:
            broker.stop()


@pytest.mark.skipif("parley" not in KINDS, reason="Parley's own store")
def test_a_store_with_garbage_in_the_middle_starts_reports_and_serves(tmp_path):
    with shared_dir() as folder:
        broker, sid = prepared_store(tmp_path, folder)
        data = bytearray(store_path(folder).read_bytes())
        middle = len(data) // 2
        data[middle:middle + 64] = bytes((i * 37 + 11) % 256 for i in range(64))
        store_path(folder).write_bytes(bytes(data))
        broker.start()
        try:
            wait_until(lambda: "is damaged" in broker.read_log(), what="the damage report")
            assert any(p.name.startswith("parley.db.damaged-") for p in folder.iterdir())
            client = MqttClient(broker, V311)
            client.connect()
            client.subscribe("anything", 1)
            client.publish("anything", b"served", 1)
            assert client.messages.wait_for(1)[0].payload == b"served"
            client.close()
        finally:
            broker.stop()
