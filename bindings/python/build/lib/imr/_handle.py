"""The base of every handle class: ownership, close(), context manager, locking."""

from __future__ import annotations

import threading

from ._ffi import lib
from .errors import ClosedError


class Handle:
    """Owns one C handle. After close() every call raises ClosedError (never crashes).

    The C ABI lets one thread at a time use a handle; ctypes releases the GIL during a
    call, so each handle serialises its calls with a lock.
    """

    _free: str = ""          # the C function releasing the handle
    _what: str = "handle"

    __slots__ = ("_ptr", "_lock", "__weakref__")

    def __init__(self, ptr: int):
        self._ptr: int | None = ptr
        self._lock = threading.RLock()

    @property
    def closed(self) -> bool:
        return self._ptr is None

    def _p(self) -> int:
        """The live pointer; call with the lock held."""
        ptr = self._ptr
        if ptr is None:
            raise ClosedError(self._what)
        return ptr

    def close(self) -> None:
        """Releases the C object; later calls raise ClosedError. Idempotent."""
        with self._lock:
            ptr, self._ptr = self._ptr, None
            if ptr is not None:
                getattr(lib, self._free)(ptr)

    def __enter__(self):
        self._p()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: the library may be gone already
            pass


class locked:
    """Holds the locks of several handles (in a fixed order, each once)."""

    def __init__(self, *handles: Handle):
        unique = {id(h): h for h in handles}
        self._locks = [unique[k]._lock for k in sorted(unique)]

    def __enter__(self):
        for lock in self._locks:
            lock.acquire()
        return self

    def __exit__(self, *exc):
        for lock in reversed(self._locks):
            lock.release()
