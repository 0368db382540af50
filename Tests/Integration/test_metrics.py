"""Prometheus metrics at /metrics on the HTTP port of ``parley serve``.

One Parley (broker + chat, bridged to a Mosquitto) is scraped before and
after real traffic; the text is parsed with ``prometheus_client``'s own
parser, so a format error fails the test.  Asserted: the counters move by what
was sent (messages, bytes, drops by reason, bridge forwards), the gauges show
what exists (connections per listener, queued messages, subscriptions,
retained messages, the bridge link, chat page sessions).
"""

from __future__ import annotations

import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bridge_helpers import Server, state_topic
from chat_helpers import ChatProcess, ChatSocket, attach_logs, ensure, parley_bin_or_skip
from helpers import MqttClient, V311, V5, wait_until
from processes import mosquitto_exe

PARLEY = parley_bin_or_skip()


class Endpoint:
    host = "127.0.0.1"

    def __init__(self, port):
        self.port = port


def scrape(chat: ChatProcess) -> dict[tuple, float]:
    """Every sample as {(name, sorted labels): value}."""
    with urllib.request.urlopen(f"{chat.base_url}/metrics", timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))))


@pytest.fixture
def stack(request, tmp_path):
    ensure(mosquitto_exe(), "mosquitto")
    remote = Server("mosquitto", tmp_path, "remote").start()
    conf = tmp_path / "parley.conf"
    conf.write_text("\n".join([
        "max_queued_messages 5",
        "connection up",
        f"address 127.0.0.1:{remote.port}",
        "topic out/# out 1",
        "bridge_protocol_version mqttv50",
        "notifications true",
        "",
    ]))
    chat = ChatProcess(PARLEY, tmp_path, mode="serve", label="parley", extra_args=["-c", str(conf)])
    attach_logs(request, "parley serve + mosquitto", remote.port, chat, remote)
    chat.start()
    yield chat, remote
    chat.stop()
    remote.stop()


def test_metrics_show_connections_traffic_drops_bridges_and_pages(stack):
    chat, remote = stack
    broker = Endpoint(chat.mqtt_port)
    watch = MqttClient(broker, V5)
    watch.connect()
    watch.subscribe(state_topic("up"), 1)
    wait_until(lambda: any(m.payload == b"1" for m in watch.messages.snapshot(state_topic("up"))),
               what="the bridge link up")
    before = scrape(chat)
    for name in ("parley_messages_received_total", "parley_bytes_received_total",
                 "parley_messages_dropped_total", "parley_clients_connected",
                 "parley_subscriptions", "parley_retained_messages", "parley_messages_queued",
                 "parley_bridge_connected", "parley_chat_page_sessions"):
        assert any(key[0] == name for key in before), f"{name} is missing"
    assert value(before, "parley_bridge_connected", bridge="up") == 1

    # A persistent QoS 1 subscriber goes away: 5 messages queue for it, 3 more are dropped.
    away = MqttClient(broker, V311, client_id="metrics-away")
    away.connect(clean=False)
    away.subscribe("queue/#", 1)
    away.close()
    publisher = MqttClient(broker, V5)
    publisher.connect()
    payload = b"p" * 100
    for _ in range(8):
        publisher.publish("queue/x", payload, qos=1)
    for n in range(10):
        publisher.publish("out/x", str(n).encode(), qos=1)
    publisher.publish("retained/x", b"kept", qos=1, retain=True)
    page = ChatSocket(chat.ws_url, label="page")
    page.join("metrics")
    remote_sub = MqttClient(Endpoint(remote.port), V5)
    remote_sub.connect()

    def moved():
        after = scrape(chat)
        return after if (value(after, "parley_bridge_messages_forwarded_total",
                               bridge="up", direction="out") or 0) >= 10 else None

    after = wait_until(moved, what="the bridge's forwarded counter to reach 10")
    try:
        received = (value(after, "parley_messages_received_total")
                    - value(before, "parley_messages_received_total"))
        assert received >= 19, received
        assert (value(after, "parley_bytes_received_total")
                - value(before, "parley_bytes_received_total")) >= 8 * len(payload)
        assert value(after, "parley_messages_queued") >= 5
        assert (value(after, "parley_messages_dropped_total", reason="queue_full")
                - value(before, "parley_messages_dropped_total", reason="queue_full")) == 3
        assert value(after, "parley_retained_messages") > value(before, "parley_retained_messages")
        assert value(after, "parley_subscriptions") > value(before, "parley_subscriptions")
        listeners = [v for (name, labels), v in after.items() if name == "parley_connections"]
        assert listeners and sum(listeners) >= 3, after
        assert value(after, "parley_chat_page_sessions") == 1
        assert value(after, "parley_chat_joined_sessions") == 1
        assert value(after, "parley_bridge_queue_depth", bridge="up", direction="out") is not None
    finally:
        page.close()
        for client in (watch, publisher, remote_sub):
            client.close()
