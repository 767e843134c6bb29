"""Stream framing: the varint length-delimited form of frames on TCP."""

from __future__ import annotations

from ctypes import byref, c_size_t, c_void_p, create_string_buffer, string_at
from typing import Iterator, Optional

from ._ffi import lib
from ._handle import Handle

DEFAULT_MAX_FRAME_BYTES = 1 << 20
LIMIT_MAX_FRAME_BYTES = 1 << 30


def delimited_size(frame_len: int) -> int:
    """Bytes of a frame of ``frame_len`` bytes in delimited form."""
    return lib.imr_frame_delimited_size(frame_len)


def delimit(frame: bytes) -> bytes:
    """The frame preceded by its varint length (what goes on the stream)."""
    frame = bytes(frame)
    size = lib.imr_frame_delimited_size(len(frame))
    buf = create_string_buffer(size)
    out_len = c_size_t()
    lib.imr_frame_delimit(frame, len(frame), buf, size, byref(out_len))
    return buf.raw[: out_len.value]


class Splitter(Handle):
    """Cuts a received byte stream into frames, whatever the chunking.

    ``push(data)`` then iterate: ``for frame in splitter: ...``. A framing error
    (ImrError with ``fatal`` true) means the connection must be reset.
    """

    _free = "imr_splitter_free"
    _what = "Splitter"

    def __init__(self, max_frame_bytes: int = 0):
        out = c_void_p()
        lib.imr_splitter_new(max_frame_bytes, byref(out))
        super().__init__(out.value)

    def push(self, data: bytes) -> None:
        data = bytes(data)
        with self._lock:
            lib.imr_splitter_push(self._p(), data, len(data))

    def next(self) -> Optional[bytes]:
        """The next complete frame, or None when more bytes are needed."""
        frame, length = c_void_p(), c_size_t()
        with self._lock:
            if lib.imr_splitter_next(self._p(), byref(frame), byref(length)) == 0:
                return None
            return string_at(frame.value, length.value) if length.value else b""

    def __iter__(self) -> Iterator[bytes]:
        while (frame := self.next()) is not None:
            yield frame

    def feed(self, data: bytes) -> list[bytes]:
        """push(data), then every frame now complete."""
        self.push(data)
        return list(self)

    @property
    def buffered(self) -> int:
        with self._lock:
            return lib.imr_splitter_buffered(self._p())
