#!/usr/bin/env python3
"""send_ack — the cost of one send->ack cycle driven from Python through libimr.

    python3 send_ack.py [CYCLES] [RUNS]      (defaults 5000, 7)

The same cycle as bindings/c/bench/send_ack.c and the native Swift figure (`imrctl bench
--only abi`): one client and one server engine in memory; send a 100-byte payload, move
frames both ways until nothing moves, drain both event queues. Prints the median
CPU microseconds per cycle, and the JSON on the last line.
"""

import json
import statistics
import sys
import time

import imr


def setup():
    server = imr.Server(rate_limit_burst=0)
    server.add_token("bench-token", "alice")
    server.create_conversation("bench", ["alice"])
    client = imr.Client(node_id=1, seed=1, token="bench-token")
    now = 1000
    session = server.open_session(now)
    client.connected(now)
    pump(client, server, session, now)
    return client, server, session, now


def pump(client, server, session, now):
    moved = True
    while moved:
        moved = False
        for frame in client.transmits():
            server.handle_frame(session, frame, now)
            moved = True
        for out in server.outputs():
            if not out.close:
                client.handle_frame(out.frame, now)
            moved = True
    for _ in client.events():
        pass
    for _ in server.events():
        pass


def run(cycles):
    client, server, session, now = setup()
    payload = b"x" * 100
    start = time.process_time()  # CPU time: robust on a shared, loaded machine
    for _ in range(cycles):
        now += 1
        client.send("bench", payload, now)
        pump(client, server, session, now)
    elapsed = time.process_time() - start
    assert client.outbox()[0].state is imr.State.SENT
    client.close()
    server.close()
    return elapsed / cycles * 1e6


def main():
    cycles = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    run(cycles // 10 + 1)
    us = sorted(run(cycles) for _ in range(runs))
    median = statistics.median(us)
    print(f"Python send->ack cycle: median {median:.3f} us ({runs} runs of {cycles} cycles; "
          f"min {us[0]:.3f}, max {us[-1]:.3f})")
    print(json.dumps({"python_send_ack_us": round(median, 4)}))


if __name__ == "__main__":
    main()
