"""Finding and loading libimr.so.

Order: the ``IMR_LIBRARY`` environment variable (a path to the library), then the
installed library (the dynamic loader's search path, then the usual install prefixes),
then an in-tree build (``build/lib`` of a source checkout above the current directory
or above this package).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from pathlib import Path

#: The SONAME this package speaks to (the library's major version).
SONAME = "libimr.so.0"
MAJOR = 0


class LibraryNotFoundError(OSError):
    """libimr.so could not be found or loaded; the message says where it looked."""


def _installed_candidates() -> list[str]:
    found = []
    # The dynamic loader's own path (ldconfig cache, LD_LIBRARY_PATH via dlopen).
    found.append(SONAME)
    name = ctypes.util.find_library("imr")
    if name:
        found.append(name)
    prefixes = [sys.prefix, "/usr/local", "/usr"]
    for prefix in prefixes:
        for libdir in ("lib", "lib64", "lib/x86_64-linux-gnu", "lib/aarch64-linux-gnu"):
            found.append(str(Path(prefix) / libdir / SONAME))
    return found


def _in_tree_candidates() -> list[str]:
    found = []
    starts = [Path.cwd(), Path(__file__).resolve().parent]
    for start in starts:
        for directory in [start, *start.parents]:
            candidate = directory / "build" / "lib" / SONAME
            if candidate.exists():
                found.append(str(candidate))
                break
    return found


def _try_load(path: str) -> ctypes.CDLL | None:
    # An explicit path must exist; a bare name is left to the dynamic loader.
    if os.sep in path and not os.path.exists(path):
        return None
    try:
        return ctypes.CDLL(path)
    except OSError:
        return None


def load() -> ctypes.CDLL:
    """Loads libimr; raises LibraryNotFoundError with every place tried."""
    tried: list[str] = []
    explicit = os.environ.get("IMR_LIBRARY")
    if explicit:
        lib = _try_load(explicit)
        if lib is None:
            raise LibraryNotFoundError(
                f"IMR_LIBRARY={explicit!r} could not be loaded "
                "(it must be the path of libimr.so.0, built by `make lib`)"
            )
        return _checked(lib, explicit)
    for path in _installed_candidates() + _in_tree_candidates():
        tried.append(path)
        lib = _try_load(path)
        if lib is not None:
            return _checked(lib, path)
    raise LibraryNotFoundError(
        "libimr (" + SONAME + ") was not found. Build it with `make lib` in the imr "
        "source tree (or install it with `make install`), or set IMR_LIBRARY to its "
        "path. Tried: " + ", ".join(tried)
    )


def _checked(lib: ctypes.CDLL, path: str) -> ctypes.CDLL:
    try:
        version = lib.imr_version
    except AttributeError:
        raise LibraryNotFoundError(f"{path} is not libimr (no imr_version)") from None
    version.restype = ctypes.c_int
    version.argtypes = []
    major = version() // 10000
    if major != MAJOR:
        raise LibraryNotFoundError(f"{path} is libimr {major}.x; this package needs {MAJOR}.x")
    return lib
