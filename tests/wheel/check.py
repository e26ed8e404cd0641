"""make test-wheel: the Python wheel and `pip install ./bindings/python`, as a
user gets them.

Checks the wheel built by `make wheel` (name and tag, exactly one stripped
copy of the library and no symlinks, the C extension when one is expected
(--expect-accel: `make` could build it here) and the cp38-abi3 tag that goes
with it, RECORD hashes, metadata version equal to the VERSION file),
installs it into a fresh virtual environment and runs an echo round trip
there with nothing pointing at the build tree (NETSYS_LIBRARY,
NETSYS_BUILD, LD_LIBRARY_PATH and PYTHONPATH unset, run from another
directory), checking that the installed extension is the one in use. Then it does the same for the README's install step, `pip
install ./bindings/python` (the build backend runs the Go build), and checks
that the install left nothing behind in the source tree.

No network: pip runs with --no-index. Each check is counted for the summary
of `make test` (--results, the format of mk/results.sh).
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import io
import os
import re
import shutil
import struct
import subprocess
import sys
import textwrap
import venv
import zipfile
from pathlib import Path
from typing import Callable, Dict, List

ROUND_TRIP = textwrap.dedent(
    """
    import os, sys, netsys
    from netsys import _speedups
    path = netsys.library_path()
    assert path.startswith(sys.prefix), f"library {path} is not the installed one (prefix {sys.prefix})"
    assert netsys.library_version() == netsys.__version__, (netsys.library_version(), netsys.__version__)
    if sys.argv[1:] == ["accel"]:
        assert netsys.accelerated(), f"the C extension is not in use: {_speedups.REASON}"
        where = _speedups.module.__file__
        assert where.startswith(sys.prefix), f"extension {where} is not the installed one (prefix {sys.prefix})"
    else:
        assert not netsys.accelerated(), f"a C extension is in use: {_speedups.REASON}"
    with netsys.Server("wheel", port=0, bind_address="127.0.0.1",
                       on_message=lambda session, data: session.send(data)) as server:
        with netsys.Client("wheel") as client:
            client.connect("127.0.0.1", server.port, timeout=10)
            for i in range(100):
                client.send(b"echo %d" % i)
            for i in range(100):
                assert client.recv(10) == b"echo %d" % i
    mode = "with the C extension" if netsys.accelerated() else "pure Python"
    print(f"round trip ok: netsys {netsys.__version__} ({mode}), library {path}")
    """
)


class Checks:
    """Counts and prints each check; a failing check does not stop the rest."""

    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def run(self, what: str, fn: Callable[[], object]) -> bool:
        try:
            detail = fn()
        except Exception as exc:  # noqa: BLE001 - every failure is reported, then the next check runs
            self.failed += 1
            print(f"  FAIL  {what}: {exc}")
            return False
        self.passed += 1
        print(f"  ok    {what}" + (f": {detail}" if detail else ""))
        return True


def require(condition: bool, message: str) -> None:
    """Fail the current check with ``message`` unless ``condition`` holds."""
    if not condition:
        raise AssertionError(message)


def elf_sections(data: bytes) -> List[str]:
    """Section names of a 64-bit little-endian ELF file."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ValueError("not a 64-bit little-endian ELF file")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    headers = [struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize) for i in range(shnum)]
    strtab_offset, strtab_size = headers[shstrndx][4], headers[shstrndx][5]
    strtab = data[strtab_offset:strtab_offset + strtab_size]
    return [strtab[h[0]:strtab.index(b"\0", h[0])].decode() for h in headers]


#: The C extension's place in the wheel, and the tag a wheel carrying it has
#: (stable ABI from CPython 3.8) or else (pure Python).
ACCEL = "netsys/_accel.abi3.so"
ABI3_TAG, PURE_TAG = "cp38-abi3", "py3-none"


def check_wheel(wheel: Path, version: str, expect_accel: bool) -> Dict[str, Callable[[], object]]:
    """The static checks of the wheel file."""
    major = version.split(".")[0]
    archive = zipfile.ZipFile(wheel)
    names = archive.namelist()
    dist_info = f"netsys-{version}.dist-info"
    want = ABI3_TAG if expect_accel else PURE_TAG

    def name_and_tag() -> str:
        m = re.fullmatch(rf"netsys-{re.escape(version)}-{want}-((manylinux_\d+_\d+|linux)_[a-z0-9_]+)\.whl",
                         wheel.name)
        if not m:
            raise AssertionError(f"{wheel.name} is not netsys-{version}-{want}-<linux platform>.whl")
        wheel_file = archive.read(f"{dist_info}/WHEEL").decode()
        if f"Tag: {want}-{m.group(1)}" not in wheel_file or "Root-Is-Purelib: false" not in wheel_file:
            raise AssertionError(f"WHEEL does not match the file name:\n{wheel_file}")
        return f"{want}-{m.group(1)}"

    def extension() -> str:
        extensions = [n for n in names if n.endswith(".so") or ".so." in n]
        extensions = [n for n in extensions if "libnetsys" not in n]
        if extensions != ([ACCEL] if expect_accel else []):
            raise AssertionError(f"want {[ACCEL] if expect_accel else 'no extension'}, have {extensions}")
        if not expect_accel:
            return "none (pure Python: make could not build it here)"
        if "netsys/_accel.pyi" not in names:
            raise AssertionError("no netsys/_accel.pyi (the extension's types) in the wheel")
        return f"{ACCEL}, {archive.getinfo(ACCEL).file_size // 1024} KiB, and its .pyi"

    def one_library() -> str:
        libraries = [n for n in names if "libnetsys" in n]
        if libraries != [f"netsys/_lib/libnetsys.so.{major}"]:
            raise AssertionError(f"want exactly netsys/_lib/libnetsys.so.{major}, have {libraries}")
        links = [i.filename for i in archive.infolist() if (i.external_attr >> 16) & 0o170000 == 0o120000]
        if links:
            raise AssertionError(f"symlinks in the wheel: {links}")
        size = archive.getinfo(libraries[0]).file_size
        return f"{libraries[0]}, {size / 1e6:.1f} MB"

    def stripped() -> str:
        sections = elf_sections(archive.read(f"netsys/_lib/libnetsys.so.{major}"))
        debug = [s for s in sections if s == ".symtab" or s.startswith(".debug")]
        if debug:
            raise AssertionError(f"not stripped: has {debug}")
        if ".dynsym" not in sections:
            raise AssertionError("no dynamic symbol table")
        return "no .symtab or .debug_* sections"

    def record() -> str:
        rows = list(csv.reader(io.StringIO(archive.read(f"{dist_info}/RECORD").decode())))
        listed = {row[0] for row in rows}
        for path, digest, size in rows:
            if path == f"{dist_info}/RECORD":
                continue
            data = archive.read(path)
            want = "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            if digest != want or int(size) != len(data):
                raise AssertionError(f"RECORD entry for {path} does not match its content")
        unlisted = [n for n in names if n not in listed and not n.endswith("/")]
        if unlisted:
            raise AssertionError(f"files missing from RECORD: {unlisted}")
        return f"{len(rows)} entries"

    def metadata() -> str:
        text = archive.read(f"{dist_info}/METADATA").decode()
        if f"\nVersion: {version}\n" not in text:
            raise AssertionError(f"METADATA does not say Version: {version}")
        module = archive.read("netsys/_version.py").decode()
        if f'__version__ = "{version}"' not in module:
            raise AssertionError(f"netsys/_version.py in the wheel says {module!r}")
        if f"{dist_info}/LICENSE" not in names:
            raise AssertionError("no LICENSE in the .dist-info")
        return version

    return {
        "wheel name and tag": name_and_tag,
        "one copy of the library, no symlinks": one_library,
        "the C extension": extension,
        "the library is stripped": stripped,
        "RECORD matches every file": record,
        "metadata and netsys.__version__ say VERSION": metadata,
    }


def clean_env() -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("NETSYS_LIBRARY", "NETSYS_BUILD", "NETSYS_PYTHON_ACCEL", "LD_LIBRARY_PATH", "PYTHONPATH",
                        "PYTHONHOME", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def make_venv(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(path)
    return path / "bin" / "python"


def run(command: List[str], cwd: Path, timeout: float = 600) -> str:
    result = subprocess.run(command, cwd=cwd, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            timeout=timeout)
    output = result.stdout.decode("utf-8", "replace")
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} exited with {result.returncode}:\n{output}")
    return output


def untracked(root: Path) -> List[str]:
    """Untracked files under bindings/python (ignored ones included: a
    build/ or *.egg-info would be ignored by .gitignore, and still be litter)."""
    if not (root / ".git").exists():
        return []
    out = subprocess.run(["git", "status", "--porcelain", "--ignored", "--untracked-files=all",
                          "bindings/python"], cwd=root, stdout=subprocess.PIPE, check=True).stdout.decode()
    return [line for line in out.splitlines()
            if line[:2] in ("??", "!!") and "__pycache__" not in line]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--wheel-dir", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--results", type=Path)
    parser.add_argument("--expect-accel", action="store_true",
                        help="the C extension must be in the wheels (make built it with this Python)")
    args = parser.parse_args()
    mode = "accel" if args.expect_accel else "pure"
    root, work = args.root.resolve(), args.work.resolve()
    version = (root / "VERSION").read_text().strip()
    checks = Checks()
    work.mkdir(parents=True, exist_ok=True)
    outside = work / "elsewhere"  # not the source tree: `import netsys` must find the installed one
    outside.mkdir(exist_ok=True)
    (outside / "round_trip.py").write_text(ROUND_TRIP)

    wheels = sorted(args.wheel_dir.glob("*.whl"))
    print(f"== the wheel: {', '.join(w.name for w in wheels) or 'none'}")
    if checks.run("exactly one wheel", lambda: require(len(wheels) == 1, f"{len(wheels)} wheels in {args.wheel_dir}")):
        for what, fn in check_wheel(wheels[0], version, args.expect_accel).items():
            checks.run(what, fn)

        print("== the wheel in a fresh venv")
        python = work / "venv-wheel" / "bin" / "python"
        if checks.run("fresh venv", lambda: make_venv(work / "venv-wheel") and None):
            checks.run("pip install the wheel (--no-index)",
                       lambda: run([str(python), "-m", "pip", "install", "-q", "--no-index", "--no-deps",
                                    str(wheels[0])], outside) and None)
            checks.run("echo round trip from the venv",
                       lambda: run([str(python), "round_trip.py", mode], outside).strip())

    print("== pip install ./bindings/python in a fresh venv (the build backend runs the Go build)")
    before = untracked(root)
    python = work / "venv-source" / "bin" / "python"
    if sys.version_info < (3, 11):
        print("  skip  needs tomli from PyPI for an isolated build on Python < 3.11 (not offline)")
    elif checks.run("fresh venv", lambda: make_venv(work / "venv-source") and None):
        checks.run("pip install ./bindings/python (--no-index, isolated build)",
                   lambda: run([str(python), "-m", "pip", "install", "-q", "--no-index",
                                str(root / "bindings" / "python")], outside) and None)
        checks.run("echo round trip from the venv",
                   lambda: run([str(python), "round_trip.py", mode], outside).strip())
        checks.run("no build/, egg-info or other file left in bindings/python",
                   lambda: require(untracked(root) == before,
                                   f"new files: {sorted(set(untracked(root)) - set(before))}"))

    print(f"test-wheel: {checks.passed} passed, {checks.failed} failed")
    if args.results:
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.write_text(f"{checks.passed} {checks.failed} 0\n")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
