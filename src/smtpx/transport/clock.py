"""The timeout rules both byte streams keep (smtpx.transport.stream.SyncStream and
smtpx.aio.stream.AsyncStream), written once.

``timeout=0`` means none. *Inactivity* (default): the clock restarts at the start of each call
and whenever bytes move. *Absolute*: one deadline per operation, from :meth:`begin_operation`;
without one, each call is its own operation.
"""
from __future__ import annotations

import time
from typing import Optional

from smtpx.errors import SMTPTimeoutError

__all__ = ["TimeoutClock"]


class TimeoutClock:
    """Mixin: a stream's timeout bookkeeping. The stream calls ``_init_clock`` from its
    ``__init__`` and provides ``_check_usable()`` (raises when the stream cannot be used)."""

    timeout: float
    absolute: bool

    def _init_clock(self, timeout: float, absolute: bool) -> None:
        self.timeout = float(timeout)
        self.absolute = absolute
        self._deadline: Optional[float] = None       # absolute mode, set by begin_operation()
        self._call_deadline: Optional[float] = None  # absolute mode without an operation
        self._last_activity = time.monotonic()

    def _check_usable(self) -> None:
        raise NotImplementedError

    def begin_operation(self) -> None:
        """Start one public method: in absolute mode its deadline starts now."""
        self._deadline = (time.monotonic() + self.timeout) if (self.absolute and self.timeout) else None

    def end_operation(self) -> None:
        self._deadline = None

    def _touch(self) -> None:
        """Bytes moved: inactivity counts from now."""
        self._last_activity = time.monotonic()

    def _start_call(self) -> None:
        self._check_usable()
        now = time.monotonic()
        self._last_activity = now  # inactivity counts from the start of each call
        if self.absolute and self.timeout and self._deadline is None:
            self._call_deadline = now + self.timeout
        else:
            self._call_deadline = None

    def _remaining(self) -> Optional[float]:
        """Seconds left before the timeout (None = wait forever)."""
        if not self.timeout:
            return None
        if self.absolute:
            deadline = self._deadline if self._deadline is not None else self._call_deadline
            if deadline is None:
                return None
        else:
            deadline = self._last_activity + self.timeout
        return deadline - time.monotonic()

    def _timed_out(self) -> SMTPTimeoutError:
        kind = "absolute" if self.absolute else "inactivity"
        return SMTPTimeoutError(f"timeout: no progress within {self.timeout:g} s ({kind} timeout)", 301)
