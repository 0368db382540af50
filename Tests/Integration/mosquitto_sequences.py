#!/usr/bin/env python3
"""Mosquitto's packet-level broker test data, run against any broker.

Eclipse Mosquitto ships its broker's expected answers as JSON
(``test/broker/data/*.json`` in its source tree, from 2.0.12 on): per case, the
bytes a client sends, the bytes it must get back and whether the broker must
close the connection afterwards. The data is not part of this repository;
point at it with one of

* ``MOSQUITTO_TEST_DATA``: a folder holding those JSON files;
* ``MOSQUITTO_SOURCE``: a Mosquitto checkout, or a bare git directory of one
  (``MOSQUITTO_REF`` picks the commit, default ``HEAD``).

Each case runs the way Mosquitto's own ``msg_sequence_test.py`` runs it, on
one broker, in file order, so cases that build on earlier ones work:

* unless ``"connect": false``, a CONNECT first (client id = group and case
  name, keep alive 60, clean session; MQTT 5 adds Receive Maximum 20), and
  its CONNACK expected (MQTT 5: Topic Alias Maximum 10, Receive Maximum 20);
* ``send`` writes bytes; ``recv`` reads whole packets and compares bytes;
  ``publish`` has a helper client publish a message at the given QoS;
* at the end, a case expecting a disconnect must see the connection closed
  without any more bytes within the timeout; any other must answer PINGREQ.

Two differences from Mosquitto's runner, both about reading, not what is
expected: packets are read whole (so a longer answer is reported as such
rather than cut at the expected length), and the properties of an MQTT 5
CONNACK are compared as a set, since their order carries no meaning.

As a program: ``mosquitto_sequences.py --port N`` runs every case against a
broker on 127.0.0.1:N and prints the failures and a count.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

DATA_PATH = "test/broker/data"
TIMEOUT = 2.0


@dataclass
class Case:
    group: str
    name: str
    version: int
    connect: bool
    expect_disconnect: bool
    steps: list = field(default_factory=list)
    # The data repeats a few titles; the second one is told apart as "TITLE (2)".
    key: str = ""

    @property
    def title(self):
        return f"{self.group} {self.name}"


class CaseFailed(Exception):
    pass


# -- where the data comes from

def data_files():
    """``{file name: JSON text}`` from the environment, or None when unset; LookupError when
    the source named holds no data."""
    folder = os.environ.get("MOSQUITTO_TEST_DATA")
    if folder:
        return {p.name: p.read_text() for p in sorted(Path(folder).glob("*.json"))}
    source = os.environ.get("MOSQUITTO_SOURCE")
    if not source:
        return None
    checked_out = Path(source) / DATA_PATH
    if checked_out.is_dir() and "MOSQUITTO_REF" not in os.environ:
        return {p.name: p.read_text() for p in sorted(checked_out.glob("*.json"))}
    ref = os.environ.get("MOSQUITTO_REF", "HEAD")
    listing = subprocess.run(["git", "-C", source, "ls-tree", "--name-only", f"{ref}:{DATA_PATH}"],
                             capture_output=True, text=True)
    if listing.returncode != 0:
        raise LookupError(f"no {DATA_PATH} at {ref} in {source} (Mosquitto has it from 2.0.12 on): "
                          f"{listing.stderr.strip()}")
    names = listing.stdout.split()
    return {name: subprocess.run(["git", "-C", source, "show", f"{ref}:{DATA_PATH}/{name}"],
                                 check=True, capture_output=True, text=True).stdout
            for name in sorted(names) if name.endswith(".json")}


def cases_from_environment():
    """(cases, None), or (None, why there are none)."""
    try:
        files = data_files()
    except LookupError as error:
        return None, str(error)
    if not files:
        return None, "Mosquitto's test data not given: set MOSQUITTO_TEST_DATA or MOSQUITTO_SOURCE"
    return load_cases(files), None


def load_cases(files):
    cases, seen = [], {}
    for name in sorted(files):
        for group in json.loads(files[name]):
            if group.get("disable"):
                continue
            for test in group["tests"]:
                case = Case(group["group"], test["name"], test.get("ver", 4),
                            test.get("connect", True), test.get("expect_disconnect", True),
                            test["msgs"])
                seen[case.title] = seen.get(case.title, 0) + 1
                case.key = case.title if seen[case.title] == 1 else f"{case.title} ({seen[case.title]})"
                cases.append(case)
    return cases


# -- packets

def remaining_length(value):
    out = bytearray()
    while True:
        byte, value = value % 128, value // 128
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def string(text):
    raw = text.encode()
    return len(raw).to_bytes(2, "big") + raw


def connect_packet(client_id, version):
    name = b"MQIsdp" if version == 3 else b"MQTT"
    body = len(name).to_bytes(2, "big") + name + bytes([version, 0x02]) + (60).to_bytes(2, "big")
    if version == 5:
        body += bytes([3, 0x21]) + (20).to_bytes(2, "big")  # Receive Maximum 20
    body += string(client_id)
    return bytes([0x10]) + remaining_length(len(body)) + body


def connack_packet(version):
    if version != 5:
        return bytes.fromhex("20020000")
    properties = bytes([0x22, 0, 10, 0x21, 0, 20])  # Topic Alias Maximum 10, Receive Maximum 20
    return bytes([0x20, 3 + len(properties), 0, 0, len(properties)]) + properties


def split_packets(data):
    """Whole packets in ``data``; a tail that is not a whole packet stays as one piece."""
    packets, at = [], 0
    while at < len(data):
        length, multiplier, i = 0, 1, at + 1
        while i < len(data) and i - at <= 4:
            length += (data[i] & 0x7F) * multiplier
            multiplier *= 128
            i += 1
            if data[i - 1] & 0x80 == 0:
                break
        else:
            packets.append(data[at:])
            return packets
        end = i + length
        packets.append(data[at:end])
        at = end
    return packets


def variable_int(data, at):
    value, multiplier = 0, 1
    while True:
        byte = data[at]
        at += 1
        value += (byte & 0x7F) * multiplier
        multiplier *= 128
        if byte & 0x80 == 0:
            return value, at


PROPERTY_SIZES = {0x01: 1, 0x02: 4, 0x11: 4, 0x13: 2, 0x17: 1, 0x19: 1, 0x21: 2, 0x22: 2,
                  0x23: 2, 0x24: 1, 0x25: 1, 0x27: 4, 0x28: 1, 0x29: 1, 0x2A: 1}


def property_list(data):
    """MQTT 5 properties as (identifier, raw value) pairs, or None if unreadable."""
    items, at = [], 0
    try:
        while at < len(data):
            ident = data[at]
            at += 1
            if ident in PROPERTY_SIZES:
                size = PROPERTY_SIZES[ident]
            elif ident == 0x0B:
                _, end = variable_int(data, at)
                size = end - at
            elif ident == 0x26:
                first = 2 + int.from_bytes(data[at:at + 2], "big")
                size = first + 2 + int.from_bytes(data[at + first:at + first + 2], "big")
            else:
                size = 2 + int.from_bytes(data[at:at + 2], "big")
            if at + size > len(data):
                return None
            items.append((ident, bytes(data[at:at + size])))
            at += size
    except IndexError:
        return None
    return items


def v5_connack_parts(packet):
    """(flags, reason code, sorted properties) of an MQTT 5 CONNACK, or None."""
    if len(packet) < 2 or packet[0] != 0x20:
        return None
    _, at = variable_int(packet, 1)
    body = packet[at:]
    if len(body) < 3:
        return None
    length, start = variable_int(body, 2)
    properties = property_list(body[start:start + length]) if start + length == len(body) else None
    return None if properties is None else (body[0], body[1], sorted(properties))


def same_packet(got, wanted):
    if got == wanted:
        return True
    # Whatever the case's declared version: some v5 cases send their own CONNECT.
    if wanted[:1] == b"\x20" and len(wanted) > 4:
        parts = v5_connack_parts(wanted)
        return parts is not None and parts == v5_connack_parts(got)
    return False


# -- talking to the broker

class Connection:
    def __init__(self, host, port, timeout):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buffer = b""

    def close(self):
        self.sock.close()

    def send(self, data):
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError) as error:
            raise CaseFailed(f"connection closed while sending ({error})")

    def read_packet(self, what):
        """One whole packet, or CaseFailed naming what came instead."""
        while True:
            packets = split_packets(self.buffer)
            if packets and (len(packets) > 1 or self._complete(packets[0])):
                packet = packets[0]
                self.buffer = self.buffer[len(packet):]
                return packet
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise CaseFailed(f"no {what} within {self.sock.gettimeout()} s"
                                 + (f" (partial {self.buffer.hex(' ')})" if self.buffer else ""))
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise CaseFailed(f"connection closed, {what} expected"
                                 + (f" (partial {self.buffer.hex(' ')})" if self.buffer else ""))
            self.buffer += chunk

    @staticmethod
    def _complete(packet):
        try:
            length, at = variable_int(packet, 1)
        except IndexError:
            return False
        return len(packet) == at + length

    def expect(self, wanted, what):
        for piece in split_packets(wanted):
            got = self.read_packet(what)
            if not same_packet(got, piece):
                raise CaseFailed(f"{what}: got {got.hex(' ')}, expected {piece.hex(' ')}")

    def expect_closed(self):
        if self.buffer:
            raise CaseFailed(f"still connected: got {self.buffer.hex(' ')}")
        try:
            data = self.sock.recv(64)
        except socket.timeout:
            raise CaseFailed(f"still connected after {self.sock.gettimeout()} s")
        except ConnectionResetError:
            return
        if data:
            raise CaseFailed(f"still connected: got {data.hex(' ')}")

    def expect_open(self):
        self.send(bytes.fromhex("c000"))
        got = self.read_packet("PINGRESP")
        if got != bytes.fromhex("d000"):
            raise CaseFailed(f"PINGRESP expected at the end, got {got.hex(' ')}")


def publish_from_helper(host, port, timeout, step):
    helper = Connection(host, port, timeout)
    try:
        helper.send(connect_packet("helper", 4))
        helper.expect(connack_packet(4), "helper CONNACK")
        qos, topic, payload = step["qos"], string(step["topic"]), step["payload"].encode()
        mid = b"\x00\x01" if qos else b""
        body = topic + mid + payload
        helper.send(bytes([0x30 | qos << 1]) + remaining_length(len(body)) + body)
        if qos == 1:
            helper.expect(bytes.fromhex("40020001"), "helper PUBACK")
        elif qos == 2:
            helper.expect(bytes.fromhex("50020001"), "helper PUBREC")
            helper.send(bytes.fromhex("62020001"))
            helper.expect(bytes.fromhex("70020001"), "helper PUBCOMP")
    finally:
        helper.close()


def run_case(case, host, port, timeout=TIMEOUT):
    """None when the broker answered as the case expects, else what differed."""
    try:
        connection = Connection(host, port, timeout)
    except OSError as error:
        return f"cannot connect: {error}"
    try:
        if case.connect:
            connection.send(connect_packet(case.title, case.version))
            connection.expect(connack_packet(case.version), "default CONNACK")
        for number, step in enumerate(case.steps, 1):
            label = f"step {number}" + (f" ({step['comment']})" if step.get("comment") else "")
            if step["type"] == "send":
                connection.send(bytes.fromhex(step["payload"].replace(" ", "")))
            elif step["type"] == "recv":
                connection.expect(bytes.fromhex(step["payload"].replace(" ", "")), label)
            elif step["type"] == "publish":
                publish_from_helper(host, port, timeout, step)
        if case.expect_disconnect:
            connection.expect_closed()
        else:
            connection.expect_open()
    except CaseFailed as failure:
        return str(failure)
    except OSError as error:
        return f"{type(error).__name__}: {error}"
    finally:
        connection.close()
    return None


def run_all(cases, host, port, timeout=TIMEOUT):
    """``{case key: failure}`` for the cases that failed."""
    return {case.key: failure for case in cases
            if (failure := run_case(case, host, port, timeout)) is not None}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--timeout", type=float, default=TIMEOUT)
    parser.add_argument("--data", help="folder of JSON files (else MOSQUITTO_TEST_DATA / MOSQUITTO_SOURCE)")
    parser.add_argument("--json", help="write {case: failure} here")
    args = parser.parse_args()
    if args.data:
        os.environ["MOSQUITTO_TEST_DATA"] = args.data
    cases, missing = cases_from_environment()
    if missing:
        sys.exit(f"{missing} (or pass --data)")
    started = time.monotonic()
    failures = run_all(cases, args.host, args.port, args.timeout)
    for title, failure in failures.items():
        print(f"FAIL {title}: {failure}")
    print(f"{len(cases) - len(failures)} of {len(cases)} passed in {time.monotonic() - started:.1f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(failures, indent=1, sort_keys=True) + "\n")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
