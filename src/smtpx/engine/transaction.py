"""send_mail: one or more MAIL / RCPT / DATA|BDAT transactions, pipelined when the server allows.

Replies are matched to commands strictly in order. Recipients answered 452 ("too many
recipients", RFC 5321 4.5.3.1.10) go into a further transaction, at most as many per
transaction as the server accepted before its first 452. The content goes out with MAIL and
RCPT (PIPELINING + CHUNKING) only when a refused recipient cannot make the send fail after the
server already has the message: one recipient, or no StopOn*Errors rule applies to the batch
(and, for a one-shot stream, only when it is small enough to keep a copy for a 452 retry).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from smtpx.engine.actions import bytes_written
from smtpx.engine.capabilities import Capabilities
from smtpx.engine.channel import IO, Channel, reply_error
from smtpx.engine.commands import Command, command
from smtpx.engine.envelope import Content, Envelope, RecipientResult, SendResult
from smtpx.engine.options import EngineOptions
from smtpx.engine.planning import Plan, PlannedRecipient, plan_send, stops_send
from smtpx.engine.transfer import ContentSource, Progress, bdat_segments, stuffed_pieces
from smtpx.engine.tracing import describe_reply
from smtpx.errors import (
    SMTPConnectionDropped,
    SMTPDataError,
    SMTPRecipientsRefused,
    SMTPSenderRefused,
)
from smtpx.kernels import Reply

_TOO_MANY_RECIPIENTS = 452
_RSET = command("RSET")


def _ok(reply: Reply) -> bool:
    return 200 <= reply.code < 300


@dataclass(slots=True)
class _Outcome:
    deferred: list[PlannedRecipient] = field(default_factory=list)
    accepted_before_first_deferral: int = 0
    accepted_count: int = 0


def send_mail(channel: Channel, options: EngineOptions, caps: Capabilities, sink: Any,
              envelope: Envelope, content: Content) -> IO:
    plan = plan_send(envelope, content, caps, options)  # raises before anything is written
    session = _Transactions(channel, options, plan, sink, ContentSource(content))
    return (yield from session.run())


class _Transactions:
    def __init__(self, channel: Channel, options: EngineOptions, plan: Plan, sink: Any, source: ContentSource) -> None:
        self.channel = channel
        self.options = options
        self.plan = plan
        self.sink = sink
        self.source = source
        self.result = SendResult()
        # True once the Write that carries the end of the message data (the "." line, or the
        # whole BDAT LAST chunk) has completed, or failed with all of it possibly gone out
        # (bytes_written), until its reply is read: if the session dies then, delivery is
        # unknown (send_batch reads it). A Write the driver failed before its last byte (it
        # threw the error in) cut the message short: not delivered.
        self.unacknowledged_end = False

    def run(self, pending: list[PlannedRecipient] | None = None, batch_limit: int | None = None) -> IO:
        """All transactions of the message; send_batch resumes here with a 452 remainder."""
        pending = list(self.plan.recipients) if pending is None else list(pending)
        while pending:
            batch = pending if batch_limit is None else pending[:batch_limit]
            rest = pending[len(batch):]
            outcome: _Outcome = yield from self.transaction(batch, more_may_follow=bool(rest))
            if outcome.deferred and outcome.accepted_count == 0:
                # No progress: the server takes none of them now, so they are refused (452).
                for planned in outcome.deferred:
                    self._refuse(planned, self._deferred_replies[id(planned)])
                outcome.deferred = []
            if outcome.deferred:
                batch_limit = max(1, outcome.accepted_before_first_deferral)
            pending = outcome.deferred + rest
        if not self.result.accepted:
            raise self._refused_error("every recipient was refused; no message was sent")
        self.channel.check_no_leftover("after the end of the message")
        return self.result

    # -- one transaction -----------------------------------------------------------------------

    def transaction(self, batch: list[PlannedRecipient], more_may_follow: bool) -> IO:
        channel, plan, options = self.channel, self.plan, self.options
        self._deferred_replies: dict[int, Reply] = {}
        stop_rule = any(stops_send(options, p.recipient.kind) for p in batch)
        may_go_early = plan.pipelining and (len(batch) == 1 or not stop_rule)
        # BDAT content sent before the RCPT replies must be sendable again if some get 452:
        # a one-shot stream qualifies only when small enough to keep a copy of.
        size = self.source.content.size
        resendable = not self.source.one_shot or (size is not None and size <= options.chunk_size)
        bdat_early = may_go_early and plan.use_bdat and resendable
        data_early = may_go_early and not plan.use_bdat

        data_reply: Reply | None = None
        bdat_replies_due = 0
        data_pipelined = False
        # A transaction an earlier send left open (SendRSET=False) is reset first: with
        # PIPELINING in the same write as MAIL, otherwise on its own.
        rset_first = channel.dirty
        if rset_first and not plan.pipelining:
            yield from self._rset()
            rset_first = False
        if plan.pipelining:
            commands = ([_RSET] if rset_first else []) + [plan.mail] + [p.command for p in batch]
            if bdat_early:
                bdat_replies_due = yield from self._send_bdat(commands, keep=True)
            else:
                if data_early:
                    commands.append(command("DATA"))
                    data_pipelined = True
                yield from channel.send(commands)
            try:
                if rset_first:
                    yield from self._read_rset()
                mail_reply = yield from channel.read_reply("MAIL FROM")
                replies = []
                for planned in batch:
                    replies.append((yield from channel.read_reply(_rcpt_label(planned))))
                if data_pipelined:
                    data_reply = yield from channel.read_reply("DATA")
                bdat_replies = []
                for _ in range(bdat_replies_due):
                    bdat_replies.append((yield from channel.read_reply("BDAT")))
                self.unacknowledged_end = False
            except SMTPConnectionDropped as error:
                if not bdat_replies_due:
                    raise
                raise self._delivery_unknown("BDAT LAST", error) from error
            if not _ok(mail_reply):
                yield from self._leave_data_mode(data_reply)
                raise reply_error(SMTPSenderRefused, "the server refused the sender (MAIL FROM)", mail_reply,
                                  result=self.result)
        else:
            yield from channel.send([plan.mail])
            mail_reply = yield from channel.read_reply("MAIL FROM")
            if not _ok(mail_reply):
                raise reply_error(SMTPSenderRefused, "the server refused the sender (MAIL FROM)", mail_reply,
                                  result=self.result)
            replies = []
            for planned in batch:
                yield from channel.send([planned.command])
                replies.append((yield from channel.read_reply(_rcpt_label(planned))))

        outcome, accepted, failing = self._judge(batch, replies)
        # A one-shot content must be copied while sent if another transaction will need it.
        keep = more_may_follow or bool(outcome.deferred)

        if failing or not accepted:
            # (Content that went out with the commands was refused by the server: no recipient.)
            yield from self._leave_data_mode(data_reply)
            # MAIL was accepted, so a transaction is open: RSET it (always before another MAIL).
            if outcome.deferred or more_may_follow:
                yield from self._rset()
            else:
                yield from self._abandon()
            if failing:
                self.result.refused.extend(RecipientResult(p.recipient.address, p.recipient.kind,
                                                           self._deferred_replies[id(p)]) for p in outcome.deferred)
                outcome.deferred = []
                raise self._refused_error("the server refused recipients and the StopOn*Errors rules stop the send")
            return outcome

        if bdat_replies_due:
            final = self._check_bdat(bdat_replies)
        elif plan.use_bdat:
            final = yield from self._bdat_after_replies(keep)
        else:
            final = yield from self._data(data_reply, keep)
        self.result.accepted.extend(accepted)
        self.result.reply = final
        return outcome

    def _judge(self, batch: list[PlannedRecipient], replies: list[Reply]):
        """Sort the RCPT replies: accepted, refused (StopOn* rules and on_error), deferred."""
        outcome = _Outcome()
        accepted: list[RecipientResult] = []
        failing = False
        for planned, reply in zip(batch, replies):
            recipient = planned.recipient
            if _ok(reply):
                accepted.append(RecipientResult(recipient.address, recipient.kind, reply))
                if not outcome.deferred:
                    outcome.accepted_before_first_deferral += 1
            elif reply.code == _TOO_MANY_RECIPIENTS:
                outcome.deferred.append(planned)
                self._deferred_replies[id(planned)] = reply
            else:
                self._refuse(planned, reply)
                if stops_send(self.options, recipient.kind):
                    failing = True
        outcome.accepted_count = len(accepted)
        if failing:
            # The send fails: what the server accepted is reported, but nothing was delivered.
            self.result.accepted.extend(accepted)
        return outcome, accepted, failing

    def _refuse(self, planned: PlannedRecipient, reply: Reply) -> None:
        recipient = planned.recipient
        self.result.refused.append(RecipientResult(recipient.address, recipient.kind, reply))
        if not stops_send(self.options, recipient.kind):
            self.sink.error(161, f"recipient {recipient.address} refused: {describe_reply(reply)}")

    def _refused_error(self, description: str) -> SMTPRecipientsRefused:
        first = self.result.refused[0].reply if self.result.refused else None
        if first is None:
            return SMTPRecipientsRefused(description, result=self.result)
        return reply_error(SMTPRecipientsRefused, description, first, result=self.result)

    # -- content -------------------------------------------------------------------------------

    def _data(self, data_reply: Reply | None, keep: bool) -> IO:
        channel = self.channel
        if data_reply is None:
            yield from channel.send([command("DATA")])
            data_reply = yield from channel.read_reply("DATA")
        if data_reply.code != 354:
            yield from self._abandon()  # MAIL and RCPT were accepted: the transaction is open
            raise reply_error(SMTPDataError, "the server refused DATA", data_reply, result=self.result)
        progress = Progress(self.sink, self.source.content.size)
        progress.start()
        for consumed, piece, last in stuffed_pieces(self.source.chunks(keep)):
            # The last piece carries the ".".
            yield from self._write(channel.write_content(piece), len(piece), last, "the end of data (.)")
            progress.update(consumed, piece)
        progress.end()
        return (yield from self._final_reply("the end of data (.)"))

    def _send_bdat(self, commands: list[Command], keep: bool) -> IO:
        """Write the commands and every BDAT chunk with its content; return the BDAT count."""
        progress = Progress(self.sink, self.source.content.size)
        progress.start()
        count = 0
        content = self.source.content
        for bdat, consumed, payload in bdat_segments(self.source.chunks(keep), content.normalise,
                                                     self.options.chunk_size):
            size = sum(len(cmd.wire) for cmd in commands) + len(bdat.wire) + len(payload)
            yield from self._write(self.channel.send(commands + [bdat], payload), size,
                                   bdat.trace.endswith("LAST"), "BDAT LAST")
            commands = []
            count += 1
            progress.update(consumed, payload)
        progress.end()
        return count

    def _bdat_after_replies(self, keep: bool) -> IO:
        """BDAT once the RCPT replies are in: all chunks pipelined when the server allows,
        otherwise one chunk and its reply at a time (RFC 3030 section 4.2)."""
        if self.plan.pipelining:
            count = yield from self._send_bdat([], keep)
            replies = []
            for index in range(count):
                if index == count - 1:
                    replies.append((yield from self._final_reply("BDAT LAST")))
                    continue
                try:
                    replies.append((yield from self.channel.read_reply("BDAT")))
                except SMTPConnectionDropped as error:  # BDAT LAST is already out
                    raise self._delivery_unknown("BDAT LAST", error) from error
            return self._check_bdat(replies)
        progress = Progress(self.sink, self.source.content.size)
        progress.start()
        content = self.source.content
        final = None
        for bdat, consumed, payload in bdat_segments(self.source.chunks(keep), content.normalise,
                                                     self.options.chunk_size):
            last = bdat.trace.endswith("LAST")
            yield from self._write(self.channel.send([bdat], payload), len(bdat.wire) + len(payload), last,
                                   "BDAT LAST")
            progress.update(consumed, payload)
            reply = yield from (self._final_reply("BDAT LAST") if last else self.channel.read_reply("BDAT"))
            if not _ok(reply):
                if not last:  # a refused BDAT LAST ends the transaction; an earlier chunk does not
                    yield from self._abandon()
                raise reply_error(SMTPDataError, "the server refused the message (BDAT)", reply, result=self.result)
            final = reply
        progress.end()
        return final

    def _write(self, write: IO, size: int, last: bool, after: str) -> IO:
        """One Write of ``size`` bytes. When it carries the end of the data (``last``: it ends
        with the "." line or the BDAT LAST chunk), the message counts as written in full
        (unacknowledged_end) once the Write completes, or when it failed after its last byte
        may have gone out (bytes_written): then a dropped connection means delivery unknown.
        A Write that failed before that cut the message short: not delivered."""
        try:
            yield from write
        except BaseException as error:
            if last and size and bytes_written(error) >= size:
                self.unacknowledged_end = True
                if isinstance(error, SMTPConnectionDropped):
                    raise self._delivery_unknown(after, error) from error
            raise
        if last:
            self.unacknowledged_end = True

    def _check_bdat(self, replies: list[Reply]) -> Reply | None:
        for reply in replies:
            if not _ok(reply):
                raise reply_error(SMTPDataError, "the server refused the message (BDAT)", reply, result=self.result)
        return replies[-1] if replies else None

    def _final_reply(self, after: str) -> IO:
        """The reply once all content is out: without it, delivery is unknown."""
        try:
            reply = yield from self.channel.read_reply(after)
        except SMTPConnectionDropped as error:
            raise self._delivery_unknown(after, error) from error
        self.unacknowledged_end = False
        if not _ok(reply):
            raise reply_error(SMTPDataError, f"the server refused the message after {after}", reply, result=self.result)
        return reply

    def _delivery_unknown(self, after: str, error: SMTPConnectionDropped) -> SMTPConnectionDropped:
        return SMTPConnectionDropped(
            f"the server closed the connection after {after}: the message may or may not have been delivered",
            delivery_unknown=True, result=self.result,
        )

    def _leave_data_mode(self, data_reply: Reply | None) -> IO:
        """A pipelined DATA that got 354 although the transaction failed: end it empty."""
        if data_reply is not None and data_reply.code == 354:
            self.channel.trace_info("DATA was accepted although the transaction failed: ending it empty")
            yield from self.channel.write_content(b".\r\n")
            yield from self.channel.read_reply("the end of data (.)")

    def _abandon(self) -> IO:
        """The transaction failed with MAIL accepted, so the server holds it open. SendRSET
        True: RSET now. False: the channel remembers, and the next transaction starts with RSET
        (pipelined with its MAIL); a QUIT needs none."""
        if self.options.send_rset:
            yield from self._rset()
        else:
            self.channel.dirty = True

    def _rset(self) -> IO:
        yield from self.channel.send([_RSET])
        yield from self._read_rset()

    def _read_rset(self) -> IO:
        reply = yield from self.channel.read_reply("RSET")
        self.channel.dirty = not _ok(reply)


def _rcpt_label(planned: PlannedRecipient) -> str:
    return f"RCPT TO:<{planned.recipient.address}>"
