import random

import pytest

import imr
from imr import ErrorCode, ImrError, Splitter, delimit, delimited_size


def test_delimit():
    assert delimit(b"") == b"\x00"
    assert delimit(b"abc") == b"\x03abc"
    assert delimit(bytes(300))[:2] == b"\xac\x02"
    assert delimited_size(127) == 128 and delimited_size(128) == 130
    with pytest.raises(ImrError) as info:
        delimited_size(2**63 - 1)
    assert info.value.code is ErrorCode.TOO_LARGE


def test_any_chunking_gives_the_frames_back():
    rng = random.Random(7)
    frames = [bytes(rng.getrandbits(8) for _ in range(rng.choice([0, 1, 5, 127, 128, 1000, 70000])))
              for _ in range(40)]
    stream = b"".join(delimit(f) for f in frames)
    for _ in range(5):
        got = []
        with Splitter() as s:
            i = 0
            while i < len(stream):
                n = rng.randint(1, 3000)
                got.extend(s.feed(stream[i:i + n]))
                i += n
            assert s.buffered == 0
        assert got == frames


def test_oversize_length_is_rejected_before_buffering_and_is_fatal():
    with Splitter(max_frame_bytes=100) as s:
        s.push(b"\x65")  # 101
        with pytest.raises(ImrError) as info:
            s.next()
        assert info.value.code is ErrorCode.FRAME_TOO_LARGE and info.value.fatal
        with pytest.raises(ImrError) as info:
            s.push(b"\x01x")
        assert info.value.code is ErrorCode.STREAM_FAILED


def test_malformed_varint():
    with Splitter(max_frame_bytes=imr.LIMIT_MAX_FRAME_BYTES) as s:
        s.push(b"\x80" * 9 + b"\x02")
        with pytest.raises(ImrError) as info:
            s.next()
        assert info.value.code in (ErrorCode.MALFORMED_LENGTH, ErrorCode.FRAME_TOO_LARGE)
        assert info.value.fatal


def test_pushing_without_draining_is_bounded():
    with Splitter(max_frame_bytes=100) as s:
        s.push(bytes([100]) + bytes(63))
        s.push(bytes(64))
        with pytest.raises(ImrError) as info:
            s.push(bytes(64))
        assert info.value.code is ErrorCode.TOO_LARGE
        assert len(s.next()) == 100


def test_bad_max_frame_bytes():
    with pytest.raises(ImrError):
        Splitter(imr.LIMIT_MAX_FRAME_BYTES + 1)
    with pytest.raises(Exception):
        Splitter(-1)


def test_closed_splitter_raises():
    s = Splitter()
    s.close()
    with pytest.raises(imr.ClosedError):
        s.push(b"x")
    with pytest.raises(imr.ClosedError):
        s.next()
    with pytest.raises(imr.ClosedError):
        s.buffered
