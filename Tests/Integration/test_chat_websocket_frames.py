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
