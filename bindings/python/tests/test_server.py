import threading

import pytest

import imr
from imr import ErrorCode, EventKind, ImrError, RejectCode, Server, WireError

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
                 lambda: server.handle_frame(1, b"x", 0)):
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
