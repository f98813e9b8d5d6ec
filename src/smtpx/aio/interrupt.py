"""``AsyncSMTP.interrupt()``: abort the running method from any thread.

The method runs in some task on the event loop. ``interrupt()`` asks the loop (with
``call_soon_threadsafe``, the only loop call that is safe from another thread) to cancel that
task; the facade turns that one cancellation into SMTPInterrupted (301) and drops the
connection. A cancellation that did not come from interrupt() (the user's ``task.cancel()``)
is never turned into anything: it propagates as CancelledError.
"""
from __future__ import annotations

import asyncio
import threading
from typing import Optional

__all__ = ["MethodRun", "Interrupter"]


class MethodRun:
    """One running method: its loop and task, and what interrupt() did to it."""

    __slots__ = ("loop", "task", "active", "interrupted", "settled", "reason")

    def __init__(self, loop: asyncio.AbstractEventLoop, task: Optional["asyncio.Task[object]"]) -> None:
        self.loop = loop
        self.task = task
        self.active = True  # False once the method is finishing: an interrupt then does nothing
        self.interrupted = False  # interrupt() cancelled the task
        self.settled = False  # that cancellation was taken back (Task.uncancel)
        self.reason: Optional[str] = None  # the SMTPInterrupted text, when not the default

    def take_back(self) -> int:
        """Undo interrupt()'s cancel request on the task; returns the cancel requests left
        (more than 0: the user cancelled the task too)."""
        if self.settled or self.task is None:
            return 0
        self.settled = True
        uncancel = getattr(self.task, "uncancel", None)
        if uncancel is None:
            # Python 3.10 counts no cancel requests: catching the CancelledError is all it
            # takes, and a user's cancel landing in the same instant as an interrupt cannot be
            # told apart from it (it is then reported as the interrupt).
            return 0
        return int(uncancel())


class Interrupter:
    """Tracks the running method so that ``request()``, from any thread, can cancel it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._run: MethodRun | None = None

    def begin(self) -> MethodRun:
        """On the loop, when a method starts."""
        run = MethodRun(asyncio.get_running_loop(), asyncio.current_task())
        with self._lock:
            self._run = run
        return run

    def end(self, run: MethodRun) -> None:
        """On the loop, when the method finishes: from now on an interrupt finds nothing."""
        with self._lock:
            run.active = False
            if self._run is run:
                self._run = None

    def request(self, reason: Optional[str] = None) -> None:
        """From any thread: cancel the running method's task; nothing when no method runs.
        ``reason``: the description of the SMTPInterrupted the method raises."""
        with self._lock:
            run = self._run
        if run is None or run.task is None:
            return
        try:
            run.loop.call_soon_threadsafe(self._cancel, run, reason)
        except RuntimeError:  # the loop is closed: nothing runs on it any more
            return

    def _cancel(self, run: MethodRun, reason: Optional[str] = None) -> None:
        # On the loop thread. The task is suspended at an await inside the method (active is
        # only True between the method's start and its cleanup, which has no await before
        # end()), so the CancelledError is delivered inside the method.
        with self._lock:
            if not run.active or run.interrupted:
                return
            run.interrupted = True
            run.reason = reason
        assert run.task is not None
        run.task.cancel()
