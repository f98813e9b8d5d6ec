"""The rules of one message's transactions, shared by send_mail and send_batch: which
recipients go in the next transaction, whether its content may go before the RCPT replies,
what each reply means, and the error or result that ends the message. Nothing here reads or
writes: smtpx.engine.runner does the I/O and asks these objects what the replies decide.

Recipients answered 452 ("too many recipients", RFC 5321 4.5.3.1.10) go into a further
transaction, at most as many per transaction as the server accepted before its first 452; a
transaction in which the server accepts nobody makes no progress, so its 452s are refusals.
The content goes out with MAIL and RCPT (PIPELINING) only when a refused recipient cannot make
the send fail after the server already has the message: one recipient, or no StopOn*Errors
rule applies to the transaction (and, for BDAT, content that can be sent again should a
recipient get 452: a one-shot stream only when small enough to keep a copy of).
"""
from __future__ import annotations

from typing import Any

from smtpx.engine.channel import reply_error
from smtpx.engine.envelope import RecipientResult, SendResult, make_recipient_result, make_send_result
from smtpx.engine.options import EngineOptions
from smtpx.engine.planning import Plan, PlannedRecipient, stops_send
from smtpx.engine.tracing import describe_reply
from smtpx.engine.transfer import ContentSource
from smtpx.errors import (
    SMTPConnectionDropped,
    SMTPDataError,
    SMTPError,
    SMTPRecipientsRefused,
    SMTPSenderRefused,
)
from smtpx.kernels import Reply, untracked

TOO_MANY_RECIPIENTS = 452
END_OF_DATA = "the end of data (.)"  # what the final reply answers, for DATA ...
BDAT_LAST = "BDAT LAST"  # ... and for BDAT

Outcome = SendResult | SMTPError  # how a message ends: its result, or the error send_mail raises


def is_ok(reply: Reply) -> bool:
    code: int = reply.code
    return 200 <= code < 300


class Transaction:
    """One MAIL ... end of data exchange for some of a message's recipients."""

    __slots__ = ("message", "recipients", "more_may_follow", "early", "accepted", "deferred",
                 "accepted_before_first_deferral", "failing")

    def __init__(self, message: Message, recipients: list[PlannedRecipient], more_may_follow: bool,
                 early: bool) -> None:
        self.message = message
        self.recipients = recipients
        self.more_may_follow = more_may_follow  # recipients beyond these wait for a further transaction
        self.early = early  # the content goes before the RCPT replies (pipelined with MAIL and RCPT)
        # What the RCPT replies said (Message.judge):
        self.accepted: list[RecipientResult] = []
        self.deferred: list[tuple[PlannedRecipient, Reply]] = []  # 452
        self.accepted_before_first_deferral = 0
        self.failing = False  # a refusal a StopOn*Errors rule applies to: the message fails

    @property
    def another_may_follow(self) -> bool:
        """Another transaction of this message may follow (recipients beyond these, or 452s):
        a one-shot content is copied while sent, and a failed transaction is reset at once
        rather than as SendRSET says."""
        return self.more_may_follow or bool(self.deferred)


class Message:
    """One message on its way: its plan and content, the result so far, the recipients still
    to go, and whether its end of data is written but unanswered. The runner sets
    ``outcome`` when the message is finished."""

    __slots__ = ("index", "plan", "source", "result", "unacknowledged_end", "outcome",
                 "_options", "_sink", "_pending", "_limit", "lane_fit")

    def __init__(self, index: int, plan: Plan, source: ContentSource, options: EngineOptions, sink: Any) -> None:
        self.index = index
        self.plan = plan
        self.source = source
        self.result = make_send_result(untracked([]), untracked([]), None)
        # True once the Write that carries the end of the message data (the "." line, or the
        # whole BDAT LAST chunk) has completed, or failed with all of it possibly gone out
        # (bytes_written), until its reply is read: if the session dies then, delivery is
        # unknown. A Write the driver failed before its last byte cut the message short: not
        # delivered.
        self.unacknowledged_end = False
        self.outcome: Outcome | None = None
        self._options = options
        self._sink = sink
        self._pending = plan.recipients  # never changed in place: sliced and joined
        self._limit: int | None = None  # recipients per transaction, once a 452 said how many
        self.lane_fit: bool | None = None  # the runner's batch lane can carry it (worked out once)

    @property
    def after_end(self) -> str:
        return BDAT_LAST if self.plan.use_bdat else END_OF_DATA

    @property
    def has_pending(self) -> bool:
        return bool(self._pending)

    # -- the next transaction --------------------------------------------------------------------

    def next_transaction(self) -> Transaction | None:
        """The next transaction's recipients and how its content goes; None when done."""
        if self.outcome is not None or not self._pending:
            return None
        limit = self._limit
        recipients = self._pending if limit is None else self._pending[:limit]
        self._pending = self._pending[len(recipients):]
        return Transaction(self, recipients, bool(self._pending), self.content_may_go_early(recipients))

    def content_may_go_early(self, recipients: list[PlannedRecipient]) -> bool:
        plan, options = self.plan, self._options
        if not plan.pipelining:
            return False
        if len(recipients) > 1:  # (a loop, not any() over a generator: compiled, no closure a message)
            for planned in recipients:
                if stops_send(options, planned.recipient.kind):
                    return False
        if plan.use_bdat:  # BDAT content sent before the RCPT replies must be sendable again
            content = self.source.content
            return not self.source.one_shot or (content.size is not None and content.size <= options.chunk_size)
        return True

    # -- what the replies decide -----------------------------------------------------------------

    def sender_refused(self, reply: Reply) -> SMTPError:
        return reply_error(SMTPSenderRefused, "the server refused the sender (MAIL FROM)", reply, result=self.result)

    def judge(self, tx: Transaction, replies: list[Reply]) -> bool:
        """Sort the RCPT replies (one per recipient of ``tx``, in order) into accepted,
        refused (on_error unless a StopOn* rule makes it fail the message) and deferred (452).
        True when the content may go: somebody accepted, and no refusal fails the message."""
        recipients = tx.recipients
        for at in range(len(recipients)):  # (not zip(): compiled, an index loop makes no objects)
            planned, reply = recipients[at], replies[at]
            recipient = planned.recipient
            if 200 <= reply.code < 300:
                tx.accepted.append(make_recipient_result(recipient.address, recipient.kind, reply))
                if not tx.deferred:
                    tx.accepted_before_first_deferral += 1
            elif reply.code == TOO_MANY_RECIPIENTS:
                tx.deferred.append((planned, reply))
            else:
                self._refuse(planned, reply)
                if stops_send(self._options, recipient.kind):
                    tx.failing = True
        if tx.failing:
            # The send fails: what the server accepted is reported, but nothing was delivered.
            self.result.accepted.extend(tx.accepted)
        return bool(tx.accepted) and not tx.failing

    def stopped(self, tx: Transaction) -> SMTPError:
        """The error of a transaction a StopOn*Errors rule failed (after its reset)."""
        self.result.refused.extend(make_recipient_result(p.recipient.address, p.recipient.kind, reply)
                                   for p, reply in tx.deferred)
        tx.deferred = []
        return self._refused_error("the server refused recipients and the StopOn*Errors rules stop the send")

    def chunks_refused(self, replies: list[Reply]) -> SMTPError | None:
        """BDAT chunks that went with MAIL and RCPT: the first refusal, if any."""
        for reply in replies:
            if not is_ok(reply):
                return self.chunk_refused(reply)
        return None

    def chunk_refused(self, reply: Reply) -> SMTPError:
        return reply_error(SMTPDataError, "the server refused the message (BDAT)", reply, result=self.result)

    def data_refused(self, reply: Reply) -> SMTPError:
        return reply_error(SMTPDataError, "the server refused DATA", reply, result=self.result)

    def refused_at_end(self, reply: Reply) -> SMTPError:
        """The reply to the end of data ("." or BDAT LAST) refuses the message."""
        return reply_error(SMTPDataError, f"the server refused the message after {self.after_end}", reply,
                           result=self.result)

    def delivered(self, tx: Transaction, reply: Reply) -> None:
        """The end of data was accepted for this transaction's accepted recipients."""
        self.result.accepted.extend(tx.accepted)
        self.result.reply = reply
        self.transaction_done(tx)

    def transaction_done(self, tx: Transaction) -> None:
        """A transaction that did not fail the message: its 452s go to a further transaction,
        as many per transaction as the server accepted before the first; when it accepted
        nobody there was no progress, and they are refused."""
        deferred = tx.deferred
        if not deferred:
            return
        if not tx.accepted:
            for planned, reply in deferred:
                self._refuse(planned, reply)
            return
        self._limit = max(1, tx.accepted_before_first_deferral)
        self._pending = [planned for planned, _ in deferred] + self._pending

    def final_outcome(self) -> Outcome:
        """Every transaction is done: the result, unless nobody accepted the message."""
        if not self.result.accepted:
            return self._refused_error("every recipient was refused; no message was sent")
        return self.result

    def delivery_unknown(self) -> SMTPConnectionDropped:
        """The session ended after the end of data went out, before its reply (send_mail)."""
        return SMTPConnectionDropped(
            f"the server closed the connection after {self.after_end}: the message may or may not have been delivered",
            delivery_unknown=True, result=self.result,
        )

    # -- helpers ---------------------------------------------------------------------------------

    def _refuse(self, planned: PlannedRecipient, reply: Reply) -> None:
        recipient = planned.recipient
        self.result.refused.append(make_recipient_result(recipient.address, recipient.kind, reply))
        if not stops_send(self._options, recipient.kind):
            self._sink.error(161, f"recipient {recipient.address} refused: {describe_reply(reply)}")

    def _refused_error(self, description: str) -> SMTPError:
        first = self.result.refused[0].reply if self.result.refused else None
        if first is None:
            return SMTPRecipientsRefused(description, result=self.result)
        return reply_error(SMTPRecipientsRefused, description, first, result=self.result)
