import pytest

import imr
from imr import Config, ErrorCode, HistoryOrder, ImrError


def test_settings_by_name():
    with Config(node_id=2**64 - 1, seed=0, token="alice.1.sig", jitter=0.25, backoff_factor=2,
                history_order=HistoryOrder.ARRIVAL, max_frame_bytes=65536, store_path=None) as c:
        c.set("token", None).set("ack_timeout_ms", 250)


@pytest.mark.parametrize("name,value,code", [
    ("max_attempts", 0, ErrorCode.INVALID_ARG),
    ("history_order", 2, ErrorCode.INVALID_ARG),
    ("max_frame_bytes", 10, ErrorCode.INVALID_ARG),
    ("ack_timeout_ms", 2**63, ErrorCode.INVALID_ARG),
    ("jitter", 1.5, ErrorCode.INVALID_ARG),
    ("jitter", float("nan"), ErrorCode.INVALID_ARG),
    ("backoff_factor", float("inf"), ErrorCode.INVALID_ARG),
    ("token", "", ErrorCode.INVALID_ID),
    ("token", b"\xff\xfe", ErrorCode.INVALID_ID),
    ("token", "x" * 4097, ErrorCode.TOO_LARGE),
    ("max_watermarks_per_frame", 0, ErrorCode.INVALID_ARG),
    ("max_watermarks_per_frame", 1_048_577, ErrorCode.INVALID_ARG),
    ("max_members_per_frame", 0, ErrorCode.INVALID_ARG),
    ("max_members_per_frame", 1_048_577, ErrorCode.INVALID_ARG),
    ("outbound_soft_bytes", 0, ErrorCode.INVALID_ARG),
    ("outbound_soft_bytes", 2**31, ErrorCode.INVALID_ARG),
    ("outbound_hard_bytes", 0, ErrorCode.INVALID_ARG),
    ("outbound_hard_bytes", 2**31, ErrorCode.INVALID_ARG),
    ("request_rate_burst", 2**32, ErrorCode.INVALID_ARG),
    ("request_rate_per_second", 0, ErrorCode.INVALID_ARG),
    ("max_parked_input_bytes", 0, ErrorCode.INVALID_ARG),
    ("max_parked_input_bytes", 2**31, ErrorCode.INVALID_ARG),
    ("max_hello_bytes", 63, ErrorCode.INVALID_ARG),
    ("max_hello_bytes", imr.LIMIT_MAX_FRAME_BYTES + 1, ErrorCode.INVALID_ARG),
    ("receipt_interval_ms", imr.MAX_TIME_MS + 1, ErrorCode.INVALID_ARG),
    ("receipt_group_limit", 0, ErrorCode.INVALID_ARG),
    ("receipt_group_limit", 2**31, ErrorCode.INVALID_ARG),
])
def test_bad_values_are_errors(name, value, code):
    with Config() as c:
        with pytest.raises(ImrError) as info:
            c.set(name, value)
        assert info.value.code is code


def test_budget_and_list_limits_in_range():
    with Config(max_watermarks_per_frame=1_048_576, max_members_per_frame=1, outbound_soft_bytes=2**31 - 1,
                outbound_hard_bytes=1, request_rate_burst=0, request_rate_per_second=2**32 - 1,
                max_parked_input_bytes=1, max_hello_bytes=imr.LIMIT_MAX_FRAME_BYTES, receipt_interval_ms=0,
                receipt_group_limit=2**31 - 1) as c:
        c.set("max_hello_bytes", 64)


def test_type_and_name_errors_are_caught_in_python():
    with Config() as c:
        with pytest.raises(KeyError):
            c.set("no_such_setting", 1)
        with pytest.raises(TypeError):
            c.set("node_id", "7")
        with pytest.raises(TypeError):
            c.set("node_id", True)
        with pytest.raises(ValueError):
            c.set("node_id", -1)
        with pytest.raises(ValueError):
            c.set("token", "a\0b")


def test_closed_config_raises():
    c = Config()
    c.close()
    c.close()
    with pytest.raises(imr.ClosedError):
        c.set("seed", 1)
