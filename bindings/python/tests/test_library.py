import os
import subprocess
import sys
import textwrap

import imr
from imr import _ffi


def run_python(code, env_update, cwd="/"):
    env = dict(os.environ)
    env.update(env_update)
    env = {k: v for k, v in env.items() if v is not None}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=cwd,
                          capture_output=True, text=True)


def test_runtime_version_matches_package():
    assert imr.library_version() == imr.VERSION
    assert imr.__version__ == "%d.%d.%d" % imr.VERSION


def test_table_binds_every_function():
    for name in _ffi.FUNCTIONS:
        assert callable(getattr(_ffi.lib, name))


def test_bad_IMR_LIBRARY_is_a_clear_error():
    pkg = os.path.dirname(os.path.dirname(imr.__file__))
    r = run_python("""
        import imr
        try:
            imr.library_version()
        except imr.LibraryNotFoundError as e:
            print("ERR", e)
    """, {"IMR_LIBRARY": "/nonexistent/libimr.so.0", "PYTHONPATH": pkg})
    assert "ERR IMR_LIBRARY='/nonexistent/libimr.so.0' could not be loaded" in r.stdout, r.stderr


def test_missing_library_is_a_clear_error():
    pkg = os.path.dirname(os.path.dirname(imr.__file__))
    r = run_python("""
        from imr import _lib
        _lib._installed_candidates = lambda: ["/nowhere/libimr.so.0"]
        _lib._in_tree_candidates = lambda: []
        import imr
        try:
            imr.strerror(-1)
        except imr.LibraryNotFoundError as e:
            print("ERR", e)
    """, {"IMR_LIBRARY": None, "PYTHONPATH": pkg})
    assert "ERR libimr (libimr.so.0) was not found" in r.stdout, r.stderr
    assert "make lib" in r.stdout and "IMR_LIBRARY" in r.stdout


def test_in_tree_build_is_found_from_the_checkout():
    pkg = os.path.dirname(os.path.dirname(imr.__file__))
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
    if not os.path.exists(os.path.join(root, "build", "lib", "libimr.so.0")):
        import pytest
        pytest.skip("no in-tree build")
    r = run_python("""
        from imr import _lib
        _lib._installed_candidates = lambda: []
        import imr
        print(imr.library_version())
    """, {"IMR_LIBRARY": None, "PYTHONPATH": pkg}, cwd=root)
    assert r.stdout.strip() == str(imr.VERSION), r.stderr
