"""Many concurrent connections on one broker.

Raw non-blocking sockets driven by one selector keep this cheap: no threads
per client, a few kilobytes per connection.
"""

import resource
import selectors
import socket
import time

import pytest

import mqtt_packets as mp
from helpers import V311, V5, unique

N_CLIENTS = 2000
BATCH = 100          # connections being set up at once (listen backlog friendly)
DEADLINE = 60.0      # for the whole connection phase


def _ensure_fd_budget(needed):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        new_soft = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new_soft, hard))
        soft = new_soft
    if soft != resource.RLIM_INFINITY and soft < needed:
        pytest.skip(f"RLIMIT_NOFILE {soft} too small for {N_CLIENTS} connections")


def _read_packet(buf: bytearray):
    """Pop one complete packet from ``buf`` or return None."""
    if len(buf) < 2:
        return None
    try:
        length, pos = mp.read_varint(buf, 1)
    except IndexError:
        return None
    if len(buf) < pos + length:
        return None
    pkt = mp.Packet(buf[0] >> 4, buf[0] & 0x0F, bytes(buf[pos:pos + length]))
    del buf[:pos + length]
    return pkt


def _round_trip_all(socks, request: bytes, expected_type, deadline):
    """Send ``request`` on every socket; wait for one ``expected_type`` reply on each."""
    sel = selectors.DefaultSelector()
    buffers = {}
    for s in socks:
        s.sendall(request)
        sel.register(s, selectors.EVENT_READ)
        buffers[s] = bytearray()
    waiting = set(socks)
    try:
        while waiting:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"{len(waiting)} connections did not answer in time"
            for key, _ in sel.select(timeout=remaining):
                s = key.fileobj
                data = s.recv(4096)
                assert data, "broker closed a healthy connection"
                buffers[s] += data
                pkt = _read_packet(buffers[s])
                if pkt is not None:
                    assert pkt.type == expected_type, pkt
                    waiting.discard(s)
                    sel.unregister(s)
    finally:
        sel.close()
    return buffers


def test_2000_concurrent_connections_then_abuse(broker, connected, raw):
    _ensure_fd_budget(N_CLIENTS + 512)
    # paho's network loop uses select(), which cannot handle descriptors above
    # FD_SETSIZE (1024): create the paho clients before the 2000 raw sockets.
    topic = unique("load")
    sub = connected(V5)
    sub.subscribe(topic, 1)
    pub = connected(V311)
    socks = []
    sel = selectors.DefaultSelector()
    protos = {}
    buffers = {}
    accepted = 0
    try:
        deadline = time.monotonic() + DEADLINE
        next_index = 0
        while accepted < N_CLIENTS:
            # Keep up to BATCH handshakes in progress.
            while next_index < N_CLIENTS and len(buffers) < BATCH:
                proto = V5 if next_index % 2 else V311
                s = socket.create_connection((broker.host, broker.port), timeout=10)
                s.sendall(mp.connect(proto, f"load-{next_index}-{unique('c')}", keepalive=120))
                s.setblocking(False)
                sel.register(s, selectors.EVENT_READ)
                socks.append(s)
                protos[s] = proto
                buffers[s] = bytearray()
                next_index += 1
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"only {accepted}/{N_CLIENTS} CONNACKs within {DEADLINE}s"
            for key, _ in sel.select(timeout=min(remaining, 1.0)):
                s = key.fileobj
                data = s.recv(4096)
                assert data, f"connection closed before CONNACK ({accepted} accepted so far)"
                buffers[s] += data
                pkt = _read_packet(buffers[s])
                if pkt is None:
                    continue
                ack = mp.parse_connack(pkt, protos[s])
                assert ack.reason == 0, f"CONNACK {ack.reason:#x} after {accepted} clients"
                accepted += 1
                sel.unregister(s)
                del buffers[s]
        assert accepted == N_CLIENTS

        # Every connection is alive: PINGREQ -> PINGRESP on all of them.
        _round_trip_all(socks, mp.pingreq(), mp.PINGRESP, time.monotonic() + 30)

        # Meanwhile, pub/sub still works ...
        pub.publish(topic, b"before abuse", qos=1)
        assert sub.messages.wait_for(1)[0].payload == b"before abuse"

        # ... a client spewing garbage after CONNECT is cut off ...
        bad = raw(V311)
        bad.connect()
        bad.send(b"\xff" * 64 + bytes(range(256)) * 4)
        bad.wait_closed()

        # ... and a publish still reaches the subscriber.
        pub.publish(topic, b"after abuse", qos=1)
        assert sub.messages.wait_for(2)[-1].payload == b"after abuse"

        # The 2000 idle clients were not affected either.
        _round_trip_all(socks, mp.pingreq(), mp.PINGRESP, time.monotonic() + 30)
        assert broker.is_running()
    finally:
        sel.close()
        for s in socks:
            s.close()


def test_connection_churn(broker, connected):
    """300 connect/disconnect cycles leave the broker healthy."""
    topic = unique("churn")
    sub = connected(V5)
    sub.subscribe(topic, 1)
    for i in range(300):
        proto = V5 if i % 2 else V311
        with socket.create_connection((broker.host, broker.port), timeout=5) as s:
            s.sendall(mp.connect(proto, f"churn-{i}"))
            data = b""
            while len(data) < 4:
                chunk = s.recv(64)
                assert chunk, "closed before CONNACK"
                data += chunk
            assert data[0] == 0x20 and data[3] == 0
            if i % 3 == 0:
                s.sendall(mp.disconnect(proto))
            # otherwise: just drop the socket
    connected(V311).publish(topic, b"alive", qos=1)
    assert sub.messages.wait_for(1)[0].payload == b"alive"
