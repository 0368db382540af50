"""Page sessions at the WebSocket level (RFC 6455): pings, fragmented commands, closes, and
frames a page may not send. ``parley serve``; pages are websocket-client connections.
"""

from __future__ import annotations

import json

import pytest

from chat_helpers import chat  # noqa: F401 (chat is a fixture)
from helpers import unique

TIMEOUT = 10


def connect(chat):
    import websocket
    return websocket.create_connection(chat.ws_url, timeout=TIMEOUT)


def next_frame(ws):
    """The next frame, control frames included, as (opcode, data)."""
    opcode, frame = ws.recv_data_frame(True)
    return opcode, frame.data


def next_event(ws, kind):
    import websocket
    while True:
        opcode, data = next_frame(ws)
        if opcode == websocket.ABNF.OPCODE_TEXT:
            event = json.loads(data)
            if event["type"] == kind:
                return event
        elif opcode == websocket.ABNF.OPCODE_CLOSE:
            pytest.fail(f"closed while waiting for {kind}: {data!r}")


def close_code(data: bytes) -> int:
    return int.from_bytes(data[:2], "big")


def test_a_ping_is_answered_with_a_pong_carrying_its_payload(chat):
    import websocket
    ws = connect(chat)
    ws.ping(b"are you there")
    opcode, data = next_frame(ws)
    assert (opcode, data) == (websocket.ABNF.OPCODE_PONG, b"are you there")
    ws.close()


def test_a_command_sent_in_fragments_is_one_command(chat):
    import websocket
    ws = connect(chat)
    name = unique("frag")[:30]
    command = json.dumps({"type": "join", "name": name, "room": "fragments"}).encode()
    parts = [command[:5], command[5:20], command[20:]]
    ws.send_frame(websocket.ABNF.create_frame(parts[0], websocket.ABNF.OPCODE_TEXT, fin=0))
    ws.send_frame(websocket.ABNF.create_frame(parts[1], websocket.ABNF.OPCODE_CONT, fin=0))
    ws.ping(b"between fragments")
    ws.send_frame(websocket.ABNF.create_frame(parts[2], websocket.ABNF.OPCODE_CONT, fin=1))
    joined = next_event(ws, "joined")
    assert joined["name"] == name and joined["room"] == "fragments"
    ws.close()


def test_a_close_from_the_page_is_echoed_with_its_code(chat):
    import websocket
    ws = connect(chat)
    ws.send_close(status=4000, reason=b"leaving")
    opcode, data = next_frame(ws)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    assert close_code(data) == 4000
    ws.shutdown()


def test_a_command_over_the_frame_limit_closes_with_1009(chat):
    import websocket
    ws = connect(chat)
    ws.send(json.dumps({"type": "send", "text": "x" * 20000}))
    opcode, data = next_frame(ws)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    assert close_code(data) == 1009, data


def test_a_text_frame_that_is_not_utf8_closes_with_1007(chat):
    import websocket
    ws = connect(chat)
    ws.send(b'{"type":"join","name":"\xff\xfe"}', websocket.ABNF.OPCODE_TEXT)
    opcode, data = next_frame(ws)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    assert close_code(data) == 1007, data


def test_a_closed_page_does_not_disturb_the_others(chat):
    """Pages share event loops and their batches of messages: one page closing abruptly in
    the middle of a conversation leaves the others talking."""
    room = unique("room")[:30]
    first, second = connect(chat), connect(chat)
    for ws, name in ((first, "first"), (second, "second")):
        ws.send(json.dumps({"type": "join", "name": name, "room": room}))
        next_event(ws, "joined")
    first.sock.close()
    second.send(json.dumps({"type": "send", "text": "still here"}))
    while True:
        event = next_event(second, "message")
        if event.get("text") == "still here":
            break
    second.close()


# ------------------------------------------------ the MQTT relay at /mqtt

def mqtt_connect_packet(client_id: str) -> bytes:
    """An MQTT 3.1.1 CONNECT with a clean session and a 60 s keep-alive."""
    body = b"\x00\x04MQTT\x04\x02\x00\x3c" + len(client_id).to_bytes(2, "big") + client_id.encode()
    return bytes([0x10, len(body)]) + body


def connect_relay(chat):
    import websocket
    return websocket.create_connection(f"ws://{chat.host}:{chat.http_port}/mqtt", timeout=TIMEOUT,
                                       subprotocols=["mqtt"])


def test_relay_carries_a_connect_sent_in_fragments_and_answers_pings(chat):
    import websocket
    ws = connect_relay(chat)
    packet = mqtt_connect_packet(unique("relay")[:20])
    ws.send_frame(websocket.ABNF.create_frame(packet[:7], websocket.ABNF.OPCODE_BINARY, fin=0))
    ws.ping(b"relay ping")
    ws.send_frame(websocket.ABNF.create_frame(packet[7:], websocket.ABNF.OPCODE_CONT, fin=1))
    seen = {}
    while len(seen) < 2:
        opcode, data = next_frame(ws)
        seen[opcode] = data
    assert seen[websocket.ABNF.OPCODE_PONG] == b"relay ping"
    assert seen[websocket.ABNF.OPCODE_BINARY] == b"\x20\x02\x00\x00"  # CONNACK, accepted
    ws.close()


def test_relay_closes_the_websocket_when_the_broker_closes(chat):
    import websocket
    ws = connect_relay(chat)
    ws.send(mqtt_connect_packet(unique("relay")[:20]), websocket.ABNF.OPCODE_BINARY)
    assert next_frame(ws) == (websocket.ABNF.OPCODE_BINARY, b"\x20\x02\x00\x00")
    ws.send(b"\xe0\x00", websocket.ABNF.OPCODE_BINARY)  # DISCONNECT: the broker closes
    opcode, data = next_frame(ws)
    assert opcode == websocket.ABNF.OPCODE_CLOSE and close_code(data) == 1000, data


def test_relay_refuses_text_frames_with_1003(chat):
    import websocket
    ws = connect_relay(chat)
    ws.send("CONNECT")
    opcode, data = next_frame(ws)
    assert opcode == websocket.ABNF.OPCODE_CLOSE and close_code(data) == 1003, data


def test_relay_carries_a_large_message_both_ways(chat):
    """A 300 kB PUBLISH from a browser client reaches a TCP subscriber, and back out to a
    second browser client, through the relay's reads and writes in pieces."""
    from helpers import V311, MqttClient
    from test_chat_mqtt_websocket import Endpoint, ws_mqtt

    payload = bytes(range(256)) * 1200
    topic = unique("big")
    tcp = MqttClient(Endpoint(chat.mqtt_port), V311)
    sender, receiver = ws_mqtt(chat.http_port), ws_mqtt(chat.http_port)
    try:
        for client in (tcp, sender, receiver):
            client.connect()
        tcp.subscribe(topic, 1)
        receiver.subscribe(topic, 1)
        sender.publish(topic, payload, 1)
        assert tcp.messages.wait_for(1)[0].payload == payload
        assert receiver.messages.wait_for(1)[0].payload == payload
    finally:
        for client in (tcp, sender, receiver):
            client.close()
