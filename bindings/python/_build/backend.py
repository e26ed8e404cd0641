"""PEP 517 build backend of the netsys Python package.

It needs nothing from PyPI on Python >= 3.11 (``tomllib``; older Pythons get
``tomli``, which pip installs from PyPI into its isolated build environment),
plus Go and a C compiler: ``build_wheel`` runs the same cgo c-shared build as
``mk/capi.mk`` (SONAME, linker version script, ``-z nodelete``), stripped
(``-s -w``), in a temporary directory, and puts ONE copy of the library into
the wheel as ``netsys/_lib/libnetsys.so.MAJOR``. Nothing is written into the
source tree: no ``build/``, no ``*.egg-info``.

It also compiles the package's optional C extension (``_ext/_accel.c``, the
per-message loops; see ``netsys/_speedups.py``) against the building
CPython's headers and the stable ABI, into ``netsys/_accel.abi3.so``. The
wheel is then tagged ``cp38-abi3-<platform>``: any CPython from 3.8 on that
platform can load it (the stable ABI's promise; 3.8 is the package's
``requires-python``). Without the headers (``Python.h``) or a C compiler,
on another implementation than CPython, or with ``NETSYS_PYTHON_ACCEL=0``,
the build says so in one line and the wheel has no extension: it is tagged
``py3-none-<platform>`` (the package is then pure Python over ctypes, so
any Python 3 on that platform can load it; the library is what makes it
platform-specific). ``make wheel`` then retags it manylinux with auditwheel
when that is installed.

Where things come from:

* the Go sources (``go.mod``, ``core/``, ``capi/``, ``include/``): the
  repository two directories up (``pip install ./bindings/python``), or
  ``_native/`` inside an sdist made by ``build_sdist``;
* the extension's source: ``_ext/_accel.c`` next to ``_build/`` (it reads
  ``struct netsys_event`` from ``include/netsys.h`` of the Go sources);
* the version: the ``VERSION`` file next to ``go.mod`` (the project's single
  source); it is written into the wheel's ``netsys/_version.py`` as well;
* the metadata: ``pyproject.toml``'s ``[project]`` table.

Environment:

* ``GO``: the go command (default ``go`` on ``PATH``);
* ``CC``: the C compiler of the extension (default: the one CPython was
  built with, then ``cc``);
* ``NETSYS_PYTHON_ACCEL=0``: leave the C extension out;
* ``NETSYS_WHEEL_LIBRARY``: bundle this already-built library instead of
  running the Go build (e.g. one cross-built elsewhere).

Editable installs (``pip install -e``) are not offered: run from the source
tree with ``PYTHONPATH=bindings/python NETSYS_LIBRARY=build/lib/libnetsys.so``
instead (what ``make test-python`` does).
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple


PROJECT = Path(__file__).resolve().parent.parent
#: The Go module of netsys, as ``go.mod`` names it.
GO_MODULE = "github.com/netsys/netsys"
#: In an sdist, the Go sources live here (the repository's layout below it).
NATIVE_DIR = "_native"
#: What the sdist carries of the repository: the library's sources.
NATIVE_PARTS = ("go.mod", "go.sum", "VERSION", "LICENSE", "core", "capi", "include")

_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


class BuildError(RuntimeError):
    """A build step failed; the message says what to do."""


# ---------------------------------------------------------------------------
# Where the sources are, what the version is
# ---------------------------------------------------------------------------


def _go_source() -> Path:
    for candidate in (PROJECT / NATIVE_DIR, PROJECT.parent.parent):
        mod = candidate / "go.mod"
        if mod.is_file() and (candidate / "capi").is_dir():
            first = mod.read_text(encoding="utf-8").splitlines()[0].strip()
            if first == f"module {GO_MODULE}":
                return candidate
    raise BuildError(
        f"cannot find the netsys Go sources: expected {PROJECT.parent.parent}/go.mod (a checkout of the "
        f"repository, building bindings/python) or {PROJECT / NATIVE_DIR}/go.mod (an sdist)"
    )


def _version(source: Path) -> str:
    version = (source / "VERSION").read_text(encoding="utf-8").strip()
    if not re.fullmatch(r"\d+\.\d+\.\d+", version):
        raise BuildError(f"{source / 'VERSION'} says {version!r}, not MAJOR.MINOR.PATCH")
    return version


def _project_table() -> Dict[str, Any]:
    # Imported here, not at the top: `make python-accel` runs this file to
    # compile the extension on Pythons older than 3.11 without tomli.
    if sys.version_info >= (3, 11):
        import tomllib as _toml
    else:  # pragma: no cover - exercised on older Pythons only
        import tomli as _toml
    with open(PROJECT / "pyproject.toml", "rb") as f:
        project = _toml.load(f)["project"]
    if not isinstance(project, dict):
        raise BuildError("pyproject.toml has no [project] table")
    return project


# ---------------------------------------------------------------------------
# Metadata
# ---------------------------------------------------------------------------

#: [project] keys this backend turns into core metadata; any other key is
#: refused so that a new field cannot be dropped silently.
_KNOWN_KEYS = {"name", "dynamic", "description", "readme", "requires-python", "license", "dependencies",
               "optional-dependencies", "classifiers", "urls", "keywords", "authors"}


def _metadata(version: str) -> str:
    project = _project_table()
    unknown = set(project) - _KNOWN_KEYS
    if unknown:
        raise BuildError(f"pyproject.toml [project] keys {sorted(unknown)} are not supported by "
                         f"bindings/python/_build/backend.py: add them there")
    if project.get("dynamic") not in (None, ["version"]):
        raise BuildError("only 'version' may be dynamic (it comes from the VERSION file)")
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {project['name']}",
        f"Version: {version}",
    ]
    if "description" in project:
        lines.append(f"Summary: {project['description']}")
    for author in project.get("authors", []):
        if "email" in author:
            named = f"{author['name']} <{author['email']}>" if "name" in author else author["email"]
            lines.append(f"Author-email: {named}")
        else:
            lines.append(f"Author: {author['name']}")
    license_ = project.get("license")
    if isinstance(license_, dict) and "text" in license_:
        lines.append(f"License: {license_['text']}")
    if project.get("keywords"):
        lines.append("Keywords: " + ",".join(project["keywords"]))
    for classifier in project.get("classifiers", []):
        lines.append(f"Classifier: {classifier}")
    for label, url in project.get("urls", {}).items():
        lines.append(f"Project-URL: {label}, {url}")
    if "requires-python" in project:
        lines.append(f"Requires-Python: {project['requires-python']}")
    for requirement in project.get("dependencies", []):
        lines.append(f"Requires-Dist: {requirement}")
    for extra, requirements in project.get("optional-dependencies", {}).items():
        lines.append(f"Provides-Extra: {extra}")
        for requirement in requirements:
            marker = f'extra == "{extra}"'
            if ";" in requirement:
                spec, _, existing = requirement.partition(";")
                lines.append(f"Requires-Dist: {spec.strip()}; ({existing.strip()}) and {marker}")
            else:
                lines.append(f"Requires-Dist: {requirement}; {marker}")
    body = ""
    readme = project.get("readme")
    if readme:
        path = readme if isinstance(readme, str) else readme["file"]
        lines.append("Description-Content-Type: text/markdown" if path.endswith(".md")
                     else "Description-Content-Type: text/plain")
        body = (PROJECT / path).read_text(encoding="utf-8")
    return "\n".join(lines) + "\n\n" + body


def _platform_tag() -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", sysconfig.get_platform())


#: The oldest CPython the extension's stable ABI targets (Py_LIMITED_API in
#: _ext/_accel.c), and so the wheel's Python tag when it carries it.
ABI3_PYTHON = "cp38"
#: The extension's file name inside the package (``.abi3.so``: any CPython 3).
ACCEL_NAME = "_accel.abi3.so"
ACCEL_SOURCE = PROJECT / "_ext" / "_accel.c"


def _wheel_tag(with_extension: bool) -> str:
    if with_extension:
        return f"{ABI3_PYTHON}-abi3-{_platform_tag()}"
    return f"py3-none-{_platform_tag()}"


def _wheel_file(tag: str) -> str:
    return (f"Wheel-Version: 1.0\nGenerator: netsys build backend\nRoot-Is-Purelib: false\n"
            f"Tag: {tag}\n")


def _dist_name(version: str) -> str:
    return f"{_project_table()['name'].replace('-', '_')}-{version}"


# ---------------------------------------------------------------------------
# The library
# ---------------------------------------------------------------------------


def _go_command() -> str:
    go = os.environ.get("GO") or "go"
    found = shutil.which(go)
    if found is None:
        raise BuildError(
            f"building the netsys wheel needs Go (the '{go}' command was not found): install Go "
            f"(https://go.dev/dl/, the version go.mod names) and a C compiler, or set GO=/path/to/go, or "
            f"NETSYS_WHEEL_LIBRARY=/path/to/libnetsys.so.1 to bundle a library built elsewhere"
        )
    return found


def _build_library(source: Path, version: str, out_dir: Path) -> Path:
    """Run the cgo c-shared build of capi/; returns the stripped library."""
    prebuilt = os.environ.get("NETSYS_WHEEL_LIBRARY")
    somajor = version.split(".")[0]
    target = out_dir / f"libnetsys.so.{somajor}"
    if prebuilt:
        shutil.copyfile(prebuilt, target)
        return target
    go = _go_command()
    # The flags of mk/capi.mk, plus -s -w (no symbol table, no DWARF: the
    # dynamic symbols ctypes needs stay) and no VCS stamp (reproducible).
    extldflags = (f"-Wl,-soname,libnetsys.so.{somajor} -Wl,--version-script={source / 'capi' / 'netsys.map'}"
                  f" -Wl,-z,nodelete")
    command = [go, "build", "-buildmode=c-shared", "-trimpath", "-buildvcs=false",
               "-ldflags", f"-s -w -extldflags '{extldflags}'", "-o", str(target), "./capi"]
    env = dict(os.environ, CGO_ENABLED="1")
    print(f"netsys: building libnetsys {version} with {go} (cgo c-shared build of capi/)", file=sys.stderr)
    started = time.monotonic()
    result = subprocess.run(command, cwd=source, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        raise BuildError(
            "the Go build of libnetsys failed (a C compiler is needed too; on a fresh machine the Go "
            "modules are downloaded, which needs network access or GOFLAGS=-mod=mod with a module cache):\n"
            f"  {' '.join(command)}\n" + result.stdout.decode("utf-8", "replace")
        )
    print(f"netsys: built {target.name} ({target.stat().st_size // 1024} KiB) in "
          f"{time.monotonic() - started:.1f} s", file=sys.stderr)
    return target


def _extension_unavailable() -> Optional[str]:
    """Why the C extension cannot be built here, or None if it can."""
    if os.environ.get("NETSYS_PYTHON_ACCEL", "").strip() == "0":
        return "NETSYS_PYTHON_ACCEL=0"
    if sys.implementation.name != "cpython":
        return f"{sys.implementation.name} is not CPython"
    if sysconfig.get_config_var("Py_GIL_DISABLED"):
        return "this free-threaded CPython has no stable ABI"
    include = sysconfig.get_paths().get("include", "")
    if not include or not os.path.isfile(os.path.join(include, "Python.h")):
        return f"no Python.h in {include or 'the interpreter include directory'} (install the Python headers)"
    if not ACCEL_SOURCE.is_file():
        return f"no {ACCEL_SOURCE}"
    if not shutil.which(_c_compiler()[0]):
        return f"no C compiler ({_c_compiler()[0]})"
    return None


def _c_compiler() -> List[str]:
    command = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    return shlex.split(command) or ["cc"]


def _extension_command(include: Path, target: Path, extra_flags: Iterable[str] = ()) -> List[str]:
    """The one compile command of the C extension, for the wheel and for
    `make python-accel` alike (which adds its warnings as errors)."""
    return _c_compiler() + ["-std=c11", "-O2", "-fPIC", "-shared", "-fvisibility=hidden", "-s", *extra_flags,
                            "-I", str(include), "-I", sysconfig.get_paths()["include"],
                            "-o", str(target), str(ACCEL_SOURCE)]


def _build_extension(source: Path, out_dir: Path) -> Optional[Path]:
    """Compile the optional C extension; None (and one line saying why)
    where it cannot be built: the wheel is then pure Python."""
    why = _extension_unavailable()
    if why is not None:
        print(f"netsys: not building the C extension ({why}): the wheel is pure Python", file=sys.stderr)
        return None
    target = out_dir / ACCEL_NAME
    command = _extension_command(source / "include", target)
    print(f"netsys: building the C extension {ACCEL_NAME} (stable ABI, CPython >= 3.8)", file=sys.stderr)
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        raise BuildError(
            "the C extension failed to compile (set NETSYS_PYTHON_ACCEL=0 to build a pure-Python wheel):\n"
            f"  {' '.join(command)}\n" + result.stdout.decode("utf-8", "replace")
        )
    return target


def _make_extension(argv: List[str]) -> int:
    """``backend.py extension INCLUDE TARGET [CFLAG...]``: what `make
    python-accel` runs, so that the build and the wheel compile the
    extension the same way. Where it cannot be built it says why in one
    line and succeeds (the package then runs pure Python)."""
    if len(argv) < 2:
        print("usage: backend.py extension INCLUDE TARGET [CFLAG...]", file=sys.stderr)
        return 2
    include, target, extra = Path(argv[0]), Path(argv[1]), argv[2:]
    why = _extension_unavailable()
    if why is not None:
        print(f"  SKIP    Python C extension: {why}; the package runs pure Python")
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".tmp")
    command = _extension_command(include, partial, extra)
    print(f"  {'CC':<7} {os.path.relpath(ACCEL_SOURCE)} -> {os.path.relpath(target)}")
    if os.environ.get("V") == "1":
        print(" ".join(shlex.quote(word) for word in command))
    if subprocess.run(command).returncode != 0:
        return 1
    os.replace(partial, target)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["extension"]:
        sys.exit(_make_extension(sys.argv[2:]))
    print("usage: backend.py extension INCLUDE TARGET [CFLAG...] (it is otherwise a PEP 517 build backend)",
          file=sys.stderr)
    sys.exit(2)


# ---------------------------------------------------------------------------
# Archives
# ---------------------------------------------------------------------------


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"sha256={digest.decode('ascii')}"


class _WheelWriter:
    """A deterministic wheel: sorted entries, fixed timestamps, a RECORD."""

    def __init__(self, path: Path, dist_info: str) -> None:
        self._zip = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED)
        self._dist_info = dist_info
        self._records: List[str] = []

    def add(self, name: str, data: bytes, executable: bool = False) -> None:
        info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
        info.external_attr = (0o100755 if executable else 0o100644) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        self._zip.writestr(info, data)
        self._records.append(f"{name},{_record_hash(data)},{len(data)}")

    def close(self) -> None:
        record = f"{self._dist_info}/RECORD"
        self._records.append(f"{record},,")
        info = zipfile.ZipInfo(record, date_time=_ZIP_EPOCH)
        info.external_attr = 0o100644 << 16
        self._zip.writestr(info, "\n".join(self._records) + "\n")
        self._zip.close()


def _package_files() -> Iterable[Tuple[str, Path]]:
    """The package's own files (never a library someone left in netsys/_lib)."""
    package = PROJECT / "netsys"
    for path in sorted(package.rglob("*")):
        relative = path.relative_to(PROJECT).as_posix()
        if path.is_dir() or "__pycache__" in path.parts or relative.startswith("netsys/_lib/"):
            continue
        if path.suffix in (".py", ".pyi", ".typed") or path.name == "py.typed":
            yield relative, path


def _version_module(version: str) -> bytes:
    return (f'"""The package version (written by the build backend from the VERSION file)."""\n\n'
            f'__version__ = "{version}"\n').encode("utf-8")


def _dist_info_files(source: Path, version: str, tag: str) -> Dict[str, bytes]:
    files = {
        "METADATA": _metadata(version).encode("utf-8"),
        "WHEEL": _wheel_file(tag).encode("utf-8"),
    }
    license_file = source / "LICENSE"
    if license_file.is_file():
        files["LICENSE"] = license_file.read_bytes()
    return files


# ---------------------------------------------------------------------------
# PEP 517 hooks
# ---------------------------------------------------------------------------


def get_requires_for_build_wheel(config_settings: Optional[Mapping[str, Any]] = None) -> List[str]:
    """Nothing beyond ``[build-system] requires``."""
    return []


def get_requires_for_build_sdist(config_settings: Optional[Mapping[str, Any]] = None) -> List[str]:
    """Nothing beyond ``[build-system] requires``."""
    return []


def prepare_metadata_for_build_wheel(metadata_directory: str,
                                     config_settings: Optional[Mapping[str, Any]] = None) -> str:
    """Write the .dist-info directory without building the library."""
    source = _go_source()
    version = _version(source)
    dist_info = f"{_dist_name(version)}.dist-info"
    target = Path(metadata_directory) / dist_info
    target.mkdir(parents=True, exist_ok=True)
    # The tag the wheel will have: whether the extension can be built here.
    tag = _wheel_tag(_extension_unavailable() is None)
    for name, data in _dist_info_files(source, version, tag).items():
        (target / name).write_bytes(data)
    return dist_info


def build_wheel(wheel_directory: str, config_settings: Optional[Mapping[str, Any]] = None,
                metadata_directory: Optional[str] = None) -> str:
    """Build libnetsys (and the C extension, where possible) and the
    platform wheel that carries them."""
    source = _go_source()
    version = _version(source)
    somajor = version.split(".")[0]
    name = _dist_name(version)
    dist_info = f"{name}.dist-info"
    with tempfile.TemporaryDirectory(prefix="netsys-wheel-") as tmp:
        library = _build_library(source, version, Path(tmp))
        extension = _build_extension(source, Path(tmp))
        tag = _wheel_tag(extension is not None)
        filename = f"{name}-{tag}.whl"
        out = Path(wheel_directory) / filename
        writer = _WheelWriter(out, dist_info)
        try:
            for relative, path in _package_files():
                data = _version_module(version) if relative == "netsys/_version.py" else path.read_bytes()
                writer.add(relative, data)
            # One file, under the SONAME: no symlink copies.
            writer.add(f"netsys/_lib/libnetsys.so.{somajor}", library.read_bytes(), executable=True)
            if extension is not None:
                writer.add(f"netsys/{ACCEL_NAME}", extension.read_bytes(), executable=True)
            for entry, data in _dist_info_files(source, version, tag).items():
                writer.add(f"{dist_info}/{entry}", data)
        finally:
            writer.close()
    return filename


def _native_files(source: Path) -> Iterable[Tuple[str, Path]]:
    """The library's sources for the sdist (no tests, no test data)."""
    for part in NATIVE_PARTS:
        path = source / part
        if path.is_file():
            yield part, path
        elif path.is_dir():
            for file in sorted(path.rglob("*")):
                relative = file.relative_to(source)
                if file.is_dir() or "testdata" in relative.parts or file.name.endswith("_test.go"):
                    continue
                yield relative.as_posix(), file


def build_sdist(sdist_directory: str, config_settings: Optional[Mapping[str, Any]] = None) -> str:
    """A source distribution that builds anywhere with Go: the package, this
    backend and the library's Go sources under ``_native/``."""
    source = _go_source()
    version = _version(source)
    name = _dist_name(version)
    filename = f"{name}.tar.gz"
    members: List[Tuple[str, bytes]] = [("PKG-INFO", _metadata(version).encode("utf-8"))]
    for fixed in ("pyproject.toml", "README.md", "_build/backend.py", "_ext/_accel.c"):
        members.append((fixed, (PROJECT / fixed).read_bytes()))
    for relative, path in _package_files():
        members.append((relative, path.read_bytes()))
    for relative, path in _native_files(source):
        members.append((f"{NATIVE_DIR}/{relative}", path.read_bytes()))
    if (source / "LICENSE").is_file():
        members.append(("LICENSE", (source / "LICENSE").read_bytes()))
    with tarfile.open(Path(sdist_directory) / filename, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for relative, data in sorted(members):
            info = tarfile.TarInfo(f"{name}/{relative}")
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return filename
