"""Will messages (3.1.1 section 3.1.2.5-3.1.2.7, MQTT 5 sections 3.1.2.5, 3.1.3.2)."""

import time

import pytest

import mqtt_packets as mp
from helpers import BOTH_PROTOCOLS, V5, deviation, sync, unique


def _will(topic, payload=b"gone", qos=0, retain=False, props=None):
    return {"topic": topic, "payload": payload, "qos": qos, "retain": retain,
            "props": props}


@BOTH_PROTOCOLS
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_will_published_when_connection_dropped(raw, connected, proto, qos):
    """[MQTT-3.1.2-8] network close without DISCONNECT publishes the will."""
    topic = unique("will")
    sub = connected(proto)
    sub.subscribe(topic, 2)
    w = raw(proto)
    w.connect(will=_will(topic, b"bye-%d" % qos, qos=qos))
    w.close()
    msg = sub.messages.wait_for(1)[0]
    assert (msg.topic, msg.payload, msg.qos) == (topic, b"bye-%d" % qos, qos)
    assert msg.retain is False


@BOTH_PROTOCOLS
def test_retained_will_is_stored(raw, connected, proto):
    """[MQTT-3.1.2-17] Will Retain=1: the will is published as a retained message."""
    topic = unique("will-ret")
    live = connected(proto)
    live.subscribe(topic, 1)
    w = raw(proto)
    w.connect(will=_will(topic, b"last words", qos=1, retain=True))
    w.close()
    live_msg = live.messages.wait_for(1)[0]
    assert live_msg.payload == b"last words"
    later = connected(proto)
    later.subscribe(topic, 1)
    stored = later.messages.wait_for(1)[0]
    assert (stored.payload, stored.qos, stored.retain) == (b"last words", 1, True)


@BOTH_PROTOCOLS
def test_will_published_when_paho_client_socket_dies(mqtt, connected, proto):
    topic = unique("will-paho")
    sub = connected(proto)
    sub.subscribe(topic, 1)
    c = mqtt(proto)
    c.will_set(topic, b"paho died", qos=1)
    c.connect()
    c.drop()
    assert sub.messages.wait_for(1)[0].payload == b"paho died"


@BOTH_PROTOCOLS
def test_will_published_when_broker_closes_for_protocol_error(raw, connected, proto):
    """[MQTT-3.1.2-8]: closing the connection because of a protocol error also
    publishes the will."""
    topic = unique("will-err")
    sub = connected(proto)
    sub.subscribe(topic, 1)
    w = raw(proto)
    w.connect(will=_will(topic, b"broken", qos=1))
    w.send(mp.publish("a/+/b", b"wildcard topic is illegal", qos=0, proto=proto))
    w.wait_closed()
    assert sub.messages.wait_for(1)[0].payload == b"broken"


@BOTH_PROTOCOLS
def test_will_not_published_after_normal_disconnect(raw, connected, proto):
    """[MQTT-3.1.2-10] DISCONNECT (v5: reason 0x00) discards the will."""
    topic = unique("will-none")
    sub = connected(proto, sync=True)
    sub.subscribe(topic, 1)
    w = raw(proto)
    w.connect(will=_will(topic, b"should not appear", qos=1))
    w.disconnect()
    assert w.wait_closed() == []
    sync(sub)
    assert sub.messages.snapshot() == []


def test_v5_disconnect_with_will_message_reason_sends_will(raw, connected):
    """MQTT 5 3.14.2.1: reason 0x04 "Disconnect with Will Message"."""
    topic = unique("will-04")
    sub = connected(V5)
    sub.subscribe(topic, 1)
    w = raw(V5)
    w.connect(will=_will(topic, b"asked for it", qos=1))
    w.disconnect(reason=0x04)
    w.wait_closed()
    assert sub.messages.wait_for(1)[0].payload == b"asked for it"


def test_v5_will_properties_forwarded(raw, connected):
    """MQTT 5 3.1.3.2: will properties become the message's properties."""
    topic = unique("will-props")
    sub = connected(V5)
    sub.subscribe(topic, 1)
    w = raw(V5)
    will_props = [
        (mp.PAYLOAD_FORMAT_INDICATOR, 1),
        (mp.CONTENT_TYPE, "text/plain"),
        (mp.RESPONSE_TOPIC, "replies/here"),
        (mp.CORRELATION_DATA, b"\x01\x02corr"),
        (mp.USER_PROPERTY, ("origin", "will-test")),
        (mp.USER_PROPERTY, ("origin", "second")),
    ]
    w.connect(will=_will(topic, b"props", qos=1, props=will_props))
    w.close()
    msg = sub.messages.wait_for(1)[0]
    assert msg.payload == b"props"
    assert msg.prop("PayloadFormatIndicator") == 1
    assert msg.prop("ContentType") == "text/plain"
    assert msg.prop("ResponseTopic") == "replies/here"
    assert msg.prop("CorrelationData") == b"\x01\x02corr"
    assert msg.user_properties == [("origin", "will-test"), ("origin", "second")]


def test_v5_will_message_expiry_forwarded(raw, connected):
    topic = unique("will-mei")
    sub = connected(V5)
    sub.subscribe(topic, 1)
    w = raw(V5)
    w.connect(will=_will(topic, b"x", qos=1, props=[(mp.MESSAGE_EXPIRY_INTERVAL, 120)]))
    w.close()
    msg = sub.messages.wait_for(1)[0]
    assert 100 <= msg.prop("MessageExpiryInterval") <= 120


def test_v5_will_delay_interval_delays_the_will(raw, connected):
    """MQTT 5 3.1.3.2.2: the will is published once the Will Delay Interval passes."""
    topic = unique("will-delay")
    sub = connected(V5)
    sub.subscribe(topic, 1)
    w = raw(V5)
    w.connect(client_id=unique("wd"), props=[(mp.SESSION_EXPIRY_INTERVAL, 30)],
              will=_will(topic, b"late", qos=1, props=[(mp.WILL_DELAY_INTERVAL, 2)]))
    w.close()
    dropped = time.monotonic()
    msg = sub.messages.wait_for(1, timeout=8)[0]
    waited = msg.at - dropped
    assert msg.payload == b"late"
    assert waited >= 1.5, f"will arrived after {waited:.2f}s, before its 2s delay"


def test_v5_will_delay_cancelled_by_reconnect(raw, connected):
    """[MQTT-3.1.3-9] reconnecting within the delay: the will is NOT sent."""
    topic = unique("will-cancel")
    sub = connected(V5, sync=True)
    sub.subscribe(topic, 1)
    cid = unique("wdc")
    session = [(mp.SESSION_EXPIRY_INTERVAL, 30)]
    w = raw(V5)
    w.connect(client_id=cid, clean=False, props=session,
              will=_will(topic, b"never", qos=1, props=[(mp.WILL_DELAY_INTERVAL, 2)]))
    w.close()
    again = raw(V5)
    ack = again.connect(client_id=cid, clean=False, props=session)
    assert ack.session_present
    # Wait past the delay (plus the reference broker's 1 s timer granularity).
    sync(sub, quiet=3.2)
    assert sub.messages.snapshot() == []
    again.disconnect()


@pytest.mark.parametrize("session_expiry", [0, 1])
def test_v5_will_sent_when_session_ends_before_will_delay(broker, raw, connected, session_expiry):
    """[MQTT-3.1.2-8] (MQTT 5): the will is published when the Will Delay
    Interval has elapsed *or the Session ends*, whichever is first.  With a
    60 s delay, the session (expiry 0 or 1 s) ends long before."""
    topic = unique("will-sess")
    sub = connected(V5)
    sub.subscribe(topic, 1)
    w = raw(V5)
    w.connect(client_id=unique("wse"), props=[(mp.SESSION_EXPIRY_INTERVAL, session_expiry)],
              will=_will(topic, b"session over", qos=1, props=[(mp.WILL_DELAY_INTERVAL, 60)]))
    w.close()
    try:
        msg = sub.messages.wait_for(1, timeout=4)[0]
    except AssertionError:
        deviation(broker, "[MQTT-3.1.2-8] (MQTT 5)",
                  f"session expiry {session_expiry}: will held for the full Will Delay "
                  f"Interval instead of being published when the session ended")
    assert msg.payload == b"session over"


@BOTH_PROTOCOLS
def test_will_sent_when_taken_over_with_clean_session(raw, connected, proto):
    """A takeover closes the old network connection without DISCONNECT.

    3.1.1 [MQTT-3.1.2-8] counts this as "closed by the server": the will is
    published.  For MQTT 5, a clean-start takeover ends the old session, and
    the will is published no later than session end (3.1.3.2.2)."""
    topic = unique("will-takeover")
    sub = connected(proto)
    sub.subscribe(topic, 1)
    cid = unique("wto")
    old = raw(proto)
    old.connect(client_id=cid, will=_will(topic, b"replaced", qos=1))
    new = raw(proto)
    new.connect(client_id=cid, clean=True)
    old.wait_closed()
    assert sub.messages.wait_for(1)[0].payload == b"replaced"
