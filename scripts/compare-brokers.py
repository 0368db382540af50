#!/usr/bin/env python3
"""Runs `parley bench` scenarios against Parley and Mosquitto alternately and prints medians.

Each measurement starts its broker fresh on a free port, pinned with taskset to --broker-cpu,
runs the generator pinned to --bench-cpu, and stops the broker by pid. Rounds alternate the
order (Parley first, then Mosquitto first), so drift on the machine hits both alike. The
table gives each scenario's figures (median of the rounds) and the ratio Parley/Mosquitto,
written so that above 1 is better for Parley. Raw results go to --out as JSON lines.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

# name -> (bench arguments, [(metric, higher_is_better)], broker extras)
SCENARIOS = {
    "fan-in-qos0": (["fan-in", "-q", "0"], [("received_per_s", True), ("latency_p50_us", False)], {}),
    "fan-in-qos1": (["fan-in", "-q", "1"], [("received_per_s", True), ("latency_p50_us", False), ("lost", False)], {}),
    # The flat-out run keeps the generator's whole backlog (8 x 100) in flight, so its latency
    # is backlog / throughput; this one compares QoS 1 latency at a load both brokers carry.
    "fan-in-qos1-30k": (["fan-in", "-q", "1", "--rate", "30000"],
                        [("latency_p50_us", False), ("latency_p99_us", False), ("lost", False)], {}),
    "fan-out": (["fan-out", "-q", "0"], [("received_per_s", True)], {}),
    "latency": (["latency", "--rate", "20000"], [("latency_p50_us", False), ("latency_p99_us", False)], {}),
    "idle": (["idle", "-n", "10000"], [("rss_per_connection_kib", False)], {"pid": True}),
    "connect": (["connect"], [("cycles_per_s", True)], {}),
    "retained": (["retained", "--topics", "50000", "--updates", "5000"],
                 [("wildcard_subscribe_s", False), ("retained_received", True), ("updates_under_churn_s", False),
                  ("rss_mib", False)], {"pid": True}),
    "acl-fan-in-qos0": (["fan-in", "-q", "0"], [("received_per_s", True)], {"acl": True}),
}
MULTICORE = {
    "fan-in-qos0": (["fan-in", "-q", "0"], [("received_per_s", True)]),
    "fan-out": (["fan-out", "-q", "0"], [("received_per_s", True)]),
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, process, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"broker exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"broker did not listen on {port}")


def start_broker(kind, args, workdir, port, acl, cpus, threads):
    conf = os.path.join(workdir, f"{kind}.conf")
    lines = [f"listener {port} 127.0.0.1", "allow_anonymous true"]
    if acl:
        path = os.path.join(workdir, "acl")
        with open(path, "w") as f:
            f.write("topic readwrite bench/#\ntopic read $SYS/#\n")
        os.chmod(path, 0o644)
        lines.append(f"acl_file {path}")
    if kind == "parley":
        lines += [f"threads {threads}", "max_queued_messages 1000"]
        command = [args.parley, "serve", "--no-chat", "-c", conf]
    else:
        # Mosquitto leaves Nagle on unless told; Parley always sets TCP_NODELAY.
        lines += ["set_tcp_nodelay true", "user root" if os.geteuid() == 0 else ""]
        command = ["mosquitto", "-c", conf]
    with open(conf, "w") as f:
        f.write("\n".join(lines) + "\n")
    log = open(os.path.join(workdir, f"{kind}.log"), "a")
    process = subprocess.Popen(["taskset", "-c", cpus] + command, stdout=log, stderr=log)
    wait_for_port(port, process)
    return process


def stop(process):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_one(args, workdir, kind, name, bench_args, extras, cpus="0", bench_cpus=None, threads=1, bench_threads=1):
    port = free_port()
    broker = start_broker(kind, args, workdir, port, extras.get("acl"), cpus, threads)
    try:
        command = ["taskset", "-c", bench_cpus or args.bench_cpu, args.parley, "bench"] + bench_args + [
            "-p", str(port), "--json", "--quiet", "--threads", str(bench_threads)]
        if bench_args[0] not in ("idle", "retained"):
            command += ["-d", str(args.duration), "--warmup", str(args.warmup)]
        if extras.get("pid"):
            command += ["--pid", str(broker.pid)]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout)
        except subprocess.TimeoutExpired:
            print(f"  {name} on {kind}: no result within {args.timeout} s", file=sys.stderr)
            return None
        if result.returncode != 0:
            print(f"  {name} on {kind}: bench failed: {result.stderr.strip()[-400:]}", file=sys.stderr)
            return None
        report = json.loads(result.stdout.strip().splitlines()[-1])
        return report["results"]
    finally:
        stop(broker)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parley", required=True, help="path of the parley binary (release build)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated: " + ", ".join(SCENARIOS))
    parser.add_argument("--timeout", type=float, default=400, help="seconds one measurement may take")
    parser.add_argument("--broker-cpu", default="0")
    parser.add_argument("--bench-cpu", default="1")
    parser.add_argument("--multicore", action="store_true",
                        help="also run Parley with 2 threads on both cores (generator on both too) for fan-in and fan-out")
    parser.add_argument("--out", default="compare-results.jsonl", help="raw results, one JSON object per run")
    args = parser.parse_args()
    if not shutil.which("mosquitto"):
        sys.exit("mosquitto is not installed (scripts/install-deps.sh test)")
    names = [n for n in args.scenarios.split(",") if n]
    for name in names:
        if name not in SCENARIOS:
            sys.exit(f"unknown scenario {name}")
    workdir = tempfile.mkdtemp(prefix="parley-compare-")
    os.chmod(workdir, 0o755)
    results = {}  # (name, kind) -> list of result dicts
    with open(args.out, "w") as out:
        for round_number in range(args.rounds):
            order = ["parley", "mosquitto"] if round_number % 2 == 0 else ["mosquitto", "parley"]
            for name in names:
                bench_args, _, extras = SCENARIOS[name]
                for kind in order:
                    print(f"round {round_number + 1}/{args.rounds}: {name} on {kind}", file=sys.stderr)
                    r = run_one(args, workdir, kind, name, bench_args, extras, cpus=args.broker_cpu)
                    if r is not None:
                        results.setdefault((name, kind), []).append(r)
                        out.write(json.dumps({"round": round_number, "scenario": name, "broker": kind, "results": r}) + "\n")
            if args.multicore:
                for name, (bench_args, _) in MULTICORE.items():
                    print(f"round {round_number + 1}/{args.rounds}: {name} on parley, 2 threads", file=sys.stderr)
                    r = run_one(args, workdir, "parley", name, bench_args, {}, cpus="0,1", bench_cpus="0,1",
                                threads=2, bench_threads=2)
                    if r is not None:
                        results.setdefault((name, "parley-2"), []).append(r)
                        out.write(json.dumps({"round": round_number, "scenario": name, "broker": "parley-2", "results": r}) + "\n")

    def median(name, kind, metric):
        values = [r[metric] for r in results.get((name, kind), []) if metric in r]
        return statistics.median(values) if values else None

    def fmt(v):
        if v is None:
            return "–"
        if abs(v) >= 1000:
            return f"{v / 1000:.1f}k"
        return f"{v:.3g}" if abs(v) < 10 else f"{v:.1f}"

    print(f"\nmedians of {args.rounds} round(s), broker on cpu {args.broker_cpu}, generator on cpu {args.bench_cpu}\n")
    print("| scenario | metric | Parley | Mosquitto 2.0 | Parley/Mosquitto |")
    print("|---|---|---|---|---|")
    for name in names:
        for metric, higher in SCENARIOS[name][1]:
            p, m = median(name, "parley", metric), median(name, "mosquitto", metric)
            ratio = "–"
            if p is not None and m is not None and p > 0 and m > 0:
                ratio = f"{(p / m if higher else m / p):.2f}" + ("" if higher else " (inverse)")
            print(f"| {name} | {metric} | {fmt(p)} | {fmt(m)} | {ratio} |")
    if args.multicore:
        print("\n| scenario | Parley 1 thread | Parley 2 threads | gain |")
        print("|---|---|---|---|")
        for name in MULTICORE:
            one, two = median(name, "parley", "received_per_s"), median(name, "parley-2", "received_per_s")
            gain = f"{two / one:.2f}" if one and two else "–"
            print(f"| {name} | {fmt(one)} | {fmt(two)} | {gain} |")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
