import ctypes
import threading

import pytest

import imr
from imr import ErrorCode, EventKind, ImrError, RejectCode, Role, Server, WireError

import frames

MID = bytes.fromhex("018f00000000700080010203040506aa")


def drain(server, session):
    out = [o for o in server.outputs() if o.session == session]
    return [o.frame for o in out if not o.close], sum(o.close for o in out)


def events(server, kind):
    return [e for e in server.events() if e.kind == kind]


@pytest.fixture
def server():
    with Server(rate_limit_burst=0) as s:
        s.set_wall_clock(1_700_000_000_000, 0)
        s.add_token("alice-token", "alice")
        s.create_conversation("general", ["alice", "bob"])
        yield s


def test_handshake_send_ack_duplicate(server):
    session = server.open_session(10)
    server.handle_frame(session, frames.hello("alice-token", 0xA11CE), 11)
    sent, closes = drain(server, session)
    assert len(sent) == 1 and closes == 0
    (auth,) = events(server, EventKind.SESSION_AUTHENTICATED)
    assert (auth.session, auth.user, auth.node) == (session, "alice", 0xA11CE)

    server.handle_frame(session, frames.send("general", MID, 0xA11CE, b"hi bob"), 12)
    sent, _ = drain(server, session)
    assert any(MID in f for f in sent)
    (accepted,) = events(server, EventKind.MESSAGE_ACCEPTED)
    assert (accepted.conversation, accepted.seq, accepted.message_id, accepted.user) == ("general", 1, MID, "alice")

    server.handle_frame(session, frames.send("general", MID, 0xA11CE, b"hi bob"), 13)
    drain(server, session)
    (dup,) = events(server, EventKind.DUPLICATE_ACKNOWLEDGED)
    assert dup.seq == 1
    server.close_session(session, 14)


def test_rejections_and_bad_tokens(server):
    server.create_conversation("elsewhere", ["bob"])
    session = server.open_session(0)
    server.handle_frame(session, frames.hello("alice-token", 1), 1)
    server.handle_frame(session, frames.send("elsewhere", MID, 1, b"x"), 2)
    drain(server, session)
    (rejected,) = events(server, EventKind.SEND_REJECTED)
    assert rejected.code == RejectCode.NOT_MEMBER and rejected.message_id == MID

    server.add_token("old", "bob", expiry_unix_ms=1_600_000_000_000)
    s2 = server.open_session(3)
    server.handle_frame(s2, frames.hello("old", 2), 4)
    assert drain(server, s2)[1] == 1
    (failed,) = events(server, EventKind.AUTHENTICATION_FAILED)
    assert failed.code == WireError.TOKEN_EXPIRED

    s3 = server.open_session(5)
    server.handle_frame(s3, frames.hello("unknown", 3), 6)
    assert drain(server, s3)[1] == 1
    assert events(server, EventKind.AUTHENTICATION_FAILED)[0].code == WireError.AUTH_FAILED


def test_garbage_and_stream_errors_close_the_session(server):
    s = server.open_session(0)
    server.handle_frame(s, b"\xff\xff\xff", 1)
    assert drain(server, s)[1] == 1
    s = server.open_session(2)
    with pytest.raises(ImrError) as info:
        server.handle_stream_error(s, ErrorCode.NULL, 3)
    assert info.value.code is ErrorCode.INVALID_ARG
    server.handle_stream_error(s, ErrorCode.MALFORMED_LENGTH, 3)
    assert drain(server, s)[1] == 1
    closed = events(server, EventKind.SESSION_CLOSED)
    assert closed and closed[-1].detail


def test_admin_errors(server):
    with pytest.raises(ImrError) as info:
        server.create_conversation("general", ["alice"])
    assert info.value.code is ErrorCode.EXISTS
    with pytest.raises(ImrError) as info:
        server.add_member("nope", "carol")
    assert info.value.code is ErrorCode.NOT_FOUND
    with pytest.raises(ImrError) as info:
        server.create_conversation("", ["alice"])
    assert info.value.code is ErrorCode.INVALID_ID
    with pytest.raises(ImrError) as info:
        server.create_conversation("x" * 200, ["alice"])
    assert info.value.code is ErrorCode.TOO_LARGE
    with pytest.raises(ImrError) as info:
        server.remove_token("never-added")
    assert info.value.code is ErrorCode.NOT_FOUND
    with pytest.raises(ValueError):
        server.add_token("a\0b", "alice")
    server.add_member("general", "carol")
    server.remove_member("general", "carol")
    changes = events(server, EventKind.MEMBERSHIP_CHANGED)
    assert changes[-1].members == ["alice", "bob"] and changes[-1].code == 2


def test_timers_close_silent_sessions():
    with Server(hello_timeout_ms=1000, timer_granularity_ms=100) as server:
        s = server.open_session(0)
        assert server.next_timeout is not None
        now = 0
        while now <= 1200:
            server.handle_timeout(now)
            now += 100
        assert drain(server, s)[1] == 1


def test_bad_config():
    with pytest.raises(ImrError) as info:
        Server(max_frame_bytes=1000, max_payload_bytes=2000)
    assert info.value.code is ErrorCode.INVALID_ARG
    with pytest.raises(ImrError) as info:
        Server(store_path="/nonexistent-dir/x/server.sqlite")
    assert info.value.code is ErrorCode.STORE


def test_durable_store(tmp_path):
    path = str(tmp_path / "server.sqlite")
    with Server(store_path=path, store_durability=imr.Durability.PROCESS_CRASH) as s:
        s.create_conversation("general", ["alice"])
    with Server(store_path=path) as s:
        with pytest.raises(ImrError) as info:
            s.create_conversation("general", ["alice"])
        assert info.value.code is ErrorCode.EXISTS
    (tmp_path / "junk.sqlite").write_bytes(b"not sqlite" * 500)
    with pytest.raises(ImrError) as info:
        Server(store_path=str(tmp_path / "junk.sqlite"))
    assert info.value.code is ErrorCode.STORE


def test_closed_server_raises():
    server = Server()
    server.close()
    for call in (lambda: server.open_session(0), lambda: server.poll_output(), lambda: server.poll_event(),
                 lambda: server.next_timeout, lambda: server.add_token("t", "u"),
                 lambda: server.handle_frame(1, b"x", 0), lambda: server.set_backlog(1, 0, 0),
                 lambda: server.input_paused(1), lambda: server.set_role("c", "u", Role.OWNER),
                 lambda: server.member_role("c", "u")):
        with pytest.raises(imr.ClosedError):
            call()


def test_config_object_is_reusable(server):
    with imr.Config(max_members=2) as config:
        a, b = Server(config), Server(config)
        with pytest.raises(ImrError) as info:
            a.create_conversation("c", ["x", "y", "z"])
        assert info.value.code is ErrorCode.TOO_LARGE
        a.close()
        b.close()
    with pytest.raises(TypeError):
        Server(imr.Config(), seed=1)


def test_threads_sharing_a_server():
    with Server(rate_limit_burst=0) as server:
        server.add_token("t", "alice")
        server.create_conversation("general", ["alice"])

        def client(i):
            s = server.open_session(0)
            server.handle_frame(s, frames.hello("t", i), 1)
            for n in range(50):
                mid = bytes([i, n]) + bytes(13) + b"\x01"
                server.handle_frame(s, frames.send("general", mid, i, b"x"), 2 + n)
                list(server.outputs())
            server.close_session(s, 100)

        threads = [threading.Thread(target=client, args=(i + 1,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(events(server, EventKind.MESSAGE_ACCEPTED)) == 200


def code_of(call):
    with pytest.raises(ImrError) as info:
        call()
    return info.value.code


def authenticated(server, token, node, now=0):
    session = server.open_session(now)
    server.handle_frame(session, frames.hello(token, node), now)
    sent, closes = drain(server, session)
    assert len(sent) == 1 and closes == 0
    return session


def results(server, session):
    sent, _ = drain(server, session)
    return [c for c in map(frames.result_code, sent) if c is not None]


def test_roles(server):
    server.add_token("bob-token", "bob")
    assert server.member_role("general", "alice") is Role.MEMBER  # no owner after an admin create
    assert code_of(lambda: server.member_role("general", "carol")) is ErrorCode.NOT_FOUND
    assert code_of(lambda: server.member_role("nope", "alice")) is ErrorCode.NOT_FOUND
    assert code_of(lambda: server.member_role("", "alice")) is ErrorCode.INVALID_ID
    for role in (2, -1):
        assert code_of(lambda: server.set_role("general", "dave", role)) is ErrorCode.INVALID_ARG
    assert code_of(lambda: server.member_role("general", "dave")) is ErrorCode.NOT_FOUND
    assert code_of(lambda: server.set_role("nope", "alice", Role.OWNER)) is ErrorCode.NOT_FOUND
    with pytest.raises(ValueError):
        server.set_role("general", "a\0b", Role.OWNER)

    server.set_role("general", "alice", Role.OWNER)
    assert server.member_role("general", "alice") is Role.OWNER
    server.set_role("general", "carol", Role.OWNER)  # added as an owner
    assert server.member_role("general", "carol") is Role.OWNER
    assert events(server, EventKind.MEMBERSHIP_CHANGED)[-1].members == ["alice", "bob", "carol"]
    server.set_role("general", "carol", Role.MEMBER)
    assert server.member_role("general", "carol") is Role.MEMBER
    server.remove_member("general", "carol")
    assert code_of(lambda: server.member_role("general", "carol")) is ErrorCode.NOT_FOUND

    # By frame: bob, a member but not an owner, may not add; alice, the owner, may.
    bob = authenticated(server, "bob-token", 0xB0B)
    alice = authenticated(server, "alice-token", 0xA11CE)
    server.handle_frame(bob, frames.add_member(1, "general", "erin", Role.MEMBER), 1)
    assert results(server, bob) == [frames.RESULT_NOT_OWNER]
    server.handle_frame(bob, frames.add_member(2, "general", "bob", Role.OWNER), 2)
    assert results(server, bob) == [frames.RESULT_NOT_OWNER]
    assert code_of(lambda: server.member_role("general", "erin")) is ErrorCode.NOT_FOUND
    assert server.member_role("general", "bob") is Role.MEMBER
    server.handle_frame(alice, frames.add_member(3, "general", "erin", Role.MEMBER), 3)
    assert results(server, alice) == [frames.RESULT_OK]
    assert server.member_role("general", "erin") is Role.MEMBER
    server.handle_frame(alice, frames.add_member(4, "general", "bob", Role.OWNER), 4)
    assert results(server, alice) == [frames.RESULT_OK]
    assert server.member_role("general", "bob") is Role.OWNER

    # A client that creates a conversation by frame is its first owner.
    server.handle_frame(bob, frames.create_conversation(5, "club", ["erin"]), 5)
    assert results(server, bob) == [frames.RESULT_OK]
    assert server.member_role("club", "bob") is Role.OWNER
    assert server.member_role("club", "erin") is Role.MEMBER


def test_backlog_parks_requests():
    with Server(outbound_soft_bytes=4096, outbound_hard_bytes=65536) as server:
        server.add_token("alice-token", "alice")
        session = authenticated(server, "alice-token", 1, 10)
        assert server.input_paused(session) is False
        assert server.input_paused(999_999) is False
        assert code_of(lambda: server.set_backlog(session, 2**63, 10)) is ErrorCode.INVALID_ARG
        assert code_of(lambda: server.set_backlog(session, 0, imr.MAX_TIME_MS + 1)) is ErrorCode.INVALID_ARG
        with pytest.raises((ValueError, ctypes.ArgumentError)):  # the u64 check, wrapped by ctypes
            server.set_backlog(session, -1, 10)
        server.set_backlog(999_999, 1 << 20, 10)  # an unknown session is ignored

        server.set_backlog(session, 4000, 11)  # below the soft limit: answered at once
        server.handle_frame(session, frames.ping(1), 12)
        sent, _ = drain(server, session)
        assert [frames.PONG in frames.fields(f) for f in sent] == [True]

        server.set_backlog(session, 5000, 13)  # above it: parked, no reply
        server.handle_frame(session, frames.ping(2), 14)
        assert drain(server, session) == ([], 0)
        assert server.input_paused(session) is True
        server.handle_timeout(15)
        assert drain(server, session) == ([], 0)
        assert server.input_paused(session) is True

        server.set_backlog(session, 0, 16)  # written out: the reply comes
        server.handle_timeout(17)
        sent, closes = drain(server, session)
        assert [frames.PONG in frames.fields(f) for f in sent] == [True] and closes == 0
        assert server.input_paused(session) is False

        server.set_backlog(session, 70_000, 18)  # past the hard limit: error and close
        sent, closes = drain(server, session)
        assert [frames.ERROR in frames.fields(f) for f in sent] == [True] and closes == 1


def test_request_budget():
    with Server(request_rate_burst=1, request_rate_per_second=1) as server:
        server.add_token("alice-token", "alice")
        session = authenticated(server, "alice-token", 1, 100)
        server.handle_frame(session, frames.ping(1), 100)
        assert len(drain(server, session)[0]) == 1
        server.handle_frame(session, frames.ping(2), 100)
        assert drain(server, session) == ([], 0)
        assert server.input_paused(session)
        assert 100 < server.next_timeout <= 1100
        server.handle_timeout(1100)
        assert len(drain(server, session)[0]) == 1
        assert not server.input_paused(session)
    with Server(request_rate_burst=0, request_rate_per_second=1) as server:  # 0: off
        server.add_token("alice-token", "alice")
        session = authenticated(server, "alice-token", 1, 100)
        pongs = 0
        for n in range(600):
            server.handle_frame(session, frames.ping(n), 100)
            pongs += len(drain(server, session)[0])
        assert pongs == 600


def test_budget_config_errors():
    assert code_of(lambda: Server(outbound_soft_bytes=2000, outbound_hard_bytes=1000)) is ErrorCode.INVALID_ARG
    assert code_of(lambda: Server(outbound_soft_bytes=16 << 20)) is ErrorCode.INVALID_ARG  # above the default hard
    Server(outbound_soft_bytes=1000, outbound_hard_bytes=1000).close()


def test_frame_limits():
    token = "t" * 100
    for limited in (False, True):
        settings = {"max_hello_bytes": 64} if limited else {}
        with Server(**settings) as server:
            server.add_token(token, "alice")
            session = server.open_session(0)
            server.handle_frame(session, frames.hello(token, 1), 1)
            assert drain(server, session)[1] == int(limited)
            assert len(events(server, EventKind.SESSION_AUTHENTICATED)) == int(not limited)
    with Server(max_members_per_frame=2, max_watermarks_per_frame=2) as server:
        server.add_token("alice-token", "alice")
        session = authenticated(server, "alice-token", 1)
        server.handle_frame(session, frames.create_conversation(1, "big", ["bob", "carol", "dave"]), 1)
        sent, closes = drain(server, session)
        assert [frames.ERROR in frames.fields(f) for f in sent] == [True] and closes == 0
        assert code_of(lambda: server.member_role("big", "alice")) is ErrorCode.NOT_FOUND
        server.handle_frame(session, frames.create_conversation(2, "small", ["bob"]), 2)
        assert results(server, session) == [frames.RESULT_OK]
        server.handle_frame(session, frames.delivered("small", 3), 3)
        sent, closes = drain(server, session)
        assert [frames.ERROR in frames.fields(f) for f in sent] == [True] and closes == 0
        server.handle_frame(session, frames.delivered("small", 2), 4)
        assert drain(server, session) == ([], 0)


NFC = "jos\u00e9"    # "josé" composed
NFD = "jose\u0301"   # the same letters decomposed


def test_identifiers_must_be_nfc(server):
    assert NFC.encode() == bytes.fromhex("6a6f73c3a9") and NFD.encode() == bytes.fromhex("6a6f7365cc81")
    assert code_of(lambda: server.create_conversation(NFD, ["alice"])) is ErrorCode.INVALID_ID
    assert code_of(lambda: server.create_conversation("room", ["alice", NFD])) is ErrorCode.INVALID_ID
    assert code_of(lambda: server.member_role("room", "alice")) is ErrorCode.NOT_FOUND  # nothing created
    server.create_conversation(NFC, ["alice"])
    server.create_conversation("room", ["alice", NFC])
    assert server.member_role("room", NFC) is Role.MEMBER
    for call in (lambda: server.member_role("room", NFD), lambda: server.member_role(NFD, "alice"),
                 lambda: server.add_member(NFD, "bob"), lambda: server.add_member("room", NFD),
                 lambda: server.remove_member("room", NFD), lambda: server.set_role("room", NFD, Role.OWNER),
                 lambda: server.add_token("jose-token", NFD)):
        assert code_of(call) is ErrorCode.INVALID_ID
    assert server.member_role("room", NFC) is Role.MEMBER
    server.add_token("jose-token", NFC)
