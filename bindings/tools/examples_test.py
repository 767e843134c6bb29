#!/usr/bin/env python3
"""End to end over real sockets, three languages through one relay with TLS and JWTs.

The relay (`imrctl relay`) has a certificate from a throwaway CA (`imrctl cert`) and checks
HS256 JWTs minted with `imrctl token`; beside its TLS listener it has a plaintext one on
loopback. alice is the C chat client (bindings/c/examples/chat.c, plaintext: TLS in C is left
to the host), bob the asyncio chat client (bindings/python/examples, on imr.aio, TLS) and carol
`imrctl chat` (Swift, on IMRClient, TLS). Each is given an unreachable address first and fails
over to the relay; each types lines and must see its own lines sent and everyone else's
received, in the same order everywhere. A client trusting no CA and a forged token are refused.
Then the C client over two relays sharing a store, the first killed mid-run.

    examples_test.py --imrctl .build/debug/imrctl --c-chat bindings/c/build/imr-chat-c \\
                     --library build/lib/libimr.so.0
"""

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def dead_address():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def typed(lines, delay):
    """A process that types `lines` after `delay` seconds, then keeps stdin open a while."""
    script = f"sleep {delay}; printf '{''.join(line + chr(92) + 'n' for line in lines)}'; sleep 4"
    return subprocess.Popen(["sh", "-c", script], stdout=subprocess.PIPE)


def start_relay(imrctl, listen, db):
    relay = subprocess.Popen([imrctl, "relay", "--listen", listen, "--insecure-user-tokens", "--db", db,
                              "--conversation", "general:alice,bob", "--log-level", "warning"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    m = re.search(r"listening on (\S+:\d+)", relay.stdout.readline())
    if not m:
        relay.kill()
        raise RuntimeError("the relay did not start")
    return relay, m.group(1)


def c_over_two_relays(a):
    """The C client over two relays sharing a store: the first is killed (SIGKILL) after the
    client's first message; the second takes over; the second message gets the next seq."""
    with tempfile.TemporaryDirectory() as work:
        db = os.path.join(work, "relay.sqlite")
        first, first_address = start_relay(a.imrctl, "127.0.0.1:0", db)
        second_address = dead_address()
        second = None
        try:
            feed = subprocess.Popen(["sh", "-c", "sleep 0.5; printf 'before\\n'; sleep 3; printf 'after\\n'; sleep 6"],
                                    stdout=subprocess.PIPE)
            alice = subprocess.Popen([a.c_chat, "--server", f"{first_address},{second_address}", "--token", "alice",
                                      "--conversation", "general", "--node", "0xA11CE", "--quit-after-sent", "2"],
                                     stdin=feed.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            time.sleep(2)
            first.kill()
            first.wait()
            second, _ = start_relay(a.imrctl, second_address, db)
            out, err = alice.communicate(timeout=60)
            feed.kill()
        finally:
            for r in (first, second):
                if r is not None and r.poll() is None:
                    r.terminate()
                    r.wait(timeout=10)
    problems = []
    seqs = re.findall(r"sent \(#(\d+)\)", out)
    if seqs != ["1", "2"]:
        problems.append(f"the C client over two relays: sent {seqs}, not #1 then #2")
    if f"connected to {second_address}" not in err:
        problems.append("the C client did not fail over to the second relay")
    if alice.returncode != 0:
        problems.append(f"the C client over two relays exited with {alice.returncode}")
    return problems, out + err


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--imrctl", required=True)
    p.add_argument("--c-chat", required=True)
    p.add_argument("--library", required=True)
    a = p.parse_args()

    with tempfile.TemporaryDirectory() as work:
        secret = os.path.join(work, "relay.secret")
        subprocess.run([a.imrctl, "cert", "--out", work, "--host", "127.0.0.1"], check=True, capture_output=True)

        def token(user):
            return subprocess.run([a.imrctl, "token", "--user", user, "--secret-file", secret, "--create-secret",
                                   "--ttl", "600"], check=True, capture_output=True, text=True).stdout.strip()

        tokens = {user: token(user) for user in ("alice", "bob", "carol")}
        relay = subprocess.Popen([a.imrctl, "relay", "--listen", "127.0.0.1:0", "--secret-file", secret,
                                  "--tls-cert", os.path.join(work, "relay.pem"), "--tls-key", os.path.join(work, "relay.key"),
                                  "--plain-listen", "127.0.0.1:0", "--conversation", "general:alice,bob,carol",
                                  "--log-level", "warning"],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            line = relay.stdout.readline()
            m = re.search(r"listening on (\S+:\d+) tls plaintext (\S+:\d+)", line)
            if not m:
                print(f"examples_test: the relay did not start: {line!r}", file=sys.stderr)
                return 1
            tls_server, plain_server = m.group(1), m.group(2)
            dead = dead_address()
            ca = os.path.join(work, "ca.pem")
            env = dict(os.environ, IMR_LIBRARY=str(Path(a.library).resolve()),
                       PYTHONPATH=str(ROOT / "bindings" / "python"))
            lines = {"alice": ["alice one", "alice two"], "bob": ["bob one"], "carol": ["carol one"]}
            feeds = {"alice": typed(lines["alice"], 0.5), "bob": typed(lines["bob"], 1.5), "carol": typed(lines["carol"], 2.5)}
            clients = {
                "alice": subprocess.Popen([a.c_chat, "--server", f"{dead},{plain_server}", "--token", tokens["alice"],
                                           "--conversation", "general", "--node", "0xA11CE"],
                                          stdin=feeds["alice"].stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
                "bob": subprocess.Popen([sys.executable, str(ROOT / "bindings" / "python" / "examples" / "chat_asyncio.py"),
                                         "--server", f"{dead},{tls_server}", "--ca-file", ca, "--token", tokens["bob"],
                                         "--conversation", "general"],
                                        stdin=feeds["bob"].stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        env=env),
                "carol": subprocess.Popen([a.imrctl, "chat", "--server", f"{dead},{tls_server}", "--ca-file", ca,
                                           "--user", "carol", "--token", tokens["carol"], "--conversation", "general"],
                                          stdin=feeds["carol"].stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
            }
            # Refused: a client that does not trust the relay's CA, and a forged token.
            stranger = subprocess.run([a.imrctl, "chat", "--server", tls_server, "--tls", "--user", "alice",
                                       "--token", tokens["alice"], "--conversation", "general", "--drain-timeout", "1"],
                                      input="never sent\n", capture_output=True, text=True, timeout=60)
            forger = subprocess.run([a.imrctl, "chat", "--server", tls_server, "--ca-file", ca, "--user", "alice",
                                     "--token", tokens["alice"][:-4] + "AAAA", "--conversation", "general",
                                     "--drain-timeout", "1"],
                                    input="never sent\n", capture_output=True, text=True, timeout=60)
            outputs = {name: c.communicate(timeout=60) for name, c in clients.items()}
        finally:
            relay.terminate()
            relay.wait(timeout=10)

    problems, failover_log = c_over_two_relays(a)
    received = {}
    for name, (out, err) in outputs.items():
        sent = re.findall(r"sent \(#(\d+)\)", out)
        if len(sent) != len(lines[name]):
            problems.append(f"{name} sent {len(sent)} of {len(lines[name])}")
        # C and Python print "[seq] user: text", imrctl chat "#seq user: text".
        received[name] = [(int(s), u, t) for s, u, t in re.findall(r"^\[?#?(\d+)\]? (\w+): (.*)$", out, re.M)
                          if u in lines]
        for other in lines:
            if other != name and [t for _, u, t in received[name] if u == other] != lines[other]:
                problems.append(f"{name} did not receive {other}'s lines: {received[name]}")
        connected = (plain_server if name == "alice" else tls_server)
        if connected not in err and connected not in out:
            problems.append(f"{name} did not fail over to {connected}")
        if clients[name].returncode != 0:
            problems.append(f"{name} exited with {clients[name].returncode}")
    seqs = {}
    for r in received.values():
        for s, u, t in r:
            if seqs.setdefault(s, (u, t)) != (u, t):
                problems.append(f"seq {s} differs between clients")
    if "CERTIFICATE_VERIFY_FAILED" not in stranger.stdout + stranger.stderr:
        problems.append("a client trusting no CA was not refused the relay's certificate")
    if "sent (#" in stranger.stdout:
        problems.append("the untrusting client sent something")
    if "refused" not in forger.stdout + forger.stderr or "sent (#" in forger.stdout:
        problems.append(f"a forged token was not refused: {forger.stdout} {forger.stderr}")
    if problems:
        for p_ in problems:
            print("examples_test: " + p_, file=sys.stderr)
        for name, (out, err) in outputs.items():
            print(f"--- {name}\n{out}{err}", file=sys.stderr)
        print(f"--- stranger\n{stranger.stdout}{stranger.stderr}--- forger\n{forger.stdout}{forger.stderr}", file=sys.stderr)
        print(f"--- C over two relays\n{failover_log}", file=sys.stderr)
        return 1
    total = sum(len(v) for v in lines.values())
    print(f"examples_test: C (plaintext), asyncio Python and Swift (TLS) chat clients, JWTs, each after failing over from "
          f"an unreachable address: {total} messages sent, every one received by the two others in one order; "
          f"an untrusted certificate and a forged token refused; the C client kept its seqs across a killed relay")
    return 0


if __name__ == "__main__":
    sys.exit(main())
