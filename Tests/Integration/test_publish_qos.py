"""PUBLISH and the QoS 0/1/2 flows (3.1.1 sections 3.3-3.7, 4.3, 4.6; MQTT 5 same)."""

import pytest

import mqtt_packets as mp
from helpers import BOTH_PROTOCOLS, ConnectionClosed, V311, V5, deviation, sync, unique


@BOTH_PROTOCOLS
@pytest.mark.parametrize("granted", [0, 1, 2])
@pytest.mark.parametrize("published", [0, 1, 2])
def test_delivery_qos_is_min_of_published_and_granted(connected, proto, published, granted):
    """3.1.1 / MQTT 5 section 3.8.4: delivered QoS = min(publish QoS, granted QoS)."""
    topic = unique("qos")
    sub = connected(proto)
    assert sub.subscribe(topic, granted) == [granted]
    pub = connected(proto)
    pub.publish(topic, b"payload-%d" % published, qos=published)
    msg = sub.messages.wait_for(1)[0]
    assert msg.payload == b"payload-%d" % published
    assert msg.qos == min(published, granted)
    assert not msg.retain and not msg.dup


@BOTH_PROTOCOLS
def test_qos1_publish_gets_puback_with_same_packet_id(raw, proto):
    r = raw(proto)
    r.connect()
    r.send(mp.publish(unique("q1"), b"x", qos=1, pid=0x4242, proto=proto))
    ack = r.expect(mp.PUBACK)
    assert mp.ack_pid(ack) == 0x4242
    if proto == V5:
        # 0x00 Success or 0x10 No matching subscribers are both success codes.
        assert mp.ack_reason(ack) in (0x00, 0x10)


@BOTH_PROTOCOLS
def test_qos2_publish_full_handshake(raw, proto):
    r = raw(proto)
    r.connect()
    r.send(mp.publish(unique("q2"), b"x", qos=2, pid=77, proto=proto))
    rec = r.expect(mp.PUBREC)
    assert mp.ack_pid(rec) == 77 and rec.flags == 0
    if proto == V5:
        assert mp.ack_reason(rec) in (0x00, 0x10)
    r.send(mp.pubrel(77, proto))
    comp = r.expect(mp.PUBCOMP)
    assert mp.ack_pid(comp) == 77 and comp.flags == 0


def _persistent_raw(raw, proto, cid):
    r = raw(proto)
    props = [(mp.SESSION_EXPIRY_INTERVAL, 300)] if proto == V5 else None
    ack = r.connect(client_id=cid, clean=False, props=props)
    return r, ack


@BOTH_PROTOCOLS
def test_qos2_exactly_once_when_publish_resent_with_dup_after_reconnect(raw, connected, proto):
    """[MQTT-4.3.3-2] + [MQTT-4.4.0-1]: the PUBREC was "lost", the publisher
    reconnects and resends the PUBLISH with DUP=1 and the same packet id.
    The broker answers PUBREC again and must not deliver a second copy."""
    topic = unique("exactly-once")
    sub = connected(proto, sync=True)
    sub.subscribe(topic, 2)
    cid = unique("qos2pub")
    r, _ = _persistent_raw(raw, proto, cid)
    r.send(mp.publish(topic, b"once", qos=2, pid=9, proto=proto))
    assert mp.ack_pid(r.expect(mp.PUBREC)) == 9
    r.close()  # pretend that PUBREC never arrived

    r2, ack = _persistent_raw(raw, proto, cid)
    assert ack.session_present
    r2.send(mp.publish(topic, b"once", qos=2, pid=9, dup=True, proto=proto))
    assert mp.ack_pid(r2.expect(mp.PUBREC)) == 9
    r2.send(mp.pubrel(9, proto))
    assert mp.ack_pid(r2.expect(mp.PUBCOMP)) == 9
    sync(sub)
    assert [(m.payload, m.qos) for m in sub.messages.snapshot()] == [(b"once", 2)]


@BOTH_PROTOCOLS
def test_qos2_pubrel_resent_after_reconnect_completes_without_redelivery(raw, connected, proto):
    """The PUBCOMP was "lost": after reconnecting, the resent PUBREL is
    answered with PUBCOMP (v5: reason 0x00, or 0x92 Packet Identifier not
    found) and nothing is delivered twice."""
    topic = unique("pubrel-resend")
    sub = connected(proto, sync=True)
    sub.subscribe(topic, 2)
    cid = unique("qos2rel")
    r, _ = _persistent_raw(raw, proto, cid)
    r.send(mp.publish(topic, b"one", qos=2, pid=21, proto=proto))
    r.expect(mp.PUBREC)
    r.send(mp.pubrel(21, proto))
    r.expect(mp.PUBCOMP)
    r.close()

    r2, _ = _persistent_raw(raw, proto, cid)
    r2.send(mp.pubrel(21, proto))
    comp = r2.expect(mp.PUBCOMP)
    assert mp.ack_pid(comp) == 21
    if proto == V5:
        assert mp.ack_reason(comp) in (0x00, 0x92)
    sync(sub)
    assert [m.payload for m in sub.messages.snapshot()] == [b"one"]


@pytest.mark.parametrize("resends", [1, 2])
def test_v311_qos2_publish_resent_on_same_connection_not_redelivered(
        broker, raw, connected, resends):
    """[MQTT-4.3.3-2] "Until it has received the corresponding PUBREL packet,
    the Receiver MUST acknowledge any subsequent PUBLISH packet with the same
    Packet Identifier by sending a PUBREC" - 3.1.1 permits in-connection
    retransmission (MQTT 5 forbids it, see [MQTT-4.4.0-1] there)."""
    proto = V311
    topic = unique("exactly-once-same")
    sub = connected(proto, sync=True)
    sub.subscribe(topic, 2)
    r = raw(proto)
    r.connect()
    r.send(mp.publish(topic, b"once", qos=2, pid=9, proto=proto))
    assert mp.ack_pid(r.expect(mp.PUBREC)) == 9
    for i in range(resends):
        r.send(mp.publish(topic, b"once", qos=2, pid=9, dup=True, proto=proto))
        try:
            pkt = r.read_packet()
        except ConnectionClosed:
            if i >= 1:
                deviation(broker, "[MQTT-4.3.3-2]",
                          f"connection closed ('protocol error') on DUP resend #{i + 1} "
                          f"of an unreleased QoS 2 PUBLISH")
            raise
        assert pkt.type == mp.PUBREC and mp.ack_pid(pkt) == 9, pkt
    r.send(mp.pubrel(9, proto))
    assert mp.ack_pid(r.expect(mp.PUBCOMP)) == 9
    sync(sub)
    assert [(m.payload, m.qos) for m in sub.messages.snapshot()] == [(b"once", 2)]


@BOTH_PROTOCOLS
def test_qos2_packet_id_reusable_after_pubcomp(raw, connected, proto):
    """After PUBCOMP the same packet id starts a new, distinct message."""
    topic = unique("reuse")
    sub = connected(proto)
    sub.subscribe(topic, 2)
    r = raw(proto)
    r.connect()
    r.publish(topic, b"one", qos=2, pid=5)
    r.publish(topic, b"two", qos=2, pid=5)
    assert [m.payload for m in sub.messages.wait_for(2)] == [b"one", b"two"]


@BOTH_PROTOCOLS
def test_qos1_to_subscriber_flow(raw, connected, proto):
    """Outgoing QoS 1: non-zero packet id, subscriber PUBACK completes it."""
    topic = unique("out1")
    r = raw(proto)
    r.connect()
    assert r.subscribe([(topic, 1)]) == [1]
    connected(proto).publish(topic, b"hello", qos=1)
    p = r.read_publish()
    assert (p.topic, p.payload, p.qos, p.dup, p.retain) == (topic, b"hello", 1, False, False)
    assert p.pid and p.pid != 0
    r.send(mp.puback(p.pid, proto))
    assert r.is_open()


@BOTH_PROTOCOLS
def test_qos2_to_subscriber_flow(raw, connected, proto):
    """Outgoing QoS 2: PUBLISH -> PUBREC -> PUBREL(flags 2) -> PUBCOMP."""
    topic = unique("out2")
    r = raw(proto)
    r.connect()
    r.subscribe([(topic, 2)])
    connected(proto).publish(topic, b"hello", qos=2)
    p = r.read_publish()
    assert p.qos == 2 and p.pid
    r.send(mp.pubrec(p.pid, proto))
    rel = r.expect(mp.PUBREL)
    assert rel.flags == 0x02, "[MQTT-3.6.1-1] PUBREL fixed header flags must be 0010"
    assert mp.ack_pid(rel) == p.pid
    r.send(mp.pubcomp(p.pid, proto))
    assert r.is_open()


@BOTH_PROTOCOLS
def test_publisher_and_subscriber_on_same_connection(connected, proto):
    topic = unique("self")
    c = connected(proto)
    c.subscribe(topic, 2)
    c.publish(topic, b"echo", qos=2)
    assert c.messages.wait_for(1)[0].payload == b"echo"


@BOTH_PROTOCOLS
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_payload_bytes_forwarded_unchanged(connected, proto, qos):
    topic = unique("bytes")
    sub = connected(proto)
    sub.subscribe(topic, qos)
    payload = bytes(range(256)) * 40 + b"\x00tail"
    pub = connected(proto)
    pub.publish(topic, payload, qos=qos)
    pub.publish(topic, b"", qos=qos)  # zero-length payloads are legal
    got = sub.messages.wait_for(2)
    assert [m.payload for m in got] == [payload, b""]


@BOTH_PROTOCOLS
def test_large_payload_forwarded(connected, proto):
    topic = unique("large")
    sub = connected(proto)
    sub.subscribe(topic, 1)
    payload = b"L" * (256 * 1024 + 3)  # needs a 3-byte remaining length
    connected(proto).publish(topic, payload, qos=1, timeout=10)
    assert sub.messages.wait_for(1, timeout=10)[0].payload == payload


@BOTH_PROTOCOLS
def test_burst_of_1000_qos1_messages_arrives_in_order(connected, proto):
    """[MQTT-4.6.0-6] ordered topic: QoS 1 messages arrive in publish order."""
    topic = unique("burst")
    n = 1000
    sub = connected(proto)
    sub.subscribe(topic, 1)
    pub = connected(proto)
    infos = [pub.publish(topic, str(i).encode(), qos=1, wait=False) for i in range(n)]
    for info in infos:
        info.wait_for_publish(30)
    got = sub.messages.wait_for(n, timeout=30)
    assert [int(m.payload) for m in got] == list(range(n))
    assert all(m.qos == 1 for m in got)


@BOTH_PROTOCOLS
def test_messages_from_one_publisher_to_many_subscribers(connected, proto):
    topic = unique("fanout")
    subs = [connected(proto) for _ in range(5)]
    for s in subs:
        s.subscribe(topic, 1)
    pub = connected(proto)
    for i in range(20):
        pub.publish(topic, str(i).encode(), qos=1, wait=False)
    for s in subs:
        assert [int(m.payload) for m in s.messages.wait_for(20)] == list(range(20))
