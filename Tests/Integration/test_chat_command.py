"""The `parley` command's chat options: --no-chat, --http-port, http_listener,
`parley chat --broker`, help texts, and the goodbye pages get on SIGTERM.

Every process runs on free 127.0.0.1 ports, is stopped by pid, and every wait
has a deadline.  Which sockets a process listens on is read from /proc (its
socket inodes matched against /proc/net/tcp{,6}), so "serves nothing over
HTTP" is checked directly rather than by probing a port something else might
hold.

Skipped only when PARLEY_BIN is unset, like the other chat tests.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

import mqtt_packets as mp
from chat_helpers import (HOST, ChatProcess, ChatSocket, ChatSub, SessionClosed, attach_logs,
                          ensure, parley_bin_or_skip)
from conftest import STOP_DEADLINE, free_port
from helpers import RawClient, unique, wait_until
from processes import ServerProcess, free_ports

PARLEY = parley_bin_or_skip()

TIMEOUT = 10.0
# After a barrier (the broker answered a CONNECT), how long a chat that should
# not exist gets to show up anyway before we call it absent.
QUIET_PERIOD = 0.5
# `parley chat` against a dead broker must give up, not retry forever.
GIVE_UP_DEADLINE = 20.0


class Endpoint:
    host = HOST

    def __init__(self, port):
        self.port = port


def run_parley(*args, timeout=TIMEOUT):
    return subprocess.run([str(PARLEY), *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout)


def listening(pid):
    """{(address, port)} of the TCP sockets process ``pid`` listens on."""
    inodes = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    for fd in fd_dir.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state != "0A" or inode not in inodes:  # 0A = LISTEN
                continue
            address, port = local.split(":")
            if len(address) == 8:  # IPv4, little-endian
                address = socket.inet_ntoa(bytes.fromhex(address)[::-1])
            else:
                address = "ipv6:" + address
            found.add((address, int(port, 16)))
    return found


def get_page(port):
    with urllib.request.urlopen(f"http://{HOST}:{port}/", timeout=TIMEOUT) as response:
        return response.status, response.read().decode("utf-8", "replace")


def assert_serves_the_page(port):
    status, body = get_page(port)
    assert status == 200, status
    assert "<title>Parley chat</title>" in body, body[:300]


class ParleyProcess(ServerProcess):
    """One parley process with its log; started on fresh ports, stopped by pid."""

    def __init__(self, workdir: Path, label: str):
        workdir = Path(workdir)
        super().__init__(f"parley ({label})", workdir, workdir / f"{label}.log")
        self.label = label
        self.port = None  # for conftest's report hook
        self._build = None

    def start(self, build, attempts=3):
        """``build()`` picks ports and returns ``(args, ports_to_wait_for)``.
        Called again for each start attempt, so a taken port is not retried."""
        self._build = build
        self.attempts = attempts
        return super().start()

    def prepare(self):
        args, ports = self._build()
        self.port = ports[0]
        return [PARLEY, *args], ports

    def listening(self):
        return listening(self.proc.pid)


@pytest.fixture
def parley(request, tmp_path):
    """Factory: ``parley(label)`` -> ParleyProcess (not started); all stopped
    at teardown, their logs attached to a failing report."""
    made = []

    def make(label="parley"):
        p = ParleyProcess(tmp_path, label)
        made.append(p)
        attach_logs(request, "parley", None, *made)
        return p

    yield make
    for p in made:
        p.stop()


def mqtt_round_trip(port):
    """CONNECT/CONNACK with the broker: it is up and serving clients."""
    client = RawClient(Endpoint(port), proto=mp.V5)
    try:
        client.connect()
    finally:
        client.close()


# ---------------------------------------------------------------- --no-chat

def test_no_chat_runs_only_the_broker_and_needs_no_http_port(parley, tmp_path):
    """Two `serve --no-chat` instances side by side: both run (they do not
    both want the default HTTP port 8080), each listens on its MQTT port and
    nothing else, and neither logs a chat."""
    instances = []
    for label in ("no-chat-1", "no-chat-2"):
        p = parley(label)

        def build():
            (port,) = free_ports(1)
            return ["serve", "-p", port, "--host", HOST, "--no-chat"], [port]

        instances.append(p.start(build))

    for p in instances:
        mqtt_round_trip(p.port)
    # Absence of a chat: give it a bounded moment after the barrier above.
    deadline = time.monotonic() + QUIET_PERIOD
    while time.monotonic() < deadline:
        for p in instances:
            assert p.is_running(), f"{p.name} exited with {p.proc.returncode}:\n{p.read_log()}"
            assert p.listening() == {(HOST, p.port)}, \
                f"{p.name} listens on {sorted(p.listening())}, wanted only MQTT {p.port}"
        time.sleep(0.05)
    for p in instances:
        log = p.read_log()
        assert "chat on http" not in log, log
        assert "listening on" in log, log  # the broker did log its listener


@pytest.mark.parametrize("extra", [["--http-port", "8089"], ["--http-host", HOST],
                                   ["--http-port", "8089", "--http-host", HOST]])
def test_no_chat_with_http_options_is_refused(extra):
    result = run_parley("serve", "-p", str(free_port()), "--host", HOST, "--no-chat", *extra)
    assert result.returncode == 64, result
    assert "--no-chat" in result.stderr, result.stderr


# ----------------------------------------------------- http_listener / --http-port

def test_http_listener_in_the_config_file_serves_the_chat(parley, tmp_path):
    conf = tmp_path / "parley.conf"
    p = parley("http-listener")

    def build():
        mqtt_port, http_port = free_ports(2)
        conf.write_text(f"listener {mqtt_port} {HOST}\nallow_anonymous true\n"
                        f"http_listener {http_port} {HOST}\n")
        return ["serve", "-c", conf], [mqtt_port, http_port]

    p.start(build)
    mqtt_port = p.port
    http_port = int(conf.read_text().split("http_listener ")[1].split()[0])
    assert_serves_the_page(http_port)
    assert p.listening() == {(HOST, mqtt_port), (HOST, http_port)}
    # The page's WebSocket works too: the chat reaches this broker.
    session = ChatSocket(f"ws://{HOST}:{http_port}/ws", TIMEOUT, "session")
    try:
        session.join(unique("conf"))
    finally:
        session.close()
    assert f"chat on http://{HOST}:{http_port}" in p.read_log()


def test_http_port_option_overrides_http_listener(parley, tmp_path):
    """The file's http_listener port is held by the test: if parley used it,
    it could not start.  The address still comes from the file."""
    conf = tmp_path / "parley.conf"
    p = parley("http-port-override")
    held = []

    def build():
        for s in held:
            s.close()
        held.clear()
        mqtt_port, file_port, option_port = free_ports(3)
        blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        blocker.bind((HOST, file_port))
        blocker.listen()
        held.append(blocker)
        conf.write_text(f"listener {mqtt_port} {HOST}\nallow_anonymous true\n"
                        f"http_listener {file_port} {HOST}\n")
        return ["serve", "-c", conf, "--http-port", option_port], [mqtt_port, option_port]

    try:
        p.start(build)
        option_port = int(p.proc.args[p.proc.args.index("--http-port") + 1])
        assert_serves_the_page(option_port)
        assert p.listening() == {(HOST, p.port), (HOST, option_port)}, \
            f"listens on {sorted(p.listening())}"
        assert p.is_running()
    finally:
        for s in held:
            s.close()


@pytest.mark.parametrize("value", ["99999", "0", "abc", ""])
def test_bad_http_listener_names_file_line_and_key(tmp_path, value):
    conf = tmp_path / "broker.conf"
    conf.write_text(f"listener {free_port()} {HOST}\nallow_anonymous true\n"
                    f"http_listener {value}\n")
    result = run_parley("serve", "-c", str(conf))
    assert result.returncode == 3, result
    assert f"{conf}:3: key 'http_listener'" in result.stderr, result.stderr
    if value:
        assert value in result.stderr, result.stderr


# ------------------------------------------------------------- parley chat

def test_chat_without_a_reachable_broker_exits_1_naming_the_broker():
    dead_port, http_port = free_ports(2)  # nothing listens on dead_port
    url = f"mqtt://{HOST}:{dead_port}"
    started = time.monotonic()
    result = run_parley("chat", "--broker", url, "--http-port", str(http_port),
                        "--http-host", HOST, timeout=GIVE_UP_DEADLINE)
    assert result.returncode == 1, result
    assert url in result.stdout + result.stderr, result
    assert time.monotonic() - started < GIVE_UP_DEADLINE


# -------------------------------------------------------------------- help

@pytest.mark.parametrize("command", [[], ["serve"]])
def test_help_mentions_the_chat_options(command):
    result = run_parley(*command, "--help")
    assert result.returncode == 0, result
    for option in ("--http-port", "--no-chat"):
        assert option in result.stdout, \
            f"`parley {' '.join(command + ['--help'])}` does not mention {option}:\n{result.stdout}"


def test_chat_help_mentions_broker():
    result = run_parley("chat", "--help")
    assert result.returncode == 0, result
    for option in ("--broker", "--http-port", "--http-host"):
        assert option in result.stdout, result.stdout


def test_chat_help_has_no_stray_backslashes():
    """Line continuations in the help text must not show up as text."""
    result = run_parley("chat", "--help")
    assert result.returncode == 0, result
    assert "\\" not in result.stdout, result.stdout


# ----------------------------------------------------------------- SIGTERM

@pytest.fixture
def serve_with_sub(request, tmp_path):
    """``parley serve -p MQTT --http-port HTTP`` plus ``mosquitto_sub -t 'chat/#'``
    on its broker; page sessions made with ``session(label)`` are closed at
    teardown."""
    ensure("mosquitto_sub", "mosquitto-clients")
    server = ChatProcess(PARLEY, tmp_path, mode="serve", label="parley-serve")
    attach_logs(request, "parley serve (broker + chat)", None, server)
    sessions = []
    sub = None

    class Setup:
        pass

    setup = Setup()
    setup.server = server

    def session(label):
        s = ChatSocket(server.ws_url, TIMEOUT, label)
        sessions.append(s)
        return s

    setup.session = session
    try:
        server.start()
        sub = ChatSub(server.mqtt_port, "chat/#")
        sub.wait_subscribed()
        setup.sub = sub
        yield setup
    finally:
        for s in sessions:
            s.close()
        if sub is not None:
            sub.stop()
        server.stop()


def wait_exit(proc, started, deadline):
    try:
        code = proc.wait(max(0.0, started + deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        pytest.fail(f"parley did not exit within {deadline}s of SIGTERM")
    return code


def test_sigterm_says_goodbye_for_every_joined_session_and_exits_0(serve_with_sub):
    server, sub = serve_with_sub.server, serve_with_sub.sub
    alice_name, bob_name = unique("alice"), unique("bob")
    alice = serve_with_sub.session("alice")
    alice.join(alice_name)
    bob = serve_with_sub.session("bob")
    bob.join(bob_name, room="random")
    sub.wait_exact(f"chat/general {alice_name} has joined the chat.", TIMEOUT)
    sub.wait_exact(f"chat/random {bob_name} has joined the chat.", TIMEOUT)

    started = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    # The server closes the page sessions; the sessions keep reading, as a
    # page does, so the close handshake completes.
    for s in (alice, bob):
        with pytest.raises(SessionClosed):
            s.wait(lambda: False, STOP_DEADLINE, "the server to close the session")
    assert wait_exit(server.proc, started, STOP_DEADLINE) == 0

    sub.wait_exact(f"chat/general {alice_name} has left the chat.", TIMEOUT)
    sub.wait_exact(f"chat/random {bob_name} has left the chat.", TIMEOUT)


def test_sigterm_exits_even_if_a_page_never_answers_the_close(serve_with_sub):
    """A page session that stops reading (a frozen tab, a peer gone without a
    FIN) must not keep parley from stopping: the close handshake needs a
    deadline."""
    server = serve_with_sub.server
    silent = serve_with_sub.session("silent")
    silent.join(unique("silent"))
    serve_with_sub.sub.wait_exact(f"chat/general {silent.name} has joined the chat.", TIMEOUT)
    started = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    # ``silent`` reads nothing from here on.
    assert wait_exit(server.proc, started, 2 * STOP_DEADLINE) == 0
