"""imr.aio against a real relay (``imrctl relay``, path in IMR_IMRCTL; ``make test-python`` sets it)."""

import asyncio
import os
import re
import socket
import subprocess
import tempfile

import pytest

import imr
from imr import EventKind
from imr.aio import Connected, Disconnected

IMRCTL = os.environ.get("IMR_IMRCTL")
pytestmark = pytest.mark.skipif(not IMRCTL, reason="IMR_IMRCTL (the imrctl binary) is not set")


class RelayProcess:
    def __init__(self, listen="127.0.0.1:0", db=None):
        args = [IMRCTL, "relay", "--listen", listen, "--insecure-user-tokens", "--rate", "0",
                "--conversation", "general:alice,bob", "--log-level", "warning"]
        if db:
            args += ["--db", db]
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.process.stdout.readline()
        m = re.search(r"listening on (\S+):(\d+)", line)
        assert m, f"the relay did not start: {line!r}"
        self.port = int(m.group(2))
        self.address = f"127.0.0.1:{self.port}"

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture
def relay():
    r = RelayProcess()
    yield r
    r.stop()


def dead_address() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def fast(**settings):
    return dict(reconnect_delays=(0.02, 0.2), ack_timeout_ms=300, gap_grace_ms=50, poll_interval_ms=200, **settings)


async def next_matching(client, match, timeout=10.0):
    async def scan():
        async for update in client.events():
            found = match(update)
            if found is not None:
                return found
    return await asyncio.wait_for(scan(), timeout)


def received_text(update):
    if isinstance(update, imr.Event) and update.kind == EventKind.MESSAGE_RECEIVED:
        return update.payload.decode()
    return None


def test_send_and_receive_after_failing_over_from_a_dead_address(relay):
    async def main():
        servers = [dead_address(), relay.address]
        async with imr.aio.connect(servers, token="alice", node_id=1, **fast()) as alice, \
                imr.aio.connect([relay.address], token="bob", node_id=2, **fast()) as bob:
            connected = await next_matching(alice, lambda u: u if isinstance(u, Connected) else None)
            assert connected.server == ("127.0.0.1", relay.port)
            message_id = await alice.send("general", "hello bob")
            assert await next_matching(bob, received_text) == "hello bob"
            sent = await next_matching(alice, lambda u: u if isinstance(u, imr.Event)
                                       and u.kind == EventKind.MESSAGE_SENT else None)
            assert sent.message_id == message_id and sent.seq == 1
            assert [e.seq for e in alice.outbox()] == [1]
            assert [m.payload for m in bob.timeline("general")] == [b"hello bob"]
    asyncio.run(main())


def test_failover_to_a_second_relay_mid_stream_loses_nothing():
    """Relay A stops mid-stream; relay B takes over the same store at the second address."""
    with tempfile.TemporaryDirectory() as d:
        db = os.path.join(d, "relay.sqlite")
        relay = RelayProcess(db=db)
        second = dead_address()

        async def main():
            nonlocal relay
            servers = [relay.address, second]
            async with imr.aio.connect(servers, token="alice", node_id=1, **fast()) as alice, \
                    imr.aio.connect(servers, token="bob", node_id=2, **fast()) as bob:
                async def collect():
                    texts = []
                    async for update in bob.events():
                        text = received_text(update)
                        if text is not None:
                            texts.append(text)
                            if len(texts) == 10:
                                return texts
                collector = asyncio.create_task(collect())
                for i in range(5):
                    await alice.send("general", f"m{i}")
                await asyncio.sleep(0.3)
                relay.stop()
                for i in range(5, 10):  # recorded while no relay runs; delivered after the restart
                    await alice.send("general", f"m{i}")
                relay = RelayProcess(listen=second, db=db)
                texts = await asyncio.wait_for(collector, 20)
                assert sorted(texts) == sorted(f"m{i}" for i in range(10)), "every message once"
                for _ in range(200):
                    if all(e.state == imr.State.SENT for e in alice.outbox()):
                        break
                    await asyncio.sleep(0.05)
                assert [e.state for e in alice.outbox()] == [imr.State.SENT] * 10
        try:
            asyncio.run(main())
        finally:
            relay.stop()


def test_a_consumer_that_never_reads_stays_bounded_and_close_ends_events(relay):
    async def main():
        client = imr.aio.connect([relay.address], token="alice", node_id=1, max_events=4, **fast())
        client.start()
        for i in range(30):
            await client.send("general", f"m{i}")
        for _ in range(200):
            if all(e.state == imr.State.SENT for e in client.outbox()):
                break
            await asyncio.sleep(0.02)
        assert all(e.state == imr.State.SENT for e in client.outbox()), "the engine's state is complete"
        assert client.dropped_events > 0
        await client.close()
        held = [u async for u in client.events()]
        assert len(held) == 4 and any(isinstance(u, Connected) for u in held)
        with pytest.raises(RuntimeError):
            await client.send("general", "after close")
    asyncio.run(main())


def test_unreachable_addresses_are_reported_and_bad_ones_refused():
    async def main():
        async with imr.aio.connect([dead_address()], token="alice", node_id=1, **fast()) as client:
            notice = await next_matching(client, lambda u: u if isinstance(u, Disconnected) else None)
            assert "cannot connect" in notice.reason and notice.retry_in >= 0
            message_id = await client.send("general", "kept for later")  # offline: recorded, not lost
            assert [e.message_id for e in client.outbox()] == [message_id]
        for bad in ([], ["no-port"], ["host:0"], ["host:70000"], [":7700"]):
            with pytest.raises(ValueError):
                imr.aio.connect(bad, token="alice", node_id=1)
    asyncio.run(main())


def test_tls_and_jwt_end_to_end_and_their_refusals():
    """A relay with a throwaway CA's certificate (`imrctl cert`) and HS256 JWTs (`imrctl token`)."""
    import ssl

    with tempfile.TemporaryDirectory() as d:
        subprocess.run([IMRCTL, "cert", "--out", d, "--host", "127.0.0.1"], check=True, capture_output=True)
        secret = os.path.join(d, "secret")

        def token(user):
            return subprocess.run([IMRCTL, "token", "--user", user, "--secret-file", secret, "--create-secret"],
                                  check=True, capture_output=True, text=True).stdout.strip()

        alice_token, bob_token = token("alice"), token("bob")
        process = subprocess.Popen([IMRCTL, "relay", "--listen", "127.0.0.1:0", "--secret-file", secret,
                                    "--tls-cert", os.path.join(d, "relay.pem"), "--tls-key", os.path.join(d, "relay.key"),
                                    "--conversation", "general:alice,bob", "--log-level", "warning"],
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            m = re.search(r"listening on (\S+:\d+) tls", process.stdout.readline())
            assert m, "the TLS relay did not start"
            server = m.group(1)
            trusted = ssl.create_default_context(cafile=os.path.join(d, "ca.pem"))

            async def main():
                async with imr.aio.connect([server], ssl=trusted, token=alice_token, node_id=1, **fast()) as alice, \
                        imr.aio.connect([server], ssl=trusted, token=bob_token, node_id=2, **fast()) as bob:
                    await alice.send("general", "over tls with a jwt")
                    assert await next_matching(bob, received_text) == "over tls with a jwt"

                # Not trusting the CA: the handshake fails, the reason says why, nothing is live.
                async with imr.aio.connect([server], ssl=ssl.create_default_context(), token=alice_token, node_id=3,
                                           **fast()) as stranger:
                    notice = await next_matching(stranger, lambda u: u if isinstance(u, Disconnected) else None)
                    assert "CERTIFICATE_VERIFY_FAILED" in notice.reason
                # A forged token: the relay refuses it with a fatal AUTH_FAILED error event.
                async with imr.aio.connect([server], ssl=trusted, token=alice_token[:-4] + "AAAA", node_id=4,
                                           **fast()) as forger:
                    refused = await next_matching(forger, lambda u: u if isinstance(u, imr.Event)
                                                  and u.kind == EventKind.SERVER_ERROR else None)
                    assert refused.fatal and refused.code == imr.WireError.AUTH_FAILED
            asyncio.run(main())
        finally:
            process.terminate()
            process.wait(timeout=10)
