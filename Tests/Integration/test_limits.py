"""Broker limits from the configuration file (Mosquitto option names, which
Parley accepts too): max_connections, max_packet_size, message_size_limit,
max_inflight_messages, max_keepalive."""

import socket
import time

import pytest

import mqtt_packets as mp
from helpers import (BOTH_PROTOCOLS, V311, ConnectionClosed, RawClient, V5, mosquitto_bug, sync,
                     resident_kib, unique, wait_until)


def _try_connect(broker, proto):
    """Returns (RawClient, CONNACK reason) or (RawClient, None) if closed."""
    r = RawClient(broker, proto)
    r.send(mp.connect(proto, unique("lim")))
    try:
        pkt = r.read_packet()
    except ConnectionClosed:
        return r, None
    return r, mp.parse_connack(pkt, proto).reason


@BOTH_PROTOCOLS
@pytest.mark.broker_config("max_connections 3")
def test_max_connections_refuses_extra_clients(broker, proto):
    clients = []
    try:
        accepted, refusal = 0, None
        while refusal is None and accepted < 6:
            r, reason = _try_connect(broker, proto)
            clients.append(r)
            if reason == 0:
                accepted += 1
            else:
                refusal = (r, reason)
        assert refusal is not None, "max_connections 3 never refused a connection"
        extra, reason = refusal
        # Refused: plain close, or CONNACK 0x03 Server unavailable (3.1.1) /
        # 0x89 Server busy, 0x97 Quota exceeded, 0x9F Connection rate (5).
        assert reason in (None, 0x03, 0x89, 0x97, 0x9F), reason
        if reason is not None:
            extra.wait_closed()
        # The admitted connections are unaffected.
        admitted = [c for c in clients if c is not extra]
        assert all(c.is_open() for c in admitted)
        # Free a slot; a new client is accepted once the broker noticed.
        admitted[0].disconnect()
        admitted[0].wait_closed()

        def slot_free():
            r, why = _try_connect(broker, proto)
            clients.append(r)
            return why == 0
        wait_until(slot_free, timeout=5, interval=0.1, what="a free connection slot")

        if accepted != 3:
            # The harness's port probe (TCP connect + close before the test)
            # triggers it: each closed connection frees two slots in 2.0.11.
            mosquitto_bug(broker, f"max_connections 3 admitted {accepted} clients",
                          "2.0.12: 'Fix max_connections option not being correctly counted'")
    finally:
        for c in clients:
            c.close()


@pytest.mark.broker_config("max_packet_size 200")
def test_max_packet_size_advertised_in_v5_connack(raw):
    r = raw(V5)
    assert mp.prop(r.connect().props, mp.MAXIMUM_PACKET_SIZE) == 200


@BOTH_PROTOCOLS
@pytest.mark.broker_config("max_packet_size 200")
def test_packet_above_max_packet_size_disconnects(broker, raw, connected, proto):
    """MQTT 5 3.1.2.11.4 / 3.2.2.3.6: oversized packet -> DISCONNECT 0x95
    (Packet too large) and close; 3.1.1 clients are just disconnected."""
    topic = unique("maxpkt")
    sub = connected(proto, sync=True)
    sub.subscribe(topic, 1)
    r = raw(proto)
    r.connect()
    r.send(mp.publish(topic, b"x" * 300, qos=1, pid=1, proto=proto))
    seen = r.wait_closed()
    if proto == V5:
        assert [mp.disconnect_reason(p) for p in seen] in ([0x95], []), seen
    else:
        assert seen == []
    # Packets up to the limit still pass for everyone else.
    connected(proto).publish(topic, b"y" * 100, qos=1)
    assert sub.messages.wait_for(1)[0].payload == b"y" * 100
    sync(sub)
    assert len(sub.messages.snapshot()) == 1


@BOTH_PROTOCOLS
@pytest.mark.broker_config("message_size_limit 100")
def test_message_size_limit_drops_large_payloads(raw, connected, proto):
    topic = unique("msl")
    sub = connected(proto, sync=True)
    sub.subscribe(topic, 1)
    r = raw(proto)
    r.connect()
    r.send(mp.publish(topic, b"L" * 150, qos=1, pid=7, proto=proto))
    ack = r.expect(mp.PUBACK)
    assert mp.ack_pid(ack) == 7
    if proto == V5:
        # Mosquitto 2.0.11 answers 0x95 (Packet too large); any failure code
        # (>= 0x80) tells the v5 publisher the message was not accepted.
        assert mp.ack_reason(ack) >= 0x80
    r.publish(topic, b"S" * 50, qos=1, pid=8)
    assert sub.messages.wait_for(1)[0].payload == b"S" * 50
    sync(sub)
    assert [m.payload for m in sub.messages.snapshot()] == [b"S" * 50]
    assert r.is_open()


@BOTH_PROTOCOLS
@pytest.mark.broker_config("max_inflight_messages 2")
def test_max_inflight_messages_limits_outgoing_window(broker, raw, connected, proto):
    """max_inflight_messages: at most 2 outgoing QoS 1 messages unacknowledged
    (a v5 client's own Receive Maximum of 100 is larger, so 2 applies)."""
    topic = unique("inflight")
    limit, total = 2, 6
    r = raw(proto)
    r.connect(props=[(mp.RECEIVE_MAXIMUM, 100)] if proto == V5 else None)
    r.subscribe([(topic, 1)])
    pub = connected(V5)
    for i in range(total):
        pub.publish(topic, str(i).encode(), qos=1)
    outstanding, received = [], []

    def take(packets):
        for pkt in packets:
            p = mp.parse_publish(pkt, proto)
            outstanding.append(p.pid)
            received.append(p.payload)
        peak[0] = max(peak[0], len(outstanding))

    peak = [0]
    take(r.read_all(0.5))
    assert outstanding, "nothing delivered"
    deadline = time.monotonic() + 10
    while len(received) < total and time.monotonic() < deadline:
        r.send(mp.puback(outstanding.pop(0), proto))  # free one slot at a time
        take(r.read_all(0.3))
    assert received == [str(i).encode() for i in range(total)]
    if peak[0] > limit:
        mosquitto_bug(broker, f"{peak[0]} outgoing QoS 1 messages in flight with "
                              f"max_inflight_messages {limit} ({proto})",
                      "2.0.13 'Various fixes around inflight quota management' and "
                      "2.0.17 'Fix max_inflight_messages not being set correctly'")


@pytest.mark.broker_config("max_keepalive 10")
def test_v5_server_keep_alive_sent_when_client_asks_for_more(raw):
    """MQTT 5 3.2.2.3.14: with max_keepalive 10, a client asking for 60 s is
    told Server Keep Alive 10 (or refused)."""
    r = raw(V5)
    r.send(mp.connect(V5, unique("ka"), keepalive=60))
    ack = mp.parse_connack(r.expect(mp.CONNACK), V5)
    if ack.reason == 0:
        assert mp.prop(ack.props, mp.SERVER_KEEP_ALIVE) == 10
    else:
        assert ack.reason >= 0x80


@pytest.mark.parametrize("proto", [V311, V5])
def test_memory_limit_refuses_publishes_while_over_it(tmp_path, proto):
    """memory_limit (Parley compares resident memory): over it, a v5 publisher
    gets 0x97 Quota exceeded and a 3.1.1 publisher's message is dropped; the
    connection stays up. Mosquitto counts its own heap allocations instead, so
    a limit it is over from the start cannot be compared: Parley only."""
    from processes import ConfiguredBroker, parley_exe
    from pathlib import Path
    if not Path(parley_exe()).exists():
        pytest.skip("Parley binary not built")
    broker = ConfiguredBroker("parley", tmp_path, "memlimit", lines=["memory_limit 1"]).start()
    try:
        wait_until(lambda: "over memory_limit" in broker.read_log(), what="the memory_limit warning")
        topic = unique("mem")
        r = RawClient(broker, proto)
        r.connect()
        r.subscribe([(topic, 1)])
        r.send(mp.publish(topic, b"refused", qos=1, pid=7, proto=proto))
        ack = r.expect(mp.PUBACK)
        assert mp.ack_pid(ack) == 7
        if proto == V5:
            assert mp.ack_reason(ack) == 0x97
        assert [p for p in r.read_all(0.5) if p.type == mp.PUBLISH] == []
        assert r.is_open()
    finally:
        broker.stop()


@pytest.mark.parametrize("sub_qos", [0, 1])
@pytest.mark.broker_config("max_queued_bytes 4194304")
def test_a_subscriber_that_stops_reading_slows_nobody_and_holds_little(broker, raw, connected, sub_qos):
    """40 MiB flow to a reading subscriber while another has stopped reading
    its socket: the reader gets everything, and the broker holds far less than
    the flow for the stalled one (QoS 0 beyond the socket's budget is dropped;
    QoS 1 stops at the inflight window and the queue's 4 MiB)."""
    topic = unique("flood")
    stalled = raw(V311)
    stalled.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    stalled.connect()
    stalled.subscribe([(topic, sub_qos)])
    reader = connected(V311)
    reader.subscribe(topic, 1)
    pub = connected(V311)
    pub.publish(topic, b"warm-up", qos=1)
    reader.messages.wait_for(1)
    before = resident_kib(broker.proc.pid)
    chunk = bytes(range(256)) * 256  # 64 KiB
    count = 640  # 40 MiB
    # Paced by the reader (its queue has the same 4 MiB limit): the stalled one does not slow it.
    for start in range(0, count, 32):
        for info in [pub.publish(topic, chunk, qos=1, wait=False) for _ in range(32)]:
            info.wait_for_publish(30)
        reader.messages.wait_for(start + 32 + 1, timeout=30)
    grown = resident_kib(broker.proc.pid) - before
    if broker.name == "mosquitto" and sub_qos == 0 and grown >= 20 * 1024:
        pytest.xfail(f"Mosquitto 2.0.11 keeps every QoS 0 packet for a connected client that "
                     f"does not read (grew by {grown} KiB)")
    assert grown < 20 * 1024, f"{broker.name} grew by {grown} KiB for a 40 MiB flow"
    assert stalled.sock.fileno() >= 0
