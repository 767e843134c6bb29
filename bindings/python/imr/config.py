"""Config: the settings of an engine, by name (IMR_CONFIG_* keys of include/imr.h)."""

from __future__ import annotations

import enum
from ctypes import byref, c_void_p

from ._ffi import lib
from ._handle import Handle


class HistoryOrder(enum.IntEnum):
    CAUSAL = 0   # IMR_HISTORY_CAUSAL
    ARRIVAL = 1  # IMR_HISTORY_ARRIVAL


class Durability(enum.IntEnum):
    PROCESS_CRASH = 0  # IMR_DURABILITY_PROCESS_CRASH
    POWER_LOSS = 1     # IMR_DURABILITY_POWER_LOSS


#: Unsigned integer settings: name -> IMR_CONFIG_* key.
U64_KEYS = {
    "node_id": 1,
    "seed": 2,
    "ack_timeout_ms": 3,
    "backoff_cap_ms": 4,
    "max_attempts": 5,
    "max_offline_age_ms": 6,
    "inflight_window": 7,
    "gap_grace_ms": 8,
    "sync_page_size": 9,
    "sync_timeout_ms": 10,
    "poll_interval_ms": 11,
    "max_sync_pages": 12,
    "delivered_flush_ms": 13,
    "history_order": 14,
    "max_frame_bytes": 15,
    "max_payload_bytes": 16,
    "max_identifier_bytes": 17,
    "max_clock_entries": 18,
    "max_token_bytes": 19,
    "sent_retention": 20,
    "max_buffered": 21,
    "max_watermarks_per_frame": 22,
    "max_members_per_frame": 23,
    # server
    "server_max_sync_page": 50,
    "server_max_inflight": 51,
    "rate_limit_burst": 52,
    "rate_limit_per_second": 53,
    "max_outbound_frames": 54,
    "max_outbound_frames_before_close": 55,
    "hello_timeout_ms": 56,
    "ping_interval_ms": 57,
    "idle_timeout_ms": 58,
    "timer_granularity_ms": 59,
    "max_members": 60,
    "send_receipts": 61,
    "max_queued_events": 62,
    "store_durability": 63,
    # server budgets per session
    "outbound_soft_bytes": 64,
    "outbound_hard_bytes": 65,
    "request_rate_burst": 66,
    "request_rate_per_second": 67,
    "max_parked_input_bytes": 68,
    "max_hello_bytes": 69,
    "receipt_interval_ms": 70,
    "receipt_group_limit": 71,
}
#: Floating-point settings.
DOUBLE_KEYS = {
    "backoff_factor": 30,
    "jitter": 31,
}
#: String settings.
STRING_KEYS = {
    "token": 40,
    "store_path": 41,
    "user_id": 42,
}


class Config(Handle):
    """Engine settings. ``Config(node_id=7, token="...", jitter=0.1)``; unset keys keep
    the engine's defaults. Values are validated by the library (ImrError on bad ones)."""

    _free = "imr_config_free"
    _what = "Config"

    def __init__(self, **settings):
        out = c_void_p()
        lib.imr_config_new(byref(out))
        super().__init__(out.value)
        try:
            for name, value in settings.items():
                self.set(name, value)
        except BaseException:
            self.close()
            raise

    def set(self, name: str, value) -> "Config":
        """Sets one setting by name; ``None`` unsets a string setting. Returns self."""
        with self._lock:
            p = self._p()
            if name in U64_KEYS:
                if isinstance(value, bool) and name == "send_receipts":
                    value = int(value)
                if isinstance(value, bool) or not isinstance(value, int):
                    raise TypeError(f"{name} must be an int")
                if not 0 <= value <= 0xFFFF_FFFF_FFFF_FFFF:
                    raise ValueError(f"{name} must fit an unsigned 64-bit integer")
                lib.imr_config_set_u64(p, U64_KEYS[name], int(value))
            elif name in DOUBLE_KEYS:
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise TypeError(f"{name} must be a number")
                lib.imr_config_set_double(p, DOUBLE_KEYS[name], float(value))
            elif name in STRING_KEYS:
                if value is not None and not isinstance(value, (str, bytes, bytearray)):
                    raise TypeError(f"{name} must be a str or None")
                raw = value.encode("utf-8") if isinstance(value, str) else value
                if raw is not None and b"\0" in raw:
                    raise ValueError(f"{name} must not contain NUL")
                lib.imr_config_set_string(p, STRING_KEYS[name], None if raw is None else bytes(raw))
            else:
                raise KeyError(f"unknown setting {name!r}")
        return self
