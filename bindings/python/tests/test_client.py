import pytest

import imr
from imr import Client, ErrorCode, EventKind, Failure, ImrError, Server, State, VectorClock, WireError


class Net:
    """Clients wired to an in-process server: frames move when pump() runs."""

    def __init__(self, server):
        self.server = server
        self.sessions = {}   # client -> session
        self.now = 1000

    def connect(self, client):
        self.sessions[client] = self.server.open_session(self.now)
        client.connected(self.now)

    def disconnect(self, client):
        session = self.sessions.pop(client)
        self.server.close_session(session, self.now)
        client.disconnected(self.now)

    def pump(self):
        moved = True
        while moved:
            moved = False
            for client, session in list(self.sessions.items()):
                for frame in client.transmits():
                    self.server.handle_frame(session, frame, self.now)
                    moved = True
            by_session = {s: c for c, s in self.sessions.items()}
            for out in self.server.outputs():
                client = by_session.get(out.session)
                if client is None:
                    continue
                moved = True
                if out.close:
                    del self.sessions[client]
                    client.disconnected(self.now)
                else:
                    try:
                        client.handle_frame(out.frame, self.now)
                    except ImrError as e:
                        assert e.code is ErrorCode.PROTOCOL


def events(client, kind):
    return [e for e in client.events() if e.kind == kind]


@pytest.fixture
def net():
    with Server(rate_limit_burst=0) as server:
        server.add_token("alice-token", "alice")
        server.add_token("bob-token", "bob")
        server.create_conversation("general", ["alice", "bob"])
        yield Net(server)


def test_send_ack_receive(net):
    with Client(node_id=1, token="alice-token", seed=1) as alice, Client(node_id=2, token="bob-token", seed=2) as bob:
        net.connect(alice)
        net.connect(bob)
        net.pump()
        assert events(alice, EventKind.CONNECTION_READY) and events(bob, EventKind.CONNECTION_READY)

        mid = alice.send("general", b"hello, bob", net.now)
        assert len(mid) == 16
        net.pump()
        (sent,) = events(alice, EventKind.MESSAGE_SENT)
        assert (sent.message_id, sent.seq, sent.conversation) == (mid, 1, "general")
        (got,) = events(bob, EventKind.MESSAGE_RECEIVED)
        assert (got.message_id, got.seq, got.user, got.node, got.payload) == (mid, 1, "alice", 1, b"hello, bob")
        assert VectorClock.decode(got.clock).to_dict() == {1: 1}
        assert bob.cursor("general") == 1
        assert bob.clock("general").to_dict() == {1: 1}

        (entry,) = alice.outbox()
        assert entry.state is State.SENT and entry.seq == 1 and entry.message_id == mid

        reply = bob.send("general", b"hi alice", net.now)
        net.pump()
        a = alice.timeline("general", history=True)
        b = bob.timeline("general", history=True)
        assert [m.message_id for m in a] == [m.message_id for m in b] == [mid, reply]
        assert [m.seq for m in a] == [1, 2] and a[1].depth > a[0].depth
        assert alice.timeline("general", offset=1) == a[1:]
        assert alice.timeline("general", limit=1) == alice.timeline("general")[:1]
        assert alice.timeline("general", offset=5) == []


def test_offline_failure_and_retry(net):
    with Client(node_id=1, token="alice-token", max_offline_age_ms=5000) as alice, \
            Client(node_id=2, token="bob-token") as bob:
        net.connect(bob)
        mid = alice.send("general", b"while offline", net.now)
        assert list(alice.events()) == []  # a new message is sending without an event
        assert alice.next_timeout is not None
        alice.handle_timeout(net.now + 6000)
        (failed,) = events(alice, EventKind.MESSAGE_FAILED)
        assert failed.code == Failure.MAX_OFFLINE_AGE
        assert alice.outbox()[0].state is State.FAILED
        alice.retry(mid, net.now + 6001)
        (retried,) = events(alice, EventKind.MESSAGE_SENDING)
        assert retried.message_id == mid
        net.now += 6002
        net.connect(alice)
        net.pump()
        assert events(alice, EventKind.MESSAGE_SENT)[0].message_id == mid
        assert events(bob, EventKind.MESSAGE_RECEIVED)[0].payload == b"while offline"


def test_bad_token_is_a_fatal_server_error(net):
    with Client(node_id=3, token="forged") as intruder:
        net.connect(intruder)
        net.pump()
        (error,) = events(intruder, EventKind.SERVER_ERROR)
        assert error.code == WireError.AUTH_FAILED and error.fatal
        assert intruder not in net.sessions


def test_argument_errors():
    with pytest.raises(ImrError) as info:
        Client(token="x")  # no node id
    assert info.value.code is ErrorCode.INVALID_ARG
    with Client(node_id=1, token="t", max_payload_bytes=10) as c:
        for conversation, payload, code in (("", b"x", ErrorCode.INVALID_ID), ("c", b"", ErrorCode.INVALID_ARG),
                                            ("c", b"x" * 11, ErrorCode.TOO_LARGE),
                                            ("c" * 200, b"x", ErrorCode.TOO_LARGE)):
            with pytest.raises(ImrError) as info:
                c.send(conversation, payload, 0)
            assert info.value.code is code
        with pytest.raises(ImrError) as info:
            c.retry(bytes(16), 0)
        assert info.value.code is ErrorCode.NOT_FOUND
        mid = c.send("c", b"x", 0)
        with pytest.raises(ImrError) as info:
            c.retry(mid, 0)
        assert info.value.code is ErrorCode.INVALID_STATE
        with pytest.raises(ValueError):
            c.retry(b"short", 0)
        with pytest.raises(ImrError) as info:
            c.handle_frame(b"\xff\xff\xff", 0)
        assert info.value.code is ErrorCode.MALFORMED_FRAME
        with pytest.raises(ImrError) as info:
            c.timeline("unknown")
        assert info.value.code is ErrorCode.NOT_FOUND
        with pytest.raises(ValueError):
            c.send("a\0b", b"x", 0)


def test_durable_client(tmp_path, net):
    path = str(tmp_path / "alice.sqlite")
    with Client(node_id=1, token="alice-token", store_path=path) as alice:
        mid = alice.send("general", b"kept", net.now)
    with Client(node_id=1, token="alice-token", store_path=path) as alice:
        assert [e.message_id for e in alice.outbox()] == [mid]
        net.connect(alice)
        net.pump()
        assert events(alice, EventKind.MESSAGE_SENT)[0].message_id == mid
    (tmp_path / "junk").write_bytes(b"junk" * 1000)
    with pytest.raises(ImrError) as info:
        Client(node_id=1, token="t", store_path=str(tmp_path / "junk"))
    assert info.value.code is ErrorCode.STORE


def test_closed_client_raises():
    c = Client(node_id=1, token="t")
    c.close()
    for call in (lambda: c.send("c", b"x", 0), lambda: c.poll_transmit(), lambda: c.poll_event(),
                 lambda: c.outbox(), lambda: c.timeline("c"), lambda: c.connected(0),
                 lambda: c.next_timeout, lambda: c.cursor("c")):
        with pytest.raises(imr.ClosedError):
            call()


def test_times_and_integers_are_checked():
    import ctypes

    bad_argument = (ValueError, ctypes.ArgumentError)
    with Client(node_id=1, token="t") as c:
        with pytest.raises(ImrError) as info:
            c.connected(imr.MAX_TIME_MS + 1)
        assert info.value.code is ErrorCode.INVALID_ARG
        c.connected(imr.MAX_TIME_MS)
        for bad in (-1, 2**64, 2**64 + 5, 1.5, True):
            with pytest.raises(bad_argument):
                c.handle_timeout(bad)
        with pytest.raises(bad_argument):
            c.timeline("c", offset=-1)
    with pytest.raises(ValueError):
        Client(node_id=2**64, token="t")


NFC = "jos\u00e9"    # "josé" composed
NFD = "jose\u0301"   # the same letters decomposed


def test_identifiers_must_be_nfc(net):
    assert NFC.encode() == bytes.fromhex("6a6f73c3a9") and NFD.encode() == bytes.fromhex("6a6f7365cc81")
    net.server.create_conversation(NFC, ["alice"])
    with Client(node_id=1, token="alice-token") as alice:
        with pytest.raises(ImrError) as info:
            alice.send(NFD, b"x", net.now)
        assert info.value.code is ErrorCode.INVALID_ID
        assert alice.outbox() == []
        net.connect(alice)
        net.pump()
        mid = alice.send(NFC, b"hola", net.now)
        net.pump()
        (sent,) = events(alice, EventKind.MESSAGE_SENT)
        assert (sent.message_id, sent.conversation) == (mid, NFC)
        # Known under its composed spelling, the name is still refused decomposed.
        for call in (lambda: alice.send(NFD, b"x", net.now), lambda: alice.timeline(NFD),
                     lambda: alice.cursor(NFD), lambda: alice.clock(NFD)):
            with pytest.raises(ImrError) as info:
                call()
            assert info.value.code is ErrorCode.INVALID_ID
        assert [e.message_id for e in alice.outbox()] == [mid]
        assert alice.cursor(NFC) == 1
