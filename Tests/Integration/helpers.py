"""Client-side helpers shared by the integration tests.

* ``Collector``   - thread-safe message sink with deadline-based waiting.
* ``MqttClient``  - thin synchronous wrapper around a paho-mqtt 2.x client.
* ``RawClient``   - a plain TCP socket speaking hand-made MQTT bytes.
* ``sync``        - a round-trip marker publish used as a "nothing else is
                    in flight" barrier before asserting that something did
                    NOT arrive.

Nothing here sleeps to wait for an event: every wait is on a condition or a
socket with an explicit deadline.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from dataclasses import dataclass, field

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

import pytest

import mqtt_packets as mp
from mqtt_packets import V31, V311, V5

PAHO_PROTOCOLS = {V31: paho.MQTTv31, V311: paho.MQTTv311, V5: paho.MQTTv5}

# Parametrisation shorthands.
BOTH_PROTOCOLS = pytest.mark.parametrize("proto", [V311, V5])
ONLY_V5 = pytest.mark.parametrize("proto", [V5])

# After a sync point, how long to keep listening to prove absence.
QUIET_PERIOD = 0.3
DEFAULT_TIMEOUT = 5.0
SYNC_PREFIX = "_sync/"


def unique(prefix: str = "t") -> str:
    """A topic / client id that no other test can collide with."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def props(packet_type, **kwargs) -> Properties:
    """Build paho Properties: props(PacketTypes.PUBLISH, ContentType='x')."""
    p = Properties(packet_type)
    for name, value in kwargs.items():
        setattr(p, name, value)
    return p


def publish_props(**kwargs) -> Properties:
    return props(PacketTypes.PUBLISH, **kwargs)


def connect_props(**kwargs) -> Properties:
    return props(PacketTypes.CONNECT, **kwargs)


def subscribe_props(**kwargs) -> Properties:
    return props(PacketTypes.SUBSCRIBE, **kwargs)


def wait_until(predicate, timeout=DEFAULT_TIMEOUT, interval=0.02, what="condition"):
    """Poll ``predicate`` until truthy or the deadline passes (then fail)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def resident_kib(pid) -> int:
    """Resident memory of process ``pid`` (VmRSS), in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


# ---------------------------------------------------------------- collector

@dataclass
class Received:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    dup: bool
    mid: int
    properties: Properties | None
    at: float = field(default_factory=time.monotonic)

    def prop(self, name, default=None):
        if self.properties is None:
            return default
        return getattr(self.properties, name, default)

    @property
    def user_properties(self):
        return list(self.prop("UserProperty", []) or [])

    @property
    def subscription_ids(self):
        value = self.prop("SubscriptionIdentifier", [])
        if value is None:
            return []
        return list(value) if isinstance(value, (list, tuple)) else [value]


class Collector:
    """Accumulates application messages; waits on a condition variable."""

    def __init__(self):
        self._cond = threading.Condition()
        self.messages: list[Received] = []
        self._sync_tokens: set[bytes] = set()

    def add(self, msg: Received):
        with self._cond:
            if msg.topic.startswith(SYNC_PREFIX):
                self._sync_tokens.add(msg.payload)
            else:
                self.messages.append(msg)
            self._cond.notify_all()

    def wait_for(self, n: int = 1, timeout: float = DEFAULT_TIMEOUT, topic=None):
        """Wait until at least ``n`` (matching) messages arrived; return them."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = self._matching(topic)
                if len(got) >= n:
                    return got
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"expected {n} message(s){' on ' + topic if topic else ''} "
                        f"within {timeout}s, got {len(got)}: {self._summary(got)}")
                self._cond.wait(remaining)

    def wait_token(self, token: bytes, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while token not in self._sync_tokens:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError("sync marker never arrived")
                self._cond.wait(remaining)

    def _matching(self, topic):
        if topic is None:
            return list(self.messages)
        return [m for m in self.messages if m.topic == topic]

    @staticmethod
    def _summary(msgs):
        return [(m.topic, m.payload[:30], m.qos, m.retain) for m in msgs][:20]

    def snapshot(self, topic=None):
        with self._cond:
            return self._matching(topic)

    def clear(self):
        with self._cond:
            self.messages.clear()

    def __len__(self):
        with self._cond:
            return len(self.messages)


# ------------------------------------------------------------- paho client

class MqttClient:
    """Synchronous facade over a threaded paho client.

    Every method that talks to the broker waits for the matching
    acknowledgement with a deadline and fails the test if it does not come.
    """

    def __init__(self, broker, proto=V5, client_id=None, manual_ack=False):
        self.broker = broker
        self.proto = proto
        self.client_id = unique("c") if client_id is None else client_id
        self.messages = Collector()
        self._cond = threading.Condition()
        self._connacks = []
        self._subacks = {}
        self._unsubacks = {}
        self.disconnects = []  # (reason code int or None, properties)
        self.sync_topic = None
        self.client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=PAHO_PROTOCOLS[proto],
            reconnect_on_failure=False,
            manual_ack=manual_ack,
            **({} if proto == V5 else {"clean_session": True}),
        )
        c = self.client
        c.on_connect = self._on_connect
        c.on_subscribe = self._on_subscribe
        c.on_unsubscribe = self._on_unsubscribe
        c.on_message = self._on_message
        c.on_disconnect = self._on_disconnect
        self.started = False

    # -- callbacks (run on paho's network thread)
    def _on_connect(self, client, userdata, flags, reason_code, properties):
        with self._cond:
            self._connacks.append((reason_code, flags, properties))
            self._cond.notify_all()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        with self._cond:
            self._subacks[mid] = [rc.value if hasattr(rc, "value") else int(rc)
                                  for rc in reason_codes]
            self._cond.notify_all()

    def _on_unsubscribe(self, client, userdata, mid, reason_codes, properties):
        with self._cond:
            self._unsubacks[mid] = [rc.value if hasattr(rc, "value") else int(rc)
                                    for rc in (reason_codes or [])]
            self._cond.notify_all()

    def _on_message(self, client, userdata, message):
        self.messages.add(Received(
            topic=message.topic, payload=message.payload, qos=message.qos,
            retain=bool(message.retain), dup=bool(message.dup), mid=message.mid,
            properties=getattr(message, "properties", None)))

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        with self._cond:
            value = getattr(reason_code, "value", reason_code)
            self.disconnects.append((value, properties))
            self._cond.notify_all()

    def _wait(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                result = predicate()
                if result is not None:
                    return result
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{self.client_id}: timed out waiting for {what}")
                self._cond.wait(remaining)

    # -- operations
    def will_set(self, topic, payload=b"", qos=0, retain=False, properties=None):
        self.client.will_set(topic, payload, qos, retain, properties)

    def connect(self, clean=True, properties=None, keepalive=60,
                expect_success=True, timeout=DEFAULT_TIMEOUT):
        """Connect and wait for CONNACK; returns (reason_code, flags, props)."""
        if self.proto == V5:
            rc = self.client.connect(self.broker.host, self.broker.port,
                                     keepalive=keepalive, clean_start=clean,
                                     properties=properties)
        else:
            # paho fixes clean_session at construction time; poke it here so
            # the same wrapper can reconnect with a different setting.
            self.client._clean_session = clean
            rc = self.client.connect(self.broker.host, self.broker.port,
                                     keepalive=keepalive)
        assert rc == paho.MQTT_ERR_SUCCESS, f"connect() failed locally: {rc}"
        count = len(self._connacks)
        if not self.started:
            self.client.loop_start()
            self.started = True
        result = self._wait(
            lambda: self._connacks[count] if len(self._connacks) > count else None,
            timeout, "CONNACK")
        if expect_success:
            assert not result[0].is_failure, f"CONNACK refused: {result[0]}"
        return result

    def subscribe(self, topic, qos=0, options=None, properties=None,
                  timeout=DEFAULT_TIMEOUT):
        """Subscribe and wait for SUBACK; returns the list of reason codes."""
        if options is not None:
            rc, mid = self.client.subscribe(topic, options=options, properties=properties)
        elif isinstance(topic, list):
            rc, mid = self.client.subscribe(topic, properties=properties)
        else:
            rc, mid = self.client.subscribe(topic, qos, properties=properties)
        assert rc == paho.MQTT_ERR_SUCCESS, f"subscribe() failed locally: {rc}"
        return self._wait(lambda: self._subacks.get(mid), timeout, "SUBACK")

    def unsubscribe(self, topic, properties=None, timeout=DEFAULT_TIMEOUT):
        rc, mid = self.client.unsubscribe(topic, properties=properties)
        assert rc == paho.MQTT_ERR_SUCCESS, f"unsubscribe() failed locally: {rc}"
        return self._wait(lambda: self._unsubacks.get(mid), timeout, "UNSUBACK")

    def publish(self, topic, payload=b"", qos=0, retain=False, properties=None,
                wait=True, timeout=DEFAULT_TIMEOUT):
        info = self.client.publish(topic, payload, qos, retain, properties)
        assert info.rc == paho.MQTT_ERR_SUCCESS, f"publish() failed locally: {info.rc}"
        if wait:
            info.wait_for_publish(timeout)
            assert info.is_published(), f"publish to {topic!r} not completed in {timeout}s"
        return info

    def ack(self, mid, qos):
        self.client.ack(mid, qos)

    def enable_sync(self):
        """Subscribe to a private marker topic used by :func:`sync`."""
        self.sync_topic = SYNC_PREFIX + unique("s")
        self.subscribe(self.sync_topic, 1)

    def wait_disconnected(self, timeout=DEFAULT_TIMEOUT):
        """Wait until paho reports the connection lost; returns (reason, props)."""
        return self._wait(lambda: self.disconnects[-1] if self.disconnects else None,
                          timeout, "disconnection")

    def disconnect(self, reasoncode=None, properties=None, timeout=DEFAULT_TIMEOUT):
        count = len(self.disconnects)
        self.client.disconnect(reasoncode=reasoncode, properties=properties)
        self._wait(lambda: True if len(self.disconnects) > count else None,
                   timeout, "local disconnect")
        self._stop_loop()

    def _stop_loop(self):
        if self.started:
            self.client.loop_stop()
            self.started = False

    def drop(self):
        """Kill the TCP connection without sending DISCONNECT."""
        count = len(self.disconnects)
        sock = self.client.socket()
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._wait(lambda: True if len(self.disconnects) > count else None,
                   DEFAULT_TIMEOUT, "connection drop")
        self._stop_loop()

    def close(self):
        try:
            if self.client.is_connected():
                self.client.disconnect()
        except Exception:
            pass
        self._stop_loop()


def sync(subscriber: MqttClient, publisher: MqttClient | None = None,
         timeout=DEFAULT_TIMEOUT, quiet=QUIET_PERIOD):
    """Barrier: publish a marker to the subscriber's sync topic and wait for it.

    Anything the broker routed to ``subscriber`` before the marker has been
    delivered by the time this returns; then listen ``quiet`` more seconds
    for stragglers.  ``subscriber.enable_sync()`` must have been called.
    """
    assert subscriber.sync_topic, "call enable_sync() on the subscriber first"
    token = uuid.uuid4().bytes
    (publisher or subscriber).publish(subscriber.sync_topic, token, qos=1)
    subscriber.messages.wait_token(token, timeout)
    if quiet:
        time.sleep(quiet)  # bounded grace period after the barrier


# --------------------------------------------------------------- raw socket

class ConnectionClosed(Exception):
    pass


class RawClient:
    """A TCP connection to the broker driven with hand-made packets."""

    def __init__(self, broker, proto=V311, timeout=DEFAULT_TIMEOUT):
        self.proto = proto
        self.sock = socket.create_connection((broker.host, broker.port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buf = bytearray()
        self.eof = False

    # -- low level
    def send(self, data: bytes):
        self.sock.sendall(data)

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no data before deadline")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("no data before deadline") from None
        except (ConnectionResetError, BrokenPipeError):
            chunk = b""
        if not chunk:
            self.eof = True
            raise ConnectionClosed()
        self._buf += chunk

    def read_packet(self, timeout=DEFAULT_TIMEOUT) -> mp.Packet:
        """Next packet; raises TimeoutError or ConnectionClosed."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self._buf) >= 2:
                try:
                    length, pos = mp.read_varint(self._buf, 1)
                except IndexError:
                    length = None
                if length is not None and len(self._buf) >= pos + length:
                    first = self._buf[0]
                    body = bytes(self._buf[pos:pos + length])
                    del self._buf[:pos + length]
                    return mp.Packet(first >> 4, first & 0x0F, body)
            self._fill(deadline)

    def expect(self, ptype, timeout=DEFAULT_TIMEOUT) -> mp.Packet:
        pkt = self.read_packet(timeout)
        assert pkt.type == ptype, f"expected {mp.PACKET_NAMES[ptype]}, got {pkt!r}"
        return pkt

    def read_all(self, timeout) -> list:
        """Every packet arriving within ``timeout`` (stops early on EOF)."""
        out = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                out.append(self.read_packet(max(0.0, deadline - time.monotonic())))
            except (TimeoutError, ConnectionClosed):
                return out

    def wait_closed(self, timeout=DEFAULT_TIMEOUT) -> list:
        """Assert the broker closes the connection; return packets seen first."""
        seen = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                seen.append(self.read_packet(max(0.0, deadline - time.monotonic())))
            except ConnectionClosed:
                return seen
            except TimeoutError:
                raise AssertionError(
                    f"broker did not close the connection within {timeout}s; "
                    f"received {seen!r}") from None

    def ping(self, timeout=2.0) -> list:
        """PINGREQ round trip; returns the packets that arrived before PINGRESP.

        Raises AssertionError if no PINGRESP comes back.  Because the broker
        handles one connection's packets in order, anything it had queued
        for us before the PINGREQ is in the returned list.
        """
        self.send(mp.pingreq())
        before = []
        deadline = time.monotonic() + timeout
        try:
            while True:
                pkt = self.read_packet(max(0.0, deadline - time.monotonic()))
                if pkt.type == mp.PINGRESP:
                    return before
                before.append(pkt)
        except (TimeoutError, ConnectionClosed) as exc:
            raise AssertionError(f"no PINGRESP ({type(exc).__name__}); got {before!r}") from None

    def is_open(self, timeout=1.0) -> bool:
        """True if a PINGREQ round trip succeeds (other packets are ignored)."""
        try:
            self.ping(timeout)
            return True
        except (AssertionError, OSError):
            return False

    # -- conveniences
    def connect(self, client_id=None, clean=True, keepalive=60, will=None,
                props=None, expect_reason=0, timeout=DEFAULT_TIMEOUT, **kw) -> mp.Connack:
        if client_id is None:
            client_id = unique("raw")
        self.send(mp.connect(self.proto, client_id, clean, keepalive, will, props, **kw))
        ack = mp.parse_connack(self.expect(mp.CONNACK, timeout), self.proto)
        if expect_reason is not None:
            assert ack.reason == expect_reason, f"CONNACK reason {ack.reason:#x}"
        return ack

    def subscribe(self, filters, pid=1, props=None, timeout=DEFAULT_TIMEOUT):
        """Subscribe; returns granted codes.  Packets arriving first are kept."""
        self.send(mp.subscribe(pid, filters, self.proto, props))
        return mp.suback_codes(self.expect(mp.SUBACK, timeout), self.proto)

    def publish(self, topic, payload=b"", qos=0, retain=False, pid=None, props=None,
                dup=False, timeout=DEFAULT_TIMEOUT):
        """Publish and complete the QoS handshake."""
        if qos and pid is None:
            pid = 1
        self.send(mp.publish(topic, payload, qos, retain, dup, pid, self.proto, props))
        if qos == 1:
            self.expect(mp.PUBACK, timeout)
        elif qos == 2:
            self.expect(mp.PUBREC, timeout)
            self.send(mp.pubrel(pid, self.proto))
            self.expect(mp.PUBCOMP, timeout)

    def read_publish(self, timeout=DEFAULT_TIMEOUT) -> mp.Publish:
        return mp.parse_publish(self.expect(mp.PUBLISH, timeout), self.proto)

    def disconnect(self, reason=None, props=None):
        self.send(mp.disconnect(self.proto, reason, props))

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ------------------------------------------------------- known deviations

def deviation(broker, statement: str, detail: str):
    """Record a spec violation.

    On Mosquitto (the reference broker, which has a few known deviations) the
    test is marked xfail with the statement number; on any other broker it
    is a plain failure.  Call it only after everything else in the test has
    been checked, because it ends the test.
    """
    if broker.name == "mosquitto":
        pytest.xfail(f"known Mosquitto 2.0.11 deviation from {statement}: {detail}")
    pytest.fail(f"violates {statement}: {detail}")


def mosquitto_bug(broker, detail: str, upstream_fix: str):
    """Like :func:`deviation`, for Mosquitto 2.0.11 bugs in the semantics of
    its own configuration options (no MQTT statement involved) that upstream
    fixed later.  Parley is expected to implement the documented behaviour."""
    if broker.name == "mosquitto":
        pytest.xfail(f"known Mosquitto 2.0.11 bug (fixed upstream in {upstream_fix}): {detail}")
    pytest.fail(detail)
