"""The timeout rules both byte streams keep (smtpx.transport.stream.SyncStream and
smtpx.aio.stream.AsyncStream), written once.

``timeout=0`` means none. *Inactivity* (default): the clock restarts at the start of each call
and whenever bytes move. *Absolute*: one deadline per operation, from :meth:`begin_operation`;
without one, each call is its own operation.

``max_reply_time`` (MaxReplyTime, 0 = none) bounds one whole server reply, from the time its
first byte was read until its last line: the inactivity timer restarts on every byte, so a
server trickling one byte at a time would otherwise hold a read for as long as the size caps
allow. The engine has no clock; each of its Read actions says how much of the awaited reply
has arrived (``Read.reply``), and the driver core turns that into :meth:`track_reply` before
the read (so this module knows nothing of the engine). The deadline ends a read only when it
has to wait for more bytes, so bytes already received are never refused for it. A server that is silent while it works (content scanning
before its reply to ".") is still governed by ``timeout`` alone.
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
    max_reply_time: float

    def _init_clock(self, timeout: float, absolute: bool, max_reply_time: float = 0.0) -> None:
        self.timeout = float(timeout)
        self.absolute = absolute
        self.max_reply_time = float(max_reply_time)
        self._deadline: Optional[float] = None       # absolute mode, set by begin_operation()
        self._call_deadline: Optional[float] = None  # absolute mode without an operation
        self._last_activity = time.monotonic()
        self._read_at = self._last_activity  # when the last read() returned bytes
        self._reply_deadline: Optional[float] = None  # the awaited reply must be complete by then
        self._call_reply_deadline: Optional[float] = None  # the reply deadline of the read running

    def _check_usable(self) -> None:
        raise NotImplementedError

    def begin_operation(self) -> None:
        """Start one public method: in absolute mode its deadline starts now."""
        self._deadline = (time.monotonic() + self.timeout) if (self.absolute and self.timeout) else None

    def end_operation(self) -> None:
        self._deadline = None

    def track_reply(self, begun: bool, began_in_last_read: bool = False) -> None:
        """Before a read for a reply: has any of it arrived (``begun``), and did its first bytes
        come with the last read (``began_in_last_read``)? Not begun: no reply deadline. Begun in
        the last read: MaxReplyTime counts from when that read returned. Begun earlier: the
        deadline already running is kept."""
        if not self.max_reply_time or not begun:
            self._reply_deadline = None
        elif began_in_last_read or self._reply_deadline is None:
            self._reply_deadline = self._read_at + self.max_reply_time

    def _touch(self) -> None:
        """Bytes moved: inactivity counts from now."""
        self._last_activity = time.monotonic()

    def _got_data(self) -> None:
        """read() returns bytes: they may begin a reply, whose deadline counts from now."""
        self._read_at = self._last_activity = time.monotonic()

    def _start_call(self, reading: bool = False) -> None:
        self._check_usable()
        now = time.monotonic()
        self._last_activity = now  # inactivity counts from the start of each call
        if self.absolute and self.timeout and self._deadline is None:
            self._call_deadline = now + self.timeout
        else:
            self._call_deadline = None
        # The reply deadline bounds the waits of reads only (never a write or a handshake in
        # between). Bytes already received are always taken first: the rest of a reply that sat
        # unread while the engine wrote (pipelining) is not held against the server.
        self._call_reply_deadline = self._reply_deadline if reading else None

    def _remaining(self) -> Optional[float]:
        """Seconds left before the timeout or the reply deadline (None = wait forever)."""
        deadline: Optional[float] = None
        if self.timeout:
            if self.absolute:
                deadline = self._deadline if self._deadline is not None else self._call_deadline
            else:
                deadline = self._last_activity + self.timeout
        reply_deadline = self._call_reply_deadline
        if reply_deadline is not None and (deadline is None or reply_deadline < deadline):
            deadline = reply_deadline
        return None if deadline is None else deadline - time.monotonic()

    def start_wait(self) -> Optional[float]:
        """For a driver that waits for several streams at once (smtpx.session.multiplex): a
        read found nothing, and its wait starts now, under the same rules as a blocking read's.
        Returns the ``time.monotonic()`` by which bytes must come, or None (no deadline); past
        it, ``timed_out()`` is the read's error."""
        self._start_call(reading=True)
        remaining = self._remaining()
        return None if remaining is None else time.monotonic() + remaining

    def timed_out(self) -> SMTPTimeoutError:
        """The error of a wait that ran past ``start_wait()``'s deadline."""
        return self._timed_out()

    def _timed_out(self) -> SMTPTimeoutError:
        """The error for a wait that ran out (_remaining() <= 0): the reply deadline's when
        that is what passed."""
        reply_deadline = self._call_reply_deadline
        if reply_deadline is not None and time.monotonic() >= reply_deadline:
            return self._reply_timed_out()
        kind = "absolute" if self.absolute else "inactivity"
        return SMTPTimeoutError(f"timeout: no progress within {self.timeout:g} s ({kind} timeout)", 301)

    def _reply_timed_out(self) -> SMTPTimeoutError:
        return SMTPTimeoutError(f"timeout: the server's reply did not complete within MaxReplyTime "
                                f"({self.max_reply_time:g} s) of its first byte", 301)
