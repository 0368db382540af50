"""SUBSCRIBE / UNSUBSCRIBE and topic matching (3.1.1 sections 3.8-3.11, 4.7; MQTT 5 same)."""

import collections

import pytest
from paho.mqtt.subscribeoptions import SubscribeOptions

import mqtt_packets as mp
from helpers import (BOTH_PROTOCOLS, ConnectionClosed, V5, deviation,
                     subscribe_props, sync, unique)


def _publish_all(pub, topics, qos=0):
    for t in topics:
        pub.publish(t, t.encode(), qos=qos)


@BOTH_PROTOCOLS
def test_single_level_wildcard_matches_exactly_one_level(connected, proto):
    base = unique("plus")
    sub = connected(proto, sync=True)
    assert sub.subscribe(f"{base}/+/c", 1) == [1]
    pub = connected(proto)
    matching = [f"{base}/b/c", f"{base}//c", f"{base}/xyz/c"]
    other = [f"{base}/c", f"{base}/b/d/c", f"{base}/b/c/d", f"{base}/b/cc", f"{base}x/b/c"]
    _publish_all(pub, other + matching, qos=1)
    sync(sub, pub)
    assert sorted(m.topic for m in sub.messages.snapshot()) == sorted(matching)


@BOTH_PROTOCOLS
def test_plus_alone_and_at_edges(connected, proto):
    base = unique("plus2")
    sub = connected(proto, sync=True)
    sub.subscribe(f"+/{base}/+", 1)
    pub = connected(proto)
    matching = [f"a/{base}/b", f"/{base}/"]
    other = [f"{base}/b", f"a/{base}", f"a/{base}/b/c"]
    _publish_all(pub, other + matching, qos=1)
    sync(sub, pub)
    assert sorted(m.topic for m in sub.messages.snapshot()) == sorted(matching)


@BOTH_PROTOCOLS
def test_multi_level_wildcard_matches_parent_and_descendants(connected, proto):
    base = unique("hash")
    sub = connected(proto, sync=True)
    assert sub.subscribe(f"{base}/a/#", 1) == [1]
    pub = connected(proto)
    # "a/#" also matches the parent level "a" itself [MQTT-4.7.1-2 note].
    matching = [f"{base}/a", f"{base}/a/b", f"{base}/a/b/c", f"{base}/a/"]
    other = [f"{base}/ab", f"{base}/b/a", f"{base}"]
    _publish_all(pub, other + matching, qos=1)
    sync(sub, pub)
    assert sorted(m.topic for m in sub.messages.snapshot()) == sorted(matching)


@BOTH_PROTOCOLS
def test_hash_alone_matches_everything_not_starting_with_dollar(connected, proto):
    sub = connected(proto, sync=True)
    sub.subscribe("#", 1)
    pub = connected(proto)
    topics = [unique("any"), unique("x") + "/y/z", "/" + unique("lead")]
    _publish_all(pub, topics, qos=1)
    sync(sub, pub)
    assert sorted(m.topic for m in sub.messages.snapshot()) == sorted(topics)


@BOTH_PROTOCOLS
def test_suback_grants_requested_qos(connected, proto):
    sub = connected(proto)
    base = unique("grant")
    codes = sub.subscribe([(f"{base}/0", 0), (f"{base}/1", 1), (f"{base}/2", 2)])
    assert codes == [0, 1, 2]


@BOTH_PROTOCOLS
def test_suback_via_raw_socket_matches_packet_id(raw, proto):
    r = raw(proto)
    r.connect()
    base = unique("rawsub")
    r.send(mp.subscribe(0x1234, [(f"{base}/a", 2), (f"{base}/+/b", 1), (f"{base}/#", 0)], proto))
    pkt = r.expect(mp.SUBACK)
    assert mp.ack_pid(pkt) == 0x1234
    assert mp.suback_codes(pkt, proto) == [2, 1, 0]


@BOTH_PROTOCOLS
@pytest.mark.broker_config("sys_interval 1")
def test_sys_topics_not_matched_by_leading_wildcards(connected, proto):
    """[MQTT-4.7.2-1] "#" and "+/..." must not match topics starting with "$"."""
    wild = connected(proto, sync=True)
    wild.subscribe("#", 0)
    wild.subscribe("+/broker/#", 0)
    explicit = connected(proto)
    explicit.subscribe("$SYS/#", 0)
    # Once $SYS traffic demonstrably flows, the wildcard client must have none.
    explicit.messages.wait_for(3, timeout=5)
    sync(wild, explicit)
    leaked = [m.topic for m in wild.messages.snapshot() if m.topic.startswith("$")]
    assert leaked == []


@BOTH_PROTOCOLS
def test_resubscribe_replaces_qos(connected, proto):
    """[MQTT-3.8.4-3] same filter again replaces the existing subscription."""
    topic = unique("resub")
    sub = connected(proto, sync=True)
    pub = connected(proto)
    sub.subscribe(topic, 2)
    pub.publish(topic, b"first", qos=2)
    assert sub.messages.wait_for(1)[0].qos == 2
    assert sub.subscribe(topic, 0) == [0]
    pub.publish(topic, b"second", qos=2)
    msgs = sub.messages.wait_for(2)
    sync(sub, pub)
    msgs = sub.messages.snapshot()
    assert [(m.payload, m.qos) for m in msgs] == [(b"first", 2), (b"second", 0)]


@BOTH_PROTOCOLS
def test_unsubscribe_stops_delivery(connected, proto):
    topic = unique("unsub")
    sub = connected(proto, sync=True)
    pub = connected(proto)
    sub.subscribe(topic, 1)
    pub.publish(topic, b"before", qos=1)
    sub.messages.wait_for(1)
    codes = sub.unsubscribe(topic)
    if proto == V5:
        assert codes == [0]
    pub.publish(topic, b"after", qos=1)
    sync(sub, pub)
    assert [m.payload for m in sub.messages.snapshot()] == [b"before"]


@BOTH_PROTOCOLS
def test_unsuback_raw(raw, proto):
    """UNSUBACK echoes the packet id; v5 gives one reason code per filter."""
    r = raw(proto)
    r.connect()
    known = unique("known")
    r.subscribe([(known, 1)])
    r.send(mp.unsubscribe(0x0BAD, [known, unique("never-subscribed")], proto))
    pkt = r.expect(mp.UNSUBACK)
    assert mp.ack_pid(pkt) == 0x0BAD
    if proto == V5:
        # 0x00 Success, 0x11 No subscription existed (MQTT 5 section 3.11.3).
        assert mp.suback_codes(pkt, proto) == [0x00, 0x11]
    else:
        assert len(pkt.body) == 2


def test_v5_no_local(connected):
    """[MQTT-3.8.3-3] No Local: own publications are not sent back."""
    topic = unique("nolocal")
    me = connected(V5, sync=True)
    other = connected(V5, sync=True)
    me.subscribe(topic, options=SubscribeOptions(qos=1, noLocal=True))
    other.subscribe(topic, 1)
    me.publish(topic, b"from me", qos=1)
    other.publish(topic, b"from other", qos=1)
    other.messages.wait_for(2)
    sync(me, me)  # my own marker (not no-local) comes back after my publish
    assert [m.payload for m in me.messages.snapshot()] == [b"from other"]
    assert sorted(m.payload for m in other.messages.snapshot()) == [b"from me", b"from other"]


def test_v5_retain_as_published(connected):
    """[MQTT-3.3.1-12] / [MQTT-3.3.1-13] RETAIN flag on forwarded messages."""
    topic = unique("rap")
    keep = connected(V5)
    clear = connected(V5)
    keep.subscribe(topic, options=SubscribeOptions(qos=1, retainAsPublished=True))
    clear.subscribe(topic, options=SubscribeOptions(qos=1, retainAsPublished=False))
    pub = connected(V5)
    pub.publish(topic, b"r", qos=1, retain=True)
    pub.publish(topic, b"n", qos=1, retain=False)
    assert [(m.payload, m.retain) for m in keep.messages.wait_for(2)] == [(b"r", True), (b"n", False)]
    assert [(m.payload, m.retain) for m in clear.messages.wait_for(2)] == [(b"r", False), (b"n", False)]


@pytest.mark.parametrize("handling,expected", [(0, 2), (1, 1), (2, 0)])
def test_v5_retain_handling(connected, handling, expected):
    """[MQTT-3.3.1-9..11]: 0 always, 1 only for a new subscription, 2 never."""
    topic = unique("rh")
    pub = connected(V5)
    pub.publish(topic, b"retained", qos=1, retain=True)
    sub = connected(V5, sync=True)
    opts = SubscribeOptions(qos=1, retainHandling=handling)
    sub.subscribe(topic, options=opts)
    sub.subscribe(topic, options=opts)  # same filter: subscription exists now
    sync(sub, pub)
    got = sub.messages.snapshot()
    assert len(got) == expected, got
    assert all(m.retain and m.payload == b"retained" for m in got)


def test_v5_subscription_identifier_delivered(connected):
    """MQTT 5 3.8.2.1.2 / [MQTT-3.3.4-3]."""
    base = unique("subid")
    sub = connected(V5, sync=True)
    sub.subscribe(f"{base}/with", 1, properties=subscribe_props(SubscriptionIdentifier=42))
    sub.subscribe(f"{base}/without", 1)
    pub = connected(V5)
    pub.publish(f"{base}/with", b"a", qos=1)
    pub.publish(f"{base}/without", b"b", qos=1)
    sync(sub, pub)
    got = {m.topic.rsplit("/", 1)[1]: m for m in sub.messages.snapshot()}
    assert got["with"].subscription_ids == [42]
    assert got["without"].subscription_ids == []


def test_v5_subscription_identifiers_for_overlapping_subscriptions(connected):
    """[MQTT-3.3.4-4] one copy carries all ids, or [MQTT-3.3.4-5] each copy its own."""
    base = unique("subid2")
    sub = connected(V5, sync=True)
    sub.subscribe(f"{base}/x", 1, properties=subscribe_props(SubscriptionIdentifier=7))
    sub.subscribe(f"{base}/+", 1, properties=subscribe_props(SubscriptionIdentifier=300))
    pub = connected(V5)
    pub.publish(f"{base}/x", b"both", qos=1)
    sync(sub, pub)
    copies = sub.messages.snapshot()
    assert 1 <= len(copies) <= 2
    ids = [sorted(m.subscription_ids) for m in copies]
    if len(copies) == 1:
        assert ids == [[7, 300]]
    else:
        assert sorted(ids) == [[7], [300]]


@pytest.mark.broker_config("allow_duplicate_messages true")
def test_v5_allow_duplicate_messages_sends_one_copy_per_subscription(connected):
    """[MQTT-3.3.4-5], what Mosquitto 2.0 always does: each copy with its own QoS and id."""
    base = unique("subid-copies")
    sub = connected(V5, sync=True)
    sub.subscribe(f"{base}/x", 1, properties=subscribe_props(SubscriptionIdentifier=7))
    sub.subscribe(f"{base}/+", 0, properties=subscribe_props(SubscriptionIdentifier=300))
    sub.subscribe(f"{base}/#", 1)
    pub = connected(V5)
    pub.publish(f"{base}/x", b"three", qos=1)
    sync(sub, pub)
    copies = sorted((m.subscription_ids, m.qos) for m in sub.messages.snapshot())
    assert copies == [([], 1), ([7], 1), ([300], 0)]


def test_v5_subscription_identifier_updated_by_resubscribe(connected):
    topic = unique("subid3")
    sub = connected(V5)
    sub.subscribe(topic, 1, properties=subscribe_props(SubscriptionIdentifier=1))
    sub.subscribe(topic, 1, properties=subscribe_props(SubscriptionIdentifier=2))
    connected(V5).publish(topic, b"x", qos=1)
    assert sub.messages.wait_for(1)[0].subscription_ids == [2]


def test_v5_shared_subscription_delivers_each_message_to_one_member(connected):
    """MQTT 5 4.8.2: each message goes to exactly one session of the group."""
    topic = unique("shared")
    members = [connected(V5, sync=True) for _ in range(3)]
    for m in members:
        assert m.subscribe(f"$share/grp/{topic}", 1) == [1]
    pub = connected(V5)
    n = 30
    for i in range(n):
        pub.publish(topic, str(i).encode(), qos=1)
    for m in members:
        sync(m, pub, quiet=0)
    sync(members[0], pub)
    payloads = [msg.payload for m in members for msg in m.messages.snapshot()]
    assert sorted(payloads, key=int) == [str(i).encode() for i in range(n)]
    for m in members:
        for msg in m.messages.snapshot():
            assert msg.topic == topic  # delivered on the real topic name


def test_v5_shared_subscription_groups_each_get_a_copy(connected):
    topic = unique("shared2")
    g1 = [connected(V5, sync=True) for _ in range(2)]
    g2 = [connected(V5, sync=True)]
    plain = connected(V5, sync=True)
    for c in g1:
        c.subscribe(f"$share/one/{topic}", 1)
    for c in g2:
        c.subscribe(f"$share/two/{topic}", 1)
    plain.subscribe(topic, 1)
    pub = connected(V5)
    n = 10
    for i in range(n):
        pub.publish(topic, str(i).encode(), qos=1)
    for c in g1 + g2 + [plain]:
        sync(c, pub, quiet=0)
    sync(plain, pub)

    def got(clients):
        return collections.Counter(m.payload for c in clients for m in c.messages.snapshot())

    everything = collections.Counter(str(i).encode() for i in range(n))
    assert got(g1) == everything
    assert got(g2) == everything
    assert got([plain]) == everything


def test_v5_shared_subscription_wildcard_filter(connected):
    base = unique("sharedw")
    a, b = connected(V5, sync=True), connected(V5, sync=True)
    for c in (a, b):
        c.subscribe(f"$share/g/{base}/+", 1)
    pub = connected(V5)
    for i in range(6):
        pub.publish(f"{base}/{i}", b"x", qos=1)
    sync(a, pub, quiet=0)
    sync(b, pub)
    topics = sorted(m.topic for c in (a, b) for m in c.messages.snapshot())
    assert topics == sorted(f"{base}/{i}" for i in range(6))


def test_v5_unsubscribe_shared_subscription(connected):
    topic = unique("sharedu")
    member = connected(V5, sync=True)
    member.subscribe(f"$share/g/{topic}", 1)
    assert member.unsubscribe(f"$share/g/{topic}") == [0]
    pub = connected(V5)
    pub.publish(topic, b"x", qos=1)
    sync(member, pub)
    assert member.messages.snapshot() == []


@BOTH_PROTOCOLS
@pytest.mark.parametrize("pub_qos", [0, 1, 2])
def test_overlapping_subscriptions_deliver_at_maximum_qos(broker, connected, proto, pub_qos):
    """[MQTT-3.3.5-1] (v5 [MQTT-3.3.4-2]): respect the max QoS of matching subs.

    The spec requires a delivery at min(publish QoS, highest granted QoS)
    and *allows* ("MAY") one extra copy per additional matching
    subscription, each at that subscription's QoS.  So both "exactly one
    copy at the maximum QoS" and "one copy per matching subscription" pass;
    anything else fails.
    """
    base = unique("overlap")
    sub = connected(proto, sync=True)
    # Order matters for Mosquitto's v3.1.1 behaviour: exact filter first.
    grants = {f"{base}/a/b": 0, f"{base}/+/b": 2, f"{base}/#": 1}
    for f, q in grants.items():
        sub.subscribe(f, q)
    pub = connected(proto)
    pub.publish(f"{base}/a/b", b"m", qos=pub_qos)
    sync(sub, pub)
    qoses = sorted(m.qos for m in sub.messages.snapshot())
    assert 1 <= len(qoses) <= len(grants), qoses
    if len(qoses) > 1:
        # Extra copies must correspond one-to-one to the subscriptions.
        assert qoses == sorted(min(pub_qos, q) for q in grants.values()), qoses
    expected = min(pub_qos, max(grants.values()))
    if max(qoses) != expected:
        deviation(broker, "[MQTT-3.3.5-1]",
                  f"single copy delivered at QoS {max(qoses)} (the first matching "
                  f"subscription's) instead of the maximum QoS {expected}")


@BOTH_PROTOCOLS
def test_overlapping_subscriptions_copy_count(connected, proto):
    """At most one copy per matching subscription; never zero."""
    base = unique("overlap1")
    sub = connected(proto, sync=True)
    sub.subscribe(f"{base}/t", 1)
    sub.subscribe(f"{base}/#", 1)
    sub.subscribe(f"{base}/+", 1)
    pub = connected(proto)
    pub.publish(f"{base}/t", b"m", qos=1)
    pub.publish(f"{base}/other", b"o", qos=1)  # matches 2 of the 3 filters
    sync(sub, pub)
    counts = collections.Counter(m.payload for m in sub.messages.snapshot())
    assert 1 <= counts[b"m"] <= 3 and 1 <= counts[b"o"] <= 2, counts


@BOTH_PROTOCOLS
def test_subscribe_to_empty_topic_filter_rejected(raw, proto):
    """[MQTT-4.7.3-1] topic filters must be at least one character long."""
    r = raw(proto)
    r.connect()
    r.send(mp.subscribe(3, [("", 0)], proto))
    try:
        pkt = r.read_packet()
    except ConnectionClosed:
        return  # connection closed: acceptable
    if pkt.type == mp.SUBACK:
        assert mp.suback_codes(pkt, proto)[0] >= 0x80
    else:
        assert pkt.type == mp.DISCONNECT


@BOTH_PROTOCOLS
def test_invalid_wildcard_filters_are_rejected(raw, proto):
    """[MQTT-4.7.1-1] / [MQTT-4.7.1-2]: "a/#/b", "a#", "a+/b" are invalid filters."""
    for bad in ("a/#/b", "a#", "a/b+/c"):
        r = raw(proto)
        r.connect()
        r.send(mp.subscribe(9, [(bad, 0)], proto))
        try:
            pkt = r.read_packet()
        except ConnectionClosed:
            continue  # closed the connection: acceptable
        if pkt.type == mp.SUBACK:
            assert mp.suback_codes(pkt, proto)[0] >= 0x80, bad
        else:
            assert pkt.type == mp.DISCONNECT, (bad, pkt)
        r.close()


def test_v5_shared_subscription_gets_no_retained_messages(broker, connected):
    """MQTT 5 section 3.3.1.3 sends retained messages "when a new Non-shared
    Subscription is made"; a $share subscription gets live traffic only."""
    topic = unique("shared-ret")
    pub = connected(V5)
    pub.publish(topic, b"old news", qos=1, retain=True)
    member = connected(V5, sync=True)
    member.subscribe(f"$share/g/{topic}", 1)
    pub.publish(topic, b"live", qos=1)
    member.messages.wait_for(1)
    sync(member, pub)
    payloads = [m.payload for m in member.messages.snapshot()]
    assert b"live" in payloads
    if b"old news" in payloads:
        deviation(broker, "MQTT 5 section 3.3.1.3 / 4.8.2",
                  "retained message sent for a new shared subscription "
                  "(upstream 2.0.13: 'Don't send retained messages when a shared "
                  "subscription is made')")
    assert payloads == [b"live"]


# Topic names and filters are compared as UTF-8 bytes (MQTT 5 §4.7.3, 3.1.1 §4.7.3: no
# normalization): a composed "é" (C3 A9) and a decomposed one (65 CC 81) are different topics.
COMPOSED, DECOMPOSED = "caf\u00e9", "cafe\u0301"


@BOTH_PROTOCOLS
def test_composed_and_decomposed_topics_do_not_match_each_other(connected, proto):
    base = unique("bytes")
    sub = connected(proto, sync=True)
    sub.subscribe(f"{base}/{COMPOSED}", 1)
    sub.subscribe(f"{base}/+/{DECOMPOSED}", 1)
    pub = connected(proto)
    _publish_all(pub, [f"{base}/{COMPOSED}", f"{base}/{DECOMPOSED}", f"{base}/x/{COMPOSED}", f"{base}/x/{DECOMPOSED}"], qos=1)
    sync(sub, pub)
    assert sorted(m.topic for m in sub.messages.snapshot()) == sorted([f"{base}/{COMPOSED}", f"{base}/x/{DECOMPOSED}"])


@BOTH_PROTOCOLS
def test_composed_and_decomposed_topics_keep_separate_retained_messages(connected, proto):
    base = unique("bytes-retained")
    pub = connected(proto)
    pub.publish(f"{base}/{COMPOSED}", b"composed", qos=1, retain=True)
    pub.publish(f"{base}/{DECOMPOSED}", b"decomposed", qos=1, retain=True)
    exact = connected(proto, sync=True)
    exact.subscribe(f"{base}/{DECOMPOSED}", 1)
    sync(exact, pub)
    assert [(m.topic, m.payload) for m in exact.messages.snapshot()] == [(f"{base}/{DECOMPOSED}", b"decomposed")]
    every = connected(proto, sync=True)
    every.subscribe(f"{base}/#", 1)
    sync(every, pub)
    assert sorted((m.topic, m.payload) for m in every.messages.snapshot()) == sorted(
        [(f"{base}/{COMPOSED}", b"composed"), (f"{base}/{DECOMPOSED}", b"decomposed")])


def test_v5_shared_subscriptions_on_composed_and_decomposed_filters_are_two_groups(connected):
    base = unique("bytes-shared")
    composed = connected(V5, sync=True)
    composed.subscribe(f"$share/g/{base}/{COMPOSED}", 1)
    decomposed = connected(V5, sync=True)
    decomposed.subscribe(f"$share/g/{base}/{DECOMPOSED}", 1)
    pub = connected(V5)
    for i in range(4):
        pub.publish(f"{base}/{COMPOSED}", f"c{i}".encode(), qos=1)
        pub.publish(f"{base}/{DECOMPOSED}", f"d{i}".encode(), qos=1)
    sync(composed, pub)
    sync(decomposed, pub)
    assert [m.payload for m in composed.messages.snapshot()] == [f"c{i}".encode() for i in range(4)]
    assert [m.payload for m in decomposed.messages.snapshot()] == [f"d{i}".encode() for i in range(4)]
