"""imr: reliable, consistent instant-messaging delivery — Python bindings of libimr.

A thin ctypes layer over the C ABI (include/imr.h); the logic lives in the library.
Handles (Config, Splitter, VectorClock, ...) free their C object on close(), at the end
of a ``with`` block, or when collected; a closed handle raises ClosedError.
"""

from ._ffi import FUNCTIONS, is_fatal, strerror
from ._ffi import version as _runtime_version
from ._lib import LibraryNotFoundError
from .clock import MAX_ENTRIES as CLOCK_MAX_ENTRIES
from .clock import Order, VectorClock
from .config import Config, Durability, HistoryOrder
from .errors import ClosedError, ErrorCode, ImrError
from .client import Client
from .events import Event, EventFlag, EventKind, Failure, Message, OutboxEntry, RejectCode, State, WireError
from .server import Output, Role, Server
from .framing import DEFAULT_MAX_FRAME_BYTES, LIMIT_MAX_FRAME_BYTES, Splitter, delimit, delimited_size
from . import aio

__version__ = "0.1.0"
#: The largest time value the engines accept (IMR_MAX_TIME_MS).
MAX_TIME_MS = 1 << 62
VERSION = (0, 1, 0)


def library_version() -> tuple[int, int, int]:
    """The (major, minor, patch) of the loaded libimr."""
    v = _runtime_version()
    return (v // 10000, v // 100 % 100, v % 100)


__all__ = [
    "CLOCK_MAX_ENTRIES",
    "Client",
    "ClosedError",
    "Config",
    "Durability",
    "DEFAULT_MAX_FRAME_BYTES",
    "ErrorCode",
    "Event",
    "EventFlag",
    "EventKind",
    "Failure",
    "Message",
    "FUNCTIONS",
    "HistoryOrder",
    "ImrError",
    "LIMIT_MAX_FRAME_BYTES",
    "LibraryNotFoundError",
    "MAX_TIME_MS",
    "Order",
    "OutboxEntry",
    "Output",
    "RejectCode",
    "Role",
    "Server",
    "State",
    "Splitter",
    "VERSION",
    "VectorClock",
    "WireError",
    "aio",
    "delimit",
    "delimited_size",
    "is_fatal",
    "library_version",
    "strerror",
]
