"""CONNECT / CONNACK behaviour (MQTT 3.1.1 section 3.1-3.2, MQTT 5 section 3.1-3.2)."""

import time

import pytest

import mqtt_packets as mp
from helpers import (BOTH_PROTOCOLS, V31, V311, V5, connect_props, deviation,
                     unique)


@pytest.mark.parametrize("proto", [V31, V311, V5])
def test_connack_success_for_each_protocol_level(broker, mqtt, proto):
    c = mqtt(proto)
    reason, flags, _ = c.connect()
    assert reason == 0
    assert not flags.session_present


@pytest.mark.parametrize("proto", [V31, V311, V5])
def test_raw_connack_has_correct_shape(raw, proto):
    """CONNACK is 2 bytes of variable header in 3.1/3.1.1, plus properties in 5."""
    r = raw(proto)
    r.send(mp.connect(proto, unique("shape")))
    pkt = r.expect(mp.CONNACK)
    assert pkt.flags == 0
    if proto == V5:
        assert len(pkt.body) >= 3
        props, end = mp.parse_properties(pkt.body, 2)
        assert end == len(pkt.body)
    else:
        assert len(pkt.body) == 2
    assert pkt.body[:2] == b"\x00\x00"


def test_empty_client_id_accepted_with_clean_session_v311(raw, connected):
    """[MQTT-3.1.3-6] zero-length ClientId is allowed with CleanSession=1."""
    r = raw(V311)
    ack = r.connect(client_id="", clean=True)
    assert ack.reason == 0 and not ack.session_present
    # ... and the connection is fully usable.
    topic = unique("empty-id")
    assert r.subscribe([(topic, 1)]) == [1]
    connected(V311).publish(topic, b"x", qos=1)
    assert r.read_publish().payload == b"x"


def test_empty_client_id_rejected_without_clean_session_v311(raw):
    """[MQTT-3.1.3-8] CleanSession=0 with empty ClientId -> CONNACK 0x02, then close."""
    r = raw(V311)
    r.send(mp.connect(V311, "", clean=False))
    ack = mp.parse_connack(r.expect(mp.CONNACK), V311)
    assert ack.reason == 0x02
    assert not ack.session_present
    r.wait_closed()


def test_v5_empty_client_id_gets_assigned_client_identifier(raw, mqtt):
    """MQTT 5 3.2.2.3.7: the server returns the identifier it assigned."""
    r = raw(V5)
    ack = r.connect(client_id="", clean=True)
    assigned = mp.prop(ack.props, mp.ASSIGNED_CLIENT_IDENTIFIER)
    assert assigned, f"no Assigned Client Identifier in {ack.props}"
    # A second anonymous client gets a different identifier.
    r2 = raw(V5)
    other = mp.prop(r2.connect(client_id="").props, mp.ASSIGNED_CLIENT_IDENTIFIER)
    assert other and other != assigned


def test_v5_client_id_given_means_no_assigned_identifier(raw):
    r = raw(V5)
    ack = r.connect(client_id=unique("named"))
    assert mp.prop(ack.props, mp.ASSIGNED_CLIENT_IDENTIFIER) is None


@BOTH_PROTOCOLS
def test_duplicate_client_id_takes_over_existing_connection(raw, connected, proto):
    """[MQTT-3.1.4-2] (v5: [MQTT-3.1.4-3]) the existing connection is closed."""
    cid = unique("dup")
    old = raw(proto)
    old.connect(client_id=cid)
    newer = connected(proto, client_id=cid)

    seen = old.wait_closed()
    assert all(p.type == mp.DISCONNECT for p in seen), seen
    # The new connection works normally.
    topic = unique("after-takeover")
    newer.subscribe(topic, 1)
    newer.publish(topic, b"still here", qos=1)
    assert newer.messages.wait_for(1)[0].payload == b"still here"
    assert not newer.disconnects


def test_v5_takeover_sends_disconnect_session_taken_over(broker, raw, connected):
    """MQTT 5 3.1.4 step 3: the old client gets DISCONNECT 0x8E before the close."""
    cid = unique("dup")
    old = raw(V5)
    old.connect(client_id=cid)
    connected(V5, client_id=cid)
    seen = old.wait_closed()
    assert len(seen) <= 1 and all(p.type == mp.DISCONNECT for p in seen), seen
    if not seen:
        deviation(broker, "[MQTT-3.1.4-3] (MQTT 5 section 3.1.4)",
                  "old connection closed without DISCONNECT 0x8E (Session taken over)")
    assert mp.disconnect_reason(seen[0]) == 0x8E


@BOTH_PROTOCOLS
def test_keep_alive_expiry_closes_silent_connection(broker, raw, proto):
    """[MQTT-3.1.2-24] (v5: [MQTT-3.1.2-22]) silence for 1.5 x Keep Alive -> close."""
    r = raw(proto)
    r.connect(keepalive=1)
    started = time.monotonic()
    seen = r.wait_closed(timeout=8)
    elapsed = time.monotonic() - started
    if proto == V5 and seen:
        assert [p.type for p in seen] == [mp.DISCONNECT], seen
        assert mp.disconnect_reason(seen[0]) == 0x8D  # Keep Alive timeout
    else:
        assert seen == []
    assert elapsed >= 1.0, f"closed too early, after {elapsed:.2f}s"
    if elapsed > 3.0:
        deviation(broker, "[MQTT-3.1.2-24] / MQTT 5 [MQTT-3.1.2-22]",
                  f"keepalive=1 connection closed only after {elapsed:.1f}s "
                  f"(expected about 1.5s)")


@BOTH_PROTOCOLS
def test_keep_alive_satisfied_by_pingreq(raw, proto):
    """PINGREQ every 0.5 s keeps a keepalive=1 connection open well past 1.5 s."""
    r = raw(proto)
    r.connect(keepalive=1)
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        r.send(mp.pingreq())
        assert r.expect(mp.PINGRESP, timeout=2).body == b""
        # Pace the pings; this is the client's own keep-alive schedule.
        time.sleep(0.5)
    assert r.is_open()


@BOTH_PROTOCOLS
def test_session_present_flag(mqtt, proto):
    """[MQTT-3.2.2-1..3] session present reflects stored state."""
    cid = unique("sp")
    expiry = connect_props(SessionExpiryInterval=300) if proto == V5 else None

    first = mqtt(proto, cid)
    _, flags, _ = first.connect(clean=False, properties=expiry)
    assert not flags.session_present
    first.subscribe(unique("keep"), 1)
    first.disconnect()

    second = mqtt(proto, cid)
    _, flags, _ = second.connect(clean=False, properties=expiry)
    assert flags.session_present
    second.disconnect()

    third = mqtt(proto, cid)
    _, flags, _ = third.connect(clean=True, properties=expiry)
    assert not flags.session_present


@pytest.mark.parametrize("style", [V311, V5])
def test_unsupported_protocol_level_refused(raw, style):
    """[MQTT-3.1.2-2] / MQTT 5 3.1.2.2: unknown level -> CONNACK 0x01 or 0x84, close.

    The broker cannot know how a client speaking an unknown level frames
    CONNACK, so either the 3.1.1 form (return code 0x01) or the MQTT 5 form
    (reason 0x84 Unsupported Protocol Version) is accepted; closing without
    any CONNACK is not.
    """
    r = raw(style)
    r.send(mp.connect(style, unique("lvl"), protocol_level=6))
    seen = r.wait_closed()
    assert seen and seen[0].type == mp.CONNACK, seen
    body = seen[0].body
    assert (body[1] == 0x01 and len(body) == 2) or body[1] == 0x84, body.hex()


def test_v311_protocol_name_level_mismatch_refused(raw):
    """Protocol name "MQIsdp" with level 4 is not a valid combination."""
    r = raw(V311)
    r.send(mp.connect(V311, unique("mix"), protocol_name=b"MQIsdp", protocol_level=4))
    seen = r.wait_closed()
    # Either refused with 0x01 or simply closed: never accepted.
    assert not seen or (seen[0].type == mp.CONNACK and seen[0].body[1] != 0), seen


@pytest.mark.parametrize("first", ["pingreq", "publish", "subscribe"])
def test_first_packet_not_connect_closes_connection(raw, first):
    """[MQTT-3.1.0-1] the first packet must be CONNECT; otherwise close."""
    r = raw(V311)
    data = {
        "pingreq": mp.pingreq(),
        "publish": mp.publish("a/b", b"x"),
        "subscribe": mp.subscribe(1, [("a/b", 0)]),
    }[first]
    r.send(data)
    seen = r.wait_closed()
    assert all(p.type != mp.PINGRESP and p.type != mp.SUBACK for p in seen), seen


@BOTH_PROTOCOLS
def test_second_connect_is_protocol_violation(raw, proto):
    """[MQTT-3.1.0-2] a second CONNECT on the same connection -> close."""
    r = raw(proto)
    r.connect()
    r.send(mp.connect(proto, unique("again")))
    seen = r.wait_closed()
    assert all(p.type != mp.CONNACK for p in seen), seen
    if proto == V5 and seen:
        assert mp.disconnect_reason(seen[-1]) == 0x82  # Protocol Error


@BOTH_PROTOCOLS
def test_connect_reserved_flag_set_closes(raw, proto):
    """[MQTT-3.1.2-3] the reserved CONNECT flag must be 0."""
    r = raw(proto)
    r.send(mp.connect(proto, unique("rsv"), reserved_flag=True))
    seen = r.wait_closed()
    assert all(p.type != mp.CONNACK or p.body[1] != 0 for p in seen), seen


@BOTH_PROTOCOLS
def test_client_can_disconnect_cleanly(raw, proto):
    r = raw(proto)
    r.connect()
    r.disconnect()
    assert r.wait_closed() == []
