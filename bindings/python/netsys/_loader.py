"""Finding and opening libnetsys.so.

The search order is part of the package's contract (README, "Finding the
library"):

1. the ``NETSYS_LIBRARY`` environment variable: a path to the library file;
   if it is set, nothing else is tried, so a typo is reported instead of
   silently loading some other copy;
2. a copy shipped inside the package, ``netsys/_lib/libnetsys.so*``;
3. the system search path of the dynamic loader (``LD_LIBRARY_PATH``,
   ``ldconfig``'s cache, the default directories), by SONAME.

A library that cannot be found or opened raises :class:`LibraryNotFoundError`
with every place that was tried and why each failed. The path reported for
a library found by name on the system path is the absolute path of the file
the loader opened (asked from the loader itself with ``dladdr``, or read
from ``/proc/self/maps``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from pathlib import Path
from typing import List, Optional, Tuple

from .exceptions import LibraryNotFoundError

#: Name of the environment variable that points at the library file.
LIBRARY_ENV_VAR = "NETSYS_LIBRARY"

# SONAME first: it is what a `make install` puts in the loader's path and the
# only name that is ABI-stable; the unversioned name is a development symlink.
_SYSTEM_NAMES = ("libnetsys.so.1", "libnetsys.so")
_BUNDLED_DIR = Path(__file__).resolve().parent / "_lib"


class _DlInfo(ctypes.Structure):
    _fields_ = [
        ("dli_fname", ctypes.c_char_p),
        ("dli_fbase", ctypes.c_void_p),
        ("dli_sname", ctypes.c_char_p),
        ("dli_saddr", ctypes.c_void_p),
    ]


def _symbol_address(cdll: ctypes.CDLL) -> Optional[int]:
    try:
        return ctypes.cast(cdll.netsys_version, ctypes.c_void_p).value
    except AttributeError:  # not libnetsys: the version check reports it
        return None


def _file_from_dladdr(address: int) -> Optional[str]:
    """The file of the shared object holding ``address``, from the loader."""
    for name in (None, ctypes.util.find_library("dl")):
        try:
            dladdr = ctypes.CDLL(name).dladdr
        except (OSError, AttributeError):
            continue
        dladdr.argtypes = [ctypes.c_void_p, ctypes.POINTER(_DlInfo)]
        dladdr.restype = ctypes.c_int
        info = _DlInfo()
        if dladdr(address, ctypes.byref(info)) and info.dli_fname:
            return os.fsdecode(info.dli_fname)
    return None


def _file_from_proc_maps(address: int) -> Optional[str]:
    """The file mapped at ``address`` (Linux without dladdr)."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                fields = line.split(None, 5)
                if len(fields) < 6:
                    continue
                start, _, end = fields[0].partition("-")
                if int(start, 16) <= address < int(end, 16):
                    return fields[5].strip()
    except (OSError, ValueError):
        pass
    return None


def _resolved_path(cdll: ctypes.CDLL, name: str) -> str:
    """The absolute path of the file opened for ``name``."""
    if os.sep in name:
        return os.path.abspath(name)
    address = _symbol_address(cdll)
    if address is not None:
        found = _file_from_dladdr(address) or _file_from_proc_maps(address)
        if found and os.sep in found:
            return os.path.abspath(found)
    return name


def _open(path: str) -> ctypes.CDLL:
    # RTLD_LOCAL (the default) keeps the Go runtime's symbols out of the global
    # namespace so that another Go c-shared library in the process cannot clash.
    return ctypes.CDLL(path)


def _bundled_candidates() -> List[Path]:
    if not _BUNDLED_DIR.is_dir():
        return []
    return sorted(_BUNDLED_DIR.glob("libnetsys.so*"), key=lambda p: len(p.name))


def load_library() -> Tuple[ctypes.CDLL, str]:
    """Open libnetsys and return it with the absolute path it was loaded from.

    Raises :class:`LibraryNotFoundError` listing what was looked for and where.
    """
    tried: List[str] = []

    explicit = os.environ.get(LIBRARY_ENV_VAR)
    if explicit:
        try:
            return _open(explicit), os.path.abspath(explicit)
        except OSError as exc:
            raise LibraryNotFoundError(
                f"cannot load libnetsys from {LIBRARY_ENV_VAR}={explicit!r}: {exc}"
                f" (unset {LIBRARY_ENV_VAR} to search the package directory"
                f" {str(_BUNDLED_DIR)!r} and the system library path instead)"
            ) from exc
    tried.append(f"${LIBRARY_ENV_VAR}: not set")

    bundled = _bundled_candidates()
    for candidate in bundled:
        try:
            return _open(str(candidate)), str(candidate)
        except OSError as exc:
            tried.append(f"bundled copy {str(candidate)!r}: {exc}")
    if not bundled:
        tried.append(f"bundled copy in {str(_BUNDLED_DIR)!r}: none")

    names = list(_SYSTEM_NAMES)
    found = ctypes.util.find_library("netsys")
    if found and found not in names:
        names.append(found)
    for name in names:
        try:
            cdll = _open(name)
        except OSError as exc:
            tried.append(f"system search path {name!r}: {exc}")
            continue
        return cdll, _resolved_path(cdll, name)

    raise LibraryNotFoundError(
        "libnetsys was not found. Looked for: " + "; ".join(tried) + ". "
        f"Build it with `make` (it lands in build/lib/) and set {LIBRARY_ENV_VAR}"
        " to its path, or install it with `make install`."
    )
