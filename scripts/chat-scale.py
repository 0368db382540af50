#!/usr/bin/env python3
"""Chat at scale: PAGES page sessions join one room of `parley serve`, then one message and a
burst reach them all. Prints how long the joins took, the chat's resident memory per page, the
time one `mosquitto_pub` message takes to reach every page (p50 and max), and the deliveries
per second of a burst.

    scripts/chat-scale.py --spawn '.build/release/parley serve -p {port} --http-port {http_port}'
    scripts/chat-scale.py --pages 2000 --burst 50 --spawn '...'

Pages and the publisher (a raw MQTT client, connected before timing) are driven by one asyncio
process; each counts the markers in the bytes it reads rather
than parsing every frame, so the driver keeps up with the server. The resident memory per page
is (anonymous RSS with every page joined - before) / PAGES, measured once every join message
has reached every page and after a short settle (so it is not the join traffic still queued).
Anonymous memory is the heap and the stacks; the total RSS, printed beside it, also counts the
pages of the binary and the libraries that have been read, which grow with the code run (and
with gdb's visit under --trim), not with pages.
"""
import argparse
import asyncio
import importlib.util
import json
import resource
import shlex
import signal
import subprocess
import time
from pathlib import Path

_storm_spec = importlib.util.spec_from_file_location("storm", Path(__file__).with_name("connection-storm.py"))
storm = importlib.util.module_from_spec(_storm_spec)
_storm_spec.loader.exec_module(storm)


class Page:
    """One page session: joins, then counts marker arrivals in what it reads."""

    def __init__(self, index):
        self.index = index
        self.joined = asyncio.Event()
        self.listed = asyncio.Event()
        self.counts = {}
        self.arrivals = {}
        self.waiters = []
        self.closed = False

    async def run(self, host, port, room, ready, opened, join=True):
        reader, writer = await storm.websocket_open(host, port)
        opened.release()
        self.writer = writer
        if not join:
            self.joined.set()
            self.listed.set()
            ready()
        else:
            writer.write(storm.websocket_frame(1, json.dumps({"type": "join", "name": f"p{self.index:05}",
                                                              "room": room}).encode()))
            await writer.drain()
        carry = b""
        while True:
            data = await reader.read(1 << 16)
            if not data:
                self.closed = True
                return
            text = carry + data
            now = time.monotonic()
            if not self.joined.is_set() and b'"type":"joined"' in text:
                self.joined.set()
                ready()
            if not self.listed.is_set() and b'"type":"online"' in text:
                self.listed.set()
            for marker in list(self.waiters):
                found = text.count(marker) - carry.count(marker)
                if found:
                    self.counts[marker] = self.counts.get(marker, 0) + found
                    self.arrivals[marker] = now
            carry = text[-64:]


class Publisher:
    """An MQTT 3.1.1 client connected before the clock starts, so the times below are the
    chat's, not a client's start-up."""

    async def connect(self, port):
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        self.writer.write(storm.connect_packet("chat-scale-publisher", False))
        await storm.expect(self.reader, 2, "CONNACK")

    async def publish(self, topic, lines):
        self.writer.write(b"".join(storm.publish_packet(topic, line.encode(), 0, 0, False) for line in lines))
        await self.writer.drain()


async def measure(args, pid):
    pages = [Page(i) for i in range(args.pages)]
    joined = 0
    started = time.monotonic()
    all_joined = asyncio.Event()

    def ready():
        nonlocal joined
        joined += 1
        if joined == args.pages:
            all_joined.set()

    dialing = asyncio.Semaphore(args.parallel)

    async def start(page):
        await dialing.acquire()
        await page.run("127.0.0.1", args.http_port, args.room, ready, dialing, join=not args.no_join)

    # The last joiner's "has joined" message: once every page has it, the join traffic is over.
    last_join = f"p{args.pages - 1:05} has joined".encode()
    if not args.no_join:
        for page in pages:
            page.waiters.append(last_join)
    tasks = [asyncio.create_task(start(page)) for page in pages]
    try:
        await asyncio.wait_for(all_joined.wait(), args.timeout)
    except asyncio.TimeoutError:
        print(f"only {joined} of {args.pages} pages joined within {args.timeout} s")
        return
    join_time = time.monotonic() - started
    await asyncio.wait_for(asyncio.gather(*(p.listed.wait() for p in pages)), args.timeout)
    listed_time = time.monotonic() - started
    print(f"{args.pages} pages joined one room in {join_time:.2f} s "
          f"(every online list in {listed_time:.2f} s)")
    if not args.no_join:
        # The pages that joined early each have ~PAGES join messages to read: memory is
        # measured once they are all delivered, not while they are still queued.
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline and any(last_join not in p.arrivals for p in pages):
            await asyncio.sleep(0.05)
        print(f"every join message delivered in {time.monotonic() - started:.2f} s")
    await asyncio.sleep(args.settle)
    if args.trim:
        # What the pages hold once the allocator has given back its free pages (gdb calls
        # malloc_trim in the server): the rest of the RSS growth is the join storm's high-water.
        calls = ["-ex", "call (int)malloc_trim(0)"]
        if args.malloc_stats:
            # glibc prints each arena's in-use and system bytes to the server's stderr.
            calls += ["-ex", "call (void)malloc_stats()"]
        subprocess.run(["gdb", "-p", str(pid), "-batch", *calls],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    # Anonymous memory (heap, stacks) is what pages cost; the total also counts pages of the
    # binary and libraries, which gdb's visit above faults in.
    after = storm.rss_kib(pid, "RssAnon")
    total = storm.rss_kib(pid)
    print(f"resident memory per page: {(after - args.anon_before) / args.pages:.1f} KiB "
          f"(anonymous {args.anon_before / 1024:.1f} -> {after / 1024:.1f} MiB; "
          f"all resident {args.rss_before / 1024:.1f} -> {total / 1024:.1f} MiB, "
          f"{(total - args.rss_before) / args.pages:.1f} KiB a page)")
    if args.no_join:
        return

    publisher = Publisher()
    await publisher.connect(args.port)
    marker = b"probe-one"
    for page in pages:
        page.waiters.append(marker)
    sent = time.monotonic()
    await publisher.publish(f"chat/{args.room}", ["probe: probe-one"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(marker not in p.arrivals for p in pages):
        await asyncio.sleep(0.005)
    latencies = sorted((p.arrivals[marker] - sent) * 1000 for p in pages if marker in p.arrivals)
    if latencies:
        print(f"one message reached {len(latencies)} of {args.pages} pages: "
              f"p50 {latencies[len(latencies) // 2]:.0f} ms, max {latencies[-1]:.0f} ms")

    burst = b"burst-"
    for page in pages:
        page.waiters.append(burst)
    sent = time.monotonic()
    await publisher.publish(f"chat/{args.room}", [f"burst: burst-{n}" for n in range(args.burst)])
    expected = args.burst * args.pages
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and sum(p.counts.get(burst, 0) for p in pages) < expected:
        await asyncio.sleep(0.005)
    delivered = sum(p.counts.get(burst, 0) for p in pages)
    last = max((p.arrivals.get(burst, sent) for p in pages), default=sent)
    elapsed = last - sent
    print(f"burst of {args.burst}: {delivered} of {expected} deliveries in {elapsed:.2f} s "
          f"({delivered / elapsed if elapsed > 0 else 0:,.0f} deliveries/s); "
          f"pages dropped: {sum(p.closed for p in pages)}")
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spawn", required=True, help="command with {port} and {http_port}")
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--burst", type=int, default=50)
    parser.add_argument("--room", default="scale")
    parser.add_argument("--parallel", type=int, default=100, help="pages dialing at once")
    parser.add_argument("--timeout", type=float, default=120)
    parser.add_argument("--settle", type=float, default=2)
    parser.add_argument("--malloc-stats", action="store_true",
                        help="with --trim, also have glibc print its arenas to the server's stderr "
                             "(wrap the command: sh -c 'exec ... 2>FILE')")
    parser.add_argument("--trim", action="store_true",
                        help="have gdb call malloc_trim(0) in the server before measuring memory")
    parser.add_argument("--no-join", action="store_true",
                        help="pages only open their WebSocket (to see what a page costs before it joins)")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    args.port, args.http_port = storm.free_port(), storm.free_port()
    command = shlex.split(args.spawn.format(port=args.port, http_port=args.http_port))
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard)))
    try:
        storm.wait_for_port("127.0.0.1", args.http_port)
        storm.wait_for_port("127.0.0.1", args.port)
        args.rss_before = storm.rss_kib(server.pid)
        args.anon_before = storm.rss_kib(server.pid, "RssAnon")
        asyncio.run(measure(args, server.pid))
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    main()
