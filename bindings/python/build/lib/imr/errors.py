"""Error codes of the C ABI and the exception that carries them."""

from __future__ import annotations

import enum


class ErrorCode(enum.IntEnum):
    """The IMR_ERR_* codes of include/imr.h (negative), and OK."""

    OK = 0
    NULL = -1
    INVALID_ARG = -2
    BUFFER_TOO_SMALL = -3
    TOO_LARGE = -4
    INVALID_ID = -5
    MALFORMED_FRAME = -6
    UNSUPPORTED_VERSION = -7
    INVALID_CLOCK = -8
    FRAME_TOO_LARGE = -9
    MALFORMED_LENGTH = -10
    STREAM_FAILED = -11
    NOT_FOUND = -12
    EXISTS = -13
    STORE = -14
    INTERNAL = -15
    INVALID_STATE = -16
    PROTOCOL = -17


class ImrError(Exception):
    """A call into libimr failed. ``code`` is the ErrorCode (or the raw int if unknown)."""

    def __init__(self, code: int, message: str | None = None):
        try:
            self.code: ErrorCode | int = ErrorCode(code)
        except ValueError:
            self.code = code
        if message is None:
            from . import _ffi

            message = _ffi.strerror(code)
        self.message = message
        name = self.code.name if isinstance(self.code, ErrorCode) else str(code)
        super().__init__(f"{message} (IMR_ERR_{name})" if code != 0 else message)

    @property
    def fatal(self) -> bool:
        """True when the object (or its connection) must be discarded."""
        from . import _ffi

        return _ffi.is_fatal(int(self.code))


class ClosedError(ImrError, ValueError):
    """An operation on a handle after its close(). Carries ErrorCode.NULL."""

    def __init__(self, what: str):
        super().__init__(ErrorCode.NULL, f"{what} is closed")
