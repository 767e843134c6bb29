"""Server: the sans-IO server engine, for programs that embed a server."""

from __future__ import annotations

import enum
from ctypes import byref, c_char_p, c_int, c_size_t, c_uint64, c_void_p, string_at
from dataclasses import dataclass
from typing import Iterator, Optional, Sequence, Union

from ._ffi import lib
from ._engine import Engine
from .errors import ErrorCode


class Role(enum.IntEnum):
    """A member's role in a conversation (IMR_ROLE_*): owners add and remove members and
    grant or take ownership; any member may leave."""

    MEMBER = 0  # IMR_ROLE_MEMBER
    OWNER = 1   # IMR_ROLE_OWNER


@dataclass(frozen=True)
class Output:
    """One output of the server: a frame to write to ``session`` (not delimited), or
    ``close`` (close that connection after what was written before)."""

    session: int
    frame: Optional[bytes]
    close: bool = False


def _text(value: Union[str, bytes], what: str) -> bytes:
    raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    if b"\0" in raw:
        raise ValueError(f"{what} must not contain NUL")
    return raw


class Server(Engine):
    """The server engine. Per connection: ``open_session``, ``handle_frame`` for each
    received frame, ``close_session``; after each call drain ``outputs()`` and ``events()``
    and re-arm a timer at ``next_timeout``. A host that writes asynchronously reports each
    session's unwritten bytes with ``set_backlog`` and stops reading a session while
    ``input_paused`` is True."""

    _free = "imr_server_free"
    _what = "Server"
    _new = "imr_server_new"
    _poll_event = "imr_server_poll_event"
    _next_timeout = "imr_server_next_timeout"

    def add_token(self, token: str, user: str, expiry_unix_ms: int = 0) -> None:
        with self._lock:
            lib.imr_server_add_token(self._p(), _text(token, "token"), _text(user, "user"), expiry_unix_ms)

    def remove_token(self, token: str) -> None:
        with self._lock:
            lib.imr_server_remove_token(self._p(), _text(token, "token"))

    def set_wall_clock(self, unix_ms: int, now_ms: int) -> None:
        with self._lock:
            lib.imr_server_set_wall_clock(self._p(), unix_ms, now_ms)

    def create_conversation(self, conversation: str, members: Sequence[str]) -> None:
        encoded = [_text(m, "member") for m in members]
        array = (c_char_p * max(1, len(encoded)))(*encoded)
        with self._lock:
            lib.imr_server_create_conversation(self._p(), _text(conversation, "conversation"),
                                               array, len(encoded))

    def add_member(self, conversation: str, user: str) -> None:
        with self._lock:
            lib.imr_server_add_member(self._p(), _text(conversation, "conversation"), _text(user, "user"))

    def remove_member(self, conversation: str, user: str) -> None:
        with self._lock:
            lib.imr_server_remove_member(self._p(), _text(conversation, "conversation"), _text(user, "user"))

    def set_role(self, conversation: str, user: str, role: Role) -> None:
        """Sets ``user``'s role, adding it as a member first if it is not one."""
        with self._lock:
            lib.imr_server_set_role(self._p(), _text(conversation, "conversation"), _text(user, "user"), int(role))

    def member_role(self, conversation: str, user: str) -> Role:
        """``user``'s role; ImrError NOT_FOUND for an unknown conversation or a non-member."""
        role = c_int()
        with self._lock:
            lib.imr_server_member_role(self._p(), _text(conversation, "conversation"), _text(user, "user"),
                                       byref(role))
        return Role(role.value)

    def open_session(self, now_ms: int) -> int:
        session = c_uint64()
        with self._lock:
            lib.imr_server_open_session(self._p(), byref(session), now_ms)
        return session.value

    def close_session(self, session: int, now_ms: int) -> None:
        with self._lock:
            lib.imr_server_close_session(self._p(), session, now_ms)

    def set_writable(self, session: int, writable: bool, now_ms: int) -> None:
        with self._lock:
            lib.imr_server_set_writable(self._p(), session, 1 if writable else 0, now_ms)

    def set_backlog(self, session: int, backlog_bytes: int, now_ms: int) -> None:
        """Bytes of this session's polled output not yet written to the peer (hosts that
        write asynchronously); past the soft limit its requests wait, past the hard one it
        is closed."""
        with self._lock:
            lib.imr_server_set_backlog(self._p(), session, backlog_bytes, now_ms)

    def input_paused(self, session: int) -> bool:
        """True while the session has requests waiting for its budgets: stop reading its
        connection until this is False again (False for an unknown session)."""
        with self._lock:
            return lib.imr_server_input_paused(self._p(), session) == 1

    def handle_frame(self, session: int, frame: bytes, now_ms: int) -> None:
        frame = bytes(frame)
        with self._lock:
            lib.imr_server_handle_frame(self._p(), session, frame, len(frame), now_ms)

    def handle_stream_error(self, session: int, error: int, now_ms: int) -> None:
        """``error``: the fatal ErrorCode a Splitter raised for this session's stream."""
        with self._lock:
            lib.imr_server_handle_stream_error(self._p(), session, int(error), now_ms)

    def poll_output(self) -> Optional[Output]:
        session, frame, length, close = c_uint64(), c_void_p(), c_size_t(), c_int()
        with self._lock:
            if lib.imr_server_poll_output(self._p(), byref(session), byref(frame), byref(length), byref(close)) == 0:
                return None
            if close.value:
                return Output(session.value, None, True)
            return Output(session.value, string_at(frame.value, length.value))

    def outputs(self) -> Iterator[Output]:
        while (output := self.poll_output()) is not None:
            yield output

    def handle_timeout(self, now_ms: int) -> None:
        with self._lock:
            lib.imr_server_handle_timeout(self._p(), now_ms)


__all__ = ["Output", "Role", "Server", "ErrorCode"]
