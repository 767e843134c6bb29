"""VectorClock: a sparse node -> counter clock of one conversation."""

from __future__ import annotations

import enum
from ctypes import byref, c_size_t, c_uint64, c_void_p, create_string_buffer

from ._ffi import lib
from ._handle import Handle, locked

#: Most entries a clock may hold (IMR_CLOCK_MAX_ENTRIES).
MAX_ENTRIES = 4096


class Order(enum.IntEnum):
    """How two clocks relate (IMR_ORDER_*)."""

    EQUAL = 0
    BEFORE = 1
    AFTER = 2
    CONCURRENT = 3


class VectorClock(Handle):
    _free = "imr_clock_free"
    _what = "VectorClock"

    def __init__(self, _ptr: int | None = None):
        if _ptr is None:
            out = c_void_p()
            lib.imr_clock_new(byref(out))
            _ptr = out.value
        super().__init__(_ptr)

    @classmethod
    def decode(cls, data: bytes) -> "VectorClock":
        """A clock from its encoded form (protobuf imrpb.VectorClock)."""
        data = bytes(data)
        out = c_void_p()
        lib.imr_clock_decode(data if data else None, len(data), byref(out))
        return cls(out.value)

    def encode(self) -> bytes:
        with self._lock:
            p = self._p()
            n = c_size_t()
            lib.imr_clock_encode(p, None, 0, byref(n))
            if n.value == 0:
                return b""
            buf = create_string_buffer(n.value)
            lib.imr_clock_encode(p, buf, n.value, byref(n))
            return buf.raw[: n.value]

    def copy(self) -> "VectorClock":
        out = c_void_p()
        with self._lock:
            lib.imr_clock_copy(self._p(), byref(out))
        return VectorClock(out.value)

    def increment(self, node: int) -> int:
        """Increments ``node``'s counter; returns the new value."""
        counter = c_uint64()
        with self._lock:
            lib.imr_clock_increment(self._p(), node, byref(counter))
        return counter.value

    def merge(self, other: "VectorClock") -> "VectorClock":
        """Entry-wise maximum with ``other``, in place; returns self."""
        with locked(self, other):
            lib.imr_clock_merge(self._p(), other._p())
        return self

    def compare(self, other: "VectorClock") -> Order:
        with locked(self, other):
            return Order(lib.imr_clock_compare(self._p(), other._p()))

    def happened_before(self, other: "VectorClock") -> bool:
        return self.compare(other) is Order.BEFORE

    def __getitem__(self, node: int) -> int:
        counter = c_uint64()
        with self._lock:
            lib.imr_clock_get(self._p(), node, byref(counter))
        return counter.value

    @property
    def depth(self) -> int:
        """The causal depth: the sum of the counters (saturating)."""
        depth = c_uint64()
        with self._lock:
            lib.imr_clock_depth(self._p(), byref(depth))
        return depth.value

    def __len__(self) -> int:
        with self._lock:
            return lib.imr_clock_count(self._p())

    def items(self) -> list[tuple[int, int]]:
        """(node, counter) pairs, sorted by node."""
        node, counter = c_uint64(), c_uint64()
        with self._lock:
            p = self._p()
            out = []
            for i in range(lib.imr_clock_count(p)):
                lib.imr_clock_entry(p, i, byref(node), byref(counter))
                out.append((node.value, counter.value))
            return out

    def to_dict(self) -> dict[int, int]:
        return dict(self.items())

    def __eq__(self, other) -> bool:
        if not isinstance(other, VectorClock):
            return NotImplemented
        return self.compare(other) is Order.EQUAL

    __hash__ = None  # mutable

    def __repr__(self) -> str:
        if self.closed:
            return "VectorClock(<closed>)"
        return "VectorClock({" + ", ".join(f"{n:#x}: {c}" for n, c in self.items()) + "})"
