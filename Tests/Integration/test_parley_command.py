"""The `parley` command itself: configuration diagnostics, options, signals.

These are Parley-only behaviours (Mosquitto's command line differs), so they run
against the Parley binary directly rather than through the `broker` fixture.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

import mqtt_packets as mp
from conftest import DEFAULT_PARLEY_BIN, free_port
from helpers import RawClient, wait_until

PARLEY = Path(os.environ.get("PARLEY_BIN", str(DEFAULT_PARLEY_BIN)))

pytestmark = pytest.mark.skipif(not PARLEY.exists(), reason=f"Parley binary {PARLEY} not built")


class Endpoint:
    host = "127.0.0.1"

    def __init__(self, port):
        self.port = port


def run_parley(*args, timeout=10):
    return subprocess.run([str(PARLEY), *args], capture_output=True, text=True, timeout=timeout)


def start_parley(tmp_path, *args):
    log = open(tmp_path / "parley.log", "wb")
    proc = subprocess.Popen([str(PARLEY), *args], stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    return proc, log


def wait_listening(port, proc, timeout=10):
    import socket

    def up():
        assert proc.poll() is None, f"parley exited with {proc.returncode}"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False

    wait_until(up, timeout, what=f"parley listening on {port}")


@pytest.mark.parametrize("line,message", [
    ("crlfile /etc/ssl/crl.pem", "key 'crlfile' is not supported by Parley yet"),
    ("no_such_key 1", "unknown configuration key 'no_such_key'"),
    ("max_keepalive abc", "key 'max_keepalive': expected an integer"),
    ("psk_file /etc/mosquitto/psk", "key 'psk_file' is not supported by Parley yet"),
    ("certfile /etc/ssl/server.pem", "TLS on the listener on line 2 needs both 'certfile' and 'keyfile'"),
    ("protocol websocket", "key 'protocol': expected mqtt or websockets, got 'websocket'"),
])
def test_bad_config_line_names_file_line_and_key(tmp_path, line, message):
    conf = tmp_path / "broker.conf"
    conf.write_text(f"# comment\nlistener {free_port()} 127.0.0.1\n{line}\n")
    result = run_parley("serve", "-c", str(conf))
    assert result.returncode == 3, result
    assert f"{conf}:3: {message}" in result.stderr


@pytest.mark.parametrize("name,text,message", [
    ("password_file", "alice:$7$101$7s/dTbRmGf9kGkkh$zjP+bqnWzkdkrpFTQzmSbjRz0zN5lXvxzFwrqLb+H7y4wB6C/geh8JR8tWUpPHexcFvbg12YYyE6QVpaaUJ/hg==\n"
     "bob:plain\n", ":2: user 'bob': the password is not hashed"),
    ("acl_file", "user alice\ntopic readwrite a/#\ntopic sometimes b\n", ":3: 'sometimes' is not an access"),
    ("acl_file", "user alice\ntopic read a/#/b\n", ":2: invalid topic filter"),
    ("acl_file", "user alice\nallow all\n", ":2: unknown keyword 'allow'"),
])
def test_bad_security_file_names_file_and_line(tmp_path, name, text, message):
    """A password or ACL file that cannot be used stops the start (exit 3), naming its line."""
    path = tmp_path / name
    path.write_text(text)
    conf = tmp_path / "broker.conf"
    conf.write_text(f"listener {free_port()} 127.0.0.1\n{name} {path}\n")
    result = run_parley("serve", "-c", str(conf), "--no-chat")
    assert result.returncode == 3, result
    assert f"{path}{message}" in result.stderr, result.stderr


def test_missing_security_file_is_a_clear_error(tmp_path):
    conf = tmp_path / "broker.conf"
    conf.write_text(f"listener {free_port()} 127.0.0.1\npassword_file {tmp_path}/absent\n")
    result = run_parley("serve", "-c", str(conf), "--no-chat")
    assert result.returncode == 3, result
    assert f"{tmp_path}/absent: cannot read" in result.stderr, result.stderr


def test_missing_config_file_is_a_clear_error(tmp_path):
    result = run_parley("serve", "-c", str(tmp_path / "absent.conf"))
    assert result.returncode == 3
    assert "absent.conf" in result.stderr


def test_ignored_keys_start_with_a_warning(tmp_path):
    port = free_port()
    conf = tmp_path / "broker.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nautosave_interval 1800\n")
    proc, log = start_parley(tmp_path, "serve", "-c", str(conf))
    try:
        wait_listening(port, proc)
        text = (tmp_path / "parley.log").read_text()
        assert "autosave_interval" in text and "warning" in text
    finally:
        proc.kill()
        proc.wait()
        log.close()


def test_help_explains_every_option():
    result = run_parley("serve", "--help")
    assert result.returncode == 0
    for option in ("-c, --config-file", "-p, --port", "--host", "-v, --verbose"):
        assert option in result.stdout


def test_port_option_without_config_file_serves_anonymous_clients(tmp_path):
    port = free_port()
    proc, log = start_parley(tmp_path, "-p", str(port), "--host", "127.0.0.1")
    try:
        wait_listening(port, proc)
        client = RawClient(Endpoint(port), proto=mp.V311)
        client.connect()
        client.close()
    finally:
        proc.kill()
        proc.wait()
        log.close()


def test_sigterm_disconnects_v5_clients_with_0x8b_and_exits_cleanly(tmp_path):
    port = free_port()
    proc, log = start_parley(tmp_path, "serve", "-p", str(port), "--host", "127.0.0.1")
    try:
        wait_listening(port, proc)
        client = RawClient(Endpoint(port), proto=mp.V5)
        client.connect()
        proc.send_signal(signal.SIGTERM)
        seen = client.wait_closed(timeout=10)
        assert [p.type for p in seen] == [mp.DISCONNECT]
        assert seen[0].body[:1] == bytes([0x8B])
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
