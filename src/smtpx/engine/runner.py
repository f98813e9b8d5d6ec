"""The one transaction runner: send_mail (one message, its error raised) and send_batch (many
messages on one connection, pipelined across transactions, RFC 2920, each outcome returned)
write and read every transaction through the same code. What the replies mean is decided in
smtpx.engine.transaction; this module decides what goes on the wire when.

How a transaction goes:

- Content before the RCPT replies ("early", smtpx.engine.transaction says when) goes through
  the window: its commands (and, for BDAT, its chunks) are queued in the Outbox behind what is
  already in flight and written in one Write, and its replies are read oldest first while more
  is written. PIPELINING + CHUNKING: MAIL, RCPT, BDAT n LAST and the content of successive
  messages go out back to back. PIPELINING + DATA: nothing may follow DATA before its 354, so
  a message's content and "." go out in one Write with the next message's MAIL / RCPT / DATA.
- Otherwise the transaction runs "alone" (lockstep): with PIPELINING, MAIL and the RCPTs in
  one Write and the content after their replies; without it, one command and its reply at a
  time. It starts once everything in flight is answered.

send_mail runs its message alone: early transactions through the window with nothing else in
it, cleanup (the "." ending a DATA the server opened anyway, RSET) written and answered at
once, and each content piece in a Write of its own. In send_batch the first transaction of a
message goes into the window when early; any other message, and the 452 remainder of a message
(once everything in flight is answered), runs alone. Without PIPELINING every message runs
alone. At most ``window`` transactions and about MAX_UNACKNOWLEDGED bytes are written before
their replies are read, so a server blocked writing its replies never stops us reading them.
Items are taken from ``items`` one ahead: the next message is checked and planned while the
server works.

A session failure (421, EOF, protocol error, an error thrown in) ends the run. It is raised
as it is, except an EOF while a message runs alone after its end of data went out:
SMTPConnectionDropped with ``delivery_unknown=True`` (send_mail's error). send_batch adds
``.results`` (one entry per item taken from ``items``: SendResult / SMTPError when known, an
SMTPConnectionDropped(delivery_unknown=True) for a message whose end of data went out without
its reply, None when it was certainly not delivered) and ``.unsent`` (the indexes of the None
entries: safe to send again on a new connection; when ``items`` has a length, the indexes of
the items never taken from it are listed too, else they start at ``len(results)``).

"Went out" means: the Write carrying the whole end of data (the "." line, the whole BDAT LAST
chunk) completed, or failed after it (the driver throws a failed Write's error in, with the
``bytes_written`` that may have gone out: actions.bytes_written). A message cut while its
content or its end was being written was not delivered. After a 421 nothing is "delivery
unknown": the server processed nothing after it.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sized
from dataclasses import dataclass
from typing import Any

from smtpx.engine.actions import Write, bytes_written
from smtpx.engine.capabilities import Capabilities
from smtpx.engine.channel import IO, Channel
from smtpx.engine.commands import Command, command
from smtpx.engine.envelope import Content, Envelope
from smtpx.engine.options import EngineOptions
from smtpx.engine.outbox import Outbox
from smtpx.engine.planning import DATA, PlanCache, PlanSettings, plan_send, plan_settings
from smtpx.engine.transaction import (
    BDAT_LAST,
    END_OF_DATA,
    Message,
    Outcome,
    Transaction,
    is_ok,
)
from smtpx.engine.transfer import (
    WRITE_SIZE,
    ContentSource,
    Progress,
    bdat_segments,
    stuffed_pieces,
    stuffed_whole,
)
from smtpx.errors import (
    SMTPConnectionDropped,
    SMTPDataError,
    SMTPError,
    SMTPInputError,
    SMTPNotSupportedError,
    SMTPRecipientsRefused,
    SMTPSenderRefused,
    SMTPServiceClosing,
)
from smtpx.kernels import Reply, bdat_window, data_window, match_window

# The errors that concern one message only: send_batch returns them as that message's result.
PER_MESSAGE_ERRORS = (SMTPRecipientsRefused, SMTPSenderRefused, SMTPDataError, SMTPNotSupportedError,
                      SMTPInputError)
# Written but unanswered bytes before we stop and read (a server's socket buffers hold more).
MAX_UNACKNOWLEDGED = 256 * 1024
FLUSH_AT = 64 * 1024  # in the window, a big content goes out in Writes of about this size

_DATA = DATA
_RSET = command("RSET")

# What a transaction in flight waits for.
ENVELOPE = "envelope"  # the replies to MAIL, RCPT and DATA, or to MAIL, RCPT and the BDAT chunks
CHUNKS = "chunks"  # the replies to BDAT chunks written after the RCPT replies
FINAL = "final"  # the reply to the "." after the content
SETTLED = "settled"  # nothing


# The entry points check their input before returning the operation's generator, so a bad
# message or window raises before anything is written (and one generator fewer runs per I/O).

def send_mail(channel: Channel, options: EngineOptions, caps: Capabilities, sink: Any,
              envelope: Envelope, content: Content, plans: PlanCache | None = None,
              meanwhile: Callable[[], object] | None = None) -> IO:
    """One message: its SendResult, or its error raised. ``plans``: the session's last plan,
    reused for the same envelope (smtpx.engine.planning.PlanCache). ``meanwhile``: called once
    when the end of data has gone out and its reply is the next thing read (Runner.meanwhile)."""
    if plans is None:
        plan = plan_send(envelope, content, caps, options)
    else:
        plan = plans.plan(envelope, content, plan_settings(caps, options))
    runner = Runner(channel, options, sink)
    runner.meanwhile = meanwhile
    return runner.send_one(Message(0, plan, ContentSource(content), options, sink))


def send_batch(channel: Channel, options: EngineOptions, caps: Capabilities, sink: Any,
               items: Iterable[tuple[Envelope, Content]], window: int, plans: PlanCache | None = None) -> IO:
    """Many messages: one SendResult or per-message SMTPError per item, in order."""
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise SMTPInputError(f"the window must be a whole number of transactions >= 1, not {window!r}")
    runner = Runner(channel, options, sink)
    if plans is not None:
        runner.plans = plans
        runner.plan_settings = plan_settings(caps, options)
    return runner.send_all(items, caps, window)


@dataclass(eq=False, slots=True)
class Flight:
    """A transaction whose replies are due."""

    tx: Transaction
    # Nothing else is in flight (send_mail, or a batch message that runs alone): cleanup is
    # written and answered at once, and each content piece goes in a Write of its own.
    alone: bool
    stage: str = ENVELOPE
    wire: int = 0  # bytes it wrote that are not answered yet
    bdat_count: int = 0


@dataclass(eq=False, slots=True)
class Aside:
    """A reply due that belongs to no message: RSET, or the "." ending a refused DATA."""

    label: str
    wire: int
    resets: bool = False  # an RSET: the server's transaction is clean once it answers 2xx


class Runner:
    """One send_mail or send_batch operation."""

    # (Its attributes are declared in runner.pxd too: compiled, Runner is an extension type
    # whose methods read them from a C struct, not a dict.)
    caps: Capabilities
    followups: list[Message]  # messages with 452 remainders, to run alone
    _items: Iterator[tuple[int, Any]]

    def __init__(self, channel: Channel, options: EngineOptions, sink: Any) -> None:
        self.channel = channel
        self.options = options
        self.sink = sink
        self.results: list[Outcome | None] = []
        self.open: dict[int, Message] = {}  # messages started whose outcome is not known
        self.due: deque[Flight | Aside] = deque()  # replies owed, oldest first
        self.outbox = Outbox(channel)
        self.raises = False  # send_mail: the message's error is raised, not returned
        self.in_flight = 0  # Flight entries in self.due
        self.unacknowledged = 0  # bytes of the entries in self.due
        # send_batch's settings and item supply (send_all sets them)
        self.window = 1  # transactions in flight at most
        self.total: int | None = None  # len(items) when it has one
        self._prefetched: tuple[int, Message | None] | None = None
        self._exhausted = True
        self.plans: PlanCache | None = None  # the session's plan cache (send_batch)
        self.plan_settings: PlanSettings | None = None  # its key's session part (planning.plan_settings)
        self.lane_unread = 0  # transactions the batch lane wrote whose replies are not read yet
        # send_mail's caller's work for the server's turn after the end of data: called once,
        # when the end has gone out and its reply is the next thing read. A client's work then
        # costs it no time (the reply is not there yet); a loop of send() makes its next
        # message then (docs/internals.md, "Work while the server answers"). It must not raise.
        self.meanwhile: Callable[[], object] | None = None

    # -- send_mail ------------------------------------------------------------------------------

    def send_one(self, message: Message) -> IO:
        """The message alone, its error raised (not a generator itself: one generator fewer
        between the driver and each action)."""
        self.raises = True
        self.results.append(None)
        self.open[message.index] = message
        return self._alone(message)

    # -- send_batch -----------------------------------------------------------------------------

    def send_all(self, items: Iterable[tuple[Envelope, Content]], caps: Capabilities, window: int) -> IO:
        self.caps = caps
        self.window = window
        self.followups = []
        if isinstance(items, Sized):
            self.total = len(items)
        self._items = enumerate(items)
        self._exhausted = False
        try:
            self.channel.check_no_leftover("before a command was sent")
            while (taken := self._take()) is not None:
                message = taken[1]
                if message is None:  # refused by the checks: nothing to write
                    continue
                if self.followups:
                    yield from self._drain()
                    yield from self._run_followups()
                if self._fits_lane(message):
                    yield from self._lane(message)
                    continue
                tx = message.next_transaction()
                assert tx is not None  # a plan has at least one recipient
                if tx.early:
                    if self.due:  # (the test of _make_room, without a generator when there is room)
                        yield from self._make_room()
                    self.open[message.index] = message
                    yield from self._pipeline(tx, alone=False)
                else:
                    yield from self._drain()
                    self.open[message.index] = message
                    yield from self._alone(message, tx)
            yield from self._drain()
            yield from self._run_followups()
            self.channel.check_no_leftover("after the last message of the batch")
        except GeneratorExit:
            raise
        except BaseException as error:
            self._annotate(error)
            raise
        return self.results

    def _take(self) -> tuple[int, Message | None] | None:
        """The next item, prepared (None when there are no more)."""
        if self._prefetched is not None:
            taken, self._prefetched = self._prefetched, None
            return taken
        if self._exhausted:
            return None
        for index, item in self._items:
            self.results.append(None)
            return index, self._prepare(index, item)
        self._exhausted = True
        return None

    def _prefetch(self) -> None:
        """Plan the next item while the server works on what was just written (off the
        critical path of a round trip). Only checks: nothing is written for it yet."""
        if self._prefetched is None and not self._exhausted:
            self._prefetched = self._take()

    def _prepare(self, index: int, item: Any) -> Message | None:
        """send_mail's checks: a message that fails them gets its error and nothing is written."""
        try:
            try:
                envelope, content = item
            except (TypeError, ValueError):
                raise SMTPInputError(f"item {index} is not an (Envelope, Content) pair") from None
            plans = self.plans
            if plans is None:
                plan = plan_send(envelope, content, self.caps, self.options)
            else:
                assert self.plan_settings is not None  # (send_batch sets both)
                plan = plans.plan(envelope, content, self.plan_settings)
            return Message(index, plan, ContentSource(content), self.options, self.sink)
        except PER_MESSAGE_ERRORS as error:
            self.results[index] = error
            return None

    def _run_followups(self) -> IO:
        """The recipients a server deferred with 452 get further transactions (drained first)."""
        followups, self.followups = self.followups, []
        for message in followups:
            yield from self._alone(message)

    # -- how a message ends ---------------------------------------------------------------------

    def _finish(self, message: Message, outcome: Outcome) -> None:
        message.outcome = outcome
        message.unacknowledged_end = False
        del self.open[message.index]
        self.results[message.index] = outcome

    def _transaction_ended(self, tx: Transaction, alone: bool) -> None:
        """A transaction that did not fail its message: the message is done, or its remaining
        recipients get a further transaction (in a batch, once everything in flight is
        answered)."""
        message = tx.message
        if not message.has_pending:
            self._finish(message, message.final_outcome())
        elif not alone:
            self.followups.append(message)

    def _delivered(self, tx: Transaction, reply: Reply, alone: bool) -> None:
        tx.message.delivered(tx, reply)
        self._transaction_ended(tx, alone)

    # -- a message alone ------------------------------------------------------------------------

    def _alone(self, message: Message, tx: Transaction | None = None) -> IO:
        """The message's transactions one after another, with nothing else in flight: all of
        send_mail, and in a batch a message that cannot be pipelined or a 452 remainder. Its
        SendResult is returned; its error too, or raised when ``raises`` (send_mail). An EOF
        after its end of data went out is raised as delivery unknown."""
        try:
            if tx is None:
                tx = message.next_transaction()
            while tx is not None:
                if not tx.early:
                    yield from self._lockstep(tx)
                elif self.raises and not message.plan.use_bdat and not self.channel.dirty:
                    yield from self._data_alone(tx)
                else:
                    yield from self._pipeline(tx, alone=True)
                tx = message.next_transaction()
        except GeneratorExit:  # the driver closed us: nothing to report to
            raise
        except SMTPConnectionDropped as error:
            self._lose_stream()
            if message.unacknowledged_end:
                raise message.delivery_unknown() from error
            raise
        except BaseException:
            self._lose_stream()
            raise
        outcome = message.outcome
        if isinstance(outcome, SMTPError):
            if self.raises:
                raise outcome
            return outcome
        self.channel.check_no_leftover("after the end of the message")
        return outcome

    def _data_alone(self, tx: Transaction) -> IO:
        """send_mail's common case, flat: what _pipeline(tx, alone=True) does for a DATA
        transaction on a clean channel, without the window's bookkeeping (one generator
        between the driver and each Write or Read). MAIL, RCPT and DATA in one Write; when
        every reply is the expected one, the stuffed content and "." in Writes as
        _queue_content makes them and the final reply; any other reply is decided by the
        window's code (_decide_envelope), as _pipeline would."""
        message = tx.message  # (self.channel, not a local: typed, its methods called through C)
        plan = message.plan
        if tx.recipients is plan.recipients:  # the first (usually only) transaction
            commands, wire, labels = plan.data_envelope()
        else:  # a 452 remainder
            commands = [plan.mail, *[p.command for p in tx.recipients], _DATA]
            wire = b"".join([cmd.wire for cmd in commands])
            labels = ["MAIL FROM", *[p.label for p in tx.recipients], "DATA"]
        self.channel.check_no_leftover("before a command was sent")
        self.channel.trace_commands(commands)
        try:
            yield Write(wire)
        except BaseException:
            self.channel.lost()
            raise
        # While the server answers: in-memory content stuffed ahead, used only if it may go (a
        # one-shot stream is read only once it may).
        source = message.source
        whole = None if source.one_shot else stuffed_whole(source.chunks(tx.another_may_follow))
        # Untraced, replies whose bytes are exactly a delivery's (every reply 2xx, DATA's 354,
        # each on one line) let the content go before they are parsed (Channel.plain_read).
        plain = False
        read = self.channel.plain_read()
        if read is not None:
            expect = plan.lane().expect if tx.recipients is plan.recipients else b"2" * (len(labels) - 1) + b"3"
            try:
                data = yield read
            except BaseException:
                self.channel.lost()
                raise
            plain = self.channel.keep_plain(data, expect, labels[0])
        got: list[Reply] | None = None
        if not plain:
            got = yield from self.channel.read_replies(labels)
            expected = got[-1].code == 354  # and every other reply 2xx
            if expected:
                for answer in got[:-1]:
                    if not 200 <= answer.code < 300:
                        expected = False
                        break
            if not expected:
                yield from self._decide_envelope(Flight(tx, alone=True), got)
                yield from self._drain()
                return
        # The transfer events only when a handler listens (as the batch lane).
        progress = Progress(self.sink, source.content.size) \
            if getattr(self.sink, "transfer_enabled", True) else None
        if progress is not None:
            progress.start()
        if whole is not None:
            pieces: Iterable[tuple[int, bytes, bool]] = ((whole[0], whole[1], True),)
        else:  # content too big for one piece, or a one-shot stream (its small content: one piece)
            chunks = source.chunks(tx.another_may_follow)
            whole = stuffed_whole(chunks) if source.one_shot else None
            pieces = stuffed_pieces(chunks) if whole is None else ((whole[0], whole[1], True),)
        for consumed, piece, last in pieces:
            try:
                yield Write(piece)
            except BaseException as error:
                self.channel.lost()
                if last:  # as Outbox.flush: did the "." go out?
                    message.unacknowledged_end = len(piece) <= bytes_written(error)
                raise
            if last:
                message.unacknowledged_end = True
            if progress is not None:
                progress.update(consumed, piece)
        if progress is not None:
            progress.end()
        # Every recipient accepted: recorded while the server takes the content (the record is
        # read only once its final reply is in), and plain replies parsed then.
        if got is None:
            got = self.channel.take_kept(labels)
        message.judge(tx, got[1:-1])
        if self.meanwhile is not None:
            self._meanwhile()
        read = self.channel.reply_read()
        while read is not None:
            try:
                data = yield read
            except BaseException:
                self.channel.lost()
                raise
            self.channel.received(data, END_OF_DATA)
            read = self.channel.reply_read()
        self._end_of_data(tx, self.channel.take_reply(END_OF_DATA), alone=True)

    def _lockstep(self, tx: Transaction) -> IO:
        """A transaction whose content waits for the RCPT replies: with PIPELINING, MAIL and
        the RCPTs in one Write; without, one command and its reply at a time."""
        message, channel = tx.message, self.channel
        plan = message.plan
        if channel.dirty:  # a transaction an earlier send left open (SendRSET=False)
            self._queue_rset()  # with PIPELINING in the Write of MAIL, else on its own
            if not plan.pipelining:
                yield from self._drain()
        if plan.pipelining:
            self._commands([plan.mail, *[p.command for p in tx.recipients]])
            yield from self._drain()  # the Write, and the RSET's reply
            replies = yield from channel.read_replies(["MAIL FROM", *[p.label for p in tx.recipients]])
            mail_reply, rcpt_replies = replies[0], replies[1:]
            if not is_ok(mail_reply):
                self._finish(message, message.sender_refused(mail_reply))
                return
        else:
            yield from channel.send([plan.mail])
            mail_reply = yield from channel.read_reply("MAIL FROM")
            if not is_ok(mail_reply):
                self._finish(message, message.sender_refused(mail_reply))
                return
            rcpt_replies = []
            for planned in tx.recipients:
                yield from channel.send([planned.command])
                rcpt_replies.append((yield from channel.read_reply(planned.label)))
        if not message.judge(tx, rcpt_replies):
            yield from self._refused(tx, None, alone=True)
            return
        flight = Flight(tx, alone=True)
        if not plan.use_bdat:
            yield from channel.send([_DATA])
            data_reply = yield from channel.read_reply("DATA")
            yield from self._data_reply(flight, data_reply)
            yield from self._drain()
        elif plan.pipelining:  # every chunk, then their replies
            flight.stage = CHUNKS
            yield from self._send_chunks(flight)
            self._expect(flight)
            yield from self._drain()
        else:
            yield from self._send_chunks(flight, each_answered=True)

    # -- the window: writing --------------------------------------------------------------------

    def _expect(self, entry: Flight | Aside) -> None:
        self.due.append(entry)
        self.unacknowledged += entry.wire
        if isinstance(entry, Flight):
            self.in_flight += 1

    def _make_room(self) -> IO:
        while self.due and (self.in_flight >= self.window or self.unacknowledged >= MAX_UNACKNOWLEDGED):
            yield from self._settle_next()

    def _drain(self) -> IO:
        while self.due:
            yield from self._settle_next()
        if self.outbox.parts:
            yield from self.outbox.flush()

    def _commands(self, commands: list[Command], wire: bytes | None = None) -> int:
        """Queue commands (``wire``: their bytes joined, when already made). With no reply
        due, nothing unread may be waiting: it would be taken for the first command's reply."""
        if not self.due and not self.outbox.parts and not self.lane_unread:
            self.channel.check_no_leftover("before a command was sent")
        return self.outbox.commands(commands, wire)

    def _pipeline(self, tx: Transaction, alone: bool) -> IO:
        """An early transaction: MAIL, RCPT and DATA (its content after the 354) or MAIL, RCPT
        and the BDAT chunks, queued behind what is in flight."""
        if self.channel.dirty:
            self._queue_rset()  # a transaction left open (SendRSET=False): reset it before this MAIL
        plan = tx.message.plan
        flight = Flight(tx, alone)
        if plan.use_bdat:
            flight.wire = self._commands([plan.mail, *[p.command for p in tx.recipients]])
            yield from self._send_chunks(flight)
            self._expect(flight)
        else:
            if tx.recipients is plan.recipients:  # the plan made these bytes once
                commands, wire, _ = plan.data_envelope()
                flight.wire = self._commands(commands, wire)
            else:
                flight.wire = self._commands([plan.mail, *[p.command for p in tx.recipients], _DATA])
            self._expect(flight)
            while flight.stage == ENVELOPE:  # nothing may follow DATA on the wire before its 354
                yield from self._settle_next()
        if alone:
            yield from self._drain()

    def _send_chunks(self, flight: Flight, each_answered: bool = False) -> IO:
        """The BDAT chunks with their content (before the RCPT replies only when it can be
        sent again: a one-shot stream is copied). ``each_answered`` (no PIPELINING, RFC 3030
        section 4.2): each chunk waits for its reply, and the message is decided here."""
        tx = flight.tx
        message = tx.message
        content = message.source.content
        progress = Progress(self.sink, content.size)
        progress.start()
        reply = None
        for bdat, consumed, payload in bdat_segments(message.source.chunks(tx.early or tx.another_may_follow),
                                                     content.normalise, self.options.chunk_size):
            last = bdat.trace.endswith("LAST")
            flight.wire += self._commands([bdat]) + self.outbox.data(payload)
            flight.bdat_count += 1
            if last:
                self.outbox.end_of(message)
            if flight.alone:
                yield from self.outbox.flush()
            progress.update(consumed, payload)
            if self.outbox.size >= FLUSH_AT:
                yield from self.outbox.flush()
            if each_answered:
                reply = yield from self.channel.read_reply(BDAT_LAST if last else "BDAT")
                if not is_ok(reply):
                    if last:
                        self._finish(message, message.refused_at_end(reply))
                    else:  # the transaction stays open after a refused chunk
                        yield from self._abandon(alone=True)
                        self._finish(message, message.chunk_refused(reply))
                    return
        progress.end()
        if reply is not None:  # each chunk answered, the last one accepted
            message.unacknowledged_end = False
            self._delivered(tx, reply, alone=True)

    def _queue_content(self, flight: Flight) -> IO:
        """The message after its 354, dot-stuffed, with its "."; in the window the last piece
        stays queued to go with the next commands. Its reply becomes due."""
        tx = flight.tx
        message = tx.message
        progress = Progress(self.sink, message.source.content.size)
        progress.start()
        flight.wire = 0
        chunks = message.source.chunks(tx.another_may_follow)
        whole = stuffed_whole(chunks)  # a small in-memory message: its one piece, made at once
        pieces = stuffed_pieces(chunks) if whole is None else ((whole[0], whole[1], True),)
        for consumed, piece, last in pieces:
            flight.wire += self.outbox.data(piece)
            if last:
                self.outbox.end_of(message)
            if flight.alone:
                yield from self.outbox.flush()
            progress.update(consumed, piece)
            if self.outbox.size >= FLUSH_AT and not last:
                yield from self.outbox.flush()
        progress.end()
        flight.stage = FINAL
        self._expect(flight)

    def _queue_rset(self) -> None:
        self._expect(Aside("RSET", self._commands([_RSET]), resets=True))
        self.channel.dirty = False

    # -- cleanup after a failed transaction -----------------------------------------------------

    def _reset(self, alone: bool) -> IO:
        """RSET: in the window it goes with what is written next; alone, it is answered now."""
        self._queue_rset()
        if alone:
            yield from self._drain()

    def _abandon(self, alone: bool) -> IO:
        """A transaction failed with MAIL accepted, so the server holds it open. SendRSET True:
        RSET now. False: the channel remembers, and the next transaction starts with RSET
        (pipelined with its MAIL); a QUIT needs none."""
        if self.options.send_rset:
            yield from self._reset(alone)
        else:
            self.channel.dirty = True

    def _leave_data_mode(self, data_reply: Reply | None, alone: bool) -> IO:
        """A pipelined DATA that got 354 although the transaction failed: end it empty."""
        if data_reply is not None and data_reply.code == 354:
            self.channel.trace_info("DATA was accepted although the transaction failed: ending it empty")
            self._expect(Aside(END_OF_DATA, self.outbox.data(b".\r\n")))
            if alone:
                yield from self._drain()

    def _refused(self, tx: Transaction, data_reply: Reply | None, alone: bool) -> IO:
        """No recipient the content may go to (nobody accepted, or a StopOn* refusal). MAIL was
        accepted, so a transaction is open: reset it (at once when this message has another
        transaction to come). The message fails, or goes on with its other recipients."""
        yield from self._leave_data_mode(data_reply, alone)
        if tx.another_may_follow:
            yield from self._reset(alone)
        else:
            yield from self._abandon(alone)
        if tx.failing:
            self._finish(tx.message, tx.message.stopped(tx))
        else:
            tx.message.transaction_done(tx)
            self._transaction_ended(tx, alone)

    # -- the window: reading --------------------------------------------------------------------

    def _settle_next(self) -> IO:
        """Write what is queued, then read the replies of the oldest entry and decide it."""
        if self.outbox.parts:
            yield from self.outbox.flush()
            if not self._exhausted:
                self._prefetch()
        entry = self.due.popleft()
        self.unacknowledged -= entry.wire
        if isinstance(entry, Aside):
            reply: Reply = yield from self.channel.read_reply(entry.label)
            if entry.resets:  # a refused RSET: reset again before the next MAIL
                self.channel.dirty = not is_ok(reply)
            return
        self.in_flight -= 1
        if self.meanwhile is not None and entry.tx.message.unacknowledged_end:
            self._meanwhile()  # (send_mail: its end of data is out, and these replies answer it)
        if entry.stage == FINAL:
            yield from self._settle_final(entry)
        elif entry.stage == CHUNKS:
            yield from self._settle_chunks(entry)
        else:
            yield from self._settle_envelope(entry)

    def _settle_envelope(self, flight: Flight) -> IO:
        """The replies to MAIL, RCPT and DATA (or the BDAT chunks), decided in that order."""
        tx = flight.tx
        plan = tx.message.plan
        if plan.use_bdat:
            labels = ["MAIL FROM", *[p.label for p in tx.recipients], *["BDAT"] * flight.bdat_count]
        elif tx.recipients is plan.recipients:
            labels = plan.data_envelope()[2]
        else:
            labels = ["MAIL FROM", *[p.label for p in tx.recipients], "DATA"]
        got: list[Reply] = yield from self.channel.read_replies(labels)
        yield from self._decide_envelope(flight, got)

    def _decide_envelope(self, flight: Flight, got: list[Reply]) -> IO:
        """What the replies to MAIL, RCPT and DATA (or the BDAT chunks) decide."""
        tx = flight.tx
        message = tx.message
        count = len(tx.recipients)
        bdat = message.plan.use_bdat
        flight.stage = SETTLED
        mail_reply, rcpt_replies = got[0], got[1:count + 1]
        data_reply = None if bdat else got[-1]
        if bdat:
            message.unacknowledged_end = False
        if not 200 <= mail_reply.code < 300:
            yield from self._leave_data_mode(data_reply, flight.alone)
            self._finish(message, message.sender_refused(mail_reply))
            return
        if not message.judge(tx, rcpt_replies):
            yield from self._refused(tx, data_reply, flight.alone)
            return
        if data_reply is not None:
            yield from self._data_reply(flight, data_reply)
            return
        error = message.chunks_refused(got[count + 1:])
        if error is not None:
            self._finish(message, error)
        else:
            self._delivered(tx, got[-1], flight.alone)

    def _data_reply(self, flight: Flight, reply: Reply) -> IO:
        """DATA answered with recipients accepted: 354 and the content goes, else the
        transaction is abandoned and the message refused."""
        message = flight.tx.message
        if reply.code != 354:
            yield from self._abandon(flight.alone)  # MAIL and RCPT were accepted: the transaction is open
            self._finish(message, message.data_refused(reply))
            return
        yield from self._queue_content(flight)

    def _settle_chunks(self, flight: Flight) -> IO:
        """BDAT chunks sent after the RCPT replies: the last chunk's reply decides first."""
        message = flight.tx.message
        labels = ["BDAT"] * (flight.bdat_count - 1) + [BDAT_LAST]
        replies: list[Reply] = yield from self.channel.read_replies(labels)
        message.unacknowledged_end = False
        flight.stage = SETTLED
        if not is_ok(replies[-1]):
            self._finish(message, message.refused_at_end(replies[-1]))
            return
        error = message.chunks_refused(replies)
        if error is not None:
            self._finish(message, error)
        else:
            self._delivered(flight.tx, replies[-1], flight.alone)

    def _settle_final(self, flight: Flight) -> IO:
        reply: Reply = yield from self.channel.read_reply(END_OF_DATA)
        flight.stage = SETTLED
        self._end_of_data(flight.tx, reply, flight.alone)

    def _meanwhile(self) -> None:
        work, self.meanwhile = self.meanwhile, None
        if work is not None:
            work()

    def _end_of_data(self, tx: Transaction, reply: Reply, alone: bool) -> None:
        """The reply to a DATA transaction's "." decides its message."""
        message = tx.message
        message.unacknowledged_end = False
        if not 200 <= reply.code < 300:
            self._finish(message, message.refused_at_end(reply))
            return
        self._delivered(tx, reply, alone)

    # -- the batch lane -------------------------------------------------------------------------
    #
    # The common case of send_batch, flat: small in-memory messages whose one transaction takes
    # every recipient with the content early, on a clean channel. A window's bytes are made in
    # one kernel call (data_window / bdat_window), written in one Write, its replies read in one
    # read_replies and matched in one call (match_window); a message that got exactly the
    # replies of a delivery is recorded at once, any other is decided by the window's code
    # (_decide_envelope) from the same replies. What that code queues (cleanup, content) goes
    # in the lane's next Write and is answered first (DATA), or every window settles and the
    # general path takes over (BDAT); a 452 remainder or a transaction left open ends the lane.
    # The bytes on the wire, the trace, the transfer events and every outcome are those of the
    # general path; only the grouping of Writes and reads differs.

    def _fits_lane(self, message: Message) -> bool:
        """A message not yet started that the lane can carry (see above), while the channel is
        clean and no 452 remainder waits. What the message itself decides is worked out once
        (the lane asks twice: to make the next Write ahead, then to take the message)."""
        if self.channel.dirty or self.followups:
            return False
        fits = message.lane_fit
        if fits is None:
            fits = message.lane_fit = self._lane_carries(message)
        return fits

    def _lane_carries(self, message: Message) -> bool:
        """The message's content goes early to every recipient in one transaction, and is one
        piece (one stuffed Write, or one BDAT LAST chunk whatever its line ends become)."""
        plan, source = message.plan, message.source
        content = source.content
        size = content.size
        if source.one_shot or size is None or not message.content_may_go_early(plan.recipients):
            return False
        chunks = content.chunks
        if type(chunks) is not list and type(chunks) is not tuple:
            return False
        if plan.use_bdat:  # (CRLF normalisation at most doubles the size)
            return size * 2 < min(self.options.chunk_size, WRITE_SIZE)
        # The lane pipelines a content with the next envelope: two transactions in flight.
        return self.window >= 2 and size * 2 + 8 < WRITE_SIZE  # (the size: as stuffed_whole)

    def _next_for_lane(self) -> Transaction | None:
        """The next item's transaction when the lane can carry it; None when there is no next
        item or it cannot (then it stays prefetched for send_all)."""
        message = self._next_lane_message()
        return None if message is None else message.next_transaction()

    def _next_lane_message(self) -> Message | None:
        """_next_for_lane's item, taken, before its transaction is made. Items refused by the
        checks have their result already: they are passed over."""
        while True:
            self._prefetch()
            taken = self._prefetched
            if taken is None:
                return None
            message = taken[1]
            if message is not None and not self._fits_lane(message):
                return None
            self._prefetched = None
            if message is not None:
                return message

    def _lane(self, message: Message) -> IO:
        """The lane from ``message`` on (not a generator itself: one generator fewer between
        the driver and each of the lane's Writes and reads)."""
        tx = message.next_transaction()
        assert tx is not None  # a plan has at least one recipient
        if not self.due and not self.outbox.parts:
            self.channel.check_no_leftover("before a command was sent")
        return self._bdat_lane(tx) if message.plan.use_bdat else self._data_lane(tx)

    def _data_lane(self, current: Transaction) -> IO:
        """PIPELINING + DATA: one Write per message carries the previous message's content and
        "." and this message's MAIL / RCPT / DATA; one read gets the previous message's final
        reply and this message's replies. A message whose 354 came is held until the next
        Write; the last one held is handed to the general path (_queue_content), which sends
        it with whatever follows. What the general path queued for a message the lane handed
        it (cleanup, its content) goes in the same Write and is answered first, as in
        _pipeline, so the wire is the general path's exactly.

        Between a read and the next Write runs only what decides that Write; the rest runs
        while the server works on it. When a read is a plain delivery and the next message
        fits the lane, the next Write goes out first, and then what the read decided is
        recorded (_record_lane_read) and the next message's transaction made. The bytes of the
        Write after that are made ahead (_window_ahead) while its replies are awaited. Untraced,
        a read whose bytes are exactly a delivery's one-line replies is decided from the bytes
        (Channel.plain_read) and parsed only when it is recorded, after the next Write. The
        record fires no event, and a failed Write makes it before its error leaves, so nothing
        a caller sees changes."""
        # (self.channel and self.outbox, not locals: read through self, their methods are
        # called through C when compiled)
        events = getattr(self.sink, "transfer_enabled", True)
        quiet = not self.channel.tracing  # (plain_read: the replies are traced when parsed)
        held: Transaction | None = None
        unrecorded: tuple[Transaction | None, list[Reply] | None, Transaction, list[str]] | None = None
        made: tuple[Message, bytes, int] | None = None  # the next Write's bytes, made ahead
        message: Message = current.message
        tx: Transaction | None = current  # the next message's: made after its Write
        while True:
            lane = message.plan.lane()
            self.open[message.index] = message
            labels, expect = lane.labels, [lane.expect]
            if held is None:
                data, end, ending = lane.wire, 0, None
            else:
                if made is not None and made[0] is message:
                    data, end = made[1], made[2]
                else:
                    data, end = data_window(held.message.source.content.chunks, lane.wire)
                ending = held.message
                if events:
                    self._transfer_events(data[:end])
                labels, expect = [END_OF_DATA, *labels], [b"2", lane.expect]
            if not quiet:
                self.channel.trace_commands(lane.commands)
            try:
                write = self.outbox.lane_write(data, ending, end)  # (Outbox.flush, without its generator)
                try:
                    yield write
                except BaseException as error:
                    self.outbox.failed(error)
                    raise
                self.outbox.wrote()
            finally:
                if unrecorded is not None:
                    self._record_lane_read(*unrecorded)
                    unrecorded = None
            if tx is None:
                tx = message.next_transaction()
                assert tx is not None  # a plan has at least one recipient
            current = tx
            self._prefetch()
            made = self._window_ahead(current)
            while self.due:  # held is None: the general path's replies come first
                yield from self._settle_next()
            got: list[Reply] = []
            plain = False
            try:
                read = self.channel.plain_read() if quiet else None
                if read is not None:
                    try:
                        data = yield read
                    except BaseException:
                        self.channel.lost()
                        raise
                    plain = self.channel.keep_plain(data, lane.held_expect if held is not None else lane.expect,
                                                    labels[0])
                if not plain:
                    yield from self.channel.read_replies(labels, got)
            except BaseException:
                if held is not None and got:  # its final reply came before the failure
                    self._end_of_data(held, got[0], alone=False)
                raise
            if plain:  # exactly a delivery's one-line replies: decided from the bytes
                following = self._next_lane_message()
                if following is not None:  # its Write first; the replies are parsed after it
                    unrecorded = (held, None, current, labels)
                    held, message, tx = current, following, None
                    continue
                got = self.channel.take_kept(labels)
            if match_window(got, expect)[-1]:  # a plain delivery so far: current's 354 came
                following = self._next_lane_message()
                if following is not None:  # its Write first; this read is recorded after it
                    unrecorded = (held, got, current, labels)
                    held, message, tx = current, following, None
                    continue
                self._record_lane_read(held, got, current)
                yield from self._queue_content(Flight(current, alone=False))
                return
            if held is not None:
                self._end_of_data(held, got[0], alone=False)
                del got[0]
                held = None
            # decided and followed up the general way (which may queue for the next Write)
            yield from self._decide_envelope(Flight(current, alone=False), got)
            following = self._next_lane_message()
            if following is None:
                return
            message, tx = following, None

    def _window_ahead(self, current: Transaction) -> tuple[Message, bytes, int] | None:
        """While the server works on ``current``'s envelope: the next Write's bytes (its
        content and "." with the next item's MAIL / RCPT / DATA), for when the read is a plain
        delivery and that item goes next in the lane. Nothing is taken or written: the item
        stays prefetched, and the bytes are dropped if anything else happens."""
        taken = self._prefetched
        if taken is None or taken[1] is None or not self._fits_lane(taken[1]):
            return None
        following = taken[1]
        data, end = data_window(current.message.source.content.chunks, following.plan.lane().wire)
        return following, data, end

    def _record_lane_read(self, held: Transaction | None, got: list[Reply] | None, current: Transaction,
                          labels: list[str] | None = None) -> None:
        """What a plain-delivery read of the lane decided: the held message's final reply
        (first in ``got``), then ``current``'s RCPT replies (its 354 came: it is held now).
        ``got`` None: the read's bytes are still kept unparsed (keep_plain), one per label."""
        if got is None:
            assert labels is not None
            got = self.channel.take_kept(labels)
        if held is not None:
            self._end_of_data(held, got[0], alone=False)
            current.message.judge(current, got[2:-1])
        else:
            current.message.judge(current, got[1:-1])

    def _transfer_events(self, piece: bytes) -> None:
        """A small message's content went in one piece: the events Progress gives for it."""
        sink = self.sink
        sink.start_transfer()
        sink.transfer(len(piece), 100, piece)
        sink.end_transfer()

    def _bdat_lane(self, first: Transaction) -> IO:
        """PIPELINING + CHUNKING: two half windows in turn (together at most ``window``
        transactions and about MAX_UNACKNOWLEDGED bytes), MAIL, RCPT, BDAT n LAST and the
        content of each message back to back; a half is written before the replies of the one
        before it are read, so the server always has one to work on."""
        if self.due:  # the general path's window first
            yield from self._drain()
        depth = 2 if self.window >= 2 else 1
        halves = ((self.window + 1) // 2, self.window // 2) if depth == 2 else (1, 1)
        byte_limit = MAX_UNACKNOWLEDGED // depth
        in_flight: deque[tuple[list[Transaction], list[str], list[bytes]]] = deque()
        following: Transaction | None = first
        turn = 0
        while following is not None or in_flight:
            if following is not None:
                per_window = halves[turn]
                turn ^= 1
                window = [following]
                size = following.message.source.content.size or 0
                while len(window) < per_window and size < byte_limit:
                    following = self._next_for_lane()
                    if following is None:
                        break
                    window.append(following)
                    size += following.message.source.content.size or 0
                in_flight.append((yield from self._write_bdat_window(window)))
                following = self._next_for_lane()
            if following is None or len(in_flight) >= depth:
                yield from self._settle_bdat_window(*in_flight.popleft())
            if self.due or self.outbox.parts or self.followups or self.channel.dirty:
                # The general path took over a message (cleanup, a 452 remainder): every
                # window settles, then what it queued; a transaction already taken is sent the
                # general way, and send_all goes on.
                while in_flight:
                    yield from self._settle_bdat_window(*in_flight.popleft())
                yield from self._drain()
                if following is not None:
                    self.open[following.message.index] = following.message
                    yield from self._pipeline(following, alone=False)
                return

    def _write_bdat_window(self, window: list[Transaction]) -> IO:
        envelopes, bodies, crlf, labels, expect = [], [], [], [], []
        for tx in window:
            message = tx.message
            lane = message.plan.lane()
            self.open[message.index] = message
            envelopes.append(lane.wire)
            content = message.source.content
            bodies.append(content.chunks)
            crlf.append(content.normalise)
            labels += lane.labels
            expect.append(lane.expect)
        data, ends = bdat_window(envelopes, bodies, crlf)
        if getattr(self.sink, "pi_trail_enabled", True) or getattr(self.sink, "transfer_enabled", True):
            self._bdat_trail(window, data, ends)
        self.outbox.encoded(data, [(tx.message, end) for tx, end in zip(window, ends)])
        self.lane_unread += len(window)
        yield from self.outbox.flush()
        return window, labels, expect

    def _bdat_trail(self, window: list[Transaction], data: bytes, ends: list[int]) -> None:
        """The trace and transfer events of a BDAT window, in wire order, as _pipeline and
        _send_chunks give them: MAIL and RCPT, then the BDAT line amid its chunk's events."""
        channel, events = self.channel, getattr(self.sink, "transfer_enabled", True)
        start = 0
        for tx, end in zip(window, ends):
            lane = tx.message.plan.lane()
            channel.trace_commands(lane.commands)
            head = start + len(lane.wire)
            payload_at = data.index(b"\r\n", head) + 2
            if events:
                self.sink.start_transfer()
            channel.trace_commands([Command(data[head:payload_at], data[head:payload_at - 2].decode("ascii"))])
            if events:
                payload = data[payload_at:end]
                self.sink.transfer(len(payload), 100, payload)
                self.sink.end_transfer()
            start = end

    def _settle_bdat_window(self, window: list[Transaction], labels: list[str], expect: list[bytes]) -> IO:
        got: list[Reply] = []
        try:
            yield from self.channel.read_replies(labels, got)
        except BaseException:
            # The messages whose replies all came before the failure are decided by them (a
            # 250 to BDAT LAST is a delivery even if the session dies right after).
            self._decide_read(window, got)
            raise
        self.lane_unread -= len(window)
        verdicts = match_window(got, expect)
        at = 0
        for tx, good in zip(window, verdicts):
            count = len(tx.recipients) + 2
            if good:
                tx.message.unacknowledged_end = False
                tx.message.judge(tx, got[at + 1:at + count - 1])
                self._delivered(tx, got[at + count - 1], alone=False)
            else:
                yield from self._decide_envelope(Flight(tx, alone=False, bdat_count=1), got[at:at + count])
            at += count

    def _decide_read(self, window: list[Transaction], got: list[Reply]) -> None:
        """After a failed read: decide each message of the window whose replies all came."""
        at = 0
        for tx in window:
            count = len(tx.recipients) + 2
            if at + count > len(got):
                return
            # Deciding a BDAT transaction in a window only queues (cleanup): it never writes.
            for _ in self._decide_envelope(Flight(tx, alone=False, bdat_count=1), got[at:at + count]):
                raise AssertionError("deciding a window's BDAT transaction wrote")
            at += count

    # -- a session failure ----------------------------------------------------------------------

    def _lose_stream(self) -> None:
        if self.due or self.outbox.parts or self.lane_unread:
            self.channel.closed = True  # replies are owed that nobody will read: the stream is lost

    def _annotate(self, error: BaseException) -> None:
        """Give the session error .results and .unsent (see the module docstring)."""
        self._lose_stream()
        closing = isinstance(error, SMTPServiceClosing)  # a 421: the server processed nothing after it
        for index, message in self.open.items():
            if message.unacknowledged_end and not closing:
                self.results[index] = SMTPConnectionDropped(
                    f"message {index}: the session ended after the end of its data, before the reply: "
                    "it may or may not have been delivered", delivery_unknown=True, result=message.result)
            elif message.result.accepted:  # an earlier transaction (452 remainder) delivered it
                self.results[index] = SMTPConnectionDropped(
                    f"message {index}: delivered to the recipients in .result.accepted only; the session ended "
                    "before the others", delivery_unknown=False, result=message.result)
        self.open.clear()
        try:
            error.results = self.results  # type: ignore[attr-defined]
            unsent = [index for index, result in enumerate(self.results) if result is None]
            if self.total is not None:
                unsent += range(len(self.results), self.total)
            error.unsent = unsent  # type: ignore[attr-defined]
        except AttributeError:  # an exception type that takes no attributes: nothing to add
            pass
