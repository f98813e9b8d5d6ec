"""``MessageSpec``: one message as the properties and config describe it at one moment, an
immutable value. The facade builds it once per send (``Properties._message_spec()``);
composition (smtpx.message.compose) turns it into the envelope and the bytes to send and never
sees the facade.

The strings are the properties' values as set (already checked by their setters); composition
parses them (address parsing is cached). The recipients are parsed when the spec is built
(``parse_recipients``): a MessageRecipient can be changed after it was added, so they are checked
again, and the spec keeps what they were.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import IO, NamedTuple

from smtpx.enums import Importance, Priority, RecipientType, Sensitivity
from smtpx.message.addresses import Mailbox
from smtpx.message.fields import recipient_mailbox
from smtpx.types import MessageRecipient
from smtpx.validators import check_no_controls, to_enum

__all__ = ["MessageSpec", "MessageSettings", "PROPERTY_FIELDS", "Recipient", "parse_recipients"]

# One recipient: (its type, its mailbox, its RFC 3461 options).
Recipient = tuple[RecipientType, Mailbox, str]


def parse_recipients(recipients: Iterable[MessageRecipient]) -> tuple[Recipient, ...]:
    """The recipients checked and parsed (SMTPInputError for a bad type, options or address)."""
    parsed = []
    for r in recipients:
        kind = r.recipient_type
        if type(kind) is not RecipientType:  # changed after the MessageRecipient was made
            kind = to_enum(RecipientType, kind, "MessageRecipient.recipient_type")
        if r.options:
            check_no_controls(r.options, "MessageRecipient.options", allow_tab=True)
        parsed.append((kind, recipient_mailbox(r.address, r.name), r.options))
    return tuple(parsed)


class MessageSettings(NamedTuple):
    """The config settings that shape a message (names as in config(), in snake_case)."""

    charset: str  # Charset ("": UTF-8)
    fold_headers: bool  # FoldHeaders
    max_header_length: int  # MaxHeaderLength
    message_id_algorithm: str  # MessageIdAlgorithm
    hello: str  # Hello (the Message-ID domain when From has none that fits)
    allow_empty_to: bool  # AllowEmptyTo
    close_stream: bool  # CloseStreamAfterTransfer


class MessageSpec(NamedTuple):
    """What composition needs: the message properties (the fields up to ``message`` are the
    properties of smtpx.SMTP with the same names), the recipients, the stream, and the config
    settings that shape the message."""

    from_: str
    subject: str
    message_date: str  # "*": the time of composition; "": no Date header
    message_id: str  # "*": a fresh id; "": no Message-ID header
    reply_to: str
    return_path: str
    importance: Importance
    priority: Priority
    sensitivity: Sensitivity
    delivery_notification_to: str
    read_receipt_to: str
    other_headers: str
    message_text: str
    message: bytes
    recipients: tuple[Recipient, ...]  # message_recipients, parsed
    stream: IO[bytes] | None  # set_message_stream()'s
    settings: MessageSettings


# The fields that are properties of the same name, in order.
PROPERTY_FIELDS = MessageSpec._fields[:MessageSpec._fields.index("recipients")]
