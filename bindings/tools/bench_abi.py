#!/usr/bin/env python3
"""The cost of one send->ack cycle driven from C and from Python, next to native Swift.

Runs the three measurements of the same cycle (client + server engine in memory; see
bindings/c/bench/send_ack.c) and prints their medians and the ratios to native; the goal
is C within 1.1x of native. Benchmarks print figures, they never fail on time.

The three run interleaved, round after round (each round: native, C, Python, each the
median of its own runs); the ratios are the medians of the per-round ratios, so a machine
whose load drifts (other builds on a shared CPU) skews them less than separate batches.

    bench_abi.py --imrctl .build/release/imrctl --c-bench bindings/c/build/send_ack \\
                 --library build/lib/libimr.so.0 [--quick] [--json]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def last_json(cmd, env=None):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--imrctl", required=True)
    p.add_argument("--c-bench", required=True)
    p.add_argument("--library", required=True)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--json", action="store_true")
    p.add_argument("--rounds", type=int, default=5)
    a = p.parse_args()

    cycles, py_cycles, runs = (2000, 500, 3) if a.quick else (20000, 5000, 7)
    rounds = 1 if a.quick else a.rounds
    env = dict(os.environ, IMR_LIBRARY=str(Path(a.library).resolve()),
               PYTHONPATH=str(ROOT / "bindings" / "python"))
    native, c, py = [], [], []
    for r in range(rounds):
        native.append(last_json([a.imrctl, "bench", "--only", "abi", "--json"]
                                + (["--quick"] if a.quick else []))["abi_native_send_ack_us"])
        c.append(last_json([a.c_bench, str(cycles), str(runs)])["c_send_ack_us"])
        py.append(last_json([sys.executable, str(ROOT / "bindings" / "python" / "bench" / "send_ack.py"),
                             str(py_cycles), str(runs)], env=env)["python_send_ack_us"])
        print(f"  round {r + 1}/{rounds}: native {native[-1]:.3f} us, C {c[-1]:.3f} us, "
              f"Python {py[-1]:.3f} us", file=sys.stderr)
    native_us, c_us, py_us = statistics.median(native), statistics.median(c), statistics.median(py)
    c_ratio = statistics.median(x / n for x, n in zip(c, native))
    py_ratio = statistics.median(x / n for x, n in zip(py, native))

    rows = [("native Swift (IMRCore)", native_us, 1.0, ""), ("C (libimr.so)", c_us, c_ratio, "goal <= 1.10"),
            ("Python (ctypes)", py_us, py_ratio, "")]
    print(f"send->ack cycle (client + server engine, in memory, 100-byte payload): median per cycle, "
          f"{rounds} interleaved round(s)")
    for label, us, ratio, goal in rows:
        print(f"  {label:<24} {us:10.3f} us   {ratio:6.2f}x native{('   (' + goal + ')') if goal else ''}")
    figures = {"abi_native_send_ack_us": native_us, "abi_c_send_ack_us": c_us, "abi_python_send_ack_us": py_us,
               "abi_c_ratio_vs_native": c_ratio, "abi_python_ratio_vs_native": py_ratio}
    if a.json:
        print(json.dumps({k: round(v, 4) for k, v in figures.items()}, sort_keys=True))


if __name__ == "__main__":
    main()
