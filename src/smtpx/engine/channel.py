"""The command/reply channel under every engine operation.

It writes commands (tracing each line), reads replies through the reply scanner (tracing each
line), and enforces the rules that do not depend on the command: EOF and 421 end the session,
scanner errors are protocol errors, and a reply nobody asked for is a protocol error. The
engine reads only while replies are outstanding, so any complete reply or partial bytes left
after the last expected reply (or found before a new command is written) are unsolicited.
Each Read it yields says whether the reply it waits for has begun (``Read.reply``), so the
driver can bound one whole reply in time (MaxReplyTime) although the engine has no clock.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator, Sequence
from typing import Any

from smtpx.engine.actions import (
    REPLY_BEGUN_EARLIER,
    REPLY_BEGUN_IN_LAST_READ,
    REPLY_NOT_BEGUN,
    Action,
    Read,
    Write,
)
from smtpx.engine.commands import Command
from smtpx.engine.options import EngineOptions
from smtpx.engine.tracing import describe_reply, reply_lines, reply_text
from smtpx.errors import (
    SMTPConnectionDropped,
    SMTPError,
    SMTPProtocolError,
    SMTPServiceClosing,
)
from smtpx.kernels import Reply, ReplyScanner, plain_replies

CLIENT, SERVER, INFO = 0, 1, 2

IO = Generator[Action, Any, Any]

# One Read per reply progress (Read.reply), built once: reading is the hot path.
_READS = {progress: Read(progress)
          for progress in (REPLY_NOT_BEGUN, REPLY_BEGUN_IN_LAST_READ, REPLY_BEGUN_EARLIER)}


def reply_error(cls: type[SMTPError], description: str, reply: Reply, **extra: Any) -> SMTPError:
    """A typed error that carries the reply's code, enhanced code and text."""
    text = reply_text(reply)
    return cls(
        f"{description}: {describe_reply(reply)}",
        reply_code=reply.code,
        enhanced=reply.enhanced,
        reply_text=text,
        **extra,
    )


class Channel:
    def __init__(self, options: EngineOptions, sink: Any) -> None:
        self._options = options
        self._sink = sink
        self.closed = False
        # True while a failed transaction is left open on the server (SendRSET=False defers
        # its RSET): the next transaction starts with RSET.
        self.dirty = False
        self.last_reply: Reply | None = None
        # Rewrites a traced server line (AUTH masking); None traces lines as they are.
        self.server_masker: Callable[[int, str], str] | None = None
        self.tracing = True  # someone listens to pi_trail (asked again by begin_operation)
        self.reset_scanner()

    def begin_operation(self) -> None:
        """Asks the sink once per engine operation whether anyone listens to pi_trail (it
        says pi_trail_enabled = False to skip building the text), not once per reply: a
        handler set while an operation runs traces from the next."""
        self.tracing = bool(getattr(self._sink, "pi_trail_enabled", True))

    def reset_scanner(self) -> None:
        """A fresh scanner (after the TLS handshake nothing from before may survive)."""
        options = self._options
        self._scanner = ReplyScanner(options.max_line, options.max_reply, options.max_lines)
        self._ready: deque[Reply] = deque()
        self._kept: bytes | None = None  # a read's bytes keep_plain kept unparsed (take_kept)
        # How much of the next reply the scanner holds (Read.reply): the driver times one whole
        # reply from its first byte (MaxReplyTime) without the engine needing a clock.
        self._reply_progress = REPLY_NOT_BEGUN

    # -- state of the read side ---------------------------------------------------------------

    @property
    def has_leftover(self) -> bool:
        """A complete reply or part of one arrived beyond what was read for."""
        return bool(self._ready) or self._scanner.has_pending or self._kept is not None

    def check_no_leftover(self, when: str) -> None:
        if self.has_leftover:
            self._trace_leftover()
            self.closed = True
            raise SMTPProtocolError(f"unsolicited reply from the server {when}")

    def _trace_leftover(self) -> None:
        for reply in self._ready:
            self._trace_reply(reply)

    # -- writing ------------------------------------------------------------------------------

    def trace_info(self, text: str) -> None:
        """A note from the engine itself (pi_trail direction 2)."""
        if self.tracing:
            self._sink.pi_trail(INFO, text)

    def trace_commands(self, commands: Sequence[Command]) -> None:
        """pi_trail for commands the caller writes itself (send_batch joins many into one Write)."""
        if self.tracing:
            for cmd in commands:
                self._sink.pi_trail(CLIENT, cmd.trace)

    def send(self, commands: Sequence[Command], payload: bytes = b"", *, check_leftover: bool = True) -> IO:
        """Write the commands (and payload, e.g. BDAT content) in one Write."""
        if check_leftover:
            self.check_no_leftover("before a command was sent")
        if self.tracing:
            for cmd in commands:
                self._sink.pi_trail(CLIENT, cmd.trace)
        data = b"".join(cmd.wire for cmd in commands)
        yield from self.write_content(data + payload if payload else data)

    def write_content(self, data: bytes) -> IO:
        """Message content (or commands already traced): no reply expected."""
        if data:
            try:
                yield Write(data)
            except BaseException:
                self.lost()
                raise

    # -- reading ------------------------------------------------------------------------------

    def read_reply(self, after: str) -> IO:
        """The next reply. ``after`` names the command, for error messages."""
        if not self._ready:
            return (yield from self.read_replies((after,)))[0]
        return self._take_reply(after, self.tracing)

    def read_replies(self, labels: Sequence[str], into: list[Reply] | None = None) -> IO:
        """One reply per label, in order: a pipelined group read by one generator. Each is
        read until complete (the server closing first is an error). ``into``: the list the
        replies are appended to, so a caller still has those read before an error."""
        replies = [] if into is None else into
        ready = self._ready
        tracing = self.tracing
        for after in labels:
            while not ready:
                try:
                    data = yield _READS[self._reply_progress]
                except BaseException:
                    self.lost()
                    raise
                self.received(data, after)
            replies.append(self._take_reply(after, tracing))
        return replies

    # -- one action at a time, for a caller that yields the actions itself ------------------
    #
    # The generators above yield their Write or Read through one more generator between the
    # engine's operation and the driver. send_mail's DATA path and the batch lane (the hot
    # path: four and two actions a message) yield theirs straight to the driver with these
    # halves: make the action, yield it, hand its result in, and call lost() when the driver
    # throws an error in instead.

    def lost(self) -> None:
        """The driver threw an error into a Write or Read (timeout, socket error, interrupt):
        the stream is at an unknown point, the session cannot go on."""
        self.closed = True

    def plain_read(self) -> Read | None:
        """A delivery's replies read as one Read whose bytes may be kept unparsed: the Read
        to yield, or None when they are to be read the usual way (read_replies), because
        pi_trail is traced or part of a reply is already in. keep_plain() takes its bytes."""
        if self.tracing or self._ready or self._scanner.has_pending:
            return None
        return _READS[REPLY_NOT_BEGUN]

    def keep_plain(self, data: bytes, expect: bytes, after: str) -> bool:
        """plain_read's bytes. When they are exactly one-line replies with the codes
        ``expect`` says (smtpx.kernels.plain_replies), they are kept unparsed and True is
        returned: the caller may act on a delivery's replies before parsing them, and must
        then take them with take_kept() before anything else reads. Otherwise they are parsed
        as read_replies would and False is returned (read_replies takes those replies and
        reads the rest). ``after`` names the first command, for error messages."""
        self._check_open(data, after)
        if plain_replies(data, expect, self._options.max_line):
            self._kept = data
            return True
        self._feed(data)
        return False

    def reply_read(self) -> Read | None:
        """read_reply, one action at a time: the Read to yield next, or None once a reply is
        ready (take_reply). Each Read's bytes go to received()."""
        if self._ready:
            return None
        return _READS[self._reply_progress]

    def received(self, data: bytes, after: str) -> None:
        """A Read's bytes (none: the server closed the connection)."""
        self._check_open(data, after)
        self._feed(data)

    def take_reply(self, after: str) -> Reply:
        """The reply reply_read found ready."""
        reply: Reply = self._take_reply(after, self.tracing)
        return reply

    def _check_open(self, data: bytes, after: str) -> None:
        """A Read's bytes: none means the server closed the connection."""
        if not data:
            self.closed = True
            raise SMTPConnectionDropped(f"the server closed the connection after {after}")

    def take_kept(self, labels: Sequence[str]) -> list[Reply]:
        """The replies keep_plain kept, one per label, parsed now (as read_replies would have:
        each one is the last reply; none is a 421)."""
        data, self._kept = self._kept, None
        assert data is not None, "take_kept without a kept read"
        # keep_plain kept them only with nothing else unread (plain_read): the scanner gives
        # exactly these replies, none a 421 (their codes were checked), nothing left pending.
        try:
            replies: list[Reply] = self._scanner.feed(data)
        except SMTPProtocolError:
            self.closed = True
            raise
        assert len(replies) == len(labels)
        self._reply_progress = REPLY_NOT_BEGUN
        if self.tracing:
            for reply in replies:
                self._trace_lines(reply)
        self.last_reply = replies[-1]
        return replies

    def _take_reply(self, after: str, tracing: bool) -> Any:
        """The next ready reply, traced and kept as last_reply; a 421 ends the session."""
        reply = self._ready.popleft()
        if tracing:
            self._trace_lines(reply)
        self.last_reply = reply
        if reply.code == 421:
            self.closed = True
            raise reply_error(SMTPServiceClosing, f"the server is closing the session (after {after})", reply)
        return reply

    def idle_data(self, data: bytes) -> None:
        """Bytes the driver found while no operation was running: never a reply to anything.
        A 421 is the server closing (RFC 5321 3.8); anything else is a protocol error."""
        try:
            self._feed(data)
        finally:
            self.closed = True
        if self._ready and self._ready[0].code == 421:
            reply = self._ready.popleft()
            self._trace_reply(reply)
            self.last_reply = reply
            raise reply_error(SMTPServiceClosing, "the server closed the session", reply)
        self._trace_leftover()
        raise SMTPProtocolError("unsolicited data from the server while no command was outstanding")

    def _feed(self, data: bytes) -> None:
        scanner = self._scanner
        began = scanner.has_pending
        try:
            replies = scanner.feed(data)
        except SMTPProtocolError:
            self.closed = True
            raise
        if not scanner.has_pending:
            self._reply_progress = REPLY_NOT_BEGUN
        elif replies or not began:  # the unfinished reply starts in these bytes
            self._reply_progress = REPLY_BEGUN_IN_LAST_READ
        else:
            self._reply_progress = REPLY_BEGUN_EARLIER
        self._ready.extend(replies)

    def _trace_reply(self, reply: Reply) -> None:
        if self.tracing:
            self._trace_lines(reply)

    def _trace_lines(self, reply: Reply) -> None:
        masker = self.server_masker
        for line in reply_lines(reply):
            self._sink.pi_trail(SERVER, masker(reply.code, line) if masker else line)
