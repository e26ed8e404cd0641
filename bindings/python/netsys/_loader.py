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
with every place that was tried and why each failed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from pathlib import Path
from typing import List, Tuple

from .exceptions import LibraryNotFoundError

#: Name of the environment variable that points at the library file.
LIBRARY_ENV_VAR = "NETSYS_LIBRARY"

# SONAME first: it is what a `make install` puts in the loader's path and the
# only name that is ABI-stable; the unversioned name is a development symlink.
_SYSTEM_NAMES = ("libnetsys.so.1", "libnetsys.so")
_BUNDLED_DIR = Path(__file__).resolve().parent / "_lib"


def _open(path: str) -> ctypes.CDLL:
    # RTLD_LOCAL (the default) keeps the Go runtime's symbols out of the global
    # namespace so that another Go c-shared library in the process cannot clash.
    return ctypes.CDLL(path)


def _bundled_candidates() -> List[Path]:
    if not _BUNDLED_DIR.is_dir():
        return []
    return sorted(_BUNDLED_DIR.glob("libnetsys.so*"), key=lambda p: len(p.name))


def load_library() -> Tuple[ctypes.CDLL, str]:
    """Open libnetsys and return it with the path or name it was loaded from.

    Raises :class:`LibraryNotFoundError` listing what was looked for and where.
    """
    tried: List[str] = []

    explicit = os.environ.get(LIBRARY_ENV_VAR)
    if explicit:
        try:
            return _open(explicit), explicit
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
            return _open(name), name
        except OSError as exc:
            tried.append(f"system search path {name!r}: {exc}")

    raise LibraryNotFoundError(
        "libnetsys was not found. Looked for: " + "; ".join(tried) + ". "
        f"Build it with `make` (it lands in build/lib/) and set {LIBRARY_ENV_VAR}"
        " to its path, or install it with `make install`."
    )
