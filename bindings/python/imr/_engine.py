"""The base of the client and server engine handles: both are built from a Config, and
both hand out events and their next timer deadline the same way."""

from __future__ import annotations

from ctypes import byref, c_uint64, c_void_p
from typing import Iterator, Optional

from ._ffi import lib
from ._handle import Handle
from .config import Config
from .events import CEvent, Event


class Engine(Handle):
    _new: str = ""            # the C constructor: (config, out handle)
    _poll_event: str = ""     # (handle, out event) -> 1 or 0
    _next_timeout: str = ""   # (handle, out deadline) -> 1 or 0

    def __init__(self, config: Optional[Config] = None, **settings):
        own = config is None
        if own:
            config = Config(**settings)
        elif settings:
            raise TypeError("pass either a Config or settings, not both")
        try:
            out = c_void_p()
            with config._lock:
                getattr(lib, self._new)(config._p(), byref(out))
        finally:
            if own:
                config.close()
        super().__init__(out.value)
        self._event = CEvent()

    def poll_event(self) -> Optional[Event]:
        with self._lock:
            if getattr(lib, self._poll_event)(self._p(), byref(self._event)) == 0:
                return None
            return Event.from_c(self._event)

    def events(self) -> Iterator[Event]:
        while (event := self.poll_event()) is not None:
            yield event

    @property
    def next_timeout(self) -> Optional[int]:
        deadline = c_uint64()
        with self._lock:
            return deadline.value if getattr(lib, self._next_timeout)(self._p(), byref(deadline)) == 1 else None
