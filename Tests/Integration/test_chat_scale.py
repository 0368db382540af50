"""The chat with busy rooms: who is online travels as changes, and a page that
cannot keep up is told and dropped without holding up the room.

``parley serve`` (broker + chat); pages are WebSocket clients (websocket-client),
messages come from ``mosquitto_pub``.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time

from chat_helpers import ChatSocket, chat  # noqa: F401 (chat is a fixture)
from helpers import unique, wait_until


def test_joins_reach_the_room_as_changes_and_the_joiner_gets_the_whole_list(chat):
    room = unique("busy")
    first = ChatSocket(chat.ws_url, label="first")
    first.join("first", room)
    first.wait_online(["first"])
    mark = first.mark()
    others = []
    for n in range(30):
        page = ChatSocket(chat.ws_url, label=f"page {n}")
        page.join(f"user{n:02}", room)
        others.append(page)
    everyone = ["first"] + [f"user{n:02}" for n in range(30)]
    first.wait_online(everyone)
    last = others[-1]
    last.wait_online(everyone)
    # The first page never got the whole list again: only changes, fewer frames than joins.
    since = first.frames[mark:]
    assert not [f for f in since if f.get("type") == "online"], since
    changes = [f for f in since if f.get("type") == "presence"]
    assert changes and all(f["room"] == room and f["left"] == [] for f in changes), changes
    assert len(changes) <= 30
    for page in others[:10]:
        page.close()
    first.wait_online(["first"] + [f"user{n:02}" for n in range(10, 30)])
    for page in [first] + others[10:]:
        page.close()


def read_until_close(page, timeout=30.0):
    """Reads a raw websocket-client connection up to its close frame; returns the
    close frame's payload (code and reason), or None if the connection just ended."""
    import websocket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            opcode, frame = page.recv_data_frame(True)
        except websocket.WebSocketConnectionClosedException:
            return None
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return frame.data
    return None


def test_a_page_that_stops_reading_is_dropped_and_the_room_goes_on(chat):
    """The slow page's queue (sessionBufferLimit, 1,000 events) overflows: it is
    closed with 1008 and a reason, while a reading page gets every message."""
    import websocket

    room = "general"
    reader = ChatSocket(chat.ws_url, label="reader")
    reader.join("reader", room)
    slow = websocket.create_connection(
        chat.ws_url, timeout=10, sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),))
    slow.send(json.dumps({"type": "join", "name": "sloth", "room": room}))
    reader.wait_online(["reader", "sloth"])
    # In batches the reading page keeps up with (it is a Python client); the slow page
    # takes none of them until the chat gives up on it, then reads what was queued for it.
    count, batch = 6000, 400
    close = None
    for start in range(0, count, batch):
        lines = "".join(f"flood: {n} {'x' * 1500}\n" for n in range(start, start + batch))
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(chat.mqtt_port), "-V", "mqttv5",
                        "-t", f"chat/{room}", "-l", "-q", "1"], input=lines.encode(), check=True,
                       timeout=60)
        prefix = f"{start + batch - 1} "
        reader.wait(lambda: any(m.get("user") == "flood" and m.get("text", "").startswith(prefix)
                                for m in reader.messages()[-batch:]),
                    timeout=60, what=f"flood message {start + batch - 1} at the reading page")
        if close is None and "fell 1000 events behind" in chat.read_log():
            close = read_until_close(slow)
    shown = [m for m in reader.messages() if m.get("user") == "flood"]
    assert len(shown) == count, f"the reading page got {len(shown)} of {count}"
    assert close is not None, "the slow page was not dropped with a close frame"
    code = int.from_bytes(close[:2], "big")
    assert code == 1008, close
    assert b"behind" in close[2:], close
    wait_until(lambda: "fell 1000 events behind" in chat.read_log(), timeout=10,
               what="the log line about the slow page")
    reader.wait_online(["reader"])
    reader.close()
    slow.close()
