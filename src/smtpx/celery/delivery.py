"""One task's work, without Celery: decode a list of encoded messages, skip those already
marked delivered, send the rest through the worker's SMTPPool (keeping to the shared rate
limit), mark each as soon as the server has accepted it, and sort the others into failed
(final) and to-retry (transient). smtpx.celery.tasks wraps it in Celery tasks.

What is transient (tried again by a later task, with backoff): a 4xx refusal of the whole
message (smtpx.pool.policy.is_transient), a 421, a dropped connection (including a message
whose delivery is unknown: at least once, never lost; a duplicate is possible and counted in
the bound of docs/celery.md), a failed connect, a timeout. Everything else is final: a 5xx
refusal (recorded with the reply), a message that cannot be decoded or that smtpx refuses
(SMTPInputError): each fails alone, the rest of its chunk goes."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

from smtpx.celery.wire import WireMessage, decode_message
from smtpx.celery.worker import Runtime
from smtpx.engine import SendResult
from smtpx.errors import (
    SMTPCommunicationError,
    SMTPError,
    SMTPServiceClosing,
    SMTPTimeoutError,
)
from smtpx.pool.policy import is_transient

__all__ = ["ChunkOutcome", "deliver", "is_retryable", "failure_record"]


def is_retryable(error: BaseException) -> bool:
    return (is_transient(error) or isinstance(error, (SMTPServiceClosing, SMTPCommunicationError, SMTPTimeoutError)))


def failure_record(message_id: str | None, error: BaseException) -> dict[str, Any]:
    """A failure as a task result holds it (JSON)."""
    record: dict[str, Any] = {"message_id": message_id, "error": str(error)}
    if isinstance(error, SMTPError):
        record.update(code=error.code, reply_code=error.reply_code, reply=error.reply_text)
    return record


@dataclass
class ChunkOutcome:
    """What became of a chunk: counts and records a task returns as JSON, and the encoded
    messages to try again (with the last error of each)."""

    sent: int = 0
    skipped: int = 0  # already marked delivered: not sent again
    failed: list[dict[str, Any]] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)  # recipients refused in a delivered message
    retry: list[tuple[dict[str, Any], BaseException]] = field(default_factory=list)

    def as_result(self) -> dict[str, Any]:
        return {"sent": self.sent, "skipped": self.skipped, "failed": self.failed, "refused": self.refused}


def _slices(runtime: Runtime, messages: list[WireMessage]) -> Iterator[list[WireMessage]]:
    """The messages in groups the shared rate limit lets through (one group without a limit)."""
    start = 0
    while start < len(messages):
        count = len(messages) - start if runtime.rate is None else runtime.rate.take(len(messages) - start)
        yield messages[start:start + count]
        start += count


def deliver(runtime: Runtime, items: Sequence[Any]) -> ChunkOutcome:
    """Send ``items`` (encoded messages). Raises only when Redis cannot be read before sending
    (then nothing was sent: the caller retries the whole task)."""
    outcome = ChunkOutcome()
    decoded: list[tuple[dict[str, Any], WireMessage]] = []
    for item in items:
        try:
            decoded.append((item, decode_message(item)))
        except SMTPError as exc:  # fails alone
            mid = item.get("message_id") if isinstance(item, dict) else None
            outcome.failed.append(failure_record(mid if isinstance(mid, str) else None, exc))
    done = runtime.marks.delivered([message.key for _, message in decoded])
    todo = [pair for pair, already in zip(decoded, done) if not already]
    outcome.skipped = len(decoded) - len(todo)
    originals = {id(message): item for item, message in todo}
    for group in _slices(runtime, [message for _, message in todo]):
        batch = ((m.mail_from, m.envelope_recipients(), m.data) for m in group)
        for index, result in runtime.pool.iter_batch(batch):
            message = group[index]
            if isinstance(result, SendResult):
                runtime.marks.mark(message.key, message.message_id)  # the 2xx is in: mark at once
                outcome.sent += 1
                outcome.refused.extend({"message_id": message.message_id, "address": r.address,
                                        "reply_code": r.reply.code, "reply": r.reply.text} for r in result.refused)
            elif is_retryable(result):
                outcome.retry.append((originals[id(message)], result))
            else:
                outcome.failed.append(failure_record(message.message_id, result))
    return outcome
