"""The one declarative table of libimr's C functions, and the bound library.

``FUNCTIONS`` lists every exported function of include/imr.h with its ctypes return
type, argument types and error check; ``make test`` keeps it equal to the header's
IMR_API declarations and to the library's exported symbols. Nothing else in the
package declares a C signature.
"""

from __future__ import annotations

import ctypes
from ctypes import POINTER, c_char_p, c_double, c_int, c_int64, c_size_t, c_uint64, c_void_p

from . import _lib

class u64:
    """uint64_t argument: a Python int in range (ctypes would silently truncate)."""

    @classmethod
    def from_param(cls, value):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFFFF_FFFF_FFFF_FFFF:
            raise ValueError(f"{value!r} is not an unsigned 64-bit integer")
        return c_uint64(value)


class size:
    """size_t argument: a non-negative Python int (a negative one would wrap to a huge size)."""

    @classmethod
    def from_param(cls, value):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0x7FFF_FFFF_FFFF_FFFF:
            raise ValueError(f"{value!r} is not a valid size")
        return c_size_t(value)


handle = c_void_p                 # imr_config *, imr_clock *, ... (opaque)
out_handle = POINTER(c_void_p)    # imr_x **out
data = c_void_p                   # const uint8_t * / uint8_t * (bytes or a ctypes buffer)
out_data = POINTER(c_void_p)      # const uint8_t **out
out_size = POINTER(c_size_t)      # size_t *out_len
out_u64 = POINTER(c_uint64)       # uint64_t *out
ssize = c_int64                   # imr_ssize


def _check(result, func, args):
    """int / imr_ssize results: a negative value is an IMR_ERR_* code."""
    if result < 0:
        from .errors import ImrError

        raise ImrError(result)
    return result


def _check_copy_out(result, func, args):
    """Copy-out functions: IMR_ERR_BUFFER_TOO_SMALL is returned for a resize."""
    if result < 0 and result != -3:
        from .errors import ImrError

        raise ImrError(result)
    return result


# name: (restype, argtypes, errcheck)
FUNCTIONS: dict[str, tuple] = {
    # version, errors
    "imr_version": (c_int, [], None),
    "imr_strerror": (c_char_p, [c_int], None),
    "imr_error_is_fatal": (c_int, [c_int], None),
    # config
    "imr_config_new": (c_int, [out_handle], _check),
    "imr_config_free": (None, [handle], None),
    "imr_config_set_u64": (c_int, [handle, c_int, u64], _check),
    "imr_config_set_double": (c_int, [handle, c_int, c_double], _check),
    "imr_config_set_string": (c_int, [handle, c_int, c_char_p], _check),
    # stream framing
    "imr_frame_delimited_size": (ssize, [size], _check),
    "imr_frame_delimit": (c_int, [data, size, data, size, out_size], _check_copy_out),
    "imr_splitter_new": (c_int, [size, out_handle], _check),
    "imr_splitter_free": (None, [handle], None),
    "imr_splitter_push": (c_int, [handle, data, size], _check),
    "imr_splitter_next": (c_int, [handle, out_data, out_size], _check),
    "imr_splitter_buffered": (ssize, [handle], _check),
    # vector clocks
    "imr_clock_new": (c_int, [out_handle], _check),
    "imr_clock_copy": (c_int, [handle, out_handle], _check),
    "imr_clock_free": (None, [handle], None),
    "imr_clock_increment": (c_int, [handle, u64, out_u64], _check),
    "imr_clock_merge": (c_int, [handle, handle], _check),
    "imr_clock_compare": (c_int, [handle, handle], _check),
    "imr_clock_get": (c_int, [handle, u64, out_u64], _check),
    "imr_clock_depth": (c_int, [handle, out_u64], _check),
    "imr_clock_count": (ssize, [handle], _check),
    "imr_clock_entry": (c_int, [handle, size, out_u64, out_u64], _check),
    "imr_clock_encode": (c_int, [handle, data, size, out_size], _check_copy_out),
    "imr_clock_decode": (c_int, [data, size, out_handle], _check),
    # server engine
    "imr_server_new": (c_int, [handle, out_handle], _check),
    "imr_server_free": (None, [handle], None),
    "imr_server_add_token": (c_int, [handle, c_char_p, c_char_p, u64], _check),
    "imr_server_remove_token": (c_int, [handle, c_char_p], _check),
    "imr_server_set_wall_clock": (c_int, [handle, u64, u64], _check),
    "imr_server_create_conversation": (c_int, [handle, c_char_p, POINTER(c_char_p), size], _check),
    "imr_server_add_member": (c_int, [handle, c_char_p, c_char_p], _check),
    "imr_server_remove_member": (c_int, [handle, c_char_p, c_char_p], _check),
    "imr_server_set_role": (c_int, [handle, c_char_p, c_char_p, c_int], _check),
    "imr_server_member_role": (c_int, [handle, c_char_p, c_char_p, POINTER(c_int)], _check),
    "imr_server_open_session": (c_int, [handle, out_u64, u64], _check),
    "imr_server_close_session": (c_int, [handle, u64, u64], _check),
    "imr_server_set_writable": (c_int, [handle, u64, c_int, u64], _check),
    "imr_server_set_backlog": (c_int, [handle, u64, u64, u64], _check),
    "imr_server_input_paused": (c_int, [handle, u64], _check),
    "imr_server_handle_frame": (c_int, [handle, u64, data, size, u64], _check),
    "imr_server_handle_stream_error": (c_int, [handle, u64, c_int, u64], _check),
    "imr_server_poll_output": (c_int, [handle, out_u64, out_data, out_size, POINTER(c_int)], _check),
    "imr_server_poll_event": (c_int, [handle, c_void_p], _check),
    "imr_server_next_timeout": (c_int, [handle, out_u64], _check),
    "imr_server_handle_timeout": (c_int, [handle, u64], _check),
    # client engine
    "imr_client_new": (c_int, [handle, out_handle], _check),
    "imr_client_free": (None, [handle], None),
    "imr_client_connected": (c_int, [handle, u64], _check),
    "imr_client_disconnected": (c_int, [handle, u64], _check),
    "imr_client_send": (c_int, [handle, c_char_p, data, size, data, u64], _check),
    "imr_client_retry": (c_int, [handle, data, u64], _check),
    "imr_client_handle_frame": (c_int, [handle, data, size, u64], _check),
    "imr_client_handle_timeout": (c_int, [handle, u64], _check),
    "imr_client_probe": (c_int, [handle, u64], _check),
    "imr_client_poll_transmit": (c_int, [handle, out_data, out_size], _check),
    "imr_client_poll_event": (c_int, [handle, c_void_p], _check),
    "imr_client_next_timeout": (c_int, [handle, out_u64], _check),
    "imr_client_outbox": (ssize, [handle, c_void_p, size], _check),
    "imr_client_timeline": (ssize, [handle, c_char_p, c_int, size, c_void_p, size], _check),
    "imr_client_cursor": (c_int, [handle, c_char_p, out_u64], _check),
    "imr_client_clock": (c_int, [handle, c_char_p, out_handle], _check),
}


class _Library:
    """The loaded library with every function of FUNCTIONS bound; loaded on first use."""

    def __init__(self):
        self._cdll: ctypes.CDLL | None = None

    def _load(self) -> ctypes.CDLL:
        cdll = _lib.load()
        for name, (restype, argtypes, errcheck) in FUNCTIONS.items():
            fn = getattr(cdll, name)
            fn.restype = restype
            fn.argtypes = argtypes
            if errcheck is not None:
                fn.errcheck = errcheck
            setattr(self, name, fn)
        self._cdll = cdll
        return cdll

    def __getattr__(self, name: str):
        if name.startswith("imr_") and self._cdll is None:
            self._load()
            return getattr(self, name)
        raise AttributeError(name)

    @property
    def cdll(self) -> ctypes.CDLL:
        return self._cdll if self._cdll is not None else self._load()


lib = _Library()


def strerror(code: int) -> str:
    text = lib.imr_strerror(int(code))
    return text.decode("utf-8") if text else "unknown error"


def is_fatal(code: int) -> bool:
    return lib.imr_error_is_fatal(int(code)) == 1


def version() -> int:
    return lib.imr_version()
