"""Retained messages (3.1.1 section 3.3.1.3, MQTT 5 section 3.3.1.3)."""

import pytest

import mqtt_packets as mp
from helpers import BOTH_PROTOCOLS, V5, publish_props, sync, unique


@BOTH_PROTOCOLS
def test_retained_message_delivered_to_new_subscriber_with_retain_flag(connected, proto):
    """[MQTT-3.3.1-6] stored and sent on subscribe; [MQTT-3.3.1-8] RETAIN=1."""
    topic = unique("ret")
    connected(proto).publish(topic, b"kept", qos=1, retain=True)
    sub = connected(proto)
    sub.subscribe(topic, 1)
    msg = sub.messages.wait_for(1)[0]
    assert (msg.topic, msg.payload, msg.retain, msg.qos) == (topic, b"kept", True, 1)


@BOTH_PROTOCOLS
def test_retained_message_replaced_by_newer_one(connected, proto):
    topic = unique("ret-replace")
    pub = connected(proto)
    pub.publish(topic, b"old", qos=1, retain=True)
    pub.publish(topic, b"new", qos=1, retain=True)
    sub = connected(proto, sync=True)
    sub.subscribe(topic, 1)
    sync(sub, pub)
    assert [m.payload for m in sub.messages.snapshot()] == [b"new"]


@BOTH_PROTOCOLS
def test_retained_message_replaced_by_qos0_publish(connected, proto):
    """[MQTT-3.3.1-7] a QoS 0 retained message also replaces the stored one."""
    topic = unique("ret-q0")
    pub = connected(proto)
    pub.publish(topic, b"q1", qos=1, retain=True)
    pub.publish(topic, b"q0", qos=0, retain=True)
    sub = connected(proto, sync=True)
    sub.subscribe(topic, 2)
    sync(sub, pub)
    got = sub.messages.snapshot()
    assert [(m.payload, m.qos) for m in got] == [(b"q0", 0)]


@BOTH_PROTOCOLS
def test_empty_retained_payload_deletes_retained_message(connected, proto):
    """[MQTT-3.3.1-10] / [MQTT-3.3.1-11] zero-byte retained message clears it."""
    topic = unique("ret-del")
    pub = connected(proto)
    pub.publish(topic, b"soon gone", qos=1, retain=True)
    pub.publish(topic, b"", qos=1, retain=True)
    sub = connected(proto, sync=True)
    sub.subscribe(topic, 1)
    sync(sub, pub)
    assert sub.messages.snapshot() == []


@BOTH_PROTOCOLS
def test_empty_retained_publish_still_forwarded_to_current_subscribers(connected, proto):
    """3.1.1 section 3.3.1.3: a zero-byte retained PUBLISH is delivered normally."""
    topic = unique("ret-del-fwd")
    sub = connected(proto)
    sub.subscribe(topic, 1)
    connected(proto).publish(topic, b"", qos=1, retain=True)
    assert sub.messages.wait_for(1)[0].payload == b""


@BOTH_PROTOCOLS
def test_forwarded_message_has_retain_flag_cleared(connected, proto):
    """[MQTT-3.3.1-9] (v5: [MQTT-3.3.1-12] with Retain As Published = 0)."""
    topic = unique("ret-live")
    sub = connected(proto)
    sub.subscribe(topic, 1)
    connected(proto).publish(topic, b"live", qos=1, retain=True)
    msg = sub.messages.wait_for(1)[0]
    assert msg.payload == b"live" and msg.retain is False


@BOTH_PROTOCOLS
def test_retained_qos_downgraded_to_subscription_qos(connected, proto):
    topic = unique("ret-qos")
    connected(proto).publish(topic, b"q2", qos=2, retain=True)
    sub = connected(proto)
    sub.subscribe(topic, 1)
    msg = sub.messages.wait_for(1)[0]
    assert msg.qos == 1 and msg.retain


@BOTH_PROTOCOLS
def test_wildcard_subscription_receives_all_matching_retained(connected, proto):
    base = unique("ret-wild")
    pub = connected(proto)
    topics = [f"{base}/a", f"{base}/b/c", f"{base}/d"]
    for t in topics:
        pub.publish(t, t.encode(), qos=1, retain=True)
    pub.publish(unique("ret-elsewhere"), b"no", qos=1, retain=True)
    sub = connected(proto, sync=True)
    sub.subscribe(f"{base}/#", 1)
    sync(sub, pub)
    got = sub.messages.snapshot()
    assert sorted(m.topic for m in got) == sorted(topics)
    assert all(m.retain and m.payload == m.topic.encode() for m in got)


@BOTH_PROTOCOLS
def test_retained_message_survives_publisher_disconnect(connected, mqtt, proto):
    topic = unique("ret-gone")
    pub = connected(proto)
    pub.publish(topic, b"stays", qos=1, retain=True)
    pub.disconnect()
    sub = connected(proto)
    sub.subscribe(topic, 0)
    assert sub.messages.wait_for(1)[0].payload == b"stays"


@BOTH_PROTOCOLS
def test_retained_message_on_resubscribe_is_sent_again(connected, proto):
    """3.1.1: [MQTT-3.8.4-3] a repeated SUBSCRIBE re-sends retained messages."""
    topic = unique("ret-resub")
    connected(proto).publish(topic, b"r", qos=1, retain=True)
    sub = connected(proto)
    sub.subscribe(topic, 1)
    sub.messages.wait_for(1)
    sub.subscribe(topic, 1)
    assert len(sub.messages.wait_for(2)) == 2


def test_v5_retained_message_keeps_properties(connected):
    topic = unique("ret-props")
    pub = connected(V5)
    pub.publish(topic, b"{}", qos=1, retain=True,
                properties=publish_props(ContentType="application/json",
                                         UserProperty=[("k", "v")]))
    sub = connected(V5)
    sub.subscribe(topic, 1)
    msg = sub.messages.wait_for(1)[0]
    assert msg.prop("ContentType") == "application/json"
    assert msg.user_properties == [("k", "v")]


@pytest.mark.broker_config("retain_available false")
def test_v5_retain_unavailable_advertised_and_retained_publish_rejected(raw, connected):
    """MQTT 5 3.2.2.3.5: Retain Available = 0 in CONNACK; a retained PUBLISH is
    then a Protocol Error [MQTT-3.2.2-14] and the server SHOULD send
    DISCONNECT 0x9A (Retain not supported)."""
    r = raw(V5)
    ack = r.connect()
    assert mp.prop(ack.props, mp.RETAIN_AVAILABLE) == 0
    topic = unique("noretain")
    r.send(mp.publish(topic, b"x", qos=1, retain=True, pid=3, proto=V5))
    seen = r.wait_closed()
    assert [p.type for p in seen] in ([mp.DISCONNECT], []), seen
    assert [mp.disconnect_reason(p) for p in seen] in ([0x9A], [0x82], []), seen
    assert seen, "expected DISCONNECT 0x9A (SHOULD) before the close"
    # Nothing was stored.
    sub = connected(V5, sync=True)
    sub.subscribe(topic, 1)
    sync(sub)
    assert sub.messages.snapshot() == []


@pytest.mark.broker_config("retain_available false")
def test_v5_retain_unavailable_non_retained_publish_still_works(connected):
    topic = unique("noretain-ok")
    sub = connected(V5)
    sub.subscribe(topic, 1)
    connected(V5).publish(topic, b"fine", qos=1)
    assert sub.messages.wait_for(1)[0].payload == b"fine"


@pytest.mark.broker_config("retain_available false")
def test_v5_retain_unavailable_rejects_will_retain(raw):
    """[MQTT-3.2.2-13] Will Retain=1 without retain support: reject (SHOULD be 0x9A)."""
    r = raw(V5)
    r.send(mp.connect(V5, unique("willret"), will={"topic": "w", "payload": b"x",
                                                    "retain": True}))
    seen = r.wait_closed()
    assert len(seen) <= 1, seen
    if seen:
        ack = mp.parse_connack(seen[0], V5)
        assert ack.reason == 0x9A
