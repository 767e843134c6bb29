"""The tables and the JSON line of `make bench-relay`, from the results of every round.

Figures are medians over rounds; ratios are relay / peer of those medians (above 1 is better
for rates, below 1 for latencies, CPU and memory); lost and duplicated are totals.
"""

import json
import statistics

NAMES = {"relay-full": "relay, durability full", "relay-normal": "relay, durability normal",
         "nats": "NATS JetStream", "mosquitto": "mosquitto QoS 1"}
PEERS = ("nats", "mosquitto")
RELAYS = ("relay-full", "relay-normal")

# key, column title, format
MAIN_FIGURES = [
    ("acks_per_s", "acks/s", "rate"),
    ("deliveries_per_s", "deliv/s", "rate"),
    ("ack_p50_ms", "ack p50", "ms"),
    ("ack_p99_ms", "ack p99", "ms"),
    ("delivery_p50_ms", "dlv p50", "ms"),
    ("delivery_p99_ms", "dlv p99", "ms"),
    ("server_cpu_us_per_msg", "CPU/msg", "us"),
    ("server_peak_rss_kib", "peak RSS", "kib"),
]


def median(runs, key):
    values = [r[key] for r in runs if r is not None and r.get(key, -1) >= 0]
    return statistics.median(values) if values else None


def total(runs, key):
    return sum(r[key] for r in runs if r is not None)


def fmt(value, kind):
    if value is None:
        return "-"
    if kind == "rate":
        return f"{value / 1000:.1f}k" if value >= 1000 else f"{value:.0f}"
    if kind == "ms":
        return f"{value:.2f} ms" if value < 1000 else f"{value / 1000:.2f} s"
    if kind == "us":
        return f"{value:.1f} us"
    if kind == "kib":
        return f"{value / 1024:.1f} MiB"
    if kind == "ratio":
        return f"{value:.2f}x"
    return f"{value}"


def ratio(a, b):
    return a / b if a is not None and b else None


def key_name(system):
    return system.replace("-", "_")


def table(header, rows):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
    print(line(header))
    for r in rows:
        print(line(r))


def main_load(results, shape, out):
    """results: system -> list of run results (None for a failed run)."""
    systems = [s for s in NAMES if s in results]
    print(f"\nMain load: {shape}")
    header = ["system"] + [title for _, title, _ in MAIN_FIGURES] + ["lost", "dup", "load gen CPU/msg"]
    rows = []
    for s in systems:
        runs = results[s]
        rows.append([NAMES[s]] + [fmt(median(runs, k), kind) for k, _, kind in MAIN_FIGURES]
                    + [total(runs, "lost"), total(runs, "duplicated"), fmt(median(runs, "client_cpu_us_per_msg"), "us")])
        for k, _, _ in MAIN_FIGURES:
            out[f"{key_name(s)}_{k}"] = median(runs, k)
        out[f"{key_name(s)}_lost"] = total(runs, "lost")
        out[f"{key_name(s)}_duplicated"] = total(runs, "duplicated")
        out[f"{key_name(s)}_errors"] = total(runs, "errors")
    table(header, rows)
    print("\nRatios, relay / peer (rates: above 1 is better; times, CPU, memory: below 1 is better)")
    rows = []
    for relay in (r for r in RELAYS if r in results):
        for peer in (p for p in PEERS if p in results):
            row = [f"{NAMES[relay]} / {NAMES[peer]}"]
            for k, _, _ in MAIN_FIGURES:
                value = ratio(median(results[relay], k), median(results[peer], k))
                row.append(fmt(value, "ratio"))
                out[f"{key_name(relay)}_vs_{peer}_{k}"] = value
            rows.append(row)
    table(["ratio"] + [title for _, title, _ in MAIN_FIGURES], rows)


def fanout(results, shape, out):
    """results: members -> system -> runs."""
    print(f"\nFan-out: {shape}")
    header = ["members", "relay deliv/s", "JetStream", "mosquitto", "relay p99", "JetStream p99", "mosquitto p99",
              "relay / best peer deliv/s", "relay / best peer p99", "lost", "dup"]
    rows = []
    for members, by_system in sorted(results.items()):
        rate = {s: median(runs, "deliveries_per_s") for s, runs in by_system.items()}
        p99 = {s: median(runs, "delivery_p99_ms") for s, runs in by_system.items()}
        peers_rate = [rate[p] for p in PEERS if rate.get(p)]
        peers_p99 = [p99[p] for p in PEERS if p99.get(p)]
        best_rate = max(peers_rate) if peers_rate else None
        best_p99 = min(peers_p99) if peers_p99 else None
        lost = sum(total(runs, "lost") for runs in by_system.values())
        dup = sum(total(runs, "duplicated") for runs in by_system.values())
        rows.append([f"{members:,}", fmt(rate.get("relay-full"), "rate"), fmt(rate.get("nats"), "rate"),
                     fmt(rate.get("mosquitto"), "rate"), fmt(p99.get("relay-full"), "ms"), fmt(p99.get("nats"), "ms"),
                     fmt(p99.get("mosquitto"), "ms"), fmt(ratio(rate.get("relay-full"), best_rate), "ratio"),
                     fmt(ratio(p99.get("relay-full"), best_p99), "ratio"), lost, dup])
        for s in by_system:
            out[f"fanout{members}_{key_name(s)}_deliveries_per_s"] = rate[s]
            out[f"fanout{members}_{key_name(s)}_delivery_p99_ms"] = p99[s]
            out[f"fanout{members}_{key_name(s)}_lost"] = total(by_system[s], "lost")
            out[f"fanout{members}_{key_name(s)}_duplicated"] = total(by_system[s], "duplicated")
        out[f"fanout{members}_relay_vs_best_peer_deliveries_per_s"] = ratio(rate.get("relay-full"), best_rate)
        out[f"fanout{members}_relay_vs_best_peer_delivery_p99_ms"] = ratio(p99.get("relay-full"), best_p99)
    table(header, rows)
    print("(lost and dup: all three systems together)")


def idle(results, shape, out):
    print(f"\nIdle connections: {shape}")
    per = {s: median(runs, "kib_per_connection") for s, runs in results.items()}
    rows = []
    for s in (s for s in NAMES if s in per):
        note = ""
        if s in RELAYS:
            note = ", ".join(f"{fmt(ratio(per[s], per[p]), 'ratio')} {NAMES[p]}" for p in PEERS if p in per)
        rows.append([NAMES[s], "-" if per[s] is None else f"{per[s]:.2f} KiB", note])
        out[f"idle_{key_name(s)}_kib_per_connection"] = per[s]
    table(["system", "server memory per connection", "relay / peer"], rows)


def catchup(results, shape, out):
    runs = results.get("relay-full", [])
    seconds = median(runs, "catchup_s")
    lost, dup = total(runs, "lost"), total(runs, "duplicated")
    print(f"\nCatch-up: {shape}: every device holds every message after "
          f"{'-' if seconds is None else f'{seconds:.3f} s'} (median; lost {lost}, duplicated {dup})")
    out["catchup_relay_full_s"] = seconds
    out["catchup_relay_full_lost"] = lost
    out["catchup_relay_full_duplicated"] = dup


def json_line(out):
    print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in sorted(out.items())}))
