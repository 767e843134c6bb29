#!/usr/bin/env python3
"""End to end over real sockets: the relay (`imrctl relay`), the C chat client
(bindings/c/examples/chat.c) and the asyncio chat client (bindings/python/examples).

alice (C) and bob (Python) each type lines; each must see its own lines sent and the
other's lines received, in the same order everywhere.

    examples_test.py --imrctl .build/debug/imrctl --c-chat bindings/c/build/imr-chat-c \\
                     --library build/lib/libimr.so.0
"""

import argparse
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--imrctl", required=True)
    p.add_argument("--c-chat", required=True)
    p.add_argument("--library", required=True)
    a = p.parse_args()

    relay = subprocess.Popen([a.imrctl, "relay", "--listen", "127.0.0.1:0", "--insecure-user-tokens",
                              "--conversation", "general:alice,bob", "--log-level", "warning"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = relay.stdout.readline()
        m = re.search(r"listening on (\S+:\d+)", line)
        if not m:
            print(f"examples_test: the relay did not start: {line!r}", file=sys.stderr)
            return 1
        server = m.group(1)
        # Both clients are given an unreachable relay first: they fail over to the real one.
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            dead = f"127.0.0.1:{s.getsockname()[1]}"
        servers = f"{dead},{server}"
        env = dict(os.environ, IMR_LIBRARY=str(Path(a.library).resolve()),
                   PYTHONPATH=str(ROOT / "bindings" / "python"))
        alice_lines = ["alice one", "alice two"]
        bob_lines = ["bob one"]
        feed_a = subprocess.Popen(["sh", "-c", "sleep 0.5; printf 'alice one\\nalice two\\n'; sleep 3"],
                                  stdout=subprocess.PIPE)
        alice = subprocess.Popen([a.c_chat, "--server", servers, "--token", "alice", "--conversation", "general",
                                  "--node", "0xA11CE"], stdin=feed_a.stdout, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        feed_b = subprocess.Popen(["sh", "-c", "sleep 1.5; printf 'bob one\\n'; sleep 3"], stdout=subprocess.PIPE)
        bob = subprocess.Popen([sys.executable, str(ROOT / "bindings" / "python" / "examples" / "chat_asyncio.py"),
                                "--server", servers, "--token", "bob", "--conversation", "general"],
                               stdin=feed_b.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        a_out, a_err = alice.communicate(timeout=30)
        b_out, b_err = bob.communicate(timeout=30)
    finally:
        relay.terminate()
        relay.wait(timeout=10)

    problems = []
    a_sent = re.findall(r"sent \(#(\d+)\)", a_out)
    b_sent = re.findall(r"sent \(#(\d+)\)", b_out)
    if len(a_sent) != len(alice_lines):
        problems.append(f"alice (C) sent {len(a_sent)} of {len(alice_lines)}")
    if len(b_sent) != len(bob_lines):
        problems.append(f"bob (Python) sent {len(b_sent)} of {len(bob_lines)}")
    a_seen = re.findall(r"^\[(\d+)\] (\w+): (.*)$", a_out, re.M)
    b_seen = re.findall(r"^\[(\d+)\] (\w+): (.*)$", b_out, re.M)
    if [t for _, u, t in a_seen if u == "bob"] != bob_lines:
        problems.append(f"alice (C) did not receive bob's lines: {a_seen}")
    if [t for _, u, t in b_seen if u == "alice"] != alice_lines:
        problems.append(f"bob (Python) did not receive alice's lines: {b_seen}")
    for name, err in (("alice (C)", a_err), ("bob (Python)", b_err)):
        if f"connected to {server}" not in err:
            problems.append(f"{name} did not fail over to {server}")
    if alice.returncode != 0 or bob.returncode != 0:
        problems.append(f"exit codes: C {alice.returncode}, Python {bob.returncode}")
    if problems:
        for p_ in problems:
            print("examples_test: " + p_, file=sys.stderr)
        print("--- alice (C)\n" + a_out + a_err + "--- bob (Python)\n" + b_out + b_err, file=sys.stderr)
        return 1
    print(f"examples_test: C and asyncio chat clients over the relay, each after failing over from an unreachable "
          f"address: {len(a_sent) + len(b_sent)} messages sent and received both ways")
    return 0


if __name__ == "__main__":
    sys.exit(main())
