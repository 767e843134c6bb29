#!/usr/bin/env python3
"""Keeps the C ABI's faces equal (run by `make check-abi`, part of `make test`).

  - exported symbols of libimr.so = IMR_API declarations of include/imr.h
    = the Python ctypes table (imr._ffi.FUNCTIONS);
  - every IMR_API function is exercised by the C ABI tests;
  - every IMR_ERR_* code has a strerror text (distinct, not "unknown error"), a Python
    ErrorCode, and a Swift mapping (a use in Sources/IMRABI besides its strerror text);
  - the version macros = the runtime version = the Python package version;
  - the other constants shared with Python (config keys, orders, limits, roles) agree.
"""

from __future__ import annotations

import ctypes
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEADER = ROOT / "include" / "imr.h"
LIBRARY = ROOT / "build" / "lib" / "libimr.so.0"
C_TESTS = ROOT / "bindings" / "c" / "tests" / "test_abi.c"
SWIFT_ABI = ROOT / "Sources" / "IMRABI"
PYPROJECT = ROOT / "bindings" / "python" / "pyproject.toml"

sys.path.insert(0, str(ROOT / "bindings" / "python"))

problems: list[str] = []


def check(ok: bool, message: str) -> None:
    if not ok:
        problems.append(message)


def same_sets(a: set, b: set, a_name: str, b_name: str) -> None:
    if a - b:
        problems.append(f"in {a_name} but not {b_name}: {sorted(a - b)}")
    if b - a:
        problems.append(f"in {b_name} but not {a_name}: {sorted(b - a)}")


def header_defines(text: str, prefix: str) -> dict[str, int]:
    out = {}
    for name, value in re.findall(r"^#define (" + prefix + r"\w*) \(?(-?\d+)\)?\s*(?:/\*.*)?$", text, re.M):
        out[name] = int(value)
    return out


def report() -> int:
    for p in problems:
        print("check_abi: " + p, file=sys.stderr)
    return 1


def header_defines_u(text: str, prefix: str) -> dict[str, int]:
    """Like header_defines, also for unsigned literals (1u)."""
    out = {}
    for name, value in re.findall(r"^#define (" + prefix + r"\w*) \(?(-?\d+)u?\)?\s*(?:/\*.*)?$", text, re.M):
        out[name] = int(value)
    return out


def main() -> int:
    header = HEADER.read_text()

    # Functions: header, library, Python table, C tests.
    declared = set(re.findall(r"^IMR_API[^(]*?[^A-Za-z0-9_](imr_[A-Za-z0-9_]*)\s*\(", header, re.M))
    nm = subprocess.run(["nm", "-D", "-g", "--defined-only", str(LIBRARY)], check=True,
                        capture_output=True, text=True).stdout
    exported = set()
    for line in nm.splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[1] in "TWiDBRV":
            exported.add(fields[2].split("@")[0])
    exported -= {name for name in exported if re.fullmatch(r"IMR_\d+", name)}

    import imr
    from imr import _ffi

    table = set(_ffi.FUNCTIONS)
    same_sets(declared, exported, "include/imr.h (IMR_API)", "libimr.so exports")
    same_sets(declared, table, "include/imr.h (IMR_API)", "the Python table")
    c_tests = C_TESTS.read_text()
    unused = sorted(f for f in declared if not re.search(r"\b" + f + r"\s*\(", c_tests))
    check(not unused, f"functions not exercised by {C_TESTS.relative_to(ROOT)}: {unused}")
    if problems:  # the rest loads the library through the table
        return report()

    # Error codes.
    codes = header_defines(header, "IMR_ERR_")
    check(len(codes) > 0, "no IMR_ERR_* codes found in the header")
    check(len(set(codes.values())) == len(codes), "two IMR_ERR_* codes share a value")
    check(all(v < 0 for v in codes.values()), "an IMR_ERR_* code is not negative")
    py_codes = {"IMR_ERR_" + c.name: int(c) for c in imr.ErrorCode if c.name != "OK"}
    check(py_codes == codes, f"Python ErrorCode {py_codes} != header {codes}")
    texts = {}
    swift = "\n".join(p.read_text() for p in sorted(SWIFT_ABI.glob("*.swift")))
    for name, value in codes.items():
        text = imr.strerror(value)
        check(bool(text) and text != "unknown error", f"{name} has no strerror text")
        check(text not in texts.values(), f"{name} shares its strerror text {text!r}")
        texts[name] = text
        check(re.search(r"case " + name + r": text = ", swift) is not None,
              f"{name} has no case in imr_strerror (Sources/IMRABI)")
        uses = [line for line in swift.splitlines()
                if re.search(r"\b" + name + r"\b", line) and ": text = " not in line]
        check(bool(uses), f"{name} has no Swift mapping in Sources/IMRABI")
    check(imr.strerror(0) != "unknown error", "IMR_OK has no strerror text")
    check(imr.strerror(123456) == "unknown error", "an unknown code must give 'unknown error'")

    # Versions.
    v = header_defines(header, "IMR_VERSION_")
    packed = v["IMR_VERSION_MAJOR"] * 10000 + v["IMR_VERSION_MINOR"] * 100 + v["IMR_VERSION_PATCH"]
    check(_ffi.version() == packed, f"imr_version() = {_ffi.version()}, header macros say {packed}")
    header_version = (v["IMR_VERSION_MAJOR"], v["IMR_VERSION_MINOR"], v["IMR_VERSION_PATCH"])
    check(imr.VERSION == header_version, f"Python VERSION {imr.VERSION} != header {header_version}")
    check(imr.__version__ == "%d.%d.%d" % header_version, "imr.__version__ != header version")
    m = re.search(r'^version = "([^"]+)"', PYPROJECT.read_text(), re.M)
    check(m is not None and m.group(1) == imr.__version__, "pyproject.toml version != header version")

    # Shared constants.
    from imr import config

    keys = header_defines(header, "IMR_CONFIG_")
    py_keys = {"IMR_CONFIG_" + n.upper(): k
               for table_ in (config.U64_KEYS, config.DOUBLE_KEYS, config.STRING_KEYS)
               for n, k in table_.items()}
    check(py_keys == keys, f"Python config keys differ from the header: "
                           f"{set(py_keys.items()) ^ set(keys.items())}")
    history = header_defines(header, "IMR_HISTORY_")
    check(history == {"IMR_HISTORY_" + h.name: int(h) for h in imr.HistoryOrder}, "IMR_HISTORY_* != HistoryOrder")
    orders = header_defines(header, "IMR_ORDER_")
    check(orders == {"IMR_ORDER_" + o.name: int(o) for o in imr.Order}, "IMR_ORDER_* != Order")
    check(header_defines(header, "IMR_CLOCK_MAX_ENTRIES")["IMR_CLOCK_MAX_ENTRIES"] == imr.CLOCK_MAX_ENTRIES,
          "IMR_CLOCK_MAX_ENTRIES != imr.CLOCK_MAX_ENTRIES")
    m = re.search(r"^#define IMR_MAX_TIME_MS (\d+)ull", header, re.M)
    check(m is not None and int(m.group(1)) == imr.MAX_TIME_MS, "IMR_MAX_TIME_MS != imr.MAX_TIME_MS")
    for name, value in (("IMR_DEFAULT_MAX_FRAME_BYTES", imr.DEFAULT_MAX_FRAME_BYTES),
                        ("IMR_LIMIT_MAX_FRAME_BYTES", imr.LIMIT_MAX_FRAME_BYTES)):
        m = re.search(r"^#define " + name + r" \(1 << (\d+)\)", header, re.M)
        check(m is not None and 1 << int(m.group(1)) == value, f"{name} != Python")

    # Event kinds, peer codes and roles (= the Swift wire model's), durability.
    kinds = {k: v for k, v in header_defines(header, "IMR_EVENT_").items() if not k.startswith("IMR_EVENT_FLAG_")}
    check(kinds == {"IMR_EVENT_" + k.name: int(k) for k in imr.EventKind},
          f"IMR_EVENT_* != Python EventKind: {set(kinds.items()) ^ {('IMR_EVENT_' + k.name, int(k)) for k in imr.EventKind}}")
    check(len(set(kinds.values())) == len(kinds), "two IMR_EVENT_* kinds share a value")
    frame_swift = (ROOT / "Sources" / "IMRCore" / "Wire" / "Frame.swift").read_text()
    for prefix, swift_type, py_enum in (("IMR_WIRE_ERROR_", "ErrorCode", imr.WireError),
                                        ("IMR_REJECT_", "RejectCode", imr.RejectCode),
                                        ("IMR_ROLE_", "MemberRole", imr.Role)):
        c_values = header_defines(header, prefix)
        swift_values = {prefix + re.sub(r"(?<!^)([A-Z])", r"_\1", name).upper(): int(v)
                        for name, v in re.findall(r"public static let (\w+) = " + swift_type + r"\(rawValue: (\d+)\)",
                                                  frame_swift)}
        check(c_values == swift_values, f"{prefix}* != Swift {swift_type}: {set(c_values.items()) ^ set(swift_values.items())}")
        check(c_values == {prefix + e.name: int(e) for e in py_enum}, f"{prefix}* != Python {py_enum.__name__}")
    check(header_defines(header, "IMR_DURABILITY_") == {"IMR_DURABILITY_" + d.name: int(d) for d in imr.Durability},
          "IMR_DURABILITY_* != Python Durability")

    # Fixed layouts: the header's static asserts = the Python ctypes mirrors.
    from imr.events import CEvent, CMessage, COutboxEntry

    for c_name, mirror in (("imr_event", CEvent), ("imr_outbox_entry", COutboxEntry), ("imr_message", CMessage)):
        size = re.search(r"IMR_STATIC_ASSERT\(sizeof\(" + c_name + r"\) == (\d+)", header)
        check(size is not None and int(size.group(1)) == ctypes.sizeof(mirror),
              f"sizeof({c_name}) != Python {mirror.__name__}")
        offsets = dict(re.findall(r"IMR_STATIC_ASSERT\(offsetof\(" + c_name + r", (\w+)\) == (\d+)", header))
        fields = {name for name, *_ in mirror._fields_}
        same_sets(set(offsets), fields, f"{c_name} static asserts", f"Python {mirror.__name__} fields")
        for name, offset in offsets.items():
            if name in fields:
                check(getattr(mirror, name).offset == int(offset),
                      f"{c_name}.{name}: offset {offset} in C, {getattr(mirror, name).offset} in Python")

    # Other enumerations shared with Python.
    for prefix, py_enum in (("IMR_STATE_", imr.State), ("IMR_FAILURE_", imr.Failure),
                            ("IMR_EVENT_FLAG_", imr.EventFlag)):
        values = {k: v for k, v in header_defines_u(header, prefix).items()}
        check(values == {prefix + e.name: int(e) for e in py_enum}, f"{prefix}* != Python {py_enum.__name__}")
    from imr import client as client_module

    check(header_defines(header, "IMR_VIEW_") == {"IMR_VIEW_LIVE": client_module.VIEW_LIVE,
                                                  "IMR_VIEW_HISTORY": client_module.VIEW_HISTORY},
          "IMR_VIEW_* != Python")

    if problems:
        return report()
    print(f"check_abi: {len(declared)} functions (header = exports = Python table = C tests), "
          f"{len(codes)} error codes, version {imr.__version__}: consistent")
    return 0


if __name__ == "__main__":
    sys.exit(main())
