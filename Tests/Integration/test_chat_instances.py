"""Two chat instances on one broker: `parley chat --broker` against Debian's mosquitto.

Each test starts a fresh Mosquitto (free port, config ``listener PORT
127.0.0.1`` + ``allow_anonymous true``) and two ``parley chat`` processes, A
and B, connected to it.  Page sessions are driven over the WebSocket /ws
(protocol: the chat protocol spec shared with the page and the server), so
no browser is involved.  The two instances must show one conversation and one
online list; an instance that dies without a goodbye must have its users
removed through its MQTT will.

Skipped only when PARLEY_BIN is unset.
"""

from __future__ import annotations

import json
import time

import pytest

from chat_helpers import (ChatProcess, ChatSocket, SessionClosed, attach_logs, ensure,
                          mosquitto_exe, mosquitto_pub, parley_bin_or_skip)
from conftest import BrokerProcess
from helpers import MqttClient, wait_until

PARLEY = parley_bin_or_skip()

# A killed instance's presence is cleared by its MQTT will: the broker notices
# the dead TCP connection at once (the kernel closes it) and publishes the will
# after the will delay, if any.  Keep-alive expiry would be the slow path.
WILL_DEADLINE = 30.0
TIMEOUT = 10.0  # one hop: session -> instance -> broker -> instance -> session


class Endpoint:
    host = "127.0.0.1"

    def __init__(self, port):
        self.port = port


@pytest.fixture
def cluster(request, tmp_path):
    """Mosquitto plus chat instances A and B against it."""
    ensure(mosquitto_exe(), "mosquitto")
    broker = BrokerProcess("mosquitto", tmp_path)
    broker.start()
    a = ChatProcess(PARLEY, tmp_path, mode="chat", broker_port=broker.port, label="chat-A")
    b = ChatProcess(PARLEY, tmp_path, mode="chat", broker_port=broker.port, label="chat-B")
    attach_logs(request, "mosquitto + parley chat A + B", broker.port, broker, a, b)
    try:
        a.start()
        b.start()
    except BaseException:
        for p in (a, b):
            p.stop()
        broker.stop()
        raise
    sessions = []

    class Cluster:
        pass

    c = Cluster()
    c.broker, c.a, c.b = broker, a, b

    def session(instance, label=None):
        s = ChatSocket(instance.ws_url, TIMEOUT, label or f"session on {instance.label}")
        sessions.append(s)
        return s

    c.session = session
    yield c
    for s in sessions:
        s.close()
    for p in (a, b):
        p.stop()
    broker.stop()


def test_instances_share_one_conversation_and_one_online_list(cluster):
    alice = cluster.session(cluster.a, "alice@A")
    alice.join("alice")
    alice.wait_online(["alice"], TIMEOUT)

    bob = cluster.session(cluster.b, "bob@B")
    bob.join("bob")

    # Join announcements: B's join reaches the session on A, and B's own
    # session shows it too (live or in the history it got after "joined").
    alice.wait_message("bob", "bob has joined the chat.", kind="join", timeout=TIMEOUT)
    bob.wait_message("bob", "bob has joined the chat.", kind="join", timeout=TIMEOUT)

    # One online list, the same on both instances.
    alice.wait_online(["alice", "bob"], TIMEOUT)
    bob.wait_online(["alice", "bob"], TIMEOUT)

    # Messages both ways, each shown once on each side.
    alice.say("hello from A")
    bob.wait_message("alice", "hello from A", timeout=TIMEOUT)
    alice.wait_message("alice", "hello from A", timeout=TIMEOUT)
    bob.say("hi from B\nsecond line")
    alice.wait_message("bob", "hi from B\nsecond line", timeout=TIMEOUT)
    bob.wait_message("bob", "hi from B\nsecond line", timeout=TIMEOUT)

    # Barrier: a later message seen by both means the earlier ones are in.
    alice.say("barrier")
    alice.wait_message("alice", "barrier", timeout=TIMEOUT)
    bob.wait_message("alice", "barrier", timeout=TIMEOUT)
    for s in (alice, bob):
        assert s.count_messages("alice", "hello from A") == 1, s.messages()
        assert s.count_messages("bob", "hi from B\nsecond line") == 1, s.messages()
        assert s.count_messages("bob", "bob has joined the chat.", "join") == 1, s.messages()

    # MESSAGE fields the page relies on.
    m = next(m for m in bob.messages() if m.get("text") == "hello from A")
    assert m["room"] == "general" and m["format"] == "text" and m["kind"] == "chat", m
    assert isinstance(m.get("id"), str) and m["id"], m
    assert isinstance(m.get("time"), str) and "T" in m["time"], m


def test_a_late_joiner_on_b_is_shown_earlier_messages_exactly_once(cluster):
    """B learns of A's message over the broker, so when bob joins it may still be on
    its way: it then arrives live instead of in the history. Either way the page
    shows it, and only once."""
    alice = cluster.session(cluster.a, "alice@A")
    alice.join("alice")
    alice.say("said before bob came")
    alice.wait_message("alice", "said before bob came", timeout=TIMEOUT)

    bob = cluster.session(cluster.b, "bob@B")
    bob.join("bob")
    history = bob.wait_frame(lambda f: f.get("type") == "history", TIMEOUT, "history")
    assert history.get("room") == "general", history
    bob.wait_message("alice", "said before bob came", timeout=TIMEOUT)
    bob.say("after")
    bob.wait_message("bob", "after", timeout=TIMEOUT)
    shown = [(m.get("user"), m.get("text")) for m in bob.messages()]
    assert shown.count(("alice", "said before bob came")) == 1, shown


def test_closing_a_session_on_b_updates_a(cluster):
    alice = cluster.session(cluster.a, "alice@A")
    alice.join("alice")
    bob = cluster.session(cluster.b, "bob@B")
    bob.join("bob")
    alice.wait_online(["alice", "bob"], TIMEOUT)

    bob.close()
    alice.wait_message("bob", "bob has left the chat.", kind="leave", timeout=TIMEOUT)
    alice.wait_online(["alice"], TIMEOUT)


def test_killed_instance_users_leave_the_online_list(cluster):
    alice = cluster.session(cluster.a, "alice@A")
    alice.join("alice")
    bob = cluster.session(cluster.b, "bob@B")
    bob.join("bob")
    carol = cluster.session(cluster.b, "carol@B")
    carol.join("carol")
    alice.wait_online(["alice", "bob", "carol"], TIMEOUT)
    bob.wait_online(["alice", "bob", "carol"], TIMEOUT)

    cluster.b.kill()  # SIGKILL by pid: no DISCONNECT, so only the will tells A

    alice.wait_online(["alice"], WILL_DEADLINE)
    # A is still a working chat.
    alice.say("still here")
    alice.wait_message("alice", "still here", timeout=TIMEOUT)


def test_bad_frames_get_an_error_and_the_session_goes_on(cluster):
    s = cluster.session(cluster.a, "sloppy@A")
    bad_frames = [
        "this is not json",
        "[1, 2, 3]",
        json.dumps({"no": "type"}),
        json.dumps({"type": "dance"}),
        json.dumps({"type": "send", "text": "before join"}),
    ]
    for raw in bad_frames:
        mark = s.mark()
        s.send_raw(raw)
        s.wait_error(mark, TIMEOUT, f"an error frame answering {raw!r}")

    mark = s.mark()
    s.send_json({"type": "join", "name": "", "room": "general"})
    err = s.wait_error(mark, TIMEOUT, "the error for an empty name")
    assert err["message"] == "Name must not be empty", err
    for name in ("   ", "x" * 33):
        mark = s.mark()
        s.send_json({"type": "join", "name": name, "room": "general"})
        s.wait_error(mark, TIMEOUT, f"the error for name {name!r}")
    for room in ("no/slash", "r" * 33, "chat/#"):
        mark = s.mark()
        s.send_json({"type": "join", "name": "sloppy", "room": room})
        s.wait_error(mark, TIMEOUT, f"the error for room {room!r}")
    assert s.find(lambda f: f.get("type") == "joined") is None, s.frames

    # Still up: it can join and chat, with a name of exactly 32 characters.
    name = "s" * 32
    s.join(name)
    mark = s.mark()
    s.say("x" * 2001)
    s.wait_error(mark, TIMEOUT, "the error for a message of 2001 characters")
    s.say("y" * 2000)
    s.wait_message(name, "y" * 2000, timeout=TIMEOUT)
    mark = s.mark()
    s.send_raw("{broken")
    s.wait_error(mark, TIMEOUT, "an error frame after joining")
    s.say("still talking")
    s.wait_message(name, "still talking", timeout=TIMEOUT)


def test_rate_limit_answers_with_an_error_after_a_burst(cluster):
    s = cluster.session(cluster.a, "fast@A")
    s.join("fast")
    mark = s.mark()
    burst = 30
    for i in range(burst):
        s.say(f"burst {i}")
    err = s.wait_error(mark, TIMEOUT, "a rate limit error")
    assert "too fast" in err["message"].lower(), err

    # The session is still up: once tokens come back (5/s) a message goes
    # through.  One probe at a time, each waited for 0.5 s, overall deadline.
    deadline = time.monotonic() + TIMEOUT
    attempt = 0
    while True:
        probe = f"after the burst {attempt}"
        probe_mark = s.mark()
        s.say(probe)
        try:
            s.wait_frame(lambda f: f.get("type") == "message" and f.get("text") == probe,
                         0.5, "the probe", probe_mark)
            break
        except SessionClosed:
            raise
        except AssertionError:
            if time.monotonic() >= deadline:
                pytest.fail(f"no message accepted within {TIMEOUT}s after the burst; "
                            f"frames: {s.frames[-10:]}")
        attempt += 1

    # The probe arrived, so every accepted burst message is in: the burst was
    # cut short but its first 10 went through.
    accepted = sum(1 for i in range(burst) if s.count_messages("fast", f"burst {i}"))
    assert 10 <= accepted < burst, accepted
    for i in range(10):
        assert s.count_messages("fast", f"burst {i}") == 1, i


def test_room_switch_moves_the_session(cluster):
    alice = cluster.session(cluster.a, "alice@A")
    alice.join("alice")
    bob = cluster.session(cluster.b, "bob@B")
    bob.join("bob")
    alice.wait_online(["alice", "bob"], TIMEOUT)

    bob.switch_room("random")
    alice.wait_message("bob", "bob has left the chat.", kind="leave", timeout=TIMEOUT)
    alice.wait_online(["alice"], TIMEOUT)
    bob.wait_online(["bob"], TIMEOUT)

    bob.say("only in random")
    bob.wait_message("bob", "only in random", timeout=TIMEOUT)
    alice.say("only in general")
    alice.wait_message("alice", "only in general", timeout=TIMEOUT)
    bob.say("random barrier")
    bob.wait_message("bob", "random barrier", timeout=TIMEOUT)
    assert alice.count_messages("bob", "only in random") == 0, alice.messages()
    assert bob.count_messages("alice", "only in general") == 0, bob.messages()


def published(sub, payload, topic="chat/general"):
    """The message ``sub`` received on ``topic`` with ``payload`` (waits)."""
    return wait_until(lambda: next((m for m in sub.messages.snapshot(topic)
                                    if m.payload == payload), None),
                      TIMEOUT, what=f"{payload!r} on {topic}")


def test_mqtt_wire_format_and_plain_publishes(cluster):
    """What the instances publish, and what a plain MQTT client's publish shows as."""
    sub = MqttClient(Endpoint(cluster.broker.port))
    sub.connect()
    try:
        sub.subscribe("chat/#", 0)
        alice = cluster.session(cluster.a, "alice@A")
        alice.join("alice")
        joined = published(sub, b"alice has joined the chat.")
        assert ("chat-type", "join") in joined.user_properties, joined.user_properties
        assert ("chat-user", "alice") in joined.user_properties, joined.user_properties

        alice.say("wire check")
        shown = alice.wait_message("alice", "wire check", timeout=TIMEOUT)
        got = published(sub, b"alice: wire check")
        props = dict(got.user_properties)
        assert props.get("chat-user") == "alice", got.user_properties
        assert props.get("chat-type") == "chat", got.user_properties
        assert props.get("pubsub-id") == shown["id"], (got.user_properties, shown)
    finally:
        sub.close()

    bob = cluster.session(cluster.b, "bob@B")
    bob.join("bob")
    mosquitto_pub(cluster.broker.port, "chat/general", "sensor: door opened")
    mosquitto_pub(cluster.broker.port, "chat/general", "no prefix here")
    mosquitto_pub(cluster.broker.port, "chat/general", '{"temp": 21.5}')
    for s in (alice, bob):
        s.wait_message("sensor", "door opened", timeout=TIMEOUT)
        s.wait_message("mqtt", "no prefix here", timeout=TIMEOUT)
        m = s.wait(lambda: next((m for m in s.messages() if m.get("format") == "json"), None),
                   TIMEOUT, "the JSON message")
        assert json.loads(m["text"]) == {"temp": 21.5}, m
        assert "\n" in m["text"], f"JSON text is not pretty-printed: {m['text']!r}"
