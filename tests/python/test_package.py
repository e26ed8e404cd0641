"""The package itself: version, library loading and its errors, exception
classes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

import netsys
from netsys import _ffi
from conftest import ROOT


def run_python(code: str, env_extra: dict, timeout: float = 60) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.update(env_extra)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_versions_match():
    # The package, the library and the repository's VERSION file agree.
    version = (ROOT / "VERSION").read_text().strip()
    assert netsys.__version__ == version
    assert netsys.library_version() == version
    major, minor, _ = (int(x) for x in netsys.library_version().split("."))
    assert (major, minor) >= (_ffi.REQUIRED_MAJOR, _ffi.REQUIRED_MINOR)


def test_library_path_is_the_env_var():
    assert netsys.library_path() == os.path.abspath(os.environ["NETSYS_LIBRARY"])


def test_missing_library_names_what_was_tried():
    result = run_python(
        """
        import netsys
        try:
            netsys.Server("x")
        except netsys.LibraryNotFoundError as exc:
            assert isinstance(exc, OSError)
            print("ERROR:", exc)
        """,
        {"NETSYS_LIBRARY": "/nonexistent/libnetsys.so"},
    )
    assert result.returncode == 0, result.stderr
    assert "/nonexistent/libnetsys.so" in result.stdout
    assert "NETSYS_LIBRARY" in result.stdout


def test_import_works_without_library():
    # Importing and reading the version must not need the library.
    result = run_python("import netsys; print(netsys.__version__)", {"NETSYS_LIBRARY": "/nonexistent.so"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == netsys.__version__


def test_system_search_reports_every_place(tmp_path):
    # Without NETSYS_LIBRARY the bundled directory and then the system path
    # are searched. On a machine without an installed libnetsys the error
    # lists both; with one installed, it must be the one found by SONAME.
    env = {"NETSYS_LIBRARY": "", "LD_LIBRARY_PATH": str(tmp_path)}
    result = run_python(
        """
        import netsys
        try:
            netsys.Client("x").close()
            print("LOADED", netsys.library_path())
        except netsys.LibraryNotFoundError as exc:
            print("ERROR:", exc)
        """,
        env,
    )
    assert result.returncode == 0, result.stderr
    if result.stdout.startswith("LOADED"):
        assert "libnetsys.so" in result.stdout and "_lib" not in result.stdout, result.stdout
    else:
        assert "bundled copy" in result.stdout and "system search path" in result.stdout, result.stdout
        assert "libnetsys.so.1" in result.stdout


def test_bundled_copy_is_found_without_the_variable(tmp_path):
    import shutil

    package = tmp_path / "netsys"
    shutil.copytree(ROOT / "bindings/python/netsys", package, ignore=shutil.ignore_patterns("__pycache__"))
    (package / "_lib").mkdir()
    shutil.copy(os.environ["NETSYS_LIBRARY"], package / "_lib" / "libnetsys.so.1")
    result = run_python(
        """
        import netsys
        netsys.Client("x").close()
        print(netsys.library_path())
        """,
        {"NETSYS_LIBRARY": "", "PYTHONPATH": str(tmp_path), "LD_LIBRARY_PATH": ""},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(package / "_lib" / "libnetsys.so.1")


def test_too_old_library_is_refused(tmp_path):
    # A library that says it is 0.9.0 must be refused with a version error.
    source = tmp_path / "old.c"
    source.write_text("unsigned int netsys_version(void) { return (0u << 16) | (9u << 8); }\n")
    lib = tmp_path / "libnetsys.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(lib), str(source)], check=True, timeout=60)
    result = run_python(
        """
        import netsys
        try:
            netsys.Server("x")
        except netsys.LibraryVersionError as exc:
            print("ERROR:", exc)
        """,
        {"NETSYS_LIBRARY": str(lib)},
    )
    assert result.returncode == 0, result.stderr
    assert "0.9.0" in result.stdout and "needs 1.x" in result.stdout


@pytest.mark.parametrize(
    "cls, builtin",
    [
        (netsys.NetsysTimeoutError, TimeoutError),
        (netsys.ConnectError, ConnectionError),
        (netsys.ConnectionClosedError, ConnectionError),
        (netsys.NotConnectedError, ConnectionError),
        (netsys.ServerFullError, ConnectionRefusedError),
        (netsys.ConnectionRejectedError, ConnectionError),
        (netsys.InvalidArgumentError, ValueError),
        (netsys.MessageTooLargeError, ValueError),
        (netsys.BadAddressError, ValueError),
        (netsys.BackpressureError, BlockingIOError),
        (netsys.SessionClosedError, ConnectionError),
        (netsys.NotFoundError, LookupError),
    ],
)
def test_exception_hierarchy(cls, builtin):
    assert issubclass(cls, netsys.NetsysError)
    assert issubclass(cls, builtin)
    exc = cls("boom", 6, "NETSYS_E_TIMEOUT")
    assert str(exc) == "boom" and exc.code == 6 and exc.code_name == "NETSYS_E_TIMEOUT"


def test_every_status_has_a_class():
    for code in range(1, 28):
        assert code in _ffi.STATUS_CLASSES, code
    assert netsys.TimeoutError is netsys.NetsysTimeoutError


def test_exceptions_pickle():
    import pickle

    exc = netsys.BackpressureError("full", 5, "NETSYS_E_WOULD_BLOCK")
    copy = pickle.loads(pickle.dumps(exc))
    assert type(copy) is netsys.BackpressureError and copy.code == 5 and str(copy) == "full"


def test_package_is_typed():
    assert (ROOT / "bindings/python/netsys/py.typed").exists()


def test_fork_child_gets_a_clear_error():
    # After the library has started in the parent, a forked child must get
    # ForkedProcessError instead of hanging on the dead Go runtime.
    result = run_python(
        """
        import os, sys, netsys
        server = netsys.Server("parent", port=0, bind_address="127.0.0.1",
                               on_message=lambda s, d: s.send(d)).start()
        client = netsys.Client("parent")
        client.connect("127.0.0.1", server.port)
        pid = os.fork()
        if pid == 0:
            code = 0
            # New objects and objects inherited from the parent both refuse.
            for use in (lambda: netsys.Client("child"), lambda: client.send(b"x"),
                        lambda: client.recv(0.5), lambda: server.sessions()):
                try:
                    use()
                    code = 3
                except netsys.ForkedProcessError as exc:
                    if "fork" not in str(exc):
                        code = 4
                except BaseException:
                    code = 5
            # Dropping the inherited objects and a normal exit (atexit hooks
            # included) must not touch the dead runtime either.
            client.close()
            server.close()
            sys.exit(code)
        _, status = os.waitpid(pid, 0)
        client.send(b"parent still works")
        assert client.recv(5) == b"parent still works"
        client.close()
        server.close()
        print("CHILD", os.WEXITSTATUS(status) if os.WIFEXITED(status) else -os.WTERMSIG(status))  # 3.8 has no waitstatus_to_exitcode
        """,
        {},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "CHILD 0" in result.stdout, result.stdout + result.stderr


def test_fork_before_first_use_is_fine():
    result = run_python(
        """
        import os, netsys
        pid = os.fork()
        if pid == 0:
            server = netsys.Server("child", port=0, bind_address="127.0.0.1").start()
            ok = server.port > 0
            server.close()
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        print("CHILD", os.WEXITSTATUS(status) if os.WIFEXITED(status) else -os.WTERMSIG(status))  # 3.8 has no waitstatus_to_exitcode
        """,
        {},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "CHILD 0" in result.stdout, result.stdout + result.stderr


def test_library_path_is_absolute_when_found_on_the_system_path():
    # Found by SONAME through LD_LIBRARY_PATH (here a relative directory),
    # the library's path must still be the absolute file the loader opened.
    lib_dir = os.path.dirname(os.environ["NETSYS_LIBRARY"])
    result = run_python(
        """
        import os, netsys
        netsys.Client("x").close()
        print(netsys.library_path())
        """,
        {"NETSYS_LIBRARY": "", "LD_LIBRARY_PATH": os.path.relpath(lib_dir)},
    )
    assert result.returncode == 0, result.stderr
    path = result.stdout.strip()
    assert os.path.isabs(path), path
    assert os.path.samefile(path, os.environ["NETSYS_LIBRARY"]), path


def test_library_path_from_a_relative_variable_is_absolute():
    relative = os.path.relpath(os.environ["NETSYS_LIBRARY"])
    result = run_python("import netsys; print(netsys.library_path())", {"NETSYS_LIBRARY": relative})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == os.path.abspath(relative)
