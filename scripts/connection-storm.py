#!/usr/bin/env python3
"""Connection storm: does a broker come back to the same memory after waves of clients?

Runs ROUNDS rounds; in each, CONNECTIONS MQTT clients connect (at most --parallel dialing at
once), optionally subscribe and publish, hold for --hold seconds, and leave (DISCONNECT, or
just drop the socket with --abrupt). After each round it waits until the broker has closed
every socket of the round (its descriptor count is back where it started) and prints the
broker's resident memory, then again after --settle seconds. A broker without leaks stays flat
from round 1 on.

    scripts/connection-storm.py --spawn '.build/release/parley serve --no-chat -p {port}'
    scripts/connection-storm.py --spawn 'mosquitto -p {port}' --rounds 4 --connections 10000
    scripts/connection-storm.py --port 1883 --pid $(pidof parley)

With --pages the clients are chat pages instead: each opens the chat's WebSocket (/ws on
--http-port), joins one of --rooms rooms, says one line with --publish, and closes:

    scripts/connection-storm.py --pages --connections 2000 \
        --spawn '.build/release/parley serve -p {port} --http-port {http_port}'

With --spawn the broker is started on free ports ({port} and {http_port} in the command) and
stopped at the end. Needs `ulimit -n` above CONNECTIONS + 100 in this shell (the script raises its own soft
limit when it can).
"""
import argparse
import asyncio
import base64
import json
import os
import resource
import shlex
import signal
import socket
import struct
import subprocess
import sys
import time


def varint(n):
    out = bytearray()
    while True:
        byte = n % 128
        n //= 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def utf8(s):
    data = s.encode()
    return struct.pack("!H", len(data)) + data


def packet(first_byte, body):
    return bytes([first_byte]) + varint(len(body)) + body


def connect_packet(client_id, v5, keepalive=60):
    header = utf8("MQTT") + bytes([5 if v5 else 4, 0x02]) + struct.pack("!H", keepalive)
    if v5:
        header += varint(0)
    return packet(0x10, header + utf8(client_id))


def subscribe_packet(packet_id, topic_filter, qos, v5):
    body = struct.pack("!H", packet_id) + (varint(0) if v5 else b"") + utf8(topic_filter) + bytes([qos])
    return packet(0x82, body)


def publish_packet(topic, payload, qos, packet_id, v5):
    body = utf8(topic) + (struct.pack("!H", packet_id) if qos else b"") + (varint(0) if v5 else b"") + payload
    return packet(0x30 | (qos << 1), body)


def disconnect_packet():
    return b"\xe0\x00"


def websocket_frame(opcode, payload):
    """A masked client frame (RFC 6455 §5.2)."""
    mask = os.urandom(4)
    header = bytes([0x80 | opcode])
    if len(payload) < 126:
        header += bytes([0x80 | len(payload)])
    else:
        header += bytes([0x80 | 126]) + struct.pack("!H", len(payload))
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def websocket_open(host, port, path="/ws"):
    reader, writer = await asyncio.open_connection(host, port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    response = await reader.readuntil(b"\r\n\r\n")
    if not response.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(response.split(b"\r\n", 1)[0].decode(errors="replace"))
    return reader, writer


async def websocket_read(reader):
    """The next frame's opcode and payload (server frames are not masked)."""
    first, second = await reader.readexactly(2)
    length = second & 0x7F
    if length == 126:
        length = struct.unpack("!H", await reader.readexactly(2))[0]
    elif length == 127:
        length = struct.unpack("!Q", await reader.readexactly(8))[0]
    return first & 0x0F, await reader.readexactly(length)


async def websocket_expect(reader, text):
    while True:
        opcode, payload = await websocket_read(reader)
        if opcode == 8:
            raise ConnectionError("WebSocket closed")
        if text.encode() in payload:
            return


async def read_packet(reader):
    first = (await reader.readexactly(1))[0]
    length, multiplier = 0, 1
    while True:
        byte = (await reader.readexactly(1))[0]
        length += (byte & 0x7F) * multiplier
        multiplier *= 128
        if not byte & 0x80:
            break
    return first, await reader.readexactly(length)


async def expect(reader, packet_type, what):
    while True:
        first, body = await read_packet(reader)
        if first >> 4 == packet_type:
            return body
        if first >> 4 == 14:
            raise ConnectionError(f"DISCONNECT while waiting for {what}")


class Round:
    def __init__(self, args, number):
        self.args = args
        self.number = number
        self.connected = 0
        self.failed = 0
        self.errors = {}
        self.all_connected = asyncio.Event()
        self.release = asyncio.Event()

    def note_error(self, error):
        self.failed += 1
        key = type(error).__name__
        self.errors[key] = self.errors.get(key, 0) + 1
        self.note_settled()

    def note_connected(self):
        self.connected += 1
        self.note_settled()

    def note_settled(self):
        if self.connected + self.failed == self.args.connections:
            self.all_connected.set()

    @staticmethod
    async def close(writer, reset):
        if writer is None:
            return
        if reset:
            # A lost connection: no goodbye, and a reset rather than a FIN.
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.close()
        try:
            await writer.wait_closed()
        except Exception:  # noqa: BLE001 - the socket is gone either way
            pass

    async def client(self, index, gate):
        args = self.args
        v5 = args.mqtt == "5"
        client_id = f"storm-{os.getpid()}-{self.number}-{index}"
        writer = None
        try:
            async with gate:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(args.host, args.port), 30)
                writer.write(connect_packet(client_id, v5))
                connack = await asyncio.wait_for(expect(reader, 2, "CONNACK"), 30)
                reason = connack[1]
                if reason != 0:
                    raise ConnectionError(f"CONNACK {reason:#x}")
                if args.subscribe:
                    writer.write(subscribe_packet(1, f"storm/{index}/#", args.qos, v5))
                    await asyncio.wait_for(expect(reader, 9, "SUBACK"), 30)
                if args.publish:
                    writer.write(publish_packet(f"storm/{index}/reading", b"x" * args.payload, args.qos, 2, v5))
                    if args.qos == 1:
                        await asyncio.wait_for(expect(reader, 4, "PUBACK"), 30)
                    elif args.qos == 2:
                        await asyncio.wait_for(expect(reader, 5, "PUBREC"), 30)
                        writer.write(packet(0x62, struct.pack("!H", 2)))
                        await asyncio.wait_for(expect(reader, 7, "PUBCOMP"), 30)
            self.note_connected()
            await self.release.wait()
            if not args.abrupt:
                writer.write(disconnect_packet())
                await writer.drain()
        except Exception as error:  # noqa: BLE001 - counted and reported per kind
            self.note_error(error)
        finally:
            await self.close(writer, reset=args.abrupt)

    async def page(self, index, gate):
        args = self.args
        writer = None
        try:
            async with gate:
                reader, writer = await asyncio.wait_for(websocket_open(args.host, args.http_port), 30)
                join = {"type": "join", "name": f"p{self.number}-{index}", "room": f"storm-{index % args.rooms}"}
                writer.write(websocket_frame(1, json.dumps(join).encode()))
                await asyncio.wait_for(websocket_expect(reader, '"type":"joined"'), 30)
                if args.publish:
                    writer.write(websocket_frame(1, json.dumps({"type": "send", "text": "x" * args.payload}).encode()))
            self.note_connected()
            # Keep reading (online lists, other pages' lines) so the server never waits on us.
            drain = asyncio.create_task(self.drain(reader))
            await self.release.wait()
            drain.cancel()
            if not args.abrupt:
                writer.write(websocket_frame(8, struct.pack("!H", 1000)))
                await writer.drain()
        except Exception as error:  # noqa: BLE001 - counted and reported per kind
            self.note_error(error)
        finally:
            await self.close(writer, reset=args.abrupt)

    @staticmethod
    async def drain(reader):
        try:
            while True:
                await websocket_read(reader)
        except Exception:  # noqa: BLE001 - ends with the connection
            pass

    async def run(self):
        gate = asyncio.Semaphore(self.args.parallel)
        started = time.monotonic()
        client = self.page if self.args.pages else self.client
        tasks = [asyncio.create_task(client(i, gate)) for i in range(self.args.connections)]
        await self.all_connected.wait()
        connect_seconds = time.monotonic() - started
        await asyncio.sleep(self.args.hold)
        self.release.set()
        await asyncio.gather(*tasks)
        return connect_seconds


def rss_kib(pid, field="VmRSS"):
    """Resident memory from /proc/PID/status: VmRSS (all of it) or RssAnon (the heap and
    stacks, without the pages of the binary and libraries, which reading them faults in)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def descriptor_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def wait_for_descriptors(pid, target, timeout):
    """Waits until the broker holds no more descriptors than before the round."""
    deadline = time.monotonic() + timeout
    count = descriptor_count(pid)
    while count > target and time.monotonic() < deadline:
        time.sleep(0.1)
        count = descriptor_count(pid)
    return count


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(host, port, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing answers on {host}:{port}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--pid", type=int, help="the broker's process id, for its memory")
    parser.add_argument("--spawn", help="start this broker command ({port} is replaced) and stop it at the end")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--connections", type=int, default=10_000, help="clients per round")
    parser.add_argument("--parallel", type=int, default=500, help="clients dialing at once")
    parser.add_argument("--hold", type=float, default=1.0, help="seconds every client stays connected")
    parser.add_argument("--mqtt", choices=["3.1.1", "5"], default="3.1.1")
    parser.add_argument("--subscribe", action="store_true", help="each client subscribes to storm/N/#")
    parser.add_argument("--publish", action="store_true", help="each client publishes one message")
    parser.add_argument("--qos", type=int, choices=[0, 1, 2], default=0)
    parser.add_argument("--payload", type=int, default=64)
    parser.add_argument("--abrupt", action="store_true", help="drop the sockets without DISCONNECT")
    parser.add_argument("--pages", action="store_true", help="chat pages over WebSocket instead of MQTT clients")
    parser.add_argument("--http-port", type=int, default=8080, help="the chat's HTTP port, with --pages")
    parser.add_argument("--rooms", type=int, default=100, help="rooms the pages spread over, with --pages")
    parser.add_argument("--settle", type=float, default=12.0,
                        help="seconds to wait after the round's sockets are closed before reading memory "
                             "(Parley hands freed memory back 5 to 10 s after connections fell)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON at the end")
    args = parser.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = args.connections + 256
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))

    broker = None
    if args.spawn:
        args.port = free_port()
        args.http_port = free_port()
        command = shlex.split(args.spawn.replace("{port}", str(args.port)).replace("{http_port}", str(args.http_port)))
        broker = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard)))
        args.pid = broker.pid
        wait_for_port(args.host, args.http_port if args.pages else args.port)
    if args.pid is None:
        parser.error("give --pid or --spawn: the storm reports the broker's memory")

    try:
        time.sleep(0.5)
        baseline_fds = descriptor_count(args.pid)
        rows = [{"round": 0, "rss_kib": rss_kib(args.pid), "descriptors": baseline_fds}]
        print(f"round 0: RSS {rows[0]['rss_kib'] / 1024:.1f} MiB, {baseline_fds} descriptors", flush=True)
        for number in range(1, args.rounds + 1):
            storm = Round(args, number)
            connect_seconds = asyncio.run(storm.run())
            fds = wait_for_descriptors(args.pid, baseline_fds, timeout=60)
            at_close = rss_kib(args.pid)
            time.sleep(args.settle)
            row = {"round": number, "rss_kib": rss_kib(args.pid), "rss_at_close_kib": at_close, "descriptors": fds,
                   "connected": storm.connected, "failed": storm.failed, "errors": storm.errors,
                   "connect_seconds": round(connect_seconds, 2)}
            rows.append(row)
            failures = f", {storm.failed} failed {storm.errors}" if storm.failed else ""
            print(f"round {number}: RSS {row['rss_kib'] / 1024:.1f} MiB ({at_close / 1024:.1f} MiB as the last "
                  f"socket closed), {fds} descriptors, "
                  f"{storm.connected} connected in {connect_seconds:.1f} s{failures}", flush=True)
        first = rows[1]["rss_kib"] if len(rows) > 1 else rows[0]["rss_kib"]
        growth = [(row["rss_kib"] - first) / first * 100 for row in rows[2:]]
        if growth:
            print("after round 1: " + ", ".join(f"round {i + 2} {g:+.1f}%" for i, g in enumerate(growth)))
        if args.json:
            print(json.dumps(rows))
    finally:
        if broker is not None:
            broker.send_signal(signal.SIGTERM)
            try:
                broker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                broker.kill()


if __name__ == "__main__":
    sys.exit(main())
