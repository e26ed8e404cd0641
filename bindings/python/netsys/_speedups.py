"""The optional C extension ``netsys._accel``, and what the package uses it for.

The package is pure Python and stays so where the extension is missing
(PyPy, a source tree built without Python headers or a C compiler) or
disabled (``NETSYS_PYTHON_ACCEL=0``); with it, the same work is done with
the same results, faster. It does no networking: it only

* splits a polled batch made only of messages into its session ids and
  ``bytes`` (``split_messages``, the counterpart of
  ``EventBuffer._messages_only``): used wherever the extension is loaded,
  it costs about a quarter of the pure-Python splitter per message;
* runs the ``on_message`` handler loop of a batch (``dispatch_session``,
  ``dispatch_sessions``, ``dispatch_client``, the counterparts of the
  ``_to_session``, ``_to_sessions`` and ``_to_client`` loops of _server.py
  and _client.py): used on CPython 3.8 to 3.10 only. From 3.11 on, CPython
  runs a call from Python code to a Python function without a C-level call,
  which a loop written in C cannot do: there the Python loop costs less
  than the C one (about 950 against 1,150 instructions per message with
  the benchmark's handler, 3.11; in the benchmark's 64 B stream, 250-280
  against 305-320 ns of server CPU per message), so it is kept. On 3.10
  the C loop is the cheaper one (300-385 against 395-420 ns).

Where the extension is looked for: ``netsys/_accel*.so`` inside the
package (what a wheel installs), then, for runs from the source tree,
``$NETSYS_BUILD/python/netsys/`` (``make`` builds it there; ``make
test-python`` sets ``NETSYS_BUILD``). A module that does not load, or was
built for another version of this package or another event layout, is
not used: :data:`REASON` says why.
"""

from __future__ import annotations

import ctypes
import importlib.machinery
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, List, Optional, Tuple

from . import _ffi

#: Set to ``0`` to run pure Python even where the extension is available.
ENV_VAR = "NETSYS_PYTHON_ACCEL"
#: The build directory of a source tree (the extension is in python/netsys/ there).
BUILD_ENV_VAR = "NETSYS_BUILD"
#: The contract version the package expects of the extension (its API_VERSION).
API_VERSION = 2
#: Whether the handler loops run in C when the extension is loaded (see the
#: module docstring).
C_HANDLER_LOOPS = sys.version_info < (3, 11)


def _from_build_dir() -> Tuple[Optional[ModuleType], str]:
    build = os.environ.get(BUILD_ENV_VAR)
    if not build:
        return None, f"not installed with the package, and {BUILD_ENV_VAR} is not set"
    directory = Path(build) / "python" / "netsys"
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = directory / f"_accel{suffix}"
        if not path.is_file():
            continue
        spec = importlib.util.spec_from_file_location("netsys._accel", path)
        if spec is None or spec.loader is None:
            return None, f"cannot load {path}"
        try:
            module = importlib.util.module_from_spec(spec)  # loads the file
            spec.loader.exec_module(module)
        except (ImportError, OSError) as exc:
            return None, f"cannot load {path}: {exc}"
        sys.modules["netsys._accel"] = module
        return module, f"loaded from {path}"
    return None, f"not built: no _accel module in {directory}"


def _load() -> Tuple[Optional[ModuleType], str]:
    if os.environ.get(ENV_VAR, "").strip() == "0":
        return None, f"disabled by {ENV_VAR}=0"
    if sys.implementation.name != "cpython":
        return None, f"not CPython ({sys.implementation.name})"
    module: Optional[ModuleType]
    try:
        spec = importlib.util.find_spec("netsys._accel")
    except (ImportError, ValueError):
        spec = None
    if spec is None:  # not installed with the package: a source tree's build?
        module, where = _from_build_dir()
        if module is None:
            return None, where
    else:
        try:
            module = importlib.import_module("netsys._accel")
        except ImportError as exc:
            return None, f"cannot load {spec.origin}: {exc}"
        where = f"loaded from {spec.origin}"
    if getattr(module, "API_VERSION", None) != API_VERSION:
        return None, f"{where}, but it is for another version of the package (API {module.API_VERSION!r})"
    if module.EVENT_SIZE != ctypes.sizeof(_ffi.Event) or module.EVENT_MESSAGE != _ffi.EVENT_MESSAGE:
        return None, f"{where}, but it was built for another netsys_event layout"
    return module, where


#: The loaded extension, or None (pure Python).
module, REASON = _load()

_SplitFn = Callable[[bytearray, int], Optional[Tuple[List[int], List[bytes]]]]

#: The batch splitter in C, or None.
split_messages: Optional[_SplitFn] = module.split_messages if module is not None else None
#: The handler loops in C, or None (the Python loops run).
dispatch_session: Optional[Callable[[Any, Any, Any], None]] = None
dispatch_sessions: Optional[Callable[[Any, Any, Any, Any], None]] = None
dispatch_client: Optional[Callable[[Any, Any], None]] = None
if module is not None and C_HANDLER_LOOPS:
    dispatch_session = module.dispatch_session
    dispatch_sessions = module.dispatch_sessions
    dispatch_client = module.dispatch_client


def accelerated() -> bool:
    """True if this process uses the C extension (``netsys._accel``);
    :data:`REASON` says where it was loaded from, or why not."""
    return module is not None
