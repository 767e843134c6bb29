"""Random and mutated bytes through every entry point that takes peer bytes: the library
answers with an error code (ImrError) or accepts, and never takes the process down."""

import random

import imr
from imr import Client, ImrError, Server, Splitter, VectorClock

import frames


def valid_frames():
    """Frames of a real exchange: client -> server and server -> client."""
    with Server(rate_limit_burst=0) as server, Client(node_id=7, token="t", seed=3) as client:
        server.add_token("t", "alice")
        server.create_conversation("general", ["alice"])
        session = server.open_session(0)
        client.connected(0)
        up, down = [], []
        for n in range(3):
            client.send("general", b"payload %d" % n, n)
            for _ in range(3):
                for f in client.transmits():
                    up.append(f)
                    server.handle_frame(session, f, n)
                for out in server.outputs():
                    if out.frame:
                        down.append(out.frame)
                        client.handle_frame(out.frame, n)
        return up, down


def mutate(rng, data):
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(4)
        if op == 0 and data:
            data[rng.randrange(len(data))] = rng.randrange(256)
        elif op == 1 and data:
            del data[rng.randrange(len(data)):][: rng.randint(1, 8)]
        elif op == 2:
            data.insert(rng.randint(0, len(data)), rng.randrange(256))
        else:
            data += bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    return bytes(data)


def test_mutated_and_random_bytes_never_crash():
    rng = random.Random(2026)
    up, down = valid_frames()
    assert up and down
    clock = VectorClock()
    clock.increment(1)
    clock.increment(99)
    samples = up + down + [clock.encode(), frames.hello("t", 1)]
    with Server() as server, Client(node_id=9, token="t") as client:
        server.add_token("t", "alice")
        server.create_conversation("general", ["alice"])
        client.connected(0)
        session = server.open_session(0)
        server.handle_frame(session, frames.hello("t", 9), 0)
        accepted = refused = 0
        for i in range(4000):
            data = mutate(rng, rng.choice(samples)) if i % 4 else bytes(rng.randrange(256) for _ in range(rng.randint(0, 64)))
            for call in (lambda: client.handle_frame(data, i), lambda: VectorClock.decode(data).close()):
                try:
                    call()
                    accepted += 1
                except ImrError:
                    refused += 1
            server.handle_frame(session, data, i)  # the peer's fault: never an error for the host
            for out in server.outputs():
                if out.close:
                    session = server.open_session(i)
                    server.handle_frame(session, frames.hello("t", 9), i)
            list(server.events())
            list(client.transmits())
            list(client.events())
            with Splitter(max_frame_bytes=256) as s:
                try:
                    s.push(data)
                    list(s)
                except ImrError as e:
                    assert e.fatal or e.code is imr.ErrorCode.TOO_LARGE
        assert accepted > 0 and refused > 0
