"""send_batch: many messages on one connection, pipelined across transactions (RFC 2920).

Each message gets exactly what send_mail would give it (a SendResult, or the typed error it
would have raised), returned in a list instead of raised. Messages are pipelined back to back:

- PIPELINING + CHUNKING: MAIL, RCPT, BDAT n LAST and the content of successive messages go out
  without waiting; the replies are read oldest first while more messages are written.
- PIPELINING + DATA: a message's content and "." go out in one write with the next message's
  MAIL / RCPT / DATA (nothing may follow DATA before its 354, so at most two are in flight).

A message is pipelined only under send_mail's safety rule (one recipient, or no StopOn* rule
applies to its recipients; for BDAT, content that can be sent again): any other message, and
the 452 remainder of a message, waits until everything in flight is answered and then runs
send_mail's own code alone. Without PIPELINING every message runs that way. At most ``window``
transactions and about MAX_UNACKNOWLEDGED bytes are written before their replies are read, so
a server blocked writing its replies never stops us reading them. Items are taken from
``items`` one ahead: the next message is checked and planned while the server works.

A session failure (421, EOF, protocol error, an error thrown in) ends the batch: the error is
raised with ``.results`` (one entry per item taken from ``items``: SendResult / SMTPError when
known, an SMTPConnectionDropped(delivery_unknown=True) for a message whose end of data went
out without its reply, None when it was certainly not delivered) and ``.unsent`` (the indexes
of the None entries: safe to send again on a new connection; when ``items`` has a length, the
indexes of the items never taken from it are listed too, else they start at ``len(results)``).

"Went out" means: the Write carrying the whole end of data (the "." line, the whole BDAT LAST
chunk) completed, or failed after it (the driver throws a failed Write's error in, with the
``bytes_written`` that may have gone out: actions.bytes_written). A message cut while its
content or its end was being written was not delivered: None, in ``.unsent``, like every
message after it. After a 421 nothing is "delivery unknown": the server processed nothing
after it.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sized
from dataclasses import dataclass, field
from typing import Any

from smtpx.engine.actions import bytes_written
from smtpx.engine.capabilities import Capabilities
from smtpx.engine.channel import IO, Channel, reply_error
from smtpx.engine.commands import Command, command
from smtpx.engine.envelope import Content, Envelope, RecipientResult, SendResult
from smtpx.engine.options import EngineOptions
from smtpx.engine.planning import plan_send, stops_send
from smtpx.engine.transaction import _Outcome, _rcpt_label, _Transactions
from smtpx.engine.transfer import ContentSource, Progress, bdat_segments, stuffed_pieces
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
from smtpx.kernels import Reply

# The errors that concern one message only: returned as that message's result.
PER_MESSAGE_ERRORS = (SMTPRecipientsRefused, SMTPSenderRefused, SMTPDataError, SMTPNotSupportedError,
                      SMTPInputError)
# Written but unanswered bytes before we stop and read (a server's socket buffers hold more).
MAX_UNACKNOWLEDGED = 256 * 1024
_FLUSH_AT = 64 * 1024  # a big content goes out in writes of about this size

BatchResult = SendResult | SMTPError
_DATA = command("DATA")
_RSET = command("RSET")


def send_batch(channel: Channel, options: EngineOptions, caps: Capabilities, sink: Any,
               items: Iterable[tuple[Envelope, Content]], window: int) -> IO:
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise SMTPInputError(f"the window must be a whole number of transactions >= 1, not {window!r}")
    batch = _Batch(channel, options, caps, sink, window)
    return (yield from batch.run(items))


@dataclass(eq=False)
class _Flight:
    """One pipelined transaction whose replies are due, in the order they are due."""

    index: int
    tx: _Transactions
    stage: str  # "commands" (MAIL, RCPTs, DATA), "final" (after "."), "bdat" (MAIL, RCPTs, BDATs)
    wire: int = 0  # bytes it wrote that are not answered yet
    bdat_count: int = 0
    outcome: _Outcome = field(default_factory=_Outcome)
    accepted: list[RecipientResult] = field(default_factory=list)


@dataclass(eq=False)
class _Aside:
    """A reply due that belongs to no message (RSET, or the "." ending a refused DATA)."""

    label: str
    wire: int


class _Outbox:
    """Commands and content queued for one Write (traced when queued, in wire order)."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.parts: list[bytes] = []
        self.size = 0
        # Messages whose end of data is in ``parts``, with the offset just after that end.
        self.ends: list[tuple[_Transactions, int]] = []

    def end_of(self, tx: _Transactions) -> None:
        """The end of ``tx``'s data (its "." line, its BDAT LAST chunk) was just queued: the
        message counts as written in full once the Write carrying it got past that offset."""
        self.ends.append((tx, self.size))

    def command(self, cmd: Command) -> int:
        self.channel.trace_commands((cmd,))
        wire = cmd.wire
        self.parts.append(wire)
        self.size += len(wire)
        return len(wire)

    def data(self, data: bytes) -> int:
        if data:
            self.parts.append(data)
            self.size += len(data)
        return len(data)

    def flush(self) -> IO:
        if self.parts:
            data = b"".join(self.parts)
            ends, self.parts, self.size, self.ends = self.ends, [], 0, []
            try:
                yield from self.channel.write_content(data)
            except BaseException as error:
                # The driver failed the Write: only the ends within what may have gone out
                # count as written (delivery unknown); the others were cut (not delivered).
                written = bytes_written(error)
                for tx, end in ends:
                    tx.unacknowledged_end = end <= written
                raise
            for tx, _ in ends:
                tx.unacknowledged_end = True


class _Batch:
    def __init__(self, channel: Channel, options: EngineOptions, caps: Capabilities, sink: Any, window: int) -> None:
        self.channel = channel
        self.options = options
        self.caps = caps
        self.sink = sink
        self.window = window
        self.results: list[BatchResult | None] = []
        self.open: dict[int, _Transactions] = {}  # messages started whose outcome is not known
        self.due: deque[_Flight | _Aside] = deque()  # replies owed, oldest first
        self.in_flight = 0  # _Flight entries in self.due
        self.unacknowledged = 0  # bytes of the entries in self.due
        self.outbox = _Outbox(channel)
        self.followups: list[tuple[int, _Transactions, list, int]] = []  # 452 remainders
        self.total: int | None = None  # len(items) when it has one
        self._items: Iterator[tuple[int, Any]] = iter(())
        self._prefetched: tuple[int, _Transactions | None] | None = None
        self._exhausted = False

    # -- the loop -------------------------------------------------------------------------------

    def run(self, items: Iterable[tuple[Envelope, Content]]) -> IO:
        if isinstance(items, Sized):
            self.total = len(items)
        self._items = enumerate(items)
        try:
            self.channel.check_no_leftover("before a command was sent")
            while True:
                taken = self._take()
                if taken is None:
                    break
                index, tx = taken
                if tx is None:
                    continue
                if self.followups:
                    yield from self._drain()
                    yield from self._run_followups()
                if not self._pipelinable(tx):
                    yield from self._drain()
                    yield from self._alone(index, tx)
                    continue
                yield from self._make_room()
                if self.channel.dirty:
                    self._queue_rset()  # a transaction left open: reset it before this MAIL
                self.open[index] = tx
                if tx.plan.use_bdat:
                    yield from self._queue_bdat(index, tx)
                else:
                    yield from self._queue_data_commands(index, tx)
            yield from self._drain()
            while self.followups:
                yield from self._run_followups()
            self.channel.check_no_leftover("after the last message of the batch")
        except GeneratorExit:  # the driver closed us: nothing to report to
            raise
        except BaseException as error:
            self._annotate(error)
            raise
        return self.results

    def _take(self) -> tuple[int, _Transactions | None] | None:
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
        if self._prefetched is None:
            self._prefetched = self._take()

    def _prepare(self, index: int, item: Any) -> _Transactions | None:
        """send_mail's checks: a message that fails them gets its error and nothing is written."""
        try:
            try:
                envelope, content = item
            except (TypeError, ValueError):
                raise SMTPInputError(f"item {index} is not an (Envelope, Content) pair") from None
            plan = plan_send(envelope, content, self.caps, self.options)
            return _Transactions(self.channel, self.options, plan, self.sink, ContentSource(content))
        except PER_MESSAGE_ERRORS as error:
            self.results[index] = error
            return None

    def _pipelinable(self, tx: _Transactions) -> bool:
        """send_mail's rule for sending content before the RCPT replies are known."""
        plan, options = tx.plan, self.options
        if not plan.pipelining:
            return False
        if len(plan.recipients) > 1 and any(stops_send(options, p.recipient.kind) for p in plan.recipients):
            return False
        if plan.use_bdat:  # the content must be sendable again should a recipient get 452
            size = tx.source.content.size
            return not tx.source.one_shot or (size is not None and size <= options.chunk_size)
        return True

    def _alone(self, index: int, tx: _Transactions) -> IO:
        """A message that cannot be pipelined: send_mail's own code, nothing else in flight."""
        self.open[index] = tx
        try:
            result = yield from tx.run()
        except PER_MESSAGE_ERRORS as error:
            self._finish(index, error)
        else:
            self._finish(index, result)

    def _run_followups(self) -> IO:
        """The recipients a server deferred with 452 get further transactions (drained first)."""
        followups, self.followups = self.followups, []
        for index, tx, pending, limit in followups:
            try:
                result = yield from tx.run(pending, limit)
            except PER_MESSAGE_ERRORS as error:
                self._finish(index, error)
            else:
                self._finish(index, result)

    def _finish(self, index: int, outcome: BatchResult) -> None:
        tx = self.open.pop(index)
        tx.unacknowledged_end = False
        self.results[index] = outcome

    # -- writing --------------------------------------------------------------------------------

    def _expect(self, entry: _Flight | _Aside) -> None:
        self.due.append(entry)
        self.unacknowledged += entry.wire
        if isinstance(entry, _Flight):
            self.in_flight += 1

    def _make_room(self) -> IO:
        while self.due and (self.in_flight >= self.window or self.unacknowledged >= MAX_UNACKNOWLEDGED):
            yield from self._settle_next()

    def _drain(self) -> IO:
        while self.due:
            yield from self._settle_next()
        yield from self.outbox.flush()

    def _queue_rset(self) -> None:
        self.channel.dirty = False
        self._expect(_Aside("RSET", self.outbox.command(_RSET)))

    def _abandon(self) -> None:
        """send_mail's _abandon: RSET now (queued, so it goes with the next message's MAIL), or
        with SendRSET=False remember it for the next transaction."""
        if self.options.send_rset:
            self._queue_rset()
        else:
            self.channel.dirty = True

    def _queue_data_commands(self, index: int, tx: _Transactions) -> IO:
        """MAIL, RCPT, DATA (after the previous message's content), then wait for the 354:
        nothing may follow DATA on the wire before it."""
        plan = tx.plan
        flight = _Flight(index, tx, "commands")
        for cmd in [plan.mail, *(p.command for p in plan.recipients), _DATA]:
            flight.wire += self.outbox.command(cmd)
        self._expect(flight)
        while flight.stage == "commands":
            yield from self._settle_next()

    def _queue_bdat(self, index: int, tx: _Transactions) -> IO:
        plan = tx.plan
        flight = _Flight(index, tx, "bdat")
        for cmd in [plan.mail, *(p.command for p in plan.recipients)]:
            flight.wire += self.outbox.command(cmd)
        content = tx.source.content
        progress = Progress(self.sink, content.size)
        progress.start()
        for bdat, consumed, payload in bdat_segments(tx.source.chunks(True), content.normalise,
                                                     self.options.chunk_size):
            flight.wire += self.outbox.command(bdat) + self.outbox.data(payload)
            flight.bdat_count += 1
            if bdat.trace.endswith("LAST"):
                self.outbox.end_of(tx)
            progress.update(consumed, payload)
            if self.outbox.size >= _FLUSH_AT:
                yield from self.outbox.flush()
        progress.end()
        self._expect(flight)

    def _queue_content(self, flight: _Flight) -> IO:
        """The message after its 354; it stays in the outbox to go with the next commands."""
        tx = flight.tx
        progress = Progress(self.sink, tx.source.content.size)
        progress.start()
        flight.wire = 0
        for consumed, piece, last in stuffed_pieces(tx.source.chunks(bool(flight.outcome.deferred))):
            flight.wire += self.outbox.data(piece)
            if last:
                self.outbox.end_of(tx)
            progress.update(consumed, piece)
            if self.outbox.size >= _FLUSH_AT and not last:
                yield from self.outbox.flush()
        progress.end()
        flight.stage = "final"
        self._expect(flight)

    def _leave_data_mode(self, data_reply: Reply) -> None:
        """A pipelined DATA that got 354 although the transaction failed: end it empty."""
        if data_reply.code == 354:
            self.channel.trace_info("DATA was accepted although the transaction failed: ending it empty")
            self._expect(_Aside("the end of data (.)", self.outbox.data(b".\r\n")))

    # -- reading --------------------------------------------------------------------------------

    def _settle_next(self) -> IO:
        """Write what is queued, then read the replies of the oldest entry and decide it."""
        if self.outbox.parts:
            yield from self.outbox.flush()
            self._prefetch()
        entry = self.due.popleft()
        self.unacknowledged -= entry.wire
        if isinstance(entry, _Aside):
            yield from self.channel.read_reply(entry.label)  # its code changes nothing (as send_mail)
            return
        self.in_flight -= 1
        if entry.stage == "final":
            yield from self._settle_final(entry)
        else:
            yield from self._settle_transaction(entry)

    def _settle_transaction(self, flight: _Flight) -> IO:
        """MAIL, RCPT and DATA (or BDAT) replies: send_mail's decisions, in the same order."""
        tx = flight.tx
        recipients = tx.plan.recipients
        count = len(recipients)
        bdat = flight.stage == "bdat"
        labels = ["MAIL FROM", *(_rcpt_label(p) for p in recipients)]
        labels += ["BDAT"] * flight.bdat_count if bdat else ["DATA"]
        got: list[Reply] = yield from self.channel.read_replies(labels)
        mail_reply, replies = got[0], got[1:count + 1]
        bdat_replies: list[Reply] = []
        data_reply: Reply | None = None
        if bdat:
            bdat_replies = got[count + 1:]
            tx.unacknowledged_end = False
        else:
            data_reply = got[-1]
        flight.stage = "done"

        if not 200 <= mail_reply.code < 300:
            if data_reply is not None:
                self._leave_data_mode(data_reply)
            self._finish(flight.index, reply_error(SMTPSenderRefused, "the server refused the sender (MAIL FROM)",
                                                   mail_reply, result=tx.result))
            return
        tx._deferred_replies = {}
        outcome, accepted, failing = tx._judge(recipients, replies)
        if failing or not accepted:
            if data_reply is not None:
                self._leave_data_mode(data_reply)
            # MAIL was accepted, so a transaction is open: RSET it (as send_mail does).
            if outcome.deferred:
                self._queue_rset()
            else:
                self._abandon()
            self._finish(flight.index, self._refusal(tx, outcome, failing))
            return
        flight.outcome, flight.accepted = outcome, accepted
        if data_reply is None:
            for reply in bdat_replies:
                if not 200 <= reply.code < 300:
                    self._finish(flight.index, reply_error(SMTPDataError, "the server refused the message (BDAT)",
                                                           reply, result=tx.result))
                    return
            self._delivered(flight, bdat_replies[-1])
            return
        if data_reply.code != 354:
            self._abandon()
            self._finish(flight.index, reply_error(SMTPDataError, "the server refused DATA", data_reply,
                                                   result=tx.result))
            return
        yield from self._queue_content(flight)

    def _settle_final(self, flight: _Flight) -> IO:
        after = "the end of data (.)"
        reply: Reply = yield from self.channel.read_reply(after)
        flight.tx.unacknowledged_end = False
        flight.stage = "done"
        if not 200 <= reply.code < 300:
            self._finish(flight.index, reply_error(SMTPDataError, f"the server refused the message after {after}",
                                                   reply, result=flight.tx.result))
            return
        self._delivered(flight, reply)

    def _delivered(self, flight: _Flight, reply: Reply) -> None:
        tx, outcome = flight.tx, flight.outcome
        tx.result.accepted.extend(flight.accepted)
        tx.result.reply = reply
        if outcome.deferred:  # 452: a further transaction, once everything in flight is answered
            self.followups.append((flight.index, tx, outcome.deferred, max(1, outcome.accepted_before_first_deferral)))
        else:
            self._finish(flight.index, tx.result)

    @staticmethod
    def _refusal(tx: _Transactions, outcome: _Outcome, failing: bool) -> SMTPRecipientsRefused:
        """The error send_mail raises when no recipient of its first transaction is usable."""
        if failing:
            tx.result.refused.extend(RecipientResult(p.recipient.address, p.recipient.kind,
                                                     tx._deferred_replies[id(p)]) for p in outcome.deferred)
            return tx._refused_error("the server refused recipients and the StopOn*Errors rules stop the send")
        for planned in outcome.deferred:  # nobody accepted: the 452s are refusals (no progress)
            tx._refuse(planned, tx._deferred_replies[id(planned)])
        return tx._refused_error("every recipient was refused; no message was sent")

    # -- a session failure ----------------------------------------------------------------------

    def _annotate(self, error: BaseException) -> None:
        """Give the session error .results and .unsent (see the module docstring)."""
        if self.due or self.outbox.parts:
            self.channel.closed = True  # replies are owed that nobody will read: the stream is lost
        closing = isinstance(error, SMTPServiceClosing)  # a 421: the server processed nothing after it
        for index, tx in self.open.items():
            if tx.unacknowledged_end and not closing:
                self.results[index] = SMTPConnectionDropped(
                    f"message {index}: the session ended after the end of its data, before the reply: "
                    "it may or may not have been delivered", delivery_unknown=True, result=tx.result)
            elif tx.result.accepted:  # an earlier transaction (452 remainder) delivered it
                self.results[index] = SMTPConnectionDropped(
                    f"message {index}: delivered to the recipients in .result.accepted only; the session ended "
                    "before the others", delivery_unknown=False, result=tx.result)
        self.open.clear()
        try:
            error.results = self.results  # type: ignore[attr-defined]
            unsent = [index for index, result in enumerate(self.results) if result is None]
            if self.total is not None:
                unsent += range(len(self.results), self.total)
            error.unsent = unsent  # type: ignore[attr-defined]
        except AttributeError:  # an exception type that takes no attributes: nothing to add
            pass
