"""Debian's Mosquitto configuration runs under Parley unchanged: the stock
/etc/mosquitto/mosquitto.conf (pid_file, persistence, log_dest file,
include_dir /etc/mosquitto/conf.d) and files dropped into conf.d."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from helpers import V5, MqttClient, unique, wait_until
from processes import free_port
from security_helpers import SecurityFiles
from test_parley_command import PARLEY, start_parley, wait_listening

STOCK = Path("/etc/mosquitto/mosquitto.conf")

pytestmark = pytest.mark.skipif(not PARLEY.exists(), reason=f"Parley binary {PARLEY} not built")


class Local:
    name, host = "parley", "127.0.0.1"

    def __init__(self, port):
        self.port = port


def port_free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def stop(proc, log):
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=20)
    log.close()


def test_stock_debian_file_runs_unchanged(tmp_path):
    """No listener in the file: local-only on 127.0.0.1:1883 with anonymous
    clients, as Mosquitto 2.0 does; the pid file is written and removed."""
    if not STOCK.exists():
        pytest.skip("Debian's mosquitto package is not installed")
    if os.geteuid() != 0:
        pytest.skip("the stock file writes under /run and /var/log")
    if not port_free(1883):
        pytest.skip("port 1883 is taken (a Mosquitto service?)")
    text = STOCK.read_text()
    assert "include_dir /etc/mosquitto/conf.d" in text
    proc, log = start_parley(tmp_path, "serve", "-c", str(STOCK), "--no-chat")
    pid_file = Path("/run/mosquitto/mosquitto.pid")
    try:
        wait_listening(1883, proc)
        assert pid_file.read_text() == str(proc.pid)
        c = MqttClient(Local(1883), V5)
        try:
            c.connect()
            topic = unique("debian")
            c.subscribe(topic, 1)
            c.publish(topic, b"stock", 1)
            assert c.messages.wait_for(1)[0].payload == b"stock"
        finally:
            c.close()
    finally:
        stop(proc, log)
    assert proc.returncode == 0, (tmp_path / "parley.log").read_text()
    assert not pid_file.exists()


def test_conf_d_files_are_read_in_order(tmp_path):
    """A copy of the Debian layout: the main file includes conf.d, whose files
    (read by name) add a listener with passwords."""
    files = SecurityFiles()
    try:
        conf_d = tmp_path / "conf.d"
        conf_d.mkdir()
        port = free_port()
        passwords = files.parley_passwd("passwd", {"alice": "pw"})
        (tmp_path / "mosquitto.conf").write_text(
            f"pid_file {tmp_path}/run/mosquitto.pid\npersistence true\n"
            f"persistence_location {tmp_path}/lib/\nlog_dest file {tmp_path}/mosquitto.log\n"
            f"include_dir {conf_d}\n")
        (conf_d / "README").write_text("not a .conf file: ignored\n")
        (conf_d / "10-listener.conf").write_text(f"listener {port} 127.0.0.1\n")
        (conf_d / "20-auth.conf").write_text(f"allow_anonymous false\npassword_file {passwords}\n")
        (conf_d / "old.conf.dpkg-old").write_text("bogus\n")
        proc, log = start_parley(tmp_path, "serve", "-c", str(tmp_path / "mosquitto.conf"), "--no-chat")
        try:
            wait_listening(port, proc)
            assert (tmp_path / "run" / "mosquitto.pid").read_text() == str(proc.pid)
            anonymous = MqttClient(Local(port), V5)
            code = anonymous.connect(expect_success=False)[0]
            anonymous.close()
            assert code.is_failure
            alice = MqttClient(Local(port), V5)
            alice.client.username_pw_set("alice", "pw")
            alice.connect()
            alice.close()
            wait_until(lambda: "listening on" in (tmp_path / "mosquitto.log").read_text(), what="the log file")
        finally:
            stop(proc, log)
        assert not (tmp_path / "run" / "mosquitto.pid").exists()
    finally:
        files.cleanup()
