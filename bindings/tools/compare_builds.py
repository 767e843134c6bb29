#!/usr/bin/env python3
"""Two builds of imrctl measured side by side: the ratio of every figure, head over base.

On a shared machine, run times swing with the neighbours' load by far more than a change
moves them, and two builds run one after the other are measured on two different machines.
Here both run `imrctl bench --json` at the same moment, each pinned to its own CPU, and
swap CPUs every round, so both see the same load; the per-round ratios are stable to a few
percent where sequential runs were not. The medians of those ratios are printed.

Code layout alone (where functions and loops fall relative to cache lines) moved the
send->ack figure by up to 5% between builds of the same code; `make bench-compare` builds
both sides with functions and branch targets aligned to cut that noise.

    compare_builds.py BASE_IMRCTL HEAD_IMRCTL [--rounds 6] [--only client] [--json]

Rates (keys ending in `_per_s`) are better above 1; times, sizes and cost ratios below 1.
A benchmark prints figures; this never fails on them.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys


def start(binary, cpu, only):
    cmd = [binary, "bench", "--json", "--only", only]
    if cpu is not None:
        cmd = ["taskset", "-c", str(cpu)] + cmd
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def figures(process):
    out, _ = process.communicate()
    if process.returncode != 0:
        sys.exit(f"imrctl bench failed (exit {process.returncode})")
    return json.loads(out.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("base")
    p.add_argument("head")
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--only", default="client", help="the suites to run (imrctl bench --only)")
    p.add_argument("--json", action="store_true", help="also print the medians as one JSON object")
    a = p.parse_args()
    if a.rounds < 1:
        sys.exit("--rounds must be at least 1")
    for binary in (a.base, a.head):
        if not os.access(binary, os.X_OK):
            sys.exit(f"not an executable: {binary}")

    cpus = sorted(os.sched_getaffinity(0))
    paired = len(cpus) >= 2
    if not paired:
        print("one CPU only: the builds run one after the other, and the ratios carry the drift of the load",
              file=sys.stderr)
    base_runs, head_runs = [], []
    for r in range(a.rounds):
        if paired:
            first, second = (cpus[0], cpus[1]) if r % 2 == 0 else (cpus[1], cpus[0])
            b, h = start(a.base, first, a.only), start(a.head, second, a.only)
            base, head = figures(b), figures(h)
        else:
            base = figures(start(a.base, None, a.only))
            head = figures(start(a.head, None, a.only))
        base_runs.append(base)
        head_runs.append(head)
        send = "client_send_ack_per_s"
        if send in base and send in head:
            print(f"  round {r + 1}/{a.rounds}: send->ack {base[send]:,.0f} -> {head[send]:,.0f}/s "
                  f"(x{head[send] / base[send]:.3f})", flush=True)

    keys = [k for k in base_runs[0] if all(k in run for run in base_runs + head_runs)]
    width = max((len(k) for k in keys), default=10)
    print(f"{'figure':<{width}}  {'base':>14}  {'head':>14}  {'head/base':>9}  range of the rounds")
    summary = {}
    for k in keys:
        ratios = [h[k] / b[k] for b, h in zip(base_runs, head_runs) if b[k] != 0]
        base_median = statistics.median(run[k] for run in base_runs)
        head_median = statistics.median(run[k] for run in head_runs)
        ratio = statistics.median(ratios) if ratios else float("nan")
        spread = f"{min(ratios):.3f}-{max(ratios):.3f}" if ratios else "-"
        print(f"{k:<{width}}  {base_median:>14,.3f}  {head_median:>14,.3f}  {ratio:>9.3f}  {spread}")
        summary[k] = {"base": base_median, "head": head_median, "ratio": ratio}
    print(f"medians of {a.rounds} round(s); {'both builds at once, one CPU each' if paired else 'one after the other'}")
    if a.json:
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
