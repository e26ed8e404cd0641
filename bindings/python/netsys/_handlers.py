"""What servers and clients share about calling Python handlers and about
the threads that drain their events.

Handler safety (the package's promise): an exception raised by a handler is
logged through ``logging.getLogger("netsys")`` and passed to the object's
``on_error`` handler; it never reaches the library, never stops the
dispatcher and never kills the process. An exception raised by ``on_error``
itself is logged only.

That holds for every ``BaseException``, not only ``Exception``: a handler
that raises ``SystemExit`` or ``KeyboardInterrupt`` is reported the same way
and the rest of its batch is still dispatched. Those two then end the
program's own thread where there is one: the asyncio loop (``netsys.aio``)
and a thread waiting in ``Client.recv()`` get the first of them re-raised
once the batch is fully dispatched. On a dispatcher thread (handlers of the
threaded ``Server`` and ``Client``) there is no program code to return to,
and Python would end only that thread, silently stopping delivery: there the
report is all that happens (to end the program from such a handler, signal
the main thread, e.g. ``server.stop()`` while it waits in ``server.wait()``).
"""

from __future__ import annotations

import atexit
import contextlib
import inspect
import logging
import os
import select
import threading
import weakref
from typing import Any, Callable, Dict, Optional, Tuple

from . import _ffi
from .exceptions import ForkedProcessError, InvalidHandleError, NetsysError

log = logging.getLogger("netsys")

#: Handler names accepted as decorators and constructor keywords.
HANDLER_NAMES = ("on_message", "on_connect", "on_disconnect", "on_error")


def check_handler(fn: Any, name: str) -> None:
    """Refuse a non-callable handler where it is set, not when it fires."""
    if fn is not None and not callable(fn):
        raise TypeError(f"{name} handler must be callable, not {type(fn).__name__}")


class HandlerHost:
    """Mixin: stores the four handlers and reports handler failures.

    ``_report_handler_failure`` and ``_deliver_result`` are the two places
    the sync and asyncio faces differ.
    """

    _on_message: Optional[Callable[..., Any]] = None
    _on_connect: Optional[Callable[..., Any]] = None
    _on_disconnect: Optional[Callable[..., Any]] = None
    _on_error: Optional[Callable[..., Any]] = None
    #: "server 'name'" / "client 'name'", for log messages.
    _label: str = "netsys object"
    #: Held by whichever thread polls and dispatches a batch (the dispatcher,
    #: or a client's recv()), so that batches are dispatched in order.
    _poll_lock: Any = contextlib.nullcontext()
    #: The first KeyboardInterrupt or SystemExit a handler raised during the
    #: batch being dispatched (see the module docstring: who re-raises it).
    _pending_exit: Optional[BaseException] = None

    def _dispatch_deferred(self) -> bool:
        """True while another thread drains the events (Client.recv())."""
        return False

    def _batch_done(self) -> None:
        """Called by the dispatcher after each poll, outside poll_lock."""

    def _set_handlers(self, handlers: Dict[str, Any]) -> None:
        for name in HANDLER_NAMES:
            fn = handlers.get(name)
            check_handler(fn, name)
            setattr(self, "_" + name, fn)

    def _handler_failed(self, where: str, exc: BaseException, *error_args: Any) -> None:
        """A handler raised: log it, then pass it to on_error (server:
        ``on_error(session, exc)``, client: ``on_error(exc)``)."""
        log.error("%s: %s handler raised %s: %s", self._label, where, type(exc).__name__, exc, exc_info=exc)
        if isinstance(exc, (KeyboardInterrupt, SystemExit)) and self._pending_exit is None:
            self._pending_exit = exc
        on_error = self._on_error
        if on_error is None or where == "on_error":
            return
        try:
            result = on_error(*error_args, exc)
            if result is not None:
                self._deliver_result(result, "on_error", error_args)
        except BaseException as second:  # noqa: BLE001 - the promise is: never propagate
            log.error("%s: on_error handler raised %s: %s", self._label, type(second).__name__, second,
                      exc_info=second)

    def _take_pending_exit(self) -> Optional[BaseException]:
        """Return and forget the KeyboardInterrupt/SystemExit recorded during
        the batch just dispatched (None if there was none)."""
        exc, self._pending_exit = self._pending_exit, None
        return exc

    def _deliver_result(self, result: Any, where: str, error_args: Tuple[Any, ...]) -> None:
        """What to do with a handler's return value. The threaded faces run
        plain functions only: a coroutine means the handler was meant for
        netsys.aio, which is reported instead of silently never running."""
        if inspect.iscoroutine(result):
            result.close()
            self._handler_failed(
                where,
                TypeError(f"{where} handler is a coroutine function: use netsys.aio for async handlers"),
                *error_args,
            )

    def _library_error(self, session_or_none: Any, status: int, text: str, with_session: bool,
                       raised: bool = False) -> None:
        """Hand an ERROR event to on_error, or log it when there is none.
        ``raised``: the same failure was raised to the caller (a failed
        connect), so without on_error it is logged at DEBUG level only."""
        exc = _ffi.status_error(status, text)
        on_error = self._on_error
        if on_error is None:
            if raised:
                log.debug("%s: %s (raised to the caller)", self._label, exc)
            else:
                log.warning("%s: %s", self._label, exc)
            return
        args = (session_or_none,) if with_session else ()
        try:
            result = on_error(*args, exc)
            if result is not None:
                self._deliver_result(result, "on_error", args)
        except BaseException as second:  # noqa: BLE001
            log.error("%s: on_error handler raised %s: %s", self._label, type(second).__name__, second,
                      exc_info=second)


# ---------------------------------------------------------------------------
# Dispatcher threads
# ---------------------------------------------------------------------------


#: How long a dispatcher sleeps at most before it checks again whether its
#: owner still exists (it is woken at once by close(); this bounds the delay
#: only for objects that are garbage-collected without close()), ms.
_IDLE_CHECK_MS = 250

#: While a client's recv() drains its own events, how often its dispatcher
#: checks whether recv() has gone quiet and it must take over again, ms.
_DEFER_CHECK_MS = 20


class Dispatcher:
    """The thread that drains one object's events and runs its handlers.

    It waits on the library's event descriptor with ``select.poll`` (the GIL
    is released there) and then drains with a non-blocking
    ``netsys_*_poll``: waking a thread through the kernel is about twice as
    fast as waking one parked inside the library's blocking poll, and a
    second descriptor (a pipe) lets close() wake it at once.

    The thread holds its owner only weakly while it waits, so an object the
    program dropped is collected (which destroys its handle) and the thread
    ends; while it dispatches a batch it holds the owner strongly.
    """

    def __init__(self, owner: Any, events: Any, event_fd: int, name: str) -> None:
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)  # a full pipe already means "wake up"
        self._thread = threading.Thread(
            target=self._run, args=(weakref.ref(owner), events, event_fd), name=name, daemon=True
        )
        self._thread.start()

    @property
    def thread(self) -> threading.Thread:
        """The dispatcher thread."""
        return self._thread

    def wake(self) -> None:
        """Make the thread re-check its owner now (used by close())."""
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    def join(self, timeout: float) -> None:
        """Wait for the thread to end (not from the thread itself), then
        release the pipe."""
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        if not self._thread.is_alive():
            self._close_pipe()

    def _close_pipe(self) -> None:
        fds, self._wake_r, self._wake_w = (self._wake_r, self._wake_w), -1, -1
        for fd in fds:
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass

    def __del__(self) -> None:
        # Reached once the thread has ended (it references this object) and
        # nobody can call wake() any more (that needs a reference too).
        try:
            self._close_pipe()
        except Exception:  # noqa: BLE001 - survives interpreter shutdown
            pass

    def _run(self, owner_ref: "weakref.ref[Any]", events: Any, event_fd: int) -> None:
        poller = select.poll()
        poller.register(event_fd, select.POLLIN)
        poller.register(self._wake_r, select.POLLIN)
        wake_only = select.poll()
        wake_only.register(self._wake_r, select.POLLIN)
        while True:
            owner = owner_ref()
            if owner is None or owner._closed:
                return
            poll_lock = owner._poll_lock
            if owner._dispatch_deferred():
                # A thread in Client.recv() drains the events itself: stay
                # out of its way (no competing wake-ups, no GIL contention).
                del owner
                self._sleep(wake_only, _DEFER_CHECK_MS)
                continue
            batch = None
            with poll_lock:
                try:
                    batch = events.poll(0)
                except (InvalidHandleError, ForkedProcessError):
                    return
                except NetsysError as exc:  # should not happen: report, back off, go on
                    log.error("netsys dispatcher: poll failed: %s", exc)
                if batch:
                    try:
                        owner._dispatch(batch)
                    except BaseException as exc:  # noqa: BLE001 - a dispatcher must not die
                        log.error("%s: dispatcher error %s: %s", owner._label, type(exc).__name__, exc,
                                  exc_info=exc)
                    # Already reported; re-raising would only end this thread.
                    owner._take_pending_exit()
            owner._batch_done()  # after releasing poll_lock: waiters see it free
            del owner
            if not batch:
                self._sleep(poller, _IDLE_CHECK_MS)

    def _sleep(self, poller: Any, timeout_ms: int) -> None:
        """Wait (GIL released) for readiness or the timeout; consume wake-ups."""
        for fd, _ in poller.poll(timeout_ms):
            if fd == self._wake_r:
                try:
                    os.read(self._wake_r, 64)
                except OSError:
                    pass


# ---------------------------------------------------------------------------
# Closing everything at exit
# ---------------------------------------------------------------------------

_live: "weakref.WeakSet[Any]" = weakref.WeakSet()


def track(obj: Any) -> None:
    """Remember an object so that interpreter exit closes it gracefully."""
    _live.add(obj)


@atexit.register
def _close_all_at_exit() -> None:
    # Stop servers and clients before the interpreter tears down modules, so
    # peers get a proper CLOSE and dispatcher threads end while Python still
    # works. Clients first: they close their side before their servers stop.
    objects = list(_live)
    objects.sort(key=lambda o: 0 if getattr(o, "_kind", "") == "client" else 1)
    for obj in objects:
        try:
            obj._close_at_exit()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass
