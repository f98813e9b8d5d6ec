"""The pool's options and the decisions made from them, for both pools (sans-IO): the
options checked once at construction, which refusals are worth another try, and how long to
wait before it (exponential backoff with jitter, capped)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Union

from smtpx.engine import SendResult
from smtpx.errors import (
    SMTPError,
    SMTPInputError,
    SMTPRecipientsRefused,
    SMTPReplyError,
    SMTPServiceClosing,
)
from smtpx.facade.batch import BatchMessage, refuse_one_message

__all__ = ["MAX_BACKOFF", "Outcome", "PoolMessage", "PoolOptions", "backoff_delay", "check_messages",
           "is_transient", "retry_delay"]

# One message, as SMTP.send_batch takes it: (mail_from, recipients, message bytes), an
# EmailMessage, or a ComposedMessage from SMTP.compose().
PoolMessage = BatchMessage
# What one message came to: its SendResult, or the SMTPError that says why not.
Outcome = Union[SendResult, SMTPError]

MAX_BACKOFF = 300.0  # seconds: no retry waits longer than this (unless backoff itself is larger)


def _whole(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SMTPInputError(f"SMTPPool: {name} must be a whole number >= {minimum}, not {value!r}")
    return value


def _positive(value: Any, name: str, *, zero: bool) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
    if not ok or value < 0 or (value == 0 and not zero) or value == float("inf"):
        bound = ">= 0" if zero else "> 0"
        raise SMTPInputError(f"SMTPPool: {name} must be a finite number {bound}, not {value!r}")
    return float(value)


@dataclass(frozen=True)
class PoolOptions:
    """The pool's own settings, checked (SMTPInputError) before anything connects."""

    size: int = 4
    messages_per_connection: int | None = None
    rate_limit: float | None = None  # messages per second across the pool
    retries: int = 0  # further tries of a message refused with a 4xx reply
    backoff: float = 1.0  # seconds before the first retry; doubles for each next one
    window: int = 32  # transactions in flight on one connection (SMTP.send_batch's window)

    def __post_init__(self) -> None:
        _whole(self.size, "size", 1)
        if self.messages_per_connection is not None:
            _whole(self.messages_per_connection, "messages_per_connection", 1)
        if self.rate_limit is not None:
            _positive(self.rate_limit, "rate_limit", zero=False)
        _whole(self.retries, "retries", 0)
        _positive(self.backoff, "backoff", zero=True)
        _whole(self.window, "window", 1)

    @property
    def chunk(self) -> int:
        """Messages handed to one connection's send_batch at a time: two windows, so that the
        pipeline stays full across a window boundary and the per-call cost is spread."""
        return 2 * self.window

    @property
    def ahead(self) -> int:
        """Messages taken from the input and not yet handed back to the caller, at most: two
        chunks per connection (one being sent, one ready). This bounds the pool's memory."""
        return 2 * self.chunk * self.size


def check_messages(messages: Any) -> None:
    """One message where a collection of them belongs is a mistake the type hides (a tuple
    is iterable): refuse it, as SMTP.send_batch does."""
    refuse_one_message(messages, "SMTPPool: send_batch / iter_batch")
    try:
        iter(messages)
    except TypeError:
        raise SMTPInputError(f"SMTPPool: messages must be iterable, not {type(messages).__name__}") from None


def is_transient(outcome: object) -> bool:
    """A refusal worth trying again later: the server said 4xx to the message as a whole (its
    sender, all of its recipients, or its data). A message some recipients took is never sent
    again (they would get it twice); 5xx, bad input and dropped connections are final."""
    if not isinstance(outcome, SMTPReplyError) or isinstance(outcome, SMTPServiceClosing):
        return False
    if outcome.reply_code is None or not 400 <= outcome.reply_code < 500:
        return False
    if isinstance(outcome, SMTPRecipientsRefused):
        result = getattr(outcome, "result", None)
        if result is not None:
            return not result.accepted and all(400 <= item.reply.code < 500 for item in result.refused)
    return True


def backoff_delay(options: PoolOptions, attempt: int, random: Callable[[], float]) -> float:
    """Seconds before retry number ``attempt`` (1 = the first): backoff, doubling each time,
    capped at MAX_BACKOFF, with "equal jitter" (between half and all of it) so that messages
    refused together do not all come back at the same instant."""
    cap = max(MAX_BACKOFF, options.backoff)
    delay = min(cap, options.backoff * 2.0 ** min(attempt - 1, 64))
    return delay / 2 + delay / 2 * random()


def retry_delay(options: PoolOptions, outcome: object, retries_so_far: int,
                random: Callable[[], float]) -> float | None:
    """Seconds to wait before trying a message again, or None when ``outcome`` is final (not
    a transient refusal, or no retries left)."""
    if retries_so_far >= options.retries or not is_transient(outcome):
        return None
    return backoff_delay(options, retries_so_far + 1, random)
