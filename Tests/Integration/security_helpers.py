"""Brokers with password and ACL files, for the security suites.

The files live in a folder the ``mosquitto`` user can read: Debian's broker,
started as root, drops to that user before it reads them.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import _broker_names
from helpers import V5, MqttClient, RawClient, wait_until
from processes import ConfiguredBroker, parley_exe, port_open

NOT_AUTHORIZED_V3 = 5
NOT_AUTHORIZED = 0x87
BAD_CREDENTIALS_V5 = (0x86, 0x87)


class SecuredBroker(ConfiguredBroker):
    """A broker whose file says nothing about anonymous clients unless told:
    ``lines`` follow only the ``listener`` line."""

    def config_lines(self):
        return [f"listener {self.port} {self.host}", *self.lines]

    def reload(self):
        """SIGHUP, as an operator would send after editing a file."""
        os.kill(self.proc.pid, signal.SIGHUP)


class SecurityFiles:
    """A readable folder holding password and ACL files."""

    def __init__(self):
        self.path = Path(tempfile.mkdtemp(prefix="parley-security-"))
        os.chmod(self.path, 0o755)

    def write(self, name: str, text: str) -> Path:
        path = self.path / name
        path.write_text(text)
        os.chmod(path, 0o644)
        return path

    def _passwd(self, name: str, users: dict, command: list) -> Path:
        path = self.path / name
        for index, (user, password) in enumerate(users.items()):
            create = ["-c"] if index == 0 else []
            subprocess.run([*command, *create, "-b", str(path), user, password],
                           check=True, capture_output=True, timeout=30)
        os.chmod(path, 0o644)
        return path

    def mosquitto_passwd(self, name: str, users: dict) -> Path:
        """A password file made by Debian's ``mosquitto_passwd``."""
        return self._passwd(name, users, ["mosquitto_passwd"])

    def parley_passwd(self, name: str, users: dict) -> Path:
        """A password file made by ``parley passwd``."""
        return self._passwd(name, users, [parley_exe(), "passwd"])

    def cleanup(self):
        shutil.rmtree(self.path, ignore_errors=True)


def need_mosquitto_passwd():
    if not shutil.which("mosquitto_passwd"):
        pytest.skip("mosquitto_passwd not installed")


@pytest.fixture
def files():
    made = SecurityFiles()
    yield made
    made.cleanup()


@pytest.fixture(params=_broker_names())
def secured(request, tmp_path):
    """Factory: ``secured(*lines)`` starts the broker with only a listener
    line and ``lines`` in its configuration."""
    started = []

    def start(*lines):
        b = SecuredBroker(request.param, tmp_path, f"secured{len(started)}", lines)
        b.start()
        started.append(b)
        request.node._broker_process = b
        return b

    yield start
    for b in started:
        b.stop(wait=False)


@pytest.fixture
def client():
    """Factory: ``client(broker, proto, user, password)`` -> unconnected MqttClient."""
    made = []

    def make(broker, proto=V5, user=None, password=None, client_id=None):
        c = MqttClient(broker, proto, client_id)
        if user is not None:
            c.client.username_pw_set(user, password)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def refusal(broker, proto, user=None, password=None, will=None):
    """The CONNACK code a raw CONNECT gets."""
    raw = RawClient(broker, proto)
    try:
        kw = {}
        if user is not None:
            kw["username"] = user
        if password is not None:
            kw["password"] = password.encode()
        return raw.connect(expect_reason=None, will=will, **kw).reason
    finally:
        raw.close()


class Certificates:
    """A test CA with a server certificate for localhost/127.0.0.1, client
    certificates, and a foreign CA nobody trusts; made with the openssl
    command, readable by the ``mosquitto`` user."""

    def __init__(self, files: SecurityFiles):
        self.files = files
        self.dir = files.path
        self.ca = self._authority("ca", "Parley Test CA")
        self.foreign_ca = self._authority("foreign-ca", "Someone Else's CA")
        self.server_cert, self.server_key = self.issue("server", "/CN=localhost",
                                                       "subjectAltName=DNS:localhost,IP:127.0.0.1")
        self.client_cert, self.client_key = self.issue("client", "/C=GB/O=Example/CN=device-1")

    def _openssl(self, *args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60, cwd=self.dir)

    def _authority(self, name, common_name):
        self._openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
                      "-out", f"{name}.crt", "-days", "2", "-subj", f"/CN={common_name}")
        return self.dir / f"{name}.crt"

    def issue(self, name, subject, extension=None, authority="ca"):
        """A certificate signed by ``authority``; returns (certificate, key) paths."""
        self._openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
                      "-out", f"{name}.csr", "-subj", subject)
        args = ["x509", "-req", "-in", f"{name}.csr", "-CA", f"{authority}.crt", "-CAkey", f"{authority}.key",
                "-CAcreateserial", "-out", f"{name}.crt", "-days", "2"]
        if extension:
            (self.dir / f"{name}.ext").write_text(extension + "\n")
            args += ["-extfile", f"{name}.ext"]
        self._openssl(*args)
        for suffix in ("crt", "key"):
            os.chmod(self.dir / f"{name}.{suffix}", 0o644)
        return self.dir / f"{name}.crt", self.dir / f"{name}.key"

    def listener_lines(self, port=None, *extra):
        lines = [f"listener {port} 127.0.0.1"] if port else []
        return lines + [f"certfile {self.server_cert}", f"keyfile {self.server_key}", *extra]


@pytest.fixture
def certificates(files):
    if not shutil.which("openssl"):
        pytest.skip("openssl not installed")
    return Certificates(files)


class Endpoint:
    """Another listener of a running broker, for clients that take a broker;
    waits until it accepts connections."""

    def __init__(self, broker, port):
        self.name, self.host, self.port = broker.name, broker.host, port
        wait_until(lambda: port_open(port), what=f"port {port}")
