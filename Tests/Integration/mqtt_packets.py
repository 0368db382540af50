"""Hand-rolled MQTT packet encoding/decoding for raw-socket tests.

Only what the tests need is implemented.  The encoders deliberately allow
illegal values (bad flags, bad lengths, invalid UTF-8, duplicate properties,
...) so tests can build malformed packets on purpose.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

# Control packet types (upper nibble of the first byte).
CONNECT = 1
CONNACK = 2
PUBLISH = 3
PUBACK = 4
PUBREC = 5
PUBREL = 6
PUBCOMP = 7
SUBSCRIBE = 8
SUBACK = 9
UNSUBSCRIBE = 10
UNSUBACK = 11
PINGREQ = 12
PINGRESP = 13
DISCONNECT = 14
AUTH = 15

PACKET_NAMES = {
    1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 5: "PUBREC",
    6: "PUBREL", 7: "PUBCOMP", 8: "SUBSCRIBE", 9: "SUBACK",
    10: "UNSUBSCRIBE", 11: "UNSUBACK", 12: "PINGREQ", 13: "PINGRESP",
    14: "DISCONNECT", 15: "AUTH",
}

# MQTT 5 property identifiers.
PAYLOAD_FORMAT_INDICATOR = 0x01
MESSAGE_EXPIRY_INTERVAL = 0x02
CONTENT_TYPE = 0x03
RESPONSE_TOPIC = 0x08
CORRELATION_DATA = 0x09
SUBSCRIPTION_IDENTIFIER = 0x0B
SESSION_EXPIRY_INTERVAL = 0x11
ASSIGNED_CLIENT_IDENTIFIER = 0x12
SERVER_KEEP_ALIVE = 0x13
AUTHENTICATION_METHOD = 0x15
AUTHENTICATION_DATA = 0x16
REQUEST_PROBLEM_INFORMATION = 0x17
WILL_DELAY_INTERVAL = 0x18
REQUEST_RESPONSE_INFORMATION = 0x19
RESPONSE_INFORMATION = 0x1A
SERVER_REFERENCE = 0x1C
REASON_STRING = 0x1F
RECEIVE_MAXIMUM = 0x21
TOPIC_ALIAS_MAXIMUM = 0x22
TOPIC_ALIAS = 0x23
MAXIMUM_QOS = 0x24
RETAIN_AVAILABLE = 0x25
USER_PROPERTY = 0x26
MAXIMUM_PACKET_SIZE = 0x27
WILDCARD_SUBSCRIPTION_AVAILABLE = 0x28
SUBSCRIPTION_IDENTIFIER_AVAILABLE = 0x29
SHARED_SUBSCRIPTION_AVAILABLE = 0x2A

# Wire type of each property value.
_BYTE, _U16, _U32, _VARINT, _STR, _BIN, _PAIR = range(7)
PROPERTY_TYPES = {
    PAYLOAD_FORMAT_INDICATOR: _BYTE,
    MESSAGE_EXPIRY_INTERVAL: _U32,
    CONTENT_TYPE: _STR,
    RESPONSE_TOPIC: _STR,
    CORRELATION_DATA: _BIN,
    SUBSCRIPTION_IDENTIFIER: _VARINT,
    SESSION_EXPIRY_INTERVAL: _U32,
    ASSIGNED_CLIENT_IDENTIFIER: _STR,
    SERVER_KEEP_ALIVE: _U16,
    AUTHENTICATION_METHOD: _STR,
    AUTHENTICATION_DATA: _BIN,
    REQUEST_PROBLEM_INFORMATION: _BYTE,
    WILL_DELAY_INTERVAL: _U32,
    REQUEST_RESPONSE_INFORMATION: _BYTE,
    RESPONSE_INFORMATION: _STR,
    SERVER_REFERENCE: _STR,
    REASON_STRING: _STR,
    RECEIVE_MAXIMUM: _U16,
    TOPIC_ALIAS_MAXIMUM: _U16,
    TOPIC_ALIAS: _U16,
    MAXIMUM_QOS: _BYTE,
    RETAIN_AVAILABLE: _BYTE,
    USER_PROPERTY: _PAIR,
    MAXIMUM_PACKET_SIZE: _U32,
    WILDCARD_SUBSCRIPTION_AVAILABLE: _BYTE,
    SUBSCRIPTION_IDENTIFIER_AVAILABLE: _BYTE,
    SHARED_SUBSCRIPTION_AVAILABLE: _BYTE,
}

# Protocol selectors used throughout the suite.
V31, V311, V5 = "v31", "v311", "v5"
_LEVELS = {V31: (b"MQIsdp", 3), V311: (b"MQTT", 4), V5: (b"MQTT", 5)}


# ---------------------------------------------------------------- primitives

def varint(n: int) -> bytes:
    """Variable Byte Integer encoding (1..4 bytes for legal values)."""
    out = bytearray()
    while True:
        digit = n % 128
        n //= 128
        if n:
            digit |= 0x80
        out.append(digit)
        if not n:
            return bytes(out)


def u16(n: int) -> bytes:
    return struct.pack("!H", n)


def u32(n: int) -> bytes:
    return struct.pack("!I", n)


def utf8(s) -> bytes:
    """Length-prefixed string.  Bytes are sent verbatim (for invalid UTF-8)."""
    raw = s if isinstance(s, (bytes, bytearray)) else s.encode("utf-8")
    return u16(len(raw)) + bytes(raw)


def binary(b: bytes) -> bytes:
    return u16(len(b)) + bytes(b)


def properties(props) -> bytes:
    """Encode a property list, including its varint length prefix.

    ``props`` is an iterable of ``(identifier, value)``; user properties take
    a ``(key, value)`` tuple.  Order and duplicates are preserved on purpose.
    """
    body = bytearray()
    for ident, value in props or ():
        kind = PROPERTY_TYPES[ident]
        body += varint(ident)
        if kind == _BYTE:
            body.append(value)
        elif kind == _U16:
            body += u16(value)
        elif kind == _U32:
            body += u32(value)
        elif kind == _VARINT:
            body += varint(value)
        elif kind == _STR:
            body += utf8(value)
        elif kind == _BIN:
            body += binary(value)
        else:
            body += utf8(value[0]) + utf8(value[1])
    return varint(len(body)) + bytes(body)


def packet(ptype: int, flags: int, body: bytes) -> bytes:
    """Assemble a control packet from its type, low-nibble flags and body."""
    return bytes([(ptype << 4) | (flags & 0x0F)]) + varint(len(body)) + body


# ----------------------------------------------------------------- encoders

def connect(proto=V311, client_id="", clean=True, keepalive=60, will=None,
            props=None, username=None, password=None, protocol_name=None,
            protocol_level=None, reserved_flag=False) -> bytes:
    """CONNECT.  ``will`` is a dict: topic, payload, qos, retain, props (v5)."""
    name, level = _LEVELS[proto]
    if protocol_name is not None:
        name = protocol_name
    if protocol_level is not None:
        level = protocol_level
    flags = 0
    if clean:
        flags |= 0x02
    if reserved_flag:
        flags |= 0x01
    if will:
        flags |= 0x04 | (will.get("qos", 0) << 3)
        if will.get("retain"):
            flags |= 0x20
    if password is not None:
        flags |= 0x40
    if username is not None:
        flags |= 0x80
    body = bytearray(utf8(name) + bytes([level, flags]) + u16(keepalive))
    if proto == V5:
        body += properties(props)
    body += utf8(client_id)
    if will:
        if proto == V5:
            body += properties(will.get("props"))
        body += utf8(will["topic"]) + binary(will.get("payload", b""))
    if username is not None:
        body += utf8(username)
    if password is not None:
        body += binary(password)
    return packet(CONNECT, 0, bytes(body))


def publish(topic, payload=b"", qos=0, retain=False, dup=False, pid=None,
            proto=V311, props=None, flags=None) -> bytes:
    if flags is None:
        flags = (0x08 if dup else 0) | (qos << 1) | (0x01 if retain else 0)
    body = bytearray(utf8(topic))
    if qos > 0 or pid is not None:
        body += u16(pid if pid is not None else 1)
    if proto == V5:
        body += properties(props)
    body += payload
    return packet(PUBLISH, flags, bytes(body))


def _ack(ptype, flags, pid, proto, reason=None, props=None) -> bytes:
    body = u16(pid)
    if proto == V5 and (reason is not None or props):
        body += bytes([reason or 0])
        if props:
            body += properties(props)
    return packet(ptype, flags, body)


def puback(pid, proto=V311, reason=None):
    return _ack(PUBACK, 0, pid, proto, reason)


def pubrec(pid, proto=V311, reason=None):
    return _ack(PUBREC, 0, pid, proto, reason)


def pubrel(pid, proto=V311, reason=None, flags=0x02):
    return _ack(PUBREL, flags, pid, proto, reason)


def pubcomp(pid, proto=V311, reason=None):
    return _ack(PUBCOMP, 0, pid, proto, reason)


def subscribe(pid, filters, proto=V311, props=None, flags=0x02) -> bytes:
    """``filters``: list of ``(filter, options_byte)``; a bare string means QoS 0."""
    body = bytearray(u16(pid))
    if proto == V5:
        body += properties(props)
    for item in filters:
        if isinstance(item, (str, bytes)):
            item = (item, 0)
        body += utf8(item[0]) + bytes([item[1]])
    return packet(SUBSCRIBE, flags, bytes(body))


def sub_options(qos=0, no_local=False, retain_as_published=False,
                retain_handling=0) -> int:
    return (qos | (0x04 if no_local else 0)
            | (0x08 if retain_as_published else 0) | (retain_handling << 4))


def unsubscribe(pid, filters, proto=V311, props=None, flags=0x02) -> bytes:
    body = bytearray(u16(pid))
    if proto == V5:
        body += properties(props)
    for f in filters:
        body += utf8(f)
    return packet(UNSUBSCRIBE, flags, bytes(body))


def pingreq() -> bytes:
    return b"\xc0\x00"


def disconnect(proto=V311, reason=None, props=None) -> bytes:
    if proto != V5 or (reason is None and not props):
        return b"\xe0\x00"
    body = bytes([reason or 0])
    if props:
        body += properties(props)
    return packet(DISCONNECT, 0, body)


# ----------------------------------------------------------------- decoders

@dataclass
class Packet:
    type: int
    flags: int
    body: bytes

    @property
    def name(self) -> str:
        return PACKET_NAMES.get(self.type, f"type{self.type}")

    def __repr__(self) -> str:
        return f"<{self.name} flags={self.flags:#x} body={self.body[:40].hex()}>"


def read_varint(buf: bytes, pos: int):
    mult, value = 1, 0
    for _ in range(4):
        b = buf[pos]
        pos += 1
        value += (b & 0x7F) * mult
        if not b & 0x80:
            return value, pos
        mult *= 128
    raise ValueError("varint longer than 4 bytes")


def _read_str(buf, pos):
    (n,) = struct.unpack_from("!H", buf, pos)
    return buf[pos + 2:pos + 2 + n], pos + 2 + n


def parse_properties(buf: bytes, pos: int):
    """Return (list of (id, value), new position)."""
    length, pos = read_varint(buf, pos)
    end = pos + length
    out = []
    while pos < end:
        ident, pos = read_varint(buf, pos)
        kind = PROPERTY_TYPES[ident]
        if kind == _BYTE:
            value, pos = buf[pos], pos + 1
        elif kind == _U16:
            (value,), pos = struct.unpack_from("!H", buf, pos), pos + 2
        elif kind == _U32:
            (value,), pos = struct.unpack_from("!I", buf, pos), pos + 4
        elif kind == _VARINT:
            value, pos = read_varint(buf, pos)
        elif kind == _STR:
            raw, pos = _read_str(buf, pos)
            value = raw.decode("utf-8")
        elif kind == _BIN:
            value, pos = _read_str(buf, pos)
        else:
            k, pos = _read_str(buf, pos)
            v, pos = _read_str(buf, pos)
            value = (k.decode(), v.decode())
        out.append((ident, value))
    return out, end


def prop(props, ident, default=None):
    """First value of a property in a decoded list."""
    for i, v in props:
        if i == ident:
            return v
    return default


def prop_all(props, ident):
    return [v for i, v in props if i == ident]


@dataclass
class Connack:
    session_present: bool
    reason: int
    props: list = field(default_factory=list)


def parse_connack(pkt: Packet, proto=V311) -> Connack:
    assert pkt.type == CONNACK, f"expected CONNACK, got {pkt!r}"
    body = pkt.body
    props = []
    if proto == V5 and len(body) > 2:
        props, _ = parse_properties(body, 2)
    return Connack(bool(body[0] & 1), body[1], props)


@dataclass
class Publish:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    dup: bool
    pid: int | None
    props: list = field(default_factory=list)


def parse_publish(pkt: Packet, proto=V311) -> Publish:
    assert pkt.type == PUBLISH, f"expected PUBLISH, got {pkt!r}"
    qos = (pkt.flags >> 1) & 3
    raw_topic, pos = _read_str(pkt.body, 0)
    pid = None
    if qos:
        (pid,) = struct.unpack_from("!H", pkt.body, pos)
        pos += 2
    props = []
    if proto == V5:
        props, pos = parse_properties(pkt.body, pos)
    return Publish(raw_topic.decode("utf-8"), pkt.body[pos:], qos,
                   bool(pkt.flags & 1), bool(pkt.flags & 8), pid, props)


def ack_pid(pkt: Packet) -> int:
    return struct.unpack_from("!H", pkt.body, 0)[0]


def ack_reason(pkt: Packet) -> int:
    """Reason code of a v5 PUBACK/PUBREC/PUBREL/PUBCOMP (0 when omitted)."""
    return pkt.body[2] if len(pkt.body) > 2 else 0


def suback_codes(pkt: Packet, proto=V311):
    assert pkt.type in (SUBACK, UNSUBACK), f"expected (UN)SUBACK, got {pkt!r}"
    pos = 2
    if proto == V5:
        _, pos = parse_properties(pkt.body, pos)
    return list(pkt.body[pos:])


def disconnect_reason(pkt: Packet) -> int:
    assert pkt.type == DISCONNECT, f"expected DISCONNECT, got {pkt!r}"
    return pkt.body[0] if pkt.body else 0
