"""send_batch's bookkeeping, shared by smtpx.SMTP and smtpx.aio.AsyncSMTP: the messages
checked and turned into engine items (bad ones keep their input error), the engine's outcomes
put back at the caller's indexes, and a session failure's ``.results`` / ``.unsent`` likewise.
The facades only run ``Batch.operation(engine)`` on their connection, inside ``with batch:``,
and hand back what it returned (``sent``)."""
from __future__ import annotations

from email.message import Message
from typing import Any, Generator, Iterable, Iterator, Sequence, Union

from smtpx.dkim.apply import Signers, sign_item
from smtpx.message.compose import ComposedMessage
from smtpx.engine import Content, Envelope, EnvelopeRecipient, SendResult
from smtpx.errors import SMTPError, SMTPInputError
from smtpx.message.email_message import email_message
from smtpx.message.raw import raw_message

__all__ = ["Batch", "BatchMessage", "remap_batch_error", "refuse_one_message", "signed_item"]

# One message for send_batch: (mail_from, recipients, message bytes) as for send_raw (a
# recipient may also be an smtpx.engine.EnvelopeRecipient carrying its DSN options), a
# ComposedMessage from SMTP.compose(), or an email.message.EmailMessage (as send_message
# takes it: the envelope from its headers).
BatchMessage = Union[tuple[str, Iterable[Union[str, EnvelopeRecipient]], bytes], ComposedMessage, Message]


def refuse_one_message(messages: Any, what: str) -> None:
    """One message where a list of them belongs is a mistake the type hides (a tuple and an
    EmailMessage are iterable too): refuse it before anything is sent."""
    if isinstance(messages, (str, bytes, ComposedMessage, Message)) or (
            isinstance(messages, tuple) and len(messages) == 3 and isinstance(messages[0], str)):
        raise SMTPInputError(f"{what} takes an iterable of messages, not one message")


def check_window(window: Any) -> None:
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise SMTPInputError(f"send_batch: window must be a whole number >= 1, not {window!r}")


def signed_item(signers: Signers, item: tuple[Envelope, Content]) -> tuple[Envelope, Content]:
    """``item`` DKIM-signed by ``signers``, or as it is when there are none: every send of both
    facades comes here, and without signers it makes no call into smtpx.dkim.apply (which runs
    as Python)."""
    return item if signers is None else sign_item(signers, item)


def batch_item(message: Any, index: int, signers: Signers = None) -> tuple[Envelope, Content]:
    """The engine item for one message, DKIM-signed by ``signers`` (None: not signed)."""
    if isinstance(message, tuple) and len(message) == 3:
        item = raw_message(*message, "send_batch message", index)
    elif isinstance(message, ComposedMessage):
        item = message.envelope, message.content()
    elif isinstance(message, Message):
        item = email_message(message, what=f"send_batch message {index}")
    else:
        raise SMTPInputError(f"send_batch message {index}: expected (mail_from, recipients, message_bytes), "
                             f"an EmailMessage or a ComposedMessage, not {type(message).__name__}")
    return signed_item(signers, item)


def remap_batch_error(error: SMTPError, results: list[Any], positions: Sequence[int],
                      unconverted: Sequence[int] = ()) -> None:
    """A session failure of the engine's batch: .results / .unsent in the caller's indexes
    (messages refused before the engine saw them keep their input error; ``unconverted``:
    messages never turned into items, so never sent)."""
    engine_results = getattr(error, "results", None)
    if engine_results is None:  # the engine never started the batch: nothing was written
        error.results = list(results)  # type: ignore[attr-defined]
        error.unsent = [*positions, *unconverted]  # type: ignore[attr-defined]
        return
    merged = list(results)
    for item, outcome in enumerate(engine_results):
        merged[positions[item]] = outcome
    unsent = sorted(positions[item] for item in getattr(error, "unsent", []) if item < len(positions))
    error.results = merged  # type: ignore[attr-defined]
    error.unsent = [*unsent, *unconverted]  # type: ignore[attr-defined]


class Batch:
    """One send_batch call. ``with batch:`` closes the ComposedMessages afterwards
    (CloseStreamAfterTransfer), whatever happens.

    The messages are turned into engine items as the engine takes them (their checks and DKIM
    signatures then run while the server works on what was just written), except the first
    valid one, found at once: a batch with none (empty, or every message refused by its
    checks) connects nowhere."""

    def __init__(self, messages: Iterable[BatchMessage], window: int, signers: Signers = None) -> None:
        check_window(window)
        refuse_one_message(messages, "send_batch")
        self.window = window
        self.signers = signers
        self.messages: list[Any] = list(messages)
        self.results: list[SendResult | SMTPError | None] = [None] * len(self.messages)
        self.positions: list[int] = []  # index in `messages` of each engine item
        self.composed = [message for message in self.messages if isinstance(message, ComposedMessage)]
        self._converted = 0  # messages turned into items (or refused) so far
        self._sending = False  # operation() handed out: a session failure is the batch's
        self._first = self._next_item()

    @property
    def has_items(self) -> bool:
        """At least one message passed its checks: there is something to send."""
        return self._first is not None

    def _next_item(self) -> tuple[Envelope, Content] | None:
        """The next message that passes its checks, as an engine item (its index noted in
        ``positions``); the ones that fail keep their input error. None after the last."""
        while self._converted < len(self.messages):
            index = self._converted
            self._converted += 1
            try:
                item = batch_item(self.messages[index], index, self.signers)
            except SMTPInputError as error:
                self.results[index] = error
                continue
            self.positions.append(index)
            return item
        return None

    def _items(self) -> Iterator[tuple[Envelope, Content]]:
        item = self._first
        while item is not None:
            yield item
            item = self._next_item()

    # A facade, inside ``with batch:``, runs ``operation(engine)`` on its connection's driver and
    # gives what it returns to ``sent``; a session failure (an SMTPError) raised once the
    # operation is handed out gets its ``.results`` / ``.unsent`` in the caller's indexes as it
    # leaves the ``with``. Not one generator around the engine's, which would be one more to
    # resume for every Write and read of the batch.

    def operation(self, engine: Any) -> Generator[Any, Any, list[Any]]:
        """The engine's send_batch of the checked messages."""
        self._sending = True
        result: Generator[Any, Any, list[Any]] = engine.send_batch(self._items(), window=self.window)
        return result

    def sent(self, outcomes: list[Any]) -> None:
        """The engine's outcomes, put at the caller's indexes."""
        for position, outcome in zip(self.positions, outcomes):
            self.results[position] = outcome

    def errors(self) -> list[SMTPError]:
        """The per-message errors, in order (each fires on_error)."""
        return [outcome for outcome in self.results if isinstance(outcome, SMTPError)]

    def __enter__(self) -> "Batch":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self._sending and isinstance(exc, SMTPError):
            remap_batch_error(exc, self.results, self.positions, range(self._converted, len(self.messages)))
        for message in self.composed:
            message.close()  # CloseStreamAfterTransfer
