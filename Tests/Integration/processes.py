"""Processes the integration tests start themselves, in one place.

* ``ServerProcess``   - a server on free 127.0.0.1 ports: started with its
                        output in a log file, waited for until its ports
                        accept connections, stopped by pid (SIGTERM, then
                        SIGKILL past a deadline).  Subclasses say which ports
                        and which command.
* ``ConfiguredBroker``- a ``ServerProcess`` for ``parley serve -c FILE
                        --no-chat`` or ``mosquitto -c FILE``.
* ``LineReader``      - a short-lived command whose output is read line by
                        line in the background and waited on.
* ``free_port``, ``free_ports``, ``port_open``, and the reaper of processes
  stopped without waiting (``reap_stopping``).

Nothing here sleeps to wait for an event: every wait polls a condition with
a deadline.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

from helpers import DEFAULT_TIMEOUT

HOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PARLEY_BIN = REPO_ROOT / ".build" / "debug" / "parley"
START_DEADLINE = 10.0
STOP_DEADLINE = 5.0
# A free port can be taken between choosing it and the server binding it.
START_ATTEMPTS = 3


def parley_exe() -> str:
    return os.environ.get("PARLEY_BIN", str(DEFAULT_PARLEY_BIN))


def mosquitto_exe() -> str:
    return os.environ.get("MOSQUITTO_BIN") or shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def free_ports(n, avoid=()):
    """``n`` distinct free ports, none of them in ``avoid``."""
    ports = []
    while len(ports) < n:
        p = free_port()
        if p not in ports and p not in avoid:
            ports.append(p)
    return ports


def port_open(port, host=HOST) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


# Processes sent SIGTERM by ``stop(wait=False)``: (proc, deadline).  Lets a
# test end without waiting for its server's shutdown while the deadline still
# holds (enforced by the next ``reap_stopping``, at the latest at session end).
_stopping = []


def terminate_and_reap(proc, deadline):
    try:
        proc.wait(max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        proc.kill()  # ignored SIGTERM for too long
        proc.wait(STOP_DEADLINE)


def reap_stopping(block=False):
    """Collect exited processes; SIGKILL those past their deadline."""
    still = []
    for proc, deadline in _stopping:
        if proc.poll() is not None:
            continue
        if block or time.monotonic() >= deadline:
            terminate_and_reap(proc, deadline)
        else:
            still.append((proc, deadline))
    _stopping[:] = still


class ServerProcess:
    """A server process: subclasses implement ``prepare`` (choose ports, write
    files; return the command and the ports to wait for)."""

    host = HOST
    attempts = START_ATTEMPTS

    def __init__(self, name, workdir: Path, log_path: Path):
        self.name = name
        self.workdir = Path(workdir)
        self.log_path = Path(log_path)
        self.proc = None
        self._log_file = None

    def prepare(self):
        raise NotImplementedError

    def banner(self, command) -> str:
        return " ".join(command)

    def failure_details(self) -> str:
        """Text (ending in a newline) to show before the log when start fails."""
        return ""

    def start_failed(self):
        """Called after each failed start attempt, once the process is stopped."""

    def start(self):
        last_error = None
        for _attempt in range(self.attempts):
            command, ports = self.prepare()
            command = [str(c) for c in command]
            self._log_file = open(self.log_path, "ab")
            self._log_file.write(f"=== {self.banner(command)}\n".encode())
            self._log_file.flush()
            self.proc = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=self._log_file,
                stderr=subprocess.STDOUT, cwd=self.workdir, start_new_session=True)
            try:
                self.wait_listening(ports)
                return self
            except RuntimeError as exc:
                last_error = exc
                self.stop()
                self.start_failed()
        raise RuntimeError(f"{last_error}\n{self.failure_details()}"
                           f"--- log ---\n{self.read_log()}")

    def wait_listening(self, ports):
        deadline = time.monotonic() + START_DEADLINE
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode} "
                                   f"during startup")
            if all(port_open(p, self.host) for p in ports):
                return
            if time.monotonic() >= deadline:
                shown = ports[0] if len(ports) == 1 else ports
                raise RuntimeError(f"{self.name} did not listen on {shown} "
                                   f"within {START_DEADLINE}s")
            time.sleep(0.02)

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, wait=True):
        """SIGTERM by pid; SIGKILL past the deadline.  ``wait=False`` hands the
        process to the reaper instead of making the caller wait for it."""
        if self.is_running():
            self.proc.send_signal(signal.SIGTERM)
            if wait:
                terminate_and_reap(self.proc, time.monotonic() + STOP_DEADLINE)
            else:
                _stopping.append((self.proc, time.monotonic() + STOP_DEADLINE))
        self._close_log()

    def kill(self):
        """SIGKILL (by pid): no clean shutdown, e.g. so a broker publishes wills."""
        if self.is_running():
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(STOP_DEADLINE)
        self._close_log()

    def _close_log(self):
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def read_log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return "<no log>"

    def __repr__(self):
        return f"<{self.name} {self.host}:{getattr(self, 'port', None)}>"


class ConfiguredBroker(ServerProcess):
    """``kind`` ("parley" or "mosquitto") with a Mosquitto-syntax config file.

    ``lines`` follow ``listener PORT 127.0.0.1`` and ``allow_anonymous true``.
    With ``port`` the broker always listens there and a start is tried once;
    otherwise a free port is chosen at the first start and kept for restarts.
    """

    def __init__(self, kind, workdir: Path, label, lines=(), port=None, name=None):
        assert kind in ("parley", "mosquitto")
        workdir = Path(workdir)
        super().__init__(name or kind, workdir, workdir / f"{label}.log")
        self.kind = kind
        self.label = label
        self.lines = list(lines)
        self.fixed_port = port
        self.port = port
        self.conf_path = workdir / f"{label}.conf"

    @property
    def attempts(self):
        return 1 if self.fixed_port is not None else START_ATTEMPTS  # a taken port stays taken

    def command(self):
        if self.kind == "mosquitto":
            return [mosquitto_exe(), "-c", str(self.conf_path)]
        # The broker alone: the chat (on by default) is tested by the chat suites.
        return [parley_exe(), "serve", "-c", str(self.conf_path), "--no-chat"]

    def config_lines(self):
        return [f"listener {self.port} {self.host}", "allow_anonymous true", *self.lines]

    def prepare(self):
        self.port = self.fixed_port if self.fixed_port is not None else free_port()
        self.conf_path.write_text("\n".join(self.config_lines()) + "\n")
        return self.command(), [self.port]

    def banner(self, command):
        return f"{super().banner(command)} (port {self.port})"

    def failure_details(self):
        return f"--- config ---\n{self.conf_path.read_text()}"

    def start(self):
        super().start()
        # A restarted broker must come back where its clients and bridges expect it.
        self.fixed_port = self.port
        return self

    def start_failed(self):
        if self.fixed_port is None:
            self.port = None


class LineReader:
    """``cmd`` running in the background, its output (stdout and stderr)
    collected line by line so a test can wait for a line."""

    what = "the command"

    def __init__(self, cmd):
        self.cmd = cmd
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, text=True)
        self.lines: list[str | None] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self.lines.append(None)  # EOF
            self._cond.notify_all()

    def wait_line(self, predicate, timeout=DEFAULT_TIMEOUT, what="a line"):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines:
                    if line is not None and predicate(line):
                        return line
                if None in self.lines:
                    raise AssertionError(f"{self.what} ended while waiting for {what}: "
                                         f"{self.lines[-30:]}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out after {timeout}s waiting for {what}; "
                                         f"{self.what} output: {self.lines[-30:]}")
                self._cond.wait(remaining)

    def stop(self):
        """SIGTERM by pid; SIGKILL past the deadline."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            terminate_and_reap(self.proc, time.monotonic() + STOP_DEADLINE)
        self._reader.join(2)
