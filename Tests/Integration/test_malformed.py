"""Malformed and protocol-violating input (3.1.1 sections 1.5, 2, 4.8; MQTT 5 sections 1.5, 2, 4.13).

Every case: a well-behaved witness client is connected first; a raw client
connects, sends one bad packet and must be disconnected.  For MQTT 5 the
broker MAY send a DISCONNECT first (4.13); when it does, the reason code
must be one of the listed ones.  3.1.1 has no server DISCONNECT, so there
the connection must simply be closed.  Afterwards the witness must still
work and the broker must still be running.

The ``mosquitto`` column records what Mosquitto 2.0.11 actually sends to an
MQTT 5 client (None = closes without DISCONNECT).
"""

import pytest

import mqtt_packets as mp
from helpers import V311, V5, deviation, unique

MALFORMED, PROTOCOL_ERROR, TOPIC_NAME_INVALID = 0x81, 0x82, 0x90
BAD = (MALFORMED, PROTOCOL_ERROR)


def _after_connect_cases():
    return {
        # name: (packet builder(proto), allowed v5 reasons, mosquitto's reason)
        "remaining-length-5-bytes": (
            lambda p: b"\x30\xff\xff\xff\xff\x01" + b"\x00" * 16,
            (MALFORMED,), None),
        "reserved-packet-type-0": (
            lambda p: b"\x00\x00", BAD, PROTOCOL_ERROR),
        "subscribe-flags-0": (
            lambda p: mp.subscribe(1, [("a/b", 0)], p, flags=0x0), (MALFORMED,), MALFORMED),
        "unsubscribe-flags-0": (
            lambda p: mp.unsubscribe(1, ["a/b"], p, flags=0x0), (MALFORMED,), MALFORMED),
        "pubrel-flags-0": (
            lambda p: mp.pubrel(1, p, flags=0x0), (MALFORMED,), None),
        "disconnect-flags-set": (
            lambda p: b"\xe2\x00", (MALFORMED,), None),
        "publish-qos-3": (
            lambda p: mp.publish("a/b", b"x", pid=1, proto=p, flags=0x06), (MALFORMED,), MALFORMED),
        "publish-invalid-utf8-topic": (
            lambda p: mp.publish(b"a/\xff\xfe", b"x", proto=p), (MALFORMED,), MALFORMED),
        "publish-surrogate-in-topic": (
            lambda p: mp.publish(b"a/\xed\xa0\x80", b"x", proto=p), (MALFORMED,), MALFORMED),
        "publish-null-char-in-topic": (
            lambda p: mp.publish(b"a\x00b", b"x", proto=p), (MALFORMED,), MALFORMED),
        "publish-plus-wildcard-in-topic": (
            lambda p: mp.publish("a/+/b", b"x", proto=p), BAD + (TOPIC_NAME_INVALID,), PROTOCOL_ERROR),
        "publish-hash-wildcard-in-topic": (
            lambda p: mp.publish("a/#", b"x", qos=1, pid=2, proto=p),
            BAD + (TOPIC_NAME_INVALID,), PROTOCOL_ERROR),
        "publish-qos1-packet-id-0": (
            lambda p: mp.publish("a/b", b"x", qos=1, pid=0, proto=p), BAD, PROTOCOL_ERROR),
        "publish-topic-length-overruns-packet": (
            lambda p: mp.packet(mp.PUBLISH, 0, b"\x00\x50a/b"), (MALFORMED,), MALFORMED),
        "subscribe-packet-id-0": (
            lambda p: mp.subscribe(0, [("a/b", 0)], p), BAD, MALFORMED),
        "subscribe-without-filters": (
            lambda p: mp.subscribe(1, [], p), BAD, MALFORMED),
        "subscribe-qos-3": (
            lambda p: mp.subscribe(1, [("a/b", 3)], p), BAD, MALFORMED),
        "subscribe-invalid-utf8-filter": (
            lambda p: mp.subscribe(1, [(b"a/\xc3\x28", 0)], p), (MALFORMED,), MALFORMED),
        "unsubscribe-without-filters": (
            lambda p: mp.unsubscribe(1, [], p), BAD, MALFORMED),
        "truncated-publish-then-garbage": (
            # remaining length 2 -> topic length 0x0303, the packet ends first
            lambda p: b"\x30\x02\x03\x03" + b"\xff" * 8, (MALFORMED,), MALFORMED),
    }


AFTER_CONNECT = _after_connect_cases()

V5_ONLY = {
    # MQTT 5 property rules (2.2.2.2, 3.x.2.x): wrong packet / duplicates / bad values.
    "property-not-allowed-on-publish": (
        lambda: mp.publish("a/b", b"x", proto=V5, props=[(mp.SESSION_EXPIRY_INTERVAL, 5)]),
        BAD, MALFORMED),
    "property-not-allowed-on-subscribe": (
        lambda: mp.subscribe(1, [("a/b", 0)], V5, props=[(mp.CONTENT_TYPE, "x")]),
        BAD, MALFORMED),
    "duplicate-property-publish": (
        lambda: mp.publish("a/b", b"x", proto=V5, props=[(mp.PAYLOAD_FORMAT_INDICATOR, 0),
                                                         (mp.PAYLOAD_FORMAT_INDICATOR, 0)]),
        BAD, None),
    "duplicate-property-subscribe": (
        lambda: mp.subscribe(1, [("a/b", 0)], V5, props=[(mp.SUBSCRIPTION_IDENTIFIER, 1),
                                                         (mp.SUBSCRIPTION_IDENTIFIER, 2)]),
        BAD, None),
    "unknown-property-identifier": (
        lambda: mp.packet(mp.PUBLISH, 0, mp.utf8("a/b") + b"\x02\x7f\x00" + b"x"),
        BAD, MALFORMED),
    "property-length-overruns-packet": (
        lambda: mp.packet(mp.PUBLISH, 0, mp.utf8("a/b") + b"\x20\x01\x00"),
        (MALFORMED,), MALFORMED),
    "subscription-identifier-0": (
        lambda: mp.subscribe(1, [("a/b", 0)], V5, props=[(mp.SUBSCRIPTION_IDENTIFIER, 0)]),
        BAD, MALFORMED),
    "subscribe-reserved-option-bits": (
        # [MQTT-3.8.3-5] bits 6 and 7 of the options byte must be 0
        lambda: mp.subscribe(1, [("a/b", 0xC0)], V5), BAD, MALFORMED),
    "subscribe-retain-handling-3": (
        lambda: mp.subscribe(1, [("a/b", 0x30)], V5), BAD, MALFORMED),
    "disconnect-invalid-reason-code": (
        lambda: mp.packet(mp.DISCONNECT, 0, b"\x03\x00"), BAD, None),
}


@pytest.fixture
def witness(connected):
    """A well-behaved v3.1.1 subscriber plus a v5 publisher, connected before
    the bad client; ``check()`` proves both still work."""
    topic = unique("witness")
    sub = connected(V311, sync=True)
    sub.subscribe(topic, 1)
    pub = connected(V5)

    class Witness:
        @staticmethod
        def check(broker):
            assert broker.is_running(), "broker process died"
            n = len(sub.messages)
            pub.publish(topic, b"still alive", qos=1)
            assert sub.messages.wait_for(n + 1)[-1].payload == b"still alive"
            assert not sub.disconnects and not pub.disconnects

    return Witness


def _expect_cut_off(r, proto, allowed, name):
    seen = r.wait_closed()
    if proto == V5:
        assert len(seen) <= 1, seen
        if seen:
            assert seen[0].type == mp.DISCONNECT, seen
            reason = mp.disconnect_reason(seen[0])
            assert reason in allowed, f"{name}: DISCONNECT {reason:#04x}, allowed {allowed}"
            return reason
        return None
    assert seen == [], f"{name}: 3.1.1 server must just close, got {seen}"
    return None


def _check_recorded(broker, proto, reason, mosquitto_reason):
    """Keep the documented Mosquitto column honest."""
    if broker.name == "mosquitto" and proto == V5:
        assert reason == mosquitto_reason, (
            f"Mosquitto sent {reason!r}, table records {mosquitto_reason!r}")


@pytest.mark.parametrize("proto", [V311, V5])
@pytest.mark.parametrize("name", sorted(AFTER_CONNECT))
def test_malformed_packet_closes_connection(broker, raw, witness, proto, name):
    build, allowed, mosquitto_reason = AFTER_CONNECT[name]
    r = raw(proto)
    r.connect()
    r.send(build(proto))
    reason = _expect_cut_off(r, proto, allowed, name)
    _check_recorded(broker, proto, reason, mosquitto_reason)
    witness.check(broker)


@pytest.mark.parametrize("name", sorted(V5_ONLY))
def test_v5_property_violation_closes_connection(broker, raw, witness, name):
    build, allowed, mosquitto_reason = V5_ONLY[name]
    r = raw(V5)
    r.connect()
    r.send(build())
    reason = _expect_cut_off(r, V5, allowed, name)
    _check_recorded(broker, V5, reason, mosquitto_reason)
    witness.check(broker)


CONNECT_CASES = {
    "duplicate-session-expiry": [(mp.SESSION_EXPIRY_INTERVAL, 10), (mp.SESSION_EXPIRY_INTERVAL, 20)],
    "receive-maximum-0": [(mp.RECEIVE_MAXIMUM, 0)],
    "maximum-packet-size-0": [(mp.MAXIMUM_PACKET_SIZE, 0)],
    "topic-alias-not-allowed-in-connect": [(mp.TOPIC_ALIAS, 1)],
}


@pytest.mark.parametrize("name", sorted(CONNECT_CASES))
def test_v5_bad_connect_properties_refused(broker, raw, witness, name):
    """A bad CONNECT gets CONNACK with a reason >= 0x80 (or just a close); never success."""
    r = raw(V5)
    r.send(mp.connect(V5, unique("badconn"), props=CONNECT_CASES[name]))
    seen = r.wait_closed()
    assert len(seen) <= 1, seen
    if seen:
        ack = mp.parse_connack(seen[0], V5)
        assert ack.reason in (MALFORMED, PROTOCOL_ERROR), f"CONNACK {ack.reason:#04x}"
    witness.check(broker)


@pytest.mark.parametrize("proto", [V311, V5])
def test_pingreq_with_reserved_flags_closes_connection(broker, raw, witness, proto):
    """3.1.1 [MQTT-2.2.2-2] invalid fixed-header flags -> close the connection;
    MQTT 5 section 2.1.3: invalid flags make a Malformed Packet (0x81)."""
    r = raw(proto)
    r.connect()
    r.send(b"\xc1\x00")  # PINGREQ with flag bit 0 set
    try:
        seen = r.wait_closed(timeout=2)
    except AssertionError as exc:
        if "PINGRESP" in str(exc):
            deviation(broker, "[MQTT-2.2.2-2] / MQTT 5 section 2.1.3",
                      "PINGREQ with reserved flag bits set is answered with PINGRESP")
        raise
    assert all(p.type == mp.DISCONNECT and mp.disconnect_reason(p) == MALFORMED
               for p in seen), seen
    witness.check(broker)


@pytest.mark.parametrize("proto", [V311, V5])
def test_garbage_before_connect_closes_connection(broker, raw, witness, proto):
    r = raw(proto)
    r.send(bytes(range(256)))
    seen = r.wait_closed()
    assert all(p.type != mp.CONNACK or p.body[1] != 0 for p in seen), seen
    witness.check(broker)


@pytest.mark.parametrize("proto", [V311, V5])
def test_invalid_utf8_client_id_refused(broker, raw, witness, proto):
    """[MQTT-1.5.3-1] ill-formed UTF-8 in CONNECT: close (optionally after CONNACK >= 0x80)."""
    r = raw(proto)
    r.send(mp.connect(proto, b"id-\xff"))
    seen = r.wait_closed()
    assert all(p.type == mp.CONNACK and p.body[1] != 0 for p in seen), seen
    witness.check(broker)


def test_v5_no_local_on_shared_subscription_is_protocol_error(broker, raw, witness):
    """[MQTT-3.8.3-4] No Local = 1 on a Shared Subscription is a Protocol Error."""
    r = raw(V5)
    r.connect()
    r.send(mp.subscribe(1, [(f"$share/g/{unique('nl')}", mp.sub_options(1, no_local=True))], V5))
    try:
        seen = r.wait_closed(timeout=2)
    except AssertionError:
        deviation(broker, "[MQTT-3.8.3-4]",
                  "SUBSCRIBE with No Local on a $share filter was accepted")
    assert len(seen) <= 1 and all(mp.disconnect_reason(p) in BAD for p in seen), seen
    witness.check(broker)


def test_v5_subscription_identifier_in_client_publish_is_protocol_error(broker, raw, witness):
    """[MQTT-3.3.4-6] a PUBLISH from a client MUST NOT contain a Subscription
    Identifier (Protocol Error)."""
    r = raw(V5)
    r.connect()
    r.send(mp.publish("a/b", b"x", qos=0, proto=V5, props=[(mp.SUBSCRIPTION_IDENTIFIER, 5)]))
    try:
        seen = r.wait_closed(timeout=2)
    except AssertionError:
        deviation(broker, "[MQTT-3.3.4-6]",
                  "PUBLISH with a Subscription Identifier from a client was accepted")
    assert len(seen) <= 1 and all(mp.disconnect_reason(p) in BAD for p in seen), seen
    witness.check(broker)


@pytest.mark.parametrize("proto", [V311, V5])
def test_many_bad_clients_do_not_disturb_good_ones(broker, raw, witness, proto):
    for name in ("subscribe-flags-0", "publish-qos-3", "remaining-length-5-bytes",
                 "publish-invalid-utf8-topic") * 5:
        r = raw(proto)
        r.connect()
        r.send(AFTER_CONNECT[name][0](proto))
        r.wait_closed()
        r.close()
    witness.check(broker)
