"""MQTT over WebSocket at the chat's /mqtt: a browser MQTT client talks to
the same broker as the chat page, through the chat's HTTP port; and the chat
keeps working when the broker refuses anonymous clients."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from chat_helpers import HOST, ChatSocket
from helpers import V5, MqttClient, unique
from processes import free_ports
from security_helpers import SecurityFiles
from test_chat_command import TIMEOUT, parley  # noqa: F401
from test_transports import MQTT_JS, ws_client


class Endpoint:
    name = "parley"

    def __init__(self, port):
        self.host, self.port = HOST, port


def ws_mqtt(port, user=None, password=None):
    """A paho client that speaks MQTT over WebSocket to the chat's /mqtt."""
    return ws_client(Endpoint(port), user=user, password=password)


@pytest.fixture
def secured_serve(parley, tmp_path):
    """``parley serve`` with the chat, refusing anonymous MQTT clients:
    returns (mqtt_port, http_port)."""
    files = SecurityFiles()
    passwords = files.parley_passwd("passwd", {"alice": "pw"})
    conf = tmp_path / "parley.conf"
    p = parley("secured")
    ports = {}

    def build():
        mqtt_port, http_port = free_ports(2)
        ports.update(mqtt=mqtt_port, http=http_port)
        conf.write_text(f"listener {mqtt_port} {HOST}\npassword_file {passwords}\n"
                        f"http_listener {http_port} {HOST}\n")
        return ["serve", "-c", conf], [mqtt_port, http_port]

    p.start(build)
    yield ports["mqtt"], ports["http"], p
    files.cleanup()


def test_chat_works_when_the_broker_refuses_anonymous_clients(secured_serve):
    """The chat reaches its own broker with credentials only this process
    knows, and never logs them."""
    mqtt_port, http_port, process = secured_serve
    watcher = MqttClient(Endpoint(mqtt_port), V5)
    watcher.client.username_pw_set("alice", "pw")
    session = ChatSocket(f"ws://{HOST}:{http_port}/ws", TIMEOUT, "session")
    try:
        watcher.connect()
        watcher.subscribe("chat/#", 1)
        name = unique("n")
        session.join(name)
        session.say("through the secured broker")
        session.wait_message(name, "through the secured broker")
        messages = watcher.messages.wait_for(2, topic="chat/general")
        assert any(b"through the secured broker" in m.payload for m in messages), messages
    finally:
        session.close()
        watcher.close()
    assert "parley-internal" not in process.read_log()


def test_browser_mqtt_client_at_slash_mqtt_meets_the_broker_rules(secured_serve):
    mqtt_port, http_port, _ = secured_serve
    anonymous = ws_mqtt(http_port)
    try:
        code = anonymous.connect(expect_success=False)[0]
        assert code.is_failure and code.value == 0x87
    finally:
        anonymous.close()
    browser = ws_mqtt(http_port, "alice", "pw")
    tcp = MqttClient(Endpoint(mqtt_port), V5)
    tcp.client.username_pw_set("alice", "pw")
    session = ChatSocket(f"ws://{HOST}:{http_port}/ws", TIMEOUT, "session")
    try:
        browser.connect()
        tcp.connect()
        browser.subscribe("chat/#", 1)
        name = unique("n")
        session.join(name)
        session.say("page to browser client")
        received = browser.messages.wait_for(2, topic="chat/general")
        assert any(b"page to browser client" in m.payload for m in received), received
        topic = unique("from-browser")
        tcp.subscribe(topic, 1)
        browser.publish(topic, b"over the chat port", 1)
        assert tcp.messages.wait_for(1)[0].payload == b"over the chat port"
    finally:
        session.close()
        browser.close()
        tcp.close()


def test_mqtt_js_at_slash_mqtt(parley, tmp_path):
    if not shutil.which("node") or not os.path.isdir("/usr/share/nodejs/mqtt"):
        pytest.skip("Node's MQTT.js (Debian node-mqtt) not installed")
    p = parley("mqttjs")

    def build():
        mqtt_port, http_port = free_ports(2)
        return ["serve", "-p", str(mqtt_port), "--host", HOST, "--http-port", str(http_port),
                "--http-host", HOST], [mqtt_port, http_port]

    p.start(build)
    http_port = int(p.proc.args[p.proc.args.index("--http-port") + 1])
    script = tmp_path / "client.js"
    script.write_text(MQTT_JS)
    topic = unique("mqttjs-chat")
    env = dict(os.environ, NODE_PATH="/usr/share/nodejs")
    result = subprocess.run(["node", str(script), f"ws://{HOST}:{http_port}/mqtt", topic],
                            capture_output=True, text=True, timeout=30, env=env)
    assert result.stdout.strip() == f"GOT {topic} hello from mqtt.js", result.stdout + result.stderr
