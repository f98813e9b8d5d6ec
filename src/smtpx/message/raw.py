"""A message given as bytes (send_raw, send_batch): its envelope and content for the engine."""
from __future__ import annotations

from typing import Any

from smtpx.message.addresses import parse_mailbox, parse_reverse_path
from smtpx.engine import Content, Envelope, EnvelopeRecipient
from smtpx.errors import SMTPInputError
from smtpx.validators import check_str

__all__ = ["raw_message"]


def raw_message(mail_from: Any, recipients: Any, message: Any, what: str) -> tuple[Envelope, Content]:
    """send_raw's envelope and content: addresses parsed strictly ("Name <a@b>" or "a@b"; "<>"
    is the null sender), the message bytes as given; SMTPUTF8 / 8BITMIME as the bytes need.
    ``what`` names the caller in error messages."""
    if not isinstance(message, (bytes, bytearray, memoryview)):
        raise SMTPInputError(f"{what}: message must be bytes, not {type(message).__name__}")
    check_str(mail_from, f"{what}: mail_from")
    if isinstance(recipients, str):
        recipients = [recipients]
    sender = parse_reverse_path(mail_from, f"{what} mail_from")
    rcpts = [EnvelopeRecipient(parse_mailbox(r, f"{what} recipient").addr_spec) for r in recipients]
    if not rcpts:
        raise SMTPInputError("Please specify a recipient.", 165)
    data = bytes(message)
    if data.isascii():  # the common case: one scan, no header split
        eight_bit, utf8 = False, False
    else:
        eight_bit = True
        utf8 = not data.split(b"\r\n\r\n", 1)[0].isascii()
    if not utf8:
        utf8 = not sender.isascii()
        for rcpt in rcpts:
            if not rcpt.address.isascii():
                utf8 = True
    return Envelope(sender, rcpts), Content([data], len(data), eight_bit=eight_bit, smtputf8=utf8)
