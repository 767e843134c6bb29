import pytest

import imr
from imr import ErrorCode, ImrError


def test_every_code_has_a_distinct_text():
    texts = {imr.strerror(c) for c in ErrorCode}
    assert len(texts) == len(ErrorCode)
    assert "unknown error" not in texts
    assert imr.strerror(-999) == "unknown error"
    assert imr.strerror(2**31 - 1) == "unknown error"


def test_fatal_codes():
    fatal = {c for c in ErrorCode if imr.is_fatal(c)}
    assert fatal == {ErrorCode.FRAME_TOO_LARGE, ErrorCode.MALFORMED_LENGTH, ErrorCode.STREAM_FAILED,
                     ErrorCode.INTERNAL}


def test_imr_error_carries_the_code():
    with pytest.raises(ImrError) as info:
        imr.Config(max_attempts=0)
    assert info.value.code is ErrorCode.INVALID_ARG
    assert not info.value.fatal
    assert "IMR_ERR_INVALID_ARG" in str(info.value)


def test_unknown_code_is_kept_as_int():
    e = ImrError(-12345)
    assert e.code == -12345
    assert e.message == "unknown error"
