"""TLS, WebSocket and Unix socket listeners, configured as for Mosquitto
(certfile, keyfile, cafile, require_certificate, use_identity_as_username,
use_subject_as_username, protocol websockets, listener 0 PATH), with real
clients: mosquitto_pub/sub, paho-mqtt and Node's MQTT.js."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import ssl
import subprocess
import time

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from helpers import BOTH_PROTOCOLS, V311, V5, MqttClient, unique, wait_until
from processes import free_port
from security_helpers import (Endpoint, certificates, client, files, secured)  # noqa: F401


def pub(*args, timeout=30):
    return subprocess.run(["mosquitto_pub", *args], capture_output=True, text=True, timeout=timeout)


def sub_one(*args, timeout=30):
    return subprocess.Popen(["mosquitto_sub", "-C", "1", "-W", "20", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def served_fingerprint(port):
    """SHA-256 of the certificate a TLS listener presents now."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            return hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest()


def tls_client(endpoint, certificates, proto=V5, cert=True, client_id=None):
    c = MqttClient(endpoint, proto, client_id)
    if cert:
        c.client.tls_set(ca_certs=str(certificates.ca), certfile=str(certificates.client_cert),
                         keyfile=str(certificates.client_key))
    else:
        c.client.tls_set(ca_certs=str(certificates.ca))
    return c


# ------------------------------------------------------------------------ TLS

def test_tls_listener_with_mosquitto_clients(secured, certificates):
    port = free_port()
    b = secured("allow_anonymous true", *certificates.listener_lines(port))
    Endpoint(b, port)
    topic = unique("tls")
    reader = sub_one("-h", "localhost", "-p", str(port), "--cafile", str(certificates.ca), "-t", topic)
    time.sleep(0.5)
    sent = pub("-h", "localhost", "-p", str(port), "--cafile", str(certificates.ca), "-t", topic, "-m", "secret",
               "-q", "1", "--repeat", "5", "--repeat-delay", "0.3")
    assert sent.returncode == 0, sent.stderr
    out, err = reader.communicate(timeout=30)
    assert out.strip() == "secret", err
    assert b.is_running()


def test_tls_with_a_foreign_ca_fails(secured, certificates):
    port = free_port()
    Endpoint(secured("allow_anonymous true", *certificates.listener_lines(port)), port)
    result = pub("-h", "localhost", "-p", str(port), "--cafile", str(certificates.foreign_ca), "-t", "t", "-m", "x")
    assert result.returncode != 0
    assert "tls" in result.stderr.lower() or "certificate" in result.stderr.lower()


def test_plain_mqtt_on_a_tls_port_gets_nothing(secured, certificates):
    port = free_port()
    Endpoint(secured("allow_anonymous true", *certificates.listener_lines(port)), port)
    result = pub("-h", "127.0.0.1", "-p", str(port), "-t", "t", "-m", "x", timeout=30)
    assert result.returncode != 0


@BOTH_PROTOCOLS
def test_paho_over_tls(secured, certificates, proto):
    port = free_port()
    b = secured("allow_anonymous true", *certificates.listener_lines(port))
    c = tls_client(Endpoint(b, port), certificates, proto, cert=False)
    try:
        c.connect()
        topic = unique("tls-paho")
        c.subscribe(topic, 1)
        c.publish(topic, b"over tls", 1)
        assert c.messages.wait_for(1)[0].payload == b"over tls"
    finally:
        c.close()


def test_required_client_certificate(secured, certificates):
    port = free_port()
    Endpoint(secured("allow_anonymous true",
                     *certificates.listener_lines(port, f"cafile {certificates.ca}", "require_certificate true")), port)
    without = pub("-h", "localhost", "-p", str(port), "--cafile", str(certificates.ca), "-t", "t", "-m", "x")
    assert without.returncode != 0
    stranger_cert, stranger_key = certificates.issue("stranger", "/CN=stranger", authority="foreign-ca")
    stranger = pub("-h", "localhost", "-p", str(port), "--cafile", str(certificates.ca),
                   "--cert", str(stranger_cert), "--key", str(stranger_key), "-t", "t", "-m", "x")
    assert stranger.returncode != 0
    ok = pub("-h", "localhost", "-p", str(port), "--cafile", str(certificates.ca),
             "--cert", str(certificates.client_cert), "--key", str(certificates.client_key), "-t", "t", "-m", "x")
    assert ok.returncode == 0, ok.stderr


@pytest.mark.parametrize("option,username", [
    ("use_identity_as_username", "device-1"),
    ("use_subject_as_username", "CN=device-1,O=Example,C=GB"),
])
def test_certificate_names_the_user_for_the_acl(secured, certificates, files, option, username):
    port = free_port()
    acl = files.write("acl", f"user {username}\ntopic readwrite devices/device-1/#\n")
    b = secured(f"acl_file {acl}",
                *certificates.listener_lines(port, f"cafile {certificates.ca}", "require_certificate true",
                                             f"{option} true"))
    c = tls_client(Endpoint(b, port), certificates)
    try:
        c.connect()
        c.subscribe("#", 1)
        c.publish("devices/device-1/state", b"mine", 1)
        c.publish("devices/device-2/state", b"not mine", 1)
        c.messages.wait_for(1)
        time.sleep(0.5)
        assert [m.payload for m in c.messages.snapshot()] == [b"mine"]
    finally:
        c.close()


def test_certificate_replaced_and_sighup(secured, certificates):
    """New connections get the new certificate; established ones stay up."""
    port = free_port()
    b = secured("allow_anonymous true", *certificates.listener_lines(port))
    Endpoint(b, port)
    before = served_fingerprint(port)
    old = tls_client(Endpoint(b, port), certificates, cert=False)
    try:
        old.connect()
        topic = unique("reload")
        old.subscribe(topic, 1)
        certificates.issue("server", "/CN=localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1")
        b.reload()
        wait_until(lambda: served_fingerprint(port) != before, what="the new certificate")
        fresh = pub("-h", "localhost", "-p", str(port), "--cafile", str(certificates.ca), "-t", topic, "-m", "after",
                    "-q", "1")
        assert fresh.returncode == 0, fresh.stderr
        assert old.messages.wait_for(1)[0].payload == b"after"
        assert old.disconnects == []
    finally:
        old.close()


def test_bad_certificate_file_is_reported(tmp_path, files, certificates):
    """Parley refuses to start with a key that is not a key, naming the file."""
    from test_parley_command import run_parley
    bogus = files.write("bogus.key", "not a key\n")
    conf = tmp_path / "broker.conf"
    conf.write_text(f"listener {free_port()} 127.0.0.1\ncertfile {certificates.server_cert}\nkeyfile {bogus}\n")
    result = run_parley("serve", "-c", str(conf), "--no-chat")
    assert result.returncode == 3, result
    assert str(bogus) in result.stderr


# ------------------------------------------------------------------ WebSockets

def ws_client(endpoint, proto=V5, path="/mqtt", tls_ca=None, user=None, password=None):
    """A paho client speaking MQTT over WebSocket (``transport="websockets"``)."""
    c = MqttClient(endpoint, proto)
    c.client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=c.client_id,
                           protocol={V5: paho.MQTTv5, V311: paho.MQTTv311}[proto], transport="websockets",
                           reconnect_on_failure=False)
    c.client.ws_set_options(path=path)
    if tls_ca:
        c.client.tls_set(ca_certs=str(tls_ca))
    if user is not None:
        c.client.username_pw_set(user, password)
    for name in ("on_connect", "on_subscribe", "on_unsubscribe", "on_message", "on_disconnect"):
        setattr(c.client, name, getattr(c, "_" + name))
    return c


@BOTH_PROTOCOLS
def test_paho_over_websockets(secured, proto):
    port = free_port()
    b = secured("allow_anonymous true", f"listener {port} 127.0.0.1", "protocol websockets")
    browser_like = ws_client(Endpoint(b, port), proto)
    tcp = MqttClient(b, V5)
    try:
        browser_like.connect()
        tcp.connect()
        topic = unique("ws")
        browser_like.subscribe(topic, 1)
        tcp.publish(topic, b"to the websocket", 1)
        assert browser_like.messages.wait_for(1)[0].payload == b"to the websocket"
        tcp.subscribe(topic + "/back", 1)
        browser_like.publish(topic + "/back", b"from the websocket", 1)
        assert tcp.messages.wait_for(1)[0].payload == b"from the websocket"
    finally:
        browser_like.close()
        tcp.close()


def test_big_message_over_websockets(secured):
    port = free_port()
    b = secured("allow_anonymous true", f"listener {port} 127.0.0.1", "protocol websockets")
    c = ws_client(Endpoint(b, port))
    try:
        c.connect()
        topic = unique("ws-big")
        c.subscribe(topic, 1)
        payload = os.urandom(300_000)
        if b.name == "mosquitto":
            pytest.xfail("Mosquitto 2.0.11 does not complete a 300 kB PUBLISH over WebSockets")
        c.publish(topic, payload, 1)
        assert c.messages.wait_for(1, timeout=20)[0].payload == payload
    finally:
        c.close()


def test_websockets_over_tls(secured, certificates):
    port = free_port()
    b = secured("allow_anonymous true", *certificates.listener_lines(port, "protocol websockets"))
    c = ws_client(Endpoint(b, port), tls_ca=certificates.ca)
    try:
        c.connect()
        topic = unique("wss")
        c.subscribe(topic, 1)
        c.publish(topic, b"wss", 1)
        assert c.messages.wait_for(1)[0].payload == b"wss"
    finally:
        c.close()


MQTT_JS = r"""
const mqtt = require('mqtt');
const [url, topic] = process.argv.slice(2);
const c = mqtt.connect(url, {protocolVersion: 5, clientId: 'mqttjs-' + process.pid});
const timer = setTimeout(() => { console.log('TIMEOUT'); process.exit(2); }, 15000);
c.on('error', e => { console.log('ERROR ' + e.message); process.exit(3); });
c.on('connect', () => {
  c.subscribe(topic, {qos: 1}, () => c.publish(topic, 'hello from mqtt.js', {qos: 1}));
});
c.on('message', (t, payload) => {
  console.log('GOT ' + t + ' ' + payload.toString());
  clearTimeout(timer);
  c.end(false, () => process.exit(0));
});
"""


def test_mqtt_js_over_websockets(secured, tmp_path):
    if not shutil.which("node") or not os.path.isdir("/usr/share/nodejs/mqtt"):
        pytest.skip("Node's MQTT.js (Debian node-mqtt) not installed")
    port = free_port()
    b = secured("allow_anonymous true", f"listener {port} 127.0.0.1", "protocol websockets")
    Endpoint(b, port)
    script = tmp_path / "client.js"
    script.write_text(MQTT_JS)
    topic = unique("mqttjs")
    watcher = MqttClient(b, V5)
    try:
        watcher.connect()
        watcher.subscribe(topic, 1)
        env = dict(os.environ, NODE_PATH="/usr/share/nodejs")
        result = subprocess.run(["node", str(script), f"ws://127.0.0.1:{port}/mqtt", topic],
                                capture_output=True, text=True, timeout=30, env=env)
        assert result.stdout.strip() == f"GOT {topic} hello from mqtt.js", result.stdout + result.stderr
        assert watcher.messages.wait_for(1)[0].payload == b"hello from mqtt.js"
    finally:
        watcher.close()


def test_plain_http_on_a_websocket_listener(secured):
    port = free_port()
    b = secured("allow_anonymous true", f"listener {port} 127.0.0.1", "protocol websockets")
    Endpoint(b, port)
    if b.name == "mosquitto":
        pytest.skip("Mosquitto answers plain HTTP only with http_dir")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        reply = s.recv(4096)
    assert reply.startswith(b"HTTP/1.1 426")


# ---------------------------------------------------------------- Unix sockets

@pytest.mark.parametrize("version", ["mqttv311", "mqttv5"])
def test_unix_socket_listener(secured, files, version):
    # Debian's Mosquitto binds as the mosquitto user.
    folder = files.path / "sockets"
    folder.mkdir()
    folder.chmod(0o777)
    path = folder / "mqtt.sock"
    b = secured("allow_anonymous true", f"listener 0 {path}")
    topic = unique("unix")
    reader = sub_one("--unix", str(path), "-V", version, "-t", topic)
    time.sleep(0.5)
    sent = pub("--unix", str(path), "-V", version, "-t", topic, "-m", "local", "-q", "1",
               "--repeat", "5", "--repeat-delay", "0.3")
    assert sent.returncode == 0, sent.stderr
    out, err = reader.communicate(timeout=30)
    assert out.strip() == "local", err
    assert b.is_running()
