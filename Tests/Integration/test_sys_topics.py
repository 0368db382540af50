"""$SYS broker statistics (not part of the MQTT spec; Mosquitto conventions,
which Parley mirrors).  Payloads are plain UTF-8 text."""

import re

import pytest

from helpers import BOTH_PROTOCOLS, V311, V5, unique, wait_until

pytestmark = pytest.mark.broker_config("sys_interval 1")

# Topic -> regular expression the payload must match (Mosquitto 2.0 formats).
CORE_TOPICS = {
    "$SYS/broker/version": r"\S.*",                      # "mosquitto version 2.0.11"
    "$SYS/broker/uptime": r"\d+ seconds",
    "$SYS/broker/clients/connected": r"\d+",
    "$SYS/broker/clients/total": r"\d+",
    "$SYS/broker/clients/maximum": r"\d+",
    "$SYS/broker/messages/received": r"\d+",
    "$SYS/broker/messages/sent": r"\d+",
    "$SYS/broker/publish/messages/received": r"\d+",
    "$SYS/broker/publish/messages/sent": r"\d+",
    "$SYS/broker/bytes/received": r"\d+",
    "$SYS/broker/bytes/sent": r"\d+",
    "$SYS/broker/subscriptions/count": r"\d+",
    "$SYS/broker/retained messages/count": r"\d+",
}


def _latest(client):
    """Most recent payload per $SYS topic."""
    out = {}
    for m in client.messages.snapshot():
        out[m.topic] = m.payload.decode("utf-8")
    return out


@BOTH_PROTOCOLS
def test_sys_topics_published_with_expected_formats(connected, proto):
    c = connected(proto)
    c.subscribe("$SYS/#", 0)
    # Traffic so the counters have something to count.
    topic = unique("traffic")
    c.subscribe(topic, 1)
    c.publish(topic, b"x", qos=1)
    latest = wait_until(lambda: (lambda d: d if set(CORE_TOPICS) <= set(d) else None)(_latest(c)),
                        timeout=6, what=f"all of {sorted(CORE_TOPICS)}")
    for topic, pattern in CORE_TOPICS.items():
        assert re.fullmatch(pattern, latest[topic]), (topic, latest[topic])


@pytest.mark.parametrize("proto", [V311])
def test_sys_uptime_increases(connected, proto):
    c = connected(proto)
    c.subscribe("$SYS/broker/uptime", 0)

    def uptimes():
        return [int(m.payload.split()[0]) for m in c.messages.snapshot()]

    first = wait_until(lambda: uptimes(), what="first uptime")[0]
    wait_until(lambda: max(uptimes()) > first, timeout=4, what="uptime to increase")


@pytest.mark.parametrize("proto", [V311])
def test_sys_clients_connected_counts_clients(connected, proto):
    c = connected(proto)
    c.subscribe("$SYS/broker/clients/connected", 0)
    extra = [connected(V311) for _ in range(3)]
    # Eventually the count includes us plus the three extra clients.
    wait_until(lambda: any(int(m.payload) >= 4 for m in c.messages.snapshot()),
               timeout=5, what="clients/connected >= 4")
    assert extra


@pytest.mark.parametrize("proto", [V311])
def test_sys_messages_received_grows_with_traffic(connected, proto):
    c = connected(proto)
    c.subscribe("$SYS/broker/messages/received", 0)
    first = int(c.messages.wait_for(1, timeout=5)[0].payload)
    pub = connected(proto)
    for i in range(20):
        pub.publish(unique("count"), b"x", qos=1, wait=False)
    wait_until(lambda: any(int(m.payload) >= first + 20 for m in c.messages.snapshot()),
               timeout=5, what="messages/received to grow by 20")


def test_sys_version_retained_for_late_subscribers(connected):
    """Mosquitto publishes $SYS values as retained messages, so a subscriber
    gets the current value at once (RETAIN=1)."""
    early = connected(V5)
    early.subscribe("$SYS/broker/version", 0)
    early.messages.wait_for(1, timeout=5)  # published at least once
    late = connected(V5)
    late.subscribe("$SYS/broker/version", 0)
    msg = late.messages.wait_for(1, timeout=0.9)[0]  # faster than sys_interval
    assert msg.retain and msg.payload


@BOTH_PROTOCOLS
def test_clients_cannot_be_tricked_by_publishing_to_sys(connected, proto):
    """A client PUBLISH to $SYS/... must not crash the broker or corrupt stats."""
    c = connected(proto)
    c.subscribe("$SYS/broker/uptime", 0)
    c.publish("$SYS/broker/uptime", b"not a number", qos=1)
    wait_until(lambda: any(re.fullmatch(r"\d+ seconds", m.payload.decode())
                           for m in c.messages.snapshot()),
               timeout=4, what="a genuine uptime value")
