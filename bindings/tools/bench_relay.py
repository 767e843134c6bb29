#!/usr/bin/env python3
"""make bench-relay: the relay beside NATS JetStream and mosquitto, under one load generator.

Each run starts its server fresh (bench_relay_servers.py), runs relay_load against it
(bindings/c/bench/relay_load: libimr's client engine, the NATS client protocol, libmosquitto)
and stops it. Phases, each for every system where it applies, rounds interleaved:

  main     4 publishers and 4 subscribers on one conversation / subject / topic, 16 unacked
           sends per publisher, 100-byte payloads, MESSAGES messages (relay with
           --durability full and normal, JetStream, mosquitto);
  fanout   one publisher into 100, 500 and 1,000 members (relay with its receipts on);
  idle     5,000 idle authenticated connections: server memory per connection;
  catchup  200 relay devices reconnecting at once after missing 2,000 messages.

Prints tables of medians and relay / peer ratios, then one JSON object on the last line.
Benchmarks print figures, they never fail on time.

    bench_relay.py --imrctl .build/release/imrctl --load bindings/c/build/relay_load
                   [--messages N] [--rounds N] [--quick] [--phases main,fanout,idle,catchup]
"""

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_relay_report as report  # noqa: E402
import bench_relay_servers as servers  # noqa: E402

MAIN_SYSTEMS = ("relay-full", "relay-normal", "nats", "mosquitto")
PEER_SYSTEMS = ("relay-full", "nats", "mosquitto")
LOAD_KIND = {"relay-full": "relay", "relay-normal": "relay", "nats": "nats", "mosquitto": "mqtt"}
FANOUT_SIZES = (100, 500, 1000)


def run_load(a, system, members, extra):
    """One server, one relay_load run; the result object, or None if the run failed."""
    try:
        with servers.start(system, a.imrctl, members) as server:
            cmd = [a.load, "--system", LOAD_KIND[system], "--port", str(server.port),
                   "--server-pid", str(server.pid)] + [str(x) for x in extra]
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=a.run_timeout)
            lines = done.stdout.strip().splitlines()
            if done.returncode != 0 or not lines:
                print(f"  {system}: relay_load failed ({done.returncode}):\n{done.stderr}\n"
                      f"  server log:\n{server.log_tail()}", file=sys.stderr)
                return None
            if done.stderr.count("relay_load:") > 1:  # beyond the progress line: errors to show
                print(done.stderr.rstrip(), file=sys.stderr)
            return json.loads(lines[-1])
    except (RuntimeError, subprocess.TimeoutExpired) as error:
        print(f"  {system}: {error}", file=sys.stderr)
        return None


def progress(label, result, keys):
    shown = "failed" if result is None else ", ".join(f"{k} {result[k]:g}" for k in keys if k in result)
    print(f"  {label}: {shown}", file=sys.stderr, flush=True)


def main_phase(a):
    members = [f"pub{i}" for i in range(4)] + [f"sub{i}" for i in range(4)]
    results = {s: [] for s in MAIN_SYSTEMS}
    for r in range(a.rounds):
        for system in MAIN_SYSTEMS:
            result = run_load(a, system, members, ["--messages", a.messages])
            results[system].append(result)
            progress(f"main round {r + 1}/{a.rounds} {system}", result,
                     ("acks_per_s", "deliveries_per_s", "ack_p50_ms", "ack_p99_ms", "lost", "duplicated"))
    return results


def fanout_phase(a):
    results = {n: {s: [] for s in PEER_SYSTEMS} for n in FANOUT_SIZES}
    for r in range(a.rounds):
        for n in FANOUT_SIZES:
            members = ["pub0"] + [f"sub{i}" for i in range(n - 1)]
            messages = max(100, a.fanout_deliveries // (n - 1))
            for system in PEER_SYSTEMS:
                result = run_load(a, system, members, ["--publishers", 1, "--subscribers", n - 1,
                                                       "--messages", messages])
                results[n][system].append(result)
                progress(f"fan-out round {r + 1}/{a.rounds} {n} members {system}", result,
                         ("deliveries_per_s", "delivery_p99_ms", "lost", "duplicated"))
    return results


def idle_phase(a):
    results = {s: [] for s in PEER_SYSTEMS}
    for r in range(a.rounds):
        for system in PEER_SYSTEMS:
            result = run_load(a, system, [], ["--scenario", "idle", "--connections", a.idle_connections])
            results[system].append(result)
            progress(f"idle round {r + 1}/{a.rounds} {system}", result, ("kib_per_connection", "open_seconds"))
    return results


def catchup_phase(a):
    members = ["pub0"] + [f"dev{i}" for i in range(a.devices)]
    results = {"relay-full": []}
    for r in range(a.rounds):
        result = run_load(a, "relay-full", members, ["--scenario", "catchup", "--devices", a.devices,
                                                     "--messages", a.missed])
        results["relay-full"].append(result)
        progress(f"catch-up round {r + 1}/{a.rounds}", result, ("catchup_s", "lost", "duplicated"))
    return results


PHASES = {"main": main_phase, "fanout": fanout_phase, "idle": idle_phase, "catchup": catchup_phase}


def versions():
    def first_line(cmd):
        try:
            text = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            return (text.stdout or text.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "unknown"
    return (f"{first_line([servers.program('nats-server'), '--version'])}, "
            f"{first_line([servers.program('mosquitto'), '-h'])}, {os.cpu_count()} CPUs")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--imrctl", required=True)
    p.add_argument("--load", required=True, help="the relay_load program")
    p.add_argument("--messages", type=int, help="messages of the main load (default 500,000; quick 20,000)")
    p.add_argument("--rounds", type=int, help="rounds of every phase (default 3; quick 1)")
    p.add_argument("--quick", action="store_true", help="a smoke run, not a measurement")
    p.add_argument("--phases", default="main,fanout,idle,catchup")
    p.add_argument("--fanout-deliveries", type=int, help="deliveries per fan-out run (default 400,000)")
    p.add_argument("--idle-connections", type=int, help="default 5,000 (quick 1,000)")
    p.add_argument("--devices", type=int, default=200)
    p.add_argument("--missed", type=int, default=2000)
    p.add_argument("--run-timeout", type=float, default=1800)
    a = p.parse_args()
    a.messages = a.messages or (20_000 if a.quick else 500_000)
    a.rounds = a.rounds or (1 if a.quick else 3)
    a.fanout_deliveries = a.fanout_deliveries or (50_000 if a.quick else 400_000)
    a.idle_connections = a.idle_connections or (1_000 if a.quick else 5_000)
    phases = [x.strip() for x in a.phases.split(",") if x.strip()]
    unknown = set(phases) - set(PHASES)
    if unknown:
        p.error(f"unknown phases: {', '.join(sorted(unknown))}")

    started = time.monotonic()
    print(f"bench-relay: {versions()}; {a.rounds} round(s)", file=sys.stderr)
    results = {phase: PHASES[phase](a) for phase in phases}

    out = {"messages": a.messages, "rounds": a.rounds}
    print(f"bench-relay ({versions()}; medians of {a.rounds} round(s), rounds interleaved)")
    if "main" in results:
        report.main_load(results["main"], f"4 publishers + 4 subscribers, window 16, 100 B payloads, "
                                          f"{a.messages:,} messages", out)
    if "fanout" in results:
        report.fanout(results["fanout"], f"1 publisher, window 16, 100 B payloads, about "
                                         f"{a.fanout_deliveries:,} deliveries per run; relay durability full, "
                                         f"receipts on", out)
    if "idle" in results:
        report.idle(results["idle"], f"{a.idle_connections:,} authenticated, server resident memory "
                                     f"after minus before", out)
    if "catchup" in results:
        report.catchup(results["catchup"], f"{a.devices} relay devices reconnect at once after "
                                           f"{a.missed:,} missed messages", out)
    print(f"\n({time.monotonic() - started:.0f} s in all)")
    report.json_line(out)


if __name__ == "__main__":
    main()
