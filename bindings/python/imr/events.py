"""Events: the fixed-layout imr_event of include/imr.h and its Python form."""

from __future__ import annotations

import ctypes
import enum
from ctypes import c_int32, c_size_t, c_uint8, c_uint32, c_uint64, c_void_p, string_at
from dataclasses import dataclass
from typing import Optional


class EventKind(enum.IntEnum):
    """IMR_EVENT_* of include/imr.h."""

    NONE = 0
    # client engine
    CONNECTION_READY = 1
    MESSAGE_SENDING = 2
    MESSAGE_SENT = 3
    MESSAGE_FAILED = 4
    MESSAGE_RECEIVED = 5
    OWN_MESSAGE_CONFIRMED = 6
    GAP_OPENED = 7
    GAP_FILLED = 8
    SYNC_STARTED = 9
    SYNC_FINISHED = 10
    RECEIPT = 11
    SERVER_ERROR = 12
    ERROR = 13
    # server engine
    SESSION_AUTHENTICATED = 101
    AUTHENTICATION_FAILED = 102
    MESSAGE_ACCEPTED = 103
    DUPLICATE_ACKNOWLEDGED = 104
    SEND_REJECTED = 105
    SESSION_BEHIND = 106
    SESSION_RECOVERED = 107
    SESSION_CLOSED = 108
    PROTOCOL_VIOLATION = 109
    STORE_FAILURE = 110
    MEMBERSHIP_CHANGED = 111


class EventFlag(enum.IntFlag):
    """Bits of Event.flags (IMR_EVENT_FLAG_*)."""

    FATAL = 1
    HAS_READ = 2


class State(enum.IntEnum):
    """States of an own message (IMR_STATE_*)."""

    SENDING = 0
    SENT = 1
    FAILED = 2


class Failure(enum.IntEnum):
    """Why a message failed (IMR_FAILURE_*)."""

    NONE = 0
    ATTEMPTS_EXHAUSTED = 1
    MAX_OFFLINE_AGE = 2
    REJECTED = 3


class WireError(enum.IntEnum):
    """Codes of the error frame (IMR_WIRE_ERROR_*); unknown codes stay ints."""

    UNSPECIFIED = 0
    BAD_FRAME = 1
    AUTH_FAILED = 2
    TOKEN_EXPIRED = 3
    NOT_AUTHENTICATED = 4
    UNSUPPORTED_VERSION = 5
    NOT_MEMBER = 6
    UNKNOWN_CONVERSATION = 7
    FRAME_TOO_LARGE = 8
    INTERNAL_ERROR = 9
    RATE_LIMITED = 10


class RejectCode(enum.IntEnum):
    """Codes of a send-reject (IMR_REJECT_*); unknown codes stay ints."""

    UNSPECIFIED = 0
    NOT_MEMBER = 1
    UNKNOWN_CONVERSATION = 2
    PAYLOAD_TOO_LARGE = 3
    ID_CONFLICT = 4
    RATE_LIMITED = 5
    INVALID = 6
    SERVER_BUSY = 7


class CEvent(ctypes.Structure):
    """Mirror of ``imr_event`` (checked against the header's static asserts by make test)."""

    _fields_ = [
        ("kind", c_int32),
        ("code", c_int32),
        ("seq", c_uint64),
        ("seq_end", c_uint64),
        ("server_time_ms", c_uint64),
        ("node", c_uint64),
        ("live_index", c_uint64),
        ("session", c_uint64),
        ("detail_code", c_uint64),
        ("attempts", c_uint32),
        ("flags", c_uint32),
        ("message_id", c_uint8 * 16),
        ("conversation", c_void_p),
        ("conversation_len", c_size_t),
        ("user", c_void_p),
        ("user_len", c_size_t),
        ("payload", c_void_p),
        ("payload_len", c_size_t),
        ("clock", c_void_p),
        ("clock_len", c_size_t),
        ("detail", c_void_p),
        ("detail_len", c_size_t),
        ("reserved", c_uint64 * 4),
    ]


class COutboxEntry(ctypes.Structure):
    """Mirror of ``imr_outbox_entry``."""

    _fields_ = [
        ("message_id", c_uint8 * 16),
        ("seq", c_uint64),
        ("server_time_ms", c_uint64),
        ("state", c_int32),
        ("failure", c_int32),
        ("attempts", c_uint32),
        ("reject_code", c_uint32),
        ("conversation", c_void_p),
        ("conversation_len", c_size_t),
    ]


class CMessage(ctypes.Structure):
    """Mirror of ``imr_message``."""

    _fields_ = [
        ("message_id", c_uint8 * 16),
        ("seq", c_uint64),
        ("server_time_ms", c_uint64),
        ("sender_node", c_uint64),
        ("depth", c_uint64),
        ("sender", c_void_p),
        ("sender_len", c_size_t),
        ("payload", c_void_p),
        ("payload_len", c_size_t),
        ("clock", c_void_p),
        ("clock_len", c_size_t),
    ]


if ctypes.sizeof(c_void_p) == 8:
    assert ctypes.sizeof(CEvent) == 200, "imr_event layout mismatch"
    assert ctypes.sizeof(COutboxEntry) == 64, "imr_outbox_entry layout mismatch"
    assert ctypes.sizeof(CMessage) == 96, "imr_message layout mismatch"


def _bytes(pointer: Optional[int], length: int) -> bytes:
    return string_at(pointer, length) if pointer and length else b""


def _text(pointer: Optional[int], length: int) -> Optional[str]:
    if not pointer:
        return None
    return string_at(pointer, length).decode("utf-8", "replace")


@dataclass(frozen=True)
class Event:
    """One event, copied out of the library (it owns no C memory).

    ``kind`` is an IMR_EVENT_* value; fields a kind does not use are zero/None/empty.
    ``clock`` is the encoded vector clock (``VectorClock.decode``).
    """

    kind: int
    code: int = 0
    seq: int = 0
    seq_end: int = 0
    server_time_ms: int = 0
    node: int = 0
    live_index: int = 0
    session: int = 0
    detail_code: int = 0
    attempts: int = 0
    flags: int = 0
    message_id: bytes = bytes(16)
    conversation: Optional[str] = None
    user: Optional[str] = None
    payload: bytes = b""
    clock: bytes = b""
    detail: Optional[str] = None

    @property
    def fatal(self) -> bool:
        """SERVER_ERROR: the server closes the connection."""
        return bool(self.flags & EventFlag.FATAL)

    @property
    def read_seq(self) -> Optional[int]:
        """RECEIPT: the read watermark, if the receipt carries one."""
        return self.seq_end if self.flags & EventFlag.HAS_READ else None

    @property
    def members(self) -> list[str]:
        """MEMBERSHIP_CHANGED: the members (the payload's NUL-terminated strings)."""
        return [m.decode("utf-8") for m in self.payload.split(b"\0")[:-1]] if self.payload else []

    @classmethod
    def from_c(cls, e: CEvent) -> "Event":
        try:
            kind = EventKind(e.kind)
        except ValueError:
            kind = e.kind
        return cls(
            kind=kind,
            code=e.code,
            seq=e.seq,
            seq_end=e.seq_end,
            server_time_ms=e.server_time_ms,
            node=e.node,
            live_index=e.live_index,
            session=e.session,
            detail_code=e.detail_code,
            attempts=e.attempts,
            flags=e.flags,
            message_id=bytes(e.message_id),
            conversation=_text(e.conversation, e.conversation_len),
            user=_text(e.user, e.user_len),
            payload=_bytes(e.payload, e.payload_len),
            clock=_bytes(e.clock, e.clock_len),
            detail=_text(e.detail, e.detail_len),
        )


@dataclass(frozen=True)
class OutboxEntry:
    """One own message (copied out of the library)."""

    message_id: bytes
    conversation: str
    state: State
    attempts: int
    seq: int = 0
    server_time_ms: int = 0
    failure: Failure = Failure.NONE
    reject_code: int = 0

    @classmethod
    def from_c(cls, e: COutboxEntry) -> "OutboxEntry":
        return cls(
            message_id=bytes(e.message_id),
            conversation=_text(e.conversation, e.conversation_len) or "",
            state=State(e.state),
            attempts=e.attempts,
            seq=e.seq,
            server_time_ms=e.server_time_ms,
            failure=Failure(e.failure),
            reject_code=e.reject_code,
        )


@dataclass(frozen=True)
class Message:
    """One message of a timeline (copied out of the library). ``seq`` is 0 while an own
    message is not yet sequenced; ``clock`` is the encoded vector clock."""

    message_id: bytes
    seq: int
    server_time_ms: int
    sender: str
    sender_node: int
    payload: bytes
    clock: bytes
    depth: int

    @classmethod
    def from_c(cls, m: CMessage) -> "Message":
        return cls(
            message_id=bytes(m.message_id),
            seq=m.seq,
            server_time_ms=m.server_time_ms,
            sender=_text(m.sender, m.sender_len) or "",
            sender_node=m.sender_node,
            payload=_bytes(m.payload, m.payload_len),
            clock=_bytes(m.clock, m.clock_len),
            depth=m.depth,
        )
