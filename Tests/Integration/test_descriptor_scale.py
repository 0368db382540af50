"""libmosquitto links in a process that holds more than 1,023 descriptors.

libmosquitto's own network loop waits with select(), which cannot watch a
socket numbered 1024 or more: a bridge or a chat whose link reconnects in a
process already serving a thousand connections used to stop silently.  Parley
drives libmosquitto with poll() on a thread of its own.  Each test fills the
process's descriptor table past 1,100 (MQTT clients of the embedded broker, or
idle chat WebSockets), restarts the remote broker, fills the numbers the old
link freed, and checks that the new link's socket is numbered past 1,023 (read
from /proc) and that messages cross both ways again.

Skipped without the Parley binary; Linux only (/proc).
"""

from __future__ import annotations

import os
import resource
import socket
import struct
import time

import pytest

from bridge_helpers import PARLEY, Server, bridge_lines, probe, wait_state
from chat_helpers import ChatProcess, ChatSocket, ChatSub, attach_logs, ensure, mosquitto_pub
from conftest import free_port
from helpers import MqttClient, V5, wait_until
from processes import ConfiguredBroker, HOST, mosquitto_exe

pytestmark = [
    pytest.mark.skipif(not PARLEY.exists(), reason=f"Parley binary {PARLEY} not built"),
    pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc"),
]

HELD = 1100      # connections held open in the process under test
FILLER = 40      # more, opened once the old link's numbers are free


@pytest.fixture(autouse=True)
def descriptor_limit():
    """This process opens HELD sockets and its children inherit the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4 * HELD
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"the hard descriptor limit ({hard}) is below {wanted}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def link_descriptors(pid: int, remote_port: int) -> list[int]:
    """Descriptor numbers of process ``pid``'s TCP connections to ``remote_port``."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    remote, state, inode = fields[2], fields[3], fields[9]
                    if state == "01" and int(remote.rsplit(":", 1)[1], 16) == remote_port:
                        inodes.add(f"socket:[{inode}]")
        except FileNotFoundError:
            continue
    found = []
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{name}") in inodes:
                found.append(int(name))
        except OSError:
            continue
    return sorted(found)


def open_descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def mqtt_connect_packet(client_id: str) -> bytes:
    """A minimal MQTT 3.1.1 CONNECT, clean session, keep-alive 0."""
    ident = client_id.encode()
    body = (struct.pack("!H", 4) + b"MQTT" + bytes([4, 0x02]) + struct.pack("!H", 0)
            + struct.pack("!H", len(ident)) + ident)
    return bytes([0x10, len(body)]) + body


class HeldConnections:
    """Idle MQTT connections to a broker, each acknowledged with a CONNACK."""

    def __init__(self, port: int):
        self.port = port
        self.sockets: list[socket.socket] = []

    def open(self, count: int, label: str):
        start = len(self.sockets)
        for n in range(count):
            s = socket.create_connection((HOST, self.port), timeout=10)
            s.sendall(mqtt_connect_packet(f"held-{label}-{start + n}"))
            self.sockets.append(s)
        for s in self.sockets[start:]:
            ack = b""
            while len(ack) < 4:
                chunk = s.recv(4 - len(ack))
                assert chunk, "the broker closed a held connection"
                ack += chunk
            assert ack[0] == 0x20 and ack[3] == 0, f"CONNACK {ack.hex()}"

    def close(self):
        for s in self.sockets:
            s.close()
        self.sockets = []


@pytest.mark.parametrize("version", ["mqttv311", "mqttv50"])
def test_a_bridge_reconnects_past_select_limit_when_its_remote_restarts(tmp_path, version):
    ensure(mosquitto_exe(), "mosquitto")
    remote = Server("mosquitto", tmp_path, "remote", port=free_port()).start()
    parley = Server("parley", tmp_path, "parley", bridge_lines(
        remote.port, ["up/# out 1", "down/# in 1"], version)).start()
    held = HeldConnections(parley.port)
    watch = at_parley = at_remote = None
    try:
        # paho waits with select() too: its clients are made while numbers are low, and the
        # remote side is reached with mosquitto_pub and mosquitto_sub, processes of their own.
        watch = MqttClient(parley, V5)
        watch.connect()
        wait_state(watch, b"1")
        at_parley = MqttClient(parley, V5)
        at_parley.connect()
        at_parley.subscribe("down/#", 1)
        held.open(HELD, "bridge")
        assert open_descriptors(parley.proc.pid) > HELD

        remote.stop()
        wait_state(watch, b"0")
        wait_until(lambda: not link_descriptors(parley.proc.pid, remote.port), timeout=10,
                   what="the bridge's old socket to close")
        held.open(FILLER, "filler")
        remote.start()
        wait_state(watch, b"1", timeout=20)
        numbers = link_descriptors(parley.proc.pid, remote.port)
        assert numbers and min(numbers) >= 1024, f"the bridge's socket is numbered {numbers}"

        at_remote = ChatSub(remote.port, "up/#")
        at_remote.wait_subscribed()
        until_seen(lambda n: at_parley.publish(f"up/after", str(n).encode(), qos=1),
                   lambda n: any(line == f"up/after {n}" for line in at_remote.lines),
                   "a message from Parley at the remote")
        until_seen(lambda n: mosquitto_pub(remote.port, "down/after", str(n), "-q", "1"),
                   lambda n: any(m.payload == str(n).encode()
                                 for m in at_parley.messages.snapshot("down/after")),
                   "a message from the remote at Parley")
    finally:
        for client in (watch, at_parley):
            if client:
                client.close()
        if at_remote:
            at_remote.stop()
        held.close()
        parley.stop()
        remote.stop()


def until_seen(send, seen, what, timeout=20.0, interval=0.5):
    """Sends numbered markers until one is seen: the link may be up a moment
    before its subscriptions are renewed."""
    deadline = time.monotonic() + timeout
    n = 0
    while True:
        n += 1
        send(n)
        step = time.monotonic() + interval
        while time.monotonic() < step:
            if seen(n):
                return
            time.sleep(0.02)
        assert time.monotonic() < deadline, f"timed out waiting for {what}"


def test_the_chat_keeps_its_conversation_across_a_broker_restart_past_select_limit(
        request, tmp_path):
    ensure(mosquitto_exe(), "mosquitto")
    broker = ConfiguredBroker("mosquitto", tmp_path, "broker", port=free_port())
    broker.start()
    chat = ChatProcess(PARLEY, tmp_path, mode="chat", broker_port=broker.port, label="chat")
    attach_logs(request, "mosquitto + parley chat", broker.port, broker, chat)
    idle: list[ChatSocket] = []
    alice = bob = sub = None
    try:
        chat.start()
        alice = ChatSocket(chat.ws_url, label="alice")
        alice.join("alice")
        bob = ChatSocket(chat.ws_url, label="bob")
        bob.join("bob")
        for n in range(HELD):
            idle.append(ChatSocket(chat.ws_url, label=f"idle {n}"))
        assert open_descriptors(chat.proc.pid) > HELD

        broker.stop()
        wait_until(lambda: not link_descriptors(chat.proc.pid, broker.port), timeout=10,
                   what="the chat's broker connections to close")
        for n in range(FILLER):
            idle.append(ChatSocket(chat.ws_url, label=f"filler {n}"))
        broker.start()
        wait_until(lambda: len(link_descriptors(chat.proc.pid, broker.port)) >= 2, timeout=20,
                   what="the chat's hub and presence to reconnect")
        numbers = link_descriptors(chat.proc.pid, broker.port)
        assert min(numbers) >= 1024, f"the chat's broker sockets are numbered {numbers}"

        sub = ChatSub(broker.port)
        sub.wait_subscribed()
        # The hub renews its subscription on reconnecting; say things until one gets through.
        deadline = time.monotonic() + 20
        n = 0
        while True:
            n += 1
            alice.say(f"after the restart {n}")
            try:
                bob.wait_message("alice", f"after the restart {n}", timeout=1)
                break
            except AssertionError:
                assert time.monotonic() < deadline, "alice's messages no longer reach bob"
        sub.wait_exact(f"chat/general alice: after the restart {n}")
        mosquitto_pub(broker.port, "chat/general", "sensor: still here")
        alice.wait_message("sensor", "still here")
    finally:
        for s in idle + [alice, bob]:
            if s:
                s.close()
        if sub:
            sub.stop()
        chat.stop()
        broker.stop()
