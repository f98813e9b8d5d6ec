"""The bytes of the next Write: commands and content of the transactions in a window, in wire
order, and where each message's end of data lies in them.

Commands are traced when queued (pi_trail in wire order). A failed Write tells, through
``bytes_written`` (see smtpx.engine.actions), which ends of data may have gone out: those
messages are delivery unknown should the session end before their replies; the others were
cut short (not delivered).
"""
from __future__ import annotations

from smtpx.engine.actions import Write, WriteParts, bytes_written
from smtpx.engine.channel import IO, Channel
from smtpx.engine.commands import Command
from smtpx.engine.transaction import Message


# From this size a Write of a few parts goes out as they are (WriteParts): a big content is
# not copied once more to join it with the commands around it. Many parts (thousands of RCPT
# lines) are small: they are joined.
VECTOR_FROM = 64 * 1024
VECTOR_PARTS = 16

_NOTHING: list[tuple[Message, int]] = []  # (never appended to: a list only replaces it)


class Outbox:
    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.parts: list[bytes] = []
        self.size = 0
        # Messages whose end of data is in ``parts``, with the offset just after that end.
        self._ends: list[tuple[Message, int]] = []
        self._writing: list[tuple[Message, int]] = _NOTHING  # those of the Write taken
        # lane_write's one end, kept without a list (the batch lane writes one per message)
        self._lane_end: Message | None = None
        self._lane_end_at = 0

    def commands(self, commands: list[Command], wire: bytes | None = None) -> int:
        """Queue command lines (``wire``: their bytes joined, when already made); returns
        their size on the wire."""
        self.channel.trace_commands(commands)
        if wire is not None:
            self.parts.append(wire)
            self.size += len(wire)
            return len(wire)
        size = 0
        for cmd in commands:
            wire = cmd.wire
            self.parts.append(wire)
            size += len(wire)
        self.size += size
        return size

    def data(self, data: bytes) -> int:
        """Queue content (not traced); returns its size."""
        if data:
            self.parts.append(data)
            self.size += len(data)
        return len(data)

    def encoded(self, data: bytes, ends: list[tuple[Message, int]]) -> int:
        """Queue bytes a window kernel made (its commands traced by the caller); ``ends``: each
        message whose end of data is in ``data``, with the offset just after it."""
        base = self.size
        self.parts.append(data)
        self.size += len(data)
        for message, end in ends:
            self._ends.append((message, base + end))
        return len(data)

    def end_of(self, message: Message) -> None:
        """The end of ``message``'s data (its "." line, its BDAT LAST chunk) was just queued:
        the message counts as written in full once the Write carrying it got past this point."""
        self._ends.append((message, self.size))

    def flush(self) -> IO:
        """One Write of everything queued."""
        action = self.take_write()
        if action is None:
            return
        try:
            yield action
        except BaseException as error:
            self.failed(error)
            raise
        self.wrote()

    # flush() in halves, for a caller that yields the Write itself (the batch lane: one
    # generator fewer to make, resume and finish for each of its Writes): take_write(), yield
    # what it returns unless None, then wrote(), or failed(error) when the driver throws in.

    def take_write(self) -> Write | None:
        """The Write (or WriteParts) of everything queued, or None when there is nothing to
        write; the queue is empty after it."""
        parts = self.parts
        if not parts:
            return None
        action: Write | None
        if 1 < len(parts) <= VECTOR_PARTS and self.size >= VECTOR_FROM:
            self.parts = []
            action = WriteParts(tuple(parts))
        else:
            data = b"".join(parts) if len(parts) > 1 else parts[0]
            parts.clear()
            action = Write(data) if data else None
        self.size = 0
        ends = self._ends
        if ends:
            self._ends = []
        self._writing = ends
        if action is None:  # only empty parts: nothing to write, the ends are out
            self.wrote()
        return action

    def lane_write(self, data: bytes, message: Message | None, end: int) -> Write:
        """take_write() for the batch lane's ``data``, which holds ``message``'s end of data at
        ``end`` (when ``message``): whatever is queued goes first, in the same Write. The lane's
        usual Write has nothing queued before it, and is made without queueing its bytes."""
        if self.parts:
            self.encoded(data, [] if message is None else [(message, end)])
            write = self.take_write()
            assert write is not None  # the lane's bytes are never empty
            return write
        self._lane_end, self._lane_end_at = message, end
        return Write(data)

    def wrote(self) -> None:
        """take_write's (or lane_write's) Write went out whole."""
        if self._lane_end is not None:
            self._lane_end.unacknowledged_end = True
            self._lane_end = None
        for message, _ in self._writing:
            message.unacknowledged_end = True
        self._writing = _NOTHING

    def failed(self, error: BaseException) -> None:
        """The driver failed take_write's Write: the stream is at an unknown point, and only
        the ends within what may have gone out count as written (delivery unknown); the others
        were cut (not delivered)."""
        self.channel.lost()
        written = bytes_written(error)
        if self._lane_end is not None:
            self._lane_end.unacknowledged_end = self._lane_end_at <= written
            self._lane_end = None
        for message, end in self._writing:
            message.unacknowledged_end = end <= written
        self._writing = _NOTHING
