"""Session state (3.1.1 sections 3.1.2.4 and 4.1, MQTT 5 sections 3.1.2.4, 3.1.2.11.2, 4.1)."""

import time

import pytest

import mqtt_packets as mp
from helpers import BOTH_PROTOCOLS, V5, connect_props, sync, unique

SESSION = 300  # seconds, for MQTT 5 persistent sessions


def _persistent(mqtt, proto, cid, expiry=SESSION, clean=False):
    """A paho client connected with a persistent session."""
    c = mqtt(proto, cid)
    props = connect_props(SessionExpiryInterval=expiry) if proto == V5 else None
    _, flags, _ = c.connect(clean=clean, properties=props)
    return c, flags.session_present


def _persistent_raw(raw, proto, cid, expiry=SESSION, clean=False):
    r = raw(proto)
    props = [(mp.SESSION_EXPIRY_INTERVAL, expiry)] if proto == V5 else None
    return r, r.connect(client_id=cid, clean=clean, props=props)


@BOTH_PROTOCOLS
def test_persistent_session_keeps_subscriptions_and_queues_qos1_qos2(mqtt, connected, proto):
    """[MQTT-3.1.2-4/5] session state includes subscriptions and QoS 1/2
    messages pending transmission; they are delivered on reconnect."""
    cid = unique("persist")
    topic = unique("offline")
    c, present = _persistent(mqtt, proto, cid)
    assert not present
    c.subscribe(topic, 2)
    c.enable_sync()
    c.disconnect()

    pub = connected(proto)
    pub.publish(topic, b"q1", qos=1)
    pub.publish(topic, b"q2", qos=2)
    pub.publish(topic, b"q0", qos=0)

    c2, present = _persistent(mqtt, proto, cid)
    assert present
    c2.sync_topic = c.sync_topic  # the sync subscription survived as well
    got = c2.messages.wait_for(2)
    sync(c2, pub)
    got = c2.messages.snapshot()
    assert [(m.payload, m.qos) for m in got] == [(b"q1", 1), (b"q2", 2)]
    # New messages flow through the restored subscription.
    pub.publish(topic, b"live", qos=1)
    assert c2.messages.wait_for(3)[-1].payload == b"live"


@BOTH_PROTOCOLS
def test_offline_messages_respect_subscription_qos(mqtt, connected, proto):
    cid = unique("persist-q")
    topic = unique("offline-q")
    c, _ = _persistent(mqtt, proto, cid)
    c.subscribe(topic, 1)
    c.disconnect()
    connected(proto).publish(topic, b"downgraded", qos=2)
    c2, _ = _persistent(mqtt, proto, cid)
    msg = c2.messages.wait_for(1)[0]
    assert (msg.payload, msg.qos) == (b"downgraded", 1)


@BOTH_PROTOCOLS
@pytest.mark.broker_config("queue_qos0_messages true")
def test_qos0_queued_when_enabled(mqtt, connected, proto):
    """Mosquitto option queue_qos0_messages: QoS 0 messages are kept for
    offline persistent sessions (the spec lets a server choose, 3.1.2.4)."""
    cid = unique("q0")
    topic = unique("offline-q0")
    c, _ = _persistent(mqtt, proto, cid)
    c.subscribe(topic, 1)
    c.disconnect()
    connected(proto).publish(topic, b"zero", qos=0)
    c2, _ = _persistent(mqtt, proto, cid)
    msg = c2.messages.wait_for(1)[0]
    assert (msg.payload, msg.qos) == (b"zero", 0)


@BOTH_PROTOCOLS
@pytest.mark.broker_config("max_queued_messages 5")
def test_max_queued_messages_drops_the_excess(mqtt, connected, proto):
    cid = unique("maxq")
    topic = unique("offline-maxq")
    c, _ = _persistent(mqtt, proto, cid)
    c.subscribe(topic, 1)
    c.enable_sync()
    c.disconnect()
    pub = connected(proto)
    for i in range(12):
        pub.publish(topic, str(i).encode(), qos=1)
    c2, _ = _persistent(mqtt, proto, cid)
    c2.sync_topic = c.sync_topic
    sync(c2, pub)
    got = [int(m.payload) for m in c2.messages.snapshot()]
    assert len(got) == 5, got
    assert got == sorted(got), "queued messages must keep their order"


@BOTH_PROTOCOLS
def test_clean_session_discards_previous_state(mqtt, connected, proto):
    """[MQTT-3.1.2-6] (v5 [MQTT-3.1.2-4]) clean session/start discards the session."""
    cid = unique("clean")
    topic = unique("discard")
    c, _ = _persistent(mqtt, proto, cid)
    c.subscribe(topic, 1)
    c.disconnect()
    pub = connected(proto)
    pub.publish(topic, b"queued", qos=1)

    c2, present = _persistent(mqtt, proto, cid, clean=True)
    assert not present
    c2.enable_sync()
    pub.publish(topic, b"after", qos=1)
    sync(c2, pub)
    assert c2.messages.snapshot() == []  # neither the queue nor the subscription survived


@BOTH_PROTOCOLS
def test_clean_session_state_not_kept_after_disconnect(mqtt, connected, proto):
    """3.1.1 CleanSession=1 / v5 Session Expiry 0: nothing survives the connection."""
    cid = unique("ephemeral")
    topic = unique("gone")
    c, _ = _persistent(mqtt, proto, cid, expiry=0, clean=(proto != V5))
    c.subscribe(topic, 1)
    c.disconnect()
    connected(proto).publish(topic, b"lost", qos=1)
    c2, present = _persistent(mqtt, proto, cid)
    assert not present
    c2.enable_sync()
    sync(c2)
    assert c2.messages.snapshot() == []


def test_v5_session_expiry_zero_ends_session_at_disconnect(mqtt, connected):
    """MQTT 5 3.1.2.11.2: expiry 0 (or absent) -> session ends with the connection."""
    cid = unique("sei0")
    topic = unique("sei0-t")
    c, _ = _persistent(mqtt, V5, cid, expiry=0)
    c.subscribe(topic, 1)
    c.disconnect()
    connected(V5).publish(topic, b"x", qos=1)
    c2, present = _persistent(mqtt, V5, cid)
    assert not present
    c2.enable_sync()
    sync(c2)
    assert c2.messages.snapshot() == []


def test_v5_session_expires_after_interval(mqtt, connected):
    cid = unique("sei1")
    c, _ = _persistent(mqtt, V5, cid, expiry=1)
    c.subscribe(unique("sei1-t"), 1)
    c.disconnect()
    # Still there right away ...
    c2, present = _persistent(mqtt, V5, cid, expiry=1)
    assert present
    c2.disconnect()
    # ... and gone once the interval (plus timer granularity) has passed.
    time.sleep(2.5)  # let the session's 1 s lifetime run out
    c3, present = _persistent(mqtt, V5, cid, expiry=1)
    assert not present


def test_v5_disconnect_can_extend_session_expiry(mqtt, connected, raw):
    """MQTT 5 3.14.2.2.2: DISCONNECT may change a non-zero session expiry."""
    cid = unique("sei-upd")
    topic = unique("sei-upd-t")
    r, _ = _persistent_raw(raw, V5, cid, expiry=1)
    r.subscribe([(topic, 1)])
    r.disconnect(reason=0, props=[(mp.SESSION_EXPIRY_INTERVAL, 60)])
    r.wait_closed()
    time.sleep(2.2)  # longer than the original 1 s expiry
    connected(V5).publish(topic, b"kept", qos=1)
    c2, present = _persistent(mqtt, V5, cid)
    assert present
    assert c2.messages.wait_for(1)[0].payload == b"kept"


def test_v5_disconnect_setting_expiry_from_zero_is_protocol_error(raw):
    """[MQTT-3.14.2-2]: expiry 0 at CONNECT, non-zero on DISCONNECT -> Protocol Error."""
    r = raw(V5)
    r.connect(props=[(mp.SESSION_EXPIRY_INTERVAL, 0)])
    r.disconnect(reason=0, props=[(mp.SESSION_EXPIRY_INTERVAL, 60)])
    seen = r.wait_closed()
    assert [mp.disconnect_reason(p) for p in seen] in ([], [0x82]), seen


@BOTH_PROTOCOLS
def test_unacknowledged_qos1_resent_with_dup_on_resume(raw, connected, proto):
    """[MQTT-4.4.0-1] unacknowledged QoS 1 PUBLISH is re-sent with the original
    packet id, and [MQTT-3.3.1-1] DUP=1 on the re-delivery."""
    cid = unique("resend1")
    topic = unique("resend1-t")
    r, _ = _persistent_raw(raw, proto, cid)
    r.subscribe([(topic, 1)])
    connected(proto).publish(topic, b"ack me", qos=1)
    first = r.read_publish()
    assert first.qos == 1 and not first.dup
    r.close()  # no PUBACK

    r2, ack = _persistent_raw(raw, proto, cid)
    assert ack.session_present
    again = r2.read_publish()
    assert (again.payload, again.qos, again.pid, again.dup) == (b"ack me", 1, first.pid, True)
    r2.send(mp.puback(again.pid, proto))
    r2.disconnect()
    r2.wait_closed()

    # Acknowledged now: a third connection gets nothing more.
    r3, _ = _persistent_raw(raw, proto, cid)
    assert r3.read_all(0.5) == []


@BOTH_PROTOCOLS
def test_unacknowledged_qos2_publish_resent_with_dup_on_resume(raw, connected, proto):
    cid = unique("resend2")
    topic = unique("resend2-t")
    r, _ = _persistent_raw(raw, proto, cid)
    r.subscribe([(topic, 2)])
    connected(proto).publish(topic, b"two", qos=2)
    first = r.read_publish()
    r.close()  # no PUBREC

    r2, _ = _persistent_raw(raw, proto, cid)
    again = r2.read_publish()
    assert (again.payload, again.qos, again.pid, again.dup) == (b"two", 2, first.pid, True)
    r2.send(mp.pubrec(again.pid, proto))
    assert mp.ack_pid(r2.expect(mp.PUBREL)) == again.pid
    r2.send(mp.pubcomp(again.pid, proto))
    assert r2.is_open()


@BOTH_PROTOCOLS
def test_pubrel_resent_on_resume(raw, connected, proto):
    """[MQTT-4.4.0-1] an unacknowledged PUBREL is re-sent after reconnecting."""
    cid = unique("resendrel")
    topic = unique("resendrel-t")
    r, _ = _persistent_raw(raw, proto, cid)
    r.subscribe([(topic, 2)])
    connected(proto).publish(topic, b"rel", qos=2)
    first = r.read_publish()
    r.send(mp.pubrec(first.pid, proto))
    assert mp.ack_pid(r.expect(mp.PUBREL)) == first.pid
    r.close()  # no PUBCOMP

    r2, _ = _persistent_raw(raw, proto, cid)
    pkt = r2.read_packet()
    assert pkt.type == mp.PUBREL and pkt.flags == 0x02, pkt
    assert mp.ack_pid(pkt) == first.pid
    r2.send(mp.pubcomp(first.pid, proto))
    assert r2.read_all(0.3) == []  # the message itself is not delivered again


@BOTH_PROTOCOLS
def test_paho_manual_ack_redelivery_on_resume(mqtt, connected, proto):
    """Same as the raw test, using paho with manual acknowledgements."""
    cid = unique("manual")
    topic = unique("manual-t")
    c = mqtt(proto, cid, manual_ack=True)
    props = connect_props(SessionExpiryInterval=SESSION) if proto == V5 else None
    c.connect(clean=False, properties=props)
    c.subscribe(topic, 1)
    connected(proto).publish(topic, b"unacked", qos=1)
    first = c.messages.wait_for(1)[0]
    c.drop()  # never acked

    c2 = mqtt(proto, cid, manual_ack=True)
    c2.connect(clean=False, properties=props)
    again = c2.messages.wait_for(1)[0]
    assert (again.payload, again.mid, again.dup) == (b"unacked", first.mid, True)
    c2.ack(again.mid, 1)


@BOTH_PROTOCOLS
def test_offline_queue_preserves_order(mqtt, connected, proto):
    """[MQTT-4.6.0-6] same topic, same QoS: order kept through the offline queue."""
    cid = unique("order")
    topic = unique("order-t")
    c, _ = _persistent(mqtt, proto, cid)
    c.subscribe(topic, 2)
    c.disconnect()
    pub = connected(proto)
    for i in range(50):
        pub.publish(topic, str(i).encode(), qos=1)
    c2, _ = _persistent(mqtt, proto, cid)
    got = c2.messages.wait_for(50)
    assert [int(m.payload) for m in got] == list(range(50))
