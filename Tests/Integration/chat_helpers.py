"""Helpers for the chat service tests (test_chat_browser.py, test_chat_instances.py).

* ``parley_bin_or_skip`` - the Parley executable from ``PARLEY_BIN``; skips the
                           calling module when the variable is unset.
* ``ChatProcess``        - ``parley serve ... --http-port`` (broker + chat) or
                           ``parley chat --broker ...`` (chat only) on free
                           127.0.0.1 ports, log captured, stopped by pid.
* ``ChatSocket``         - one page session driven over the WebSocket /ws with
                           the ``websocket-client`` package; every wait has a
                           deadline.
* ``ChatSub``            - ``mosquitto_sub -V mqttv5 -t 'chat/#' -v`` in the
                           background, waited on line by line.
* ``mosquitto_pub``      - one ``mosquitto_pub`` run.
* ``LogBundle``          - several process logs attached to a failing test's
                           report through conftest's ``_broker_process`` hook.

Like helpers.py, nothing here sleeps to wait for an event.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from helpers import DEFAULT_TIMEOUT
from processes import HOST, LineReader, ServerProcess, free_ports, mosquitto_exe

LINE_BUFFERED = ["stdbuf", "-oL"] if shutil.which("stdbuf") else []


def parley_bin_or_skip() -> Path:
    """``$PARLEY_BIN``; skip the whole calling module when it is unset."""
    value = os.environ.get("PARLEY_BIN")
    if not value:
        pytest.skip("PARLEY_BIN is not set: the chat tests need the parley executable "
                    "(make integration-test sets it)", allow_module_level=True)
    return Path(value)


# ------------------------------------------------------------------ processes

class ChatProcess(ServerProcess):
    """A parley process serving the chat page (and, with ``serve``, the broker).

    ``mode="serve"``: ``parley serve -p MQTT --host 127.0.0.1 --http-port HTTP
    --http-host 127.0.0.1`` - broker and chat in one process.
    ``mode="chat"``: ``parley chat --broker mqtt://127.0.0.1:PORT --http-port
    HTTP --http-host 127.0.0.1`` - chat only, against ``broker_port``.

    ``http_port``: serve the chat on this port (e.g. the port of an earlier
    process, to restart the chat where the pages expect it) instead of a free
    one chosen at each start attempt.
    """

    def __init__(self, exe: Path, workdir: Path, mode="serve", broker_port=None,
                 label="parley", extra_args=(), http_port=None):
        assert mode in ("serve", "chat")
        assert mode == "serve" or broker_port is not None
        workdir = Path(workdir)
        super().__init__(f"parley {mode} ({label})", workdir, workdir / f"{label}.log")
        self.exe = Path(exe)
        self.mode = mode
        self.broker_port = broker_port
        self.label = label
        self.extra_args = list(extra_args)
        self.mqtt_port = broker_port  # for serve: chosen in start()
        self.fixed_http_port = http_port
        self.http_port = http_port

    @property
    def port(self):  # conftest's report hook prints ``port``
        return self.http_port

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.http_port}/ws"

    def command(self):
        http = ["--http-port", str(self.http_port), "--http-host", self.host]
        if self.mode == "serve":
            return [str(self.exe), "serve", "-p", str(self.mqtt_port), "--host", self.host,
                    *http, *self.extra_args]
        return [str(self.exe), "chat", "--broker", f"mqtt://{self.host}:{self.broker_port}",
                *http, *self.extra_args]

    def prepare(self):
        if self.fixed_http_port is not None:
            self.http_port = self.fixed_http_port
            if self.mode == "serve":
                (self.mqtt_port,) = free_ports(1, avoid=[self.http_port])
        elif self.mode == "serve":
            self.mqtt_port, self.http_port = free_ports(2)
        else:
            (self.http_port,) = free_ports(1, avoid=[self.mqtt_port])
        ports = [self.http_port] + ([self.mqtt_port] if self.mode == "serve" else [])
        return self.command(), ports

    def start(self):
        if not self.exe.exists():
            raise RuntimeError(f"PARLEY_BIN={self.exe} does not exist (build it first)")
        return super().start()

    def __repr__(self):
        return f"<{self.name} http {self.http_port} mqtt {self.mqtt_port}>"


class LogBundle:
    """Looks like a BrokerProcess to conftest's report hook: ``name``, ``port``
    and ``read_log()``; the log is every process's log, one after another."""

    def __init__(self, name, port, *processes):
        self.name = name
        self.port = port
        self.processes = list(processes)

    def read_log(self) -> str:
        return "\n".join(f"----- {getattr(p, 'name', p)} -----\n{p.read_log()}"
                         for p in self.processes)


def attach_logs(request, name, port, *processes):
    """Make a failing test's report carry these processes' logs."""
    request.node._broker_process = LogBundle(name, port, *processes)


# ---------------------------------------------------------- mosquitto clients

@pytest.fixture
def chat(request, tmp_path):
    """``parley serve`` (broker and chat in one process) for one test, its log attached to
    the test's report."""
    process = ChatProcess(parley_bin_or_skip(), tmp_path, mode="serve", label="parley")
    attach_logs(request, "parley serve", None, process)
    process.start()
    yield process
    process.stop()


def mosquitto_pub(port, topic, message, *extra, timeout=DEFAULT_TIMEOUT):
    cmd = ["mosquitto_pub", "-h", HOST, "-p", str(port), "-V", "mqttv5",
           "-t", topic, "-m", message, *extra]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{cmd} failed: {r.stdout}{r.stderr}"


class ChatSub(LineReader):
    """``mosquitto_sub -V mqttv5 -t TOPIC -v`` running in the background.

    ``-d`` adds debug lines, so ``wait_subscribed`` can see the SUBACK before
    the test goes on; the message lines are ``TOPIC PAYLOAD`` as with ``-v``.
    Stopped by pid.
    """

    what = "mosquitto_sub"

    def __init__(self, port, topic="chat/#"):
        super().__init__([*LINE_BUFFERED, "mosquitto_sub", "-h", HOST, "-p", str(port),
                          "-V", "mqttv5", "-t", topic, "-v", "-d"])

    def wait_subscribed(self, timeout=DEFAULT_TIMEOUT):
        self.wait_line(lambda l: "received SUBACK" in l, timeout, "SUBACK")

    def wait_exact(self, line, timeout=DEFAULT_TIMEOUT):
        return self.wait_line(lambda l: l == line, timeout, repr(line))


# ------------------------------------------------------------ page sessions

class SessionClosed(AssertionError):
    pass


class ChatSocket:
    """One chat page session over the WebSocket, without a browser.

    Every frame received is kept in ``frames`` (parsed JSON objects, in
    order).  Waits read further frames until a condition holds or the deadline
    passes; nothing is read in the background, so a test sees frames in the
    order the server sent them.
    """

    def __init__(self, url, timeout=DEFAULT_TIMEOUT, label="session"):
        import websocket  # websocket-client

        self._ws_mod = websocket
        self.url = url
        self.label = label
        self.frames: list[dict] = []
        self.closed = False
        deadline = time.monotonic() + timeout
        while True:  # the HTTP port listens before the upgrade route may be ready
            try:
                self.ws = websocket.create_connection(url, timeout=timeout)
                break
            except (OSError, websocket.WebSocketException) as exc:
                if time.monotonic() >= deadline:
                    raise AssertionError(f"{label}: cannot open {url}: {exc!r}") from None
                time.sleep(0.05)
        self.name = None
        self.room = None

    # -- sending
    def send_raw(self, text: str):
        self.ws.send(text)

    def send_json(self, obj):
        self.ws.send(json.dumps(obj))

    def join(self, name, room="general", timeout=DEFAULT_TIMEOUT):
        """Send join and wait for "joined" (returns it); history/online follow."""
        mark = self.mark()
        self.send_json({"type": "join", "name": name, "room": room})
        frame = self.wait_frame(lambda f: f.get("type") == "joined", timeout,
                                f"joined as {name!r}", since=mark,
                                fail_on_error=True)
        assert frame.get("name") == name and frame.get("room") == room, frame
        self.name, self.room = name, room
        return frame

    def say(self, text):
        self.send_json({"type": "send", "text": text})

    def switch_room(self, room, timeout=DEFAULT_TIMEOUT):
        mark = self.mark()
        self.send_json({"type": "room", "room": room})
        frame = self.wait_frame(lambda f: f.get("type") == "joined" and f.get("room") == room,
                                timeout, f"joined room {room!r}", since=mark,
                                fail_on_error=True)
        self.room = room
        return frame

    def close(self):
        if not self.closed:
            self.closed = True
            try:
                self.ws.close(timeout=2)
            except Exception:
                pass

    # -- receiving
    def mark(self) -> int:
        """Index to pass as ``since=`` to look only at frames received later."""
        return len(self.frames)

    def _read_one(self, timeout):
        """Read one frame within ``timeout``; False if none came in time."""
        ws_mod = self._ws_mod
        self.ws.settimeout(max(0.001, timeout))
        try:
            data = self.ws.recv()
        except ws_mod.WebSocketTimeoutException:
            return False
        except socket.timeout:
            return False
        except (ws_mod.WebSocketConnectionClosedException, ConnectionError, OSError) as exc:
            self.closed = True
            raise SessionClosed(f"{self.label}: the server closed the session ({exc!r}); "
                                f"last frames: {self.frames[-10:]}") from None
        if data == "" and not self.ws.connected:
            self.closed = True
            raise SessionClosed(f"{self.label}: the server closed the session; "
                                f"last frames: {self.frames[-10:]}")
        if isinstance(data, bytes):
            data = data.decode("utf-8", "replace")
        try:
            frame = json.loads(data)
        except ValueError:
            raise AssertionError(f"{self.label}: server sent a frame that is not JSON: "
                                 f"{data[:200]!r}") from None
        assert isinstance(frame, dict) and "type" in frame, \
            f"{self.label}: frame without a type: {frame!r}"
        self.frames.append(frame)
        return True

    def wait(self, condition, timeout=DEFAULT_TIMEOUT, what="condition"):
        """Read frames until ``condition()`` is truthy; return its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{self.label}: timed out after {timeout}s waiting for "
                                     f"{what}; last frames: {self.frames[-15:]}")
            self._read_one(remaining)

    def find(self, predicate, since=0):
        for frame in self.frames[since:]:
            if predicate(frame):
                return frame
        return None

    def wait_frame(self, predicate, timeout=DEFAULT_TIMEOUT, what="frame", since=0,
                   fail_on_error=False):
        """The first frame (from index ``since``) matching ``predicate``.

        With ``fail_on_error`` an error frame arriving first fails at once
        with the server's message."""
        def check():
            for frame in self.frames[since:]:
                if predicate(frame):
                    return frame
                if fail_on_error and frame.get("type") == "error":
                    raise AssertionError(f"{self.label}: server answered an error while "
                                         f"waiting for {what}: {frame}")
            return None
        return self.wait(check, timeout, what)

    def wait_error(self, since, timeout=DEFAULT_TIMEOUT, what="an error frame"):
        frame = self.wait_frame(lambda f: f.get("type") == "error", timeout, what, since)
        assert isinstance(frame.get("message"), str) and frame["message"], frame
        return frame

    def drain(self, quiet=0.3):
        """Read whatever arrives until ``quiet`` seconds pass without a frame
        (bounded grace period after a barrier, like helpers.sync)."""
        while self._read_one(quiet):
            pass

    # -- the page's view of the session
    def messages(self):
        """The message list as the page shows it: "history" replaces it,
        "message" appends to it."""
        shown = []
        for frame in self.frames:
            if frame.get("type") == "history":
                shown = list(frame.get("messages", []))
            elif frame.get("type") == "message":
                shown.append(frame)
        return shown

    def online(self):
        """Who is online in the page's room, as the page shows it: the last "online"
        frame (the whole list, sent on entering a room) with the "presence" changes
        after it applied; sorted.  None before any list."""
        current, room = None, None
        for frame in self.frames:
            kind = frame.get("type")
            if kind == "joined":
                current, room = None, frame.get("room")
            elif kind == "online" and frame.get("room") in (None, room):
                current = list(frame.get("users") or [])
            elif kind == "presence" and current is not None and frame.get("room") == room:
                left = set(frame.get("left") or [])
                current = [u for u in current if u not in left]
                current += [u for u in frame.get("joined") or [] if u not in current]
        return None if current is None else sorted(current)

    def wait_message(self, user, text, kind="chat", timeout=DEFAULT_TIMEOUT):
        def shown():
            for m in self.messages():
                if m.get("user") == user and m.get("text") == text and m.get("kind") == kind:
                    return m
            return None
        return self.wait(shown, timeout, f"{kind} message {user}: {text!r}")

    def wait_online(self, users, timeout=DEFAULT_TIMEOUT):
        users = sorted(users)
        return self.wait(lambda: self.online() == users or None, timeout,
                         f"online list {users}")

    def count_messages(self, user, text, kind="chat"):
        return sum(1 for m in self.messages()
                   if m.get("user") == user and m.get("text") == text and m.get("kind") == kind)


def ensure(path_or_cmd: str, package: str):
    """Fail (not skip) when a tool CI installs is missing."""
    if not (shutil.which(path_or_cmd) or Path(path_or_cmd).exists()):
        pytest.fail(f"{path_or_cmd} not found: install the Debian package {package} "
                    f"(scripts/install-deps.sh test)")


__all__ = ["ChatProcess", "ChatSocket", "ChatSub", "LogBundle", "SessionClosed",
           "attach_logs", "ensure", "mosquitto_exe", "mosquitto_pub", "parley_bin_or_skip",
           "HOST"]
