#!/usr/bin/env python3
"""The cost of one send->ack cycle driven from C and from Python, next to native Swift.

Runs the three measurements of the same cycle (client + server engine in memory; see
bindings/c/bench/send_ack.c) and prints their medians and the ratios to native; the goal
is C within 1.1x of native. Benchmarks print figures, they never fail on time.

    bench_abi.py --imrctl .build/release/imrctl --c-bench bindings/c/build/send_ack \\
                 --library build/lib/libimr.so.0 [--quick] [--json]
"""

import argparse
import json
import os
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
    a = p.parse_args()

    cycles, py_cycles, runs = (2000, 500, 3) if a.quick else (20000, 5000, 7)
    native = last_json([a.imrctl, "bench", "--only", "abi", "--json"] + (["--quick"] if a.quick else []))
    native_us = native["abi_native_send_ack_us"]
    c_us = last_json([a.c_bench, str(cycles), str(runs)])["c_send_ack_us"]
    env = dict(os.environ, IMR_LIBRARY=str(Path(a.library).resolve()),
               PYTHONPATH=str(ROOT / "bindings" / "python"))
    py_us = last_json([sys.executable, str(ROOT / "bindings" / "python" / "bench" / "send_ack.py"),
                       str(py_cycles), str(runs)], env=env)["python_send_ack_us"]

    rows = [("native Swift (IMRCore)", native_us, ""), ("C (libimr.so)", c_us, "goal <= 1.10"),
            ("Python (ctypes)", py_us, "")]
    print("send->ack cycle (client + server engine, in memory, 100-byte payload): median per cycle")
    for label, us, goal in rows:
        ratio = us / native_us if native_us else float("nan")
        print(f"  {label:<24} {us:10.3f} us   {ratio:6.2f}x native{('   (' + goal + ')') if goal else ''}")
    figures = {"abi_native_send_ack_us": native_us, "abi_c_send_ack_us": c_us, "abi_python_send_ack_us": py_us,
               "abi_c_ratio_vs_native": c_us / native_us, "abi_python_ratio_vs_native": py_us / native_us}
    if a.json:
        print(json.dumps({k: round(v, 4) for k, v in figures.items()}, sort_keys=True))


if __name__ == "__main__":
    main()
