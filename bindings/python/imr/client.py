"""Client: the sans-IO client engine of one device."""

from __future__ import annotations

from ctypes import byref, c_size_t, c_uint64, c_void_p, create_string_buffer, string_at
from typing import Iterator, Optional, Union

from ._ffi import lib
from ._engine import Engine
from .clock import VectorClock
from .config import Config
from .events import CMessage, COutboxEntry, Message, OutboxEntry

VIEW_LIVE = 0
VIEW_HISTORY = 1


def _name(conversation: Union[str, bytes]) -> bytes:
    raw = conversation.encode("utf-8") if isinstance(conversation, str) else bytes(conversation)
    if b"\0" in raw:
        raise ValueError("a conversation id must not contain NUL")
    return raw


class Client(Engine):
    """The client engine. The driving loop, after every input (connected, disconnected,
    send, retry, handle_frame, handle_timeout, probe): write every ``transmits()`` frame,
    handle every ``events()`` event, re-arm a timer at ``next_timeout``."""

    _free = "imr_client_free"
    _what = "Client"
    _new = "imr_client_new"
    _poll_event = "imr_client_poll_event"
    _next_timeout = "imr_client_next_timeout"

    def __init__(self, config: Optional[Config] = None, **settings):
        super().__init__(config, **settings)
        self._frame = c_void_p()
        self._frame_len = c_size_t()
        self._id = create_string_buffer(16)

    # inputs

    def connected(self, now_ms: int) -> None:
        with self._lock:
            lib.imr_client_connected(self._p(), now_ms)

    def disconnected(self, now_ms: int) -> None:
        with self._lock:
            lib.imr_client_disconnected(self._p(), now_ms)

    def send(self, conversation: str, payload: bytes, now_ms: int) -> bytes:
        """Sends ``payload`` to ``conversation``; returns the new message's 16-byte id."""
        payload = bytes(payload)
        with self._lock:
            lib.imr_client_send(self._p(), _name(conversation), payload, len(payload), self._id, now_ms)
            return self._id.raw

    def retry(self, message_id: bytes, now_ms: int) -> None:
        message_id = bytes(message_id)
        if len(message_id) != 16:
            raise ValueError("a message id is 16 bytes")
        with self._lock:
            lib.imr_client_retry(self._p(), message_id, now_ms)

    def handle_frame(self, frame: bytes, now_ms: int) -> None:
        frame = bytes(frame)
        with self._lock:
            lib.imr_client_handle_frame(self._p(), frame, len(frame), now_ms)

    def handle_timeout(self, now_ms: int) -> None:
        with self._lock:
            lib.imr_client_handle_timeout(self._p(), now_ms)

    def probe(self, now_ms: int) -> None:
        with self._lock:
            lib.imr_client_probe(self._p(), now_ms)

    # outputs

    def poll_transmit(self) -> Optional[bytes]:
        """The next encoded frame to transmit (not delimited), or None."""
        with self._lock:
            if lib.imr_client_poll_transmit(self._p(), byref(self._frame), byref(self._frame_len)) == 0:
                return None
            return string_at(self._frame.value, self._frame_len.value)

    def transmits(self) -> Iterator[bytes]:
        while (frame := self.poll_transmit()) is not None:
            yield frame

    # queries

    def outbox(self) -> list[OutboxEntry]:
        with self._lock:
            p = self._p()
            count = lib.imr_client_outbox(p, None, 0)
            if count == 0:
                return []
            entries = (COutboxEntry * count)()
            count = min(count, lib.imr_client_outbox(p, entries, count))
            return [OutboxEntry.from_c(entries[i]) for i in range(count)]

    def timeline(self, conversation: str, history: bool = False, offset: int = 0,
                 limit: Optional[int] = None) -> list[Message]:
        """The conversation's messages: live view (arrival order) or ``history=True``
        (causal order). Raises ImrError(NOT_FOUND) for an unknown conversation."""
        view = VIEW_HISTORY if history else VIEW_LIVE
        name = _name(conversation)
        with self._lock:
            p = self._p()
            count = lib.imr_client_timeline(p, name, view, offset, None, 0)
            n = max(0, count - offset)
            if limit is not None:
                n = min(n, limit)
            if n == 0:
                return []
            messages = (CMessage * n)()
            lib.imr_client_timeline(p, name, view, offset, messages, n)
            return [Message.from_c(messages[i]) for i in range(n)]

    def cursor(self, conversation: str) -> int:
        cursor = c_uint64()
        with self._lock:
            lib.imr_client_cursor(self._p(), _name(conversation), byref(cursor))
        return cursor.value

    def clock(self, conversation: str) -> VectorClock:
        out = c_void_p()
        with self._lock:
            lib.imr_client_clock(self._p(), _name(conversation), byref(out))
        return VectorClock(out.value)


__all__ = ["Client", "VIEW_HISTORY", "VIEW_LIVE"]
