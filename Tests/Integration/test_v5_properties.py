"""MQTT 5 properties and flow control (MQTT 5 sections 3.1.2.11, 3.2.2.3, 3.3.2.3, 4.9)."""

import time

import pytest

import mqtt_packets as mp
from helpers import V5, connect_props, deviation, publish_props, sync, unique

SESSION = [(mp.SESSION_EXPIRY_INTERVAL, 300)]


def test_application_message_properties_forwarded_unchanged(connected):
    """[MQTT-3.3.2-4] PFI, [MQTT-3.3.2-20] Content Type, [MQTT-3.3.2-15]
    Response Topic, [MQTT-3.3.2-16] Correlation Data, [MQTT-3.3.2-17/18]
    User Properties (unaltered, order kept, duplicates kept)."""
    topic = unique("props")
    sub = connected(V5)
    sub.subscribe(topic, 1)
    user = [("a", "1"), ("b", "2"), ("a", "3"), ("unicode", "\u00e9\u4e2d")]
    connected(V5).publish(topic, "text \u2713".encode(), qos=1, properties=publish_props(
        PayloadFormatIndicator=1, ContentType="text/plain; charset=utf-8",
        ResponseTopic="reply/to/me", CorrelationData=b"\x00\xffid-42",
        UserProperty=user))
    msg = sub.messages.wait_for(1)[0]
    assert msg.prop("PayloadFormatIndicator") == 1
    assert msg.prop("ContentType") == "text/plain; charset=utf-8"
    assert msg.prop("ResponseTopic") == "reply/to/me"
    assert msg.prop("CorrelationData") == b"\x00\xffid-42"
    assert msg.user_properties == user


def test_properties_absent_when_not_sent(raw, connected):
    topic = unique("noprops")
    r = raw(V5)
    r.connect()
    r.subscribe([(topic, 1)])
    connected(V5).publish(topic, b"plain", qos=1)
    p = r.read_publish()
    assert p.props == []


def test_request_response_pattern(connected):
    """A responder uses Response Topic and echoes Correlation Data."""
    req_topic = unique("svc")
    requester = connected(V5)
    responder = connected(V5)
    responder.subscribe(req_topic, 1)
    reply_topic = unique("reply")
    requester.subscribe(reply_topic, 1)
    requester.publish(req_topic, b"ping", qos=1, properties=publish_props(
        ResponseTopic=reply_topic, CorrelationData=b"c-1"))
    req = responder.messages.wait_for(1)[0]
    responder.publish(req.prop("ResponseTopic"), b"pong", qos=1,
                      properties=publish_props(CorrelationData=req.prop("CorrelationData")))
    resp = requester.messages.wait_for(1)[0]
    assert (resp.payload, resp.prop("CorrelationData")) == (b"pong", b"c-1")


def test_message_expiry_interval_forwarded_online(connected):
    topic = unique("mei")
    sub = connected(V5)
    sub.subscribe(topic, 1)
    connected(V5).publish(topic, b"x", qos=1, properties=publish_props(MessageExpiryInterval=100))
    got = sub.messages.wait_for(1)[0].prop("MessageExpiryInterval")
    assert got is not None and 98 <= got <= 100


def test_message_expiry_expired_messages_dropped_from_offline_queue(raw, connected):
    """[MQTT-3.3.2-5] expired messages are not delivered; [MQTT-3.3.2-6] the
    forwarded interval is reduced by the time spent waiting in the server."""
    cid = unique("mei-off")
    topic = unique("mei-off-t")
    r = raw(V5)
    r.connect(client_id=cid, clean=False, props=SESSION)
    r.subscribe([(topic, 1)])
    r.disconnect()
    r.wait_closed()

    pub = connected(V5)
    pub.publish(topic, b"short", qos=1, properties=publish_props(MessageExpiryInterval=1))
    pub.publish(topic, b"long", qos=1, properties=publish_props(MessageExpiryInterval=60))
    pub.publish(topic, b"forever", qos=1)
    time.sleep(2.2)  # let the 1 s message expire while queued

    r2 = raw(V5)
    assert r2.connect(client_id=cid, clean=False, props=SESSION).session_present
    got = []
    for _ in range(2):
        p = r2.read_publish()
        got.append(p)
        r2.send(mp.puback(p.pid, V5))
    assert r2.read_all(0.5) == []
    assert [p.payload for p in got] == [b"long", b"forever"]
    remaining = mp.prop(got[0].props, mp.MESSAGE_EXPIRY_INTERVAL)
    assert remaining is not None and 50 <= remaining < 60, remaining
    assert mp.prop(got[1].props, mp.MESSAGE_EXPIRY_INTERVAL) is None


def test_retained_message_expiry(connected):
    """An expired retained message is no longer delivered to new subscribers."""
    topic = unique("mei-ret")
    pub = connected(V5)
    pub.publish(topic, b"brief", qos=1, retain=True,
                properties=publish_props(MessageExpiryInterval=1))
    time.sleep(2.2)  # let it expire
    sub = connected(V5, sync=True)
    sub.subscribe(topic, 1)
    sync(sub, pub)
    assert sub.messages.snapshot() == []


def test_topic_alias_from_client(raw, connected):
    """MQTT 5 3.3.2.3.4: set an alias with topic+alias, then publish alias-only."""
    topic = unique("alias")
    sub = connected(V5)
    sub.subscribe(topic, 1)
    r = raw(V5)
    ack = r.connect()
    alias_max = mp.prop(ack.props, mp.TOPIC_ALIAS_MAXIMUM, 0)
    if alias_max < 1:
        pytest.skip("broker does not accept topic aliases (Topic Alias Maximum 0)")
    r.publish(topic, b"with topic", qos=1, pid=1, props=[(mp.TOPIC_ALIAS, 1)])
    r.publish("", b"alias only", qos=1, pid=2, props=[(mp.TOPIC_ALIAS, 1)])
    r.publish("", b"again", qos=0, props=[(mp.TOPIC_ALIAS, 1)])
    got = sub.messages.wait_for(3)
    assert [(m.topic, m.payload) for m in got] == [
        (topic, b"with topic"), (topic, b"alias only"), (topic, b"again")]
    # Subscribers never see the publisher's alias.
    assert all(m.prop("TopicAlias") is None for m in got)


def test_topic_alias_can_be_remapped(raw, connected):
    t1, t2 = unique("alias-a"), unique("alias-b")
    sub = connected(V5)
    sub.subscribe(t1, 1)
    sub.subscribe(t2, 1)
    r = raw(V5)
    r.connect()
    r.publish(t1, b"1", qos=1, pid=1, props=[(mp.TOPIC_ALIAS, 2)])
    r.publish(t2, b"2", qos=1, pid=2, props=[(mp.TOPIC_ALIAS, 2)])
    r.publish("", b"3", qos=1, pid=3, props=[(mp.TOPIC_ALIAS, 2)])
    got = sub.messages.wait_for(3)
    assert [(m.topic, m.payload) for m in got] == [(t1, b"1"), (t2, b"2"), (t2, b"3")]


@pytest.mark.parametrize("case", ["zero", "above-maximum", "unknown"])
def test_invalid_topic_alias_disconnects_with_0x94(raw, case):
    """Topic Alias 0 / above Topic Alias Maximum / unmapped: the connection is closed
    (DISCONNECT 0x94 Topic Alias invalid, or a protocol error code)."""
    r = raw(V5)
    ack = r.connect()
    alias_max = mp.prop(ack.props, mp.TOPIC_ALIAS_MAXIMUM, 0)
    alias, topic = {"zero": (0, "t"), "above-maximum": (alias_max + 1, "t"),
                    "unknown": (1, "")}[case]
    r.send(mp.publish(topic, b"x", qos=0, proto=V5, props=[(mp.TOPIC_ALIAS, alias)]))
    seen = r.wait_closed()
    allowed = {
        # 0 is never valid [MQTT-3.3.2-8]; Mosquitto 2.0.11 calls it malformed.
        "zero": (0x94, 0x82, 0x81),
        # the reason-code table names 0x94 for an alias above the maximum
        "above-maximum": (0x94, 0x82),
        # alias-only PUBLISH with no mapping on this connection
        "unknown": (0x94, 0x82),
    }[case]
    assert len(seen) <= 1 and all(mp.disconnect_reason(p) in allowed for p in seen), seen


def test_receive_maximum_from_client_honoured(broker, raw, connected):
    """[MQTT-3.3.4-9] never more than Receive Maximum unacknowledged QoS 1/2
    PUBLISHes in flight to the client; acknowledging one frees one slot."""
    topic = unique("rmax")
    limit, total = 2, 6
    r = raw(V5)
    r.connect(props=[(mp.RECEIVE_MAXIMUM, limit)])
    r.subscribe([(topic, 1)])
    pub = connected(V5)
    for i in range(total):
        pub.publish(topic, str(i).encode(), qos=1)  # the broker has all six now

    outstanding = []  # (pid, payload) in arrival order, not yet acknowledged
    received = []

    def take(packets):
        for pkt in packets:
            p = mp.parse_publish(pkt, V5)
            outstanding.append(p.pid)
            received.append(p.payload)
        peak[0] = max(peak[0], len(outstanding))

    peak = [0]
    take(r.read_all(0.5))
    assert len(outstanding) == limit, received
    take(r.ping())  # PINGRESP round trip; nothing more may have been sent
    take(r.read_all(0.3))
    assert len(outstanding) == limit, received
    deadline = time.monotonic() + 10
    while len(received) < total and time.monotonic() < deadline:
        r.send(mp.puback(outstanding.pop(0), V5))  # free exactly one slot
        take(r.read_all(0.3))
    assert received == [str(i).encode() for i in range(total)]
    if peak[0] > limit:
        deviation(broker, "[MQTT-3.3.4-9]",
                  f"{peak[0]} unacknowledged QoS 1 PUBLISHes in flight with Receive "
                  f"Maximum {limit} after PUBACKs freed slots (upstream fix 2.0.13: "
                  f"'Various fixes around inflight quota management')")


def test_receive_maximum_counts_qos2_until_pubcomp(raw, connected):
    topic = unique("rmax2")
    r = raw(V5)
    r.connect(props=[(mp.RECEIVE_MAXIMUM, 1)])
    r.subscribe([(topic, 2)])
    pub = connected(V5)
    pub.publish(topic, b"a", qos=2)
    pub.publish(topic, b"b", qos=2)
    p = r.read_publish()
    assert p.payload == b"a"
    r.send(mp.pubrec(p.pid, V5))
    r.expect(mp.PUBREL)
    assert r.read_all(0.4) == []  # still in flight until PUBCOMP
    r.send(mp.pubcomp(p.pid, V5))
    assert r.read_publish().payload == b"b"


def test_maximum_packet_size_from_client_honoured(raw, connected):
    """[MQTT-3.1.2-24] never send a packet above the client's Maximum Packet
    Size; [MQTT-3.1.2-25] such a message is discarded for that client."""
    topic = unique("maxpkt")
    r = raw(V5)
    r.connect(props=[(mp.MAXIMUM_PACKET_SIZE, 128)])
    r.subscribe([(topic, 1)])
    pub = connected(V5)
    pub.publish(topic, b"s" * 20, qos=1)
    pub.publish(topic, b"B" * 500, qos=1)
    pub.publish(topic, b"t" * 20, qos=1)
    got = []
    for pkt in r.read_all(0.8):
        assert len(pkt.body) + 2 <= 128, f"{len(pkt.body)}-byte packet exceeds limit"
        got.append(mp.parse_publish(pkt, V5))
        r.send(mp.puback(got[-1].pid, V5))
    assert [p.payload for p in got] == [b"s" * 20, b"t" * 20]
    assert r.is_open()


def test_maximum_packet_size_only_affects_that_client(connected):
    topic = unique("maxpkt2")
    small = connected(V5, properties=connect_props(MaximumPacketSize=200))
    big = connected(V5)
    small.enable_sync()
    small.subscribe(topic, 1)
    big.subscribe(topic, 1)
    pub = connected(V5)
    pub.publish(topic, b"x" * 1000, qos=1)
    assert big.messages.wait_for(1)[0].payload == b"x" * 1000
    sync(small, pub)
    assert small.messages.snapshot() == []


def test_a_queued_message_too_large_for_the_client_does_not_stall_its_window(broker, connected):
    """Receive Maximum 1: the message that cannot be sent frees its slot, so
    the next one queued behind it is delivered without a reconnect."""
    topic = unique("maxpkt3")
    small = connected(V5, properties=connect_props(MaximumPacketSize=200, ReceiveMaximum=1))
    small.subscribe(topic, 1)
    pub = connected(V5)
    pub.publish(topic, b"first", qos=1)
    pub.publish(topic, b"x" * 1000, qos=1)
    pub.publish(topic, b"after", qos=1)
    try:
        got = small.messages.wait_for(2, topic=topic)
    except AssertionError:
        deviation(broker, "[MQTT-3.1.2-25]",
                  "a queued message too large for the client was discarded without freeing its "
                  "Receive Maximum slot: the next message waits for a reconnection")
    assert [m.payload for m in got] == [b"first", b"after"]


def test_connack_advertises_server_limits(raw):
    """CONNACK properties a client relies on are well formed."""
    r = raw(V5)
    ack = r.connect()
    for ident, value in ack.props:
        if ident == mp.RECEIVE_MAXIMUM:
            assert value > 0
        if ident == mp.MAXIMUM_QOS:
            assert value in (0, 1)  # absent means 2
        if ident in (mp.RETAIN_AVAILABLE, mp.WILDCARD_SUBSCRIPTION_AVAILABLE,
                     mp.SUBSCRIPTION_IDENTIFIER_AVAILABLE, mp.SHARED_SUBSCRIPTION_AVAILABLE):
            assert value in (0, 1)
    idents = [i for i, _ in ack.props if i != mp.USER_PROPERTY]
    assert len(idents) == len(set(idents)), f"duplicate CONNACK properties {ack.props}"


def test_request_problem_information_zero_is_accepted(raw):
    r = raw(V5)
    ack = r.connect(props=[(mp.REQUEST_PROBLEM_INFORMATION, 0)])
    assert ack.reason == 0
