"""A message given as bytes (send_raw, send_batch): its envelope and content for the engine."""
from __future__ import annotations

from typing import Any

from smtpx.message.addresses import parse_mailbox, parse_reverse_path, plain_addr_spec
from smtpx.engine import Content, Envelope, EnvelopeRecipient
from smtpx.engine.envelope import make_content, make_envelope, make_envelope_recipient
from smtpx.enums import RecipientType
from smtpx.errors import SMTPInputError
from smtpx.validators import check_str

__all__ = ["raw_message"]


# The last envelope made: a loop of send_raw to the same addresses parses them once. Keyed by
# the sender and a copy of the recipients (a caller may change its list in place); the
# Envelope is the engine's input only, never handed to the caller, so it may be shared.
_last: tuple[str, list[str], Envelope, bool] | None = None


def _recipient(recipient: Any, what: str) -> EnvelopeRecipient:
    """A recipient as a str, or an EnvelopeRecipient (its DSN options, RFC 3461, kept: the
    engine checks them)."""
    plain = plain_addr_spec(recipient)
    if plain is not None:  # a str holding the usual address: every mailing's case
        return make_envelope_recipient(plain, RecipientType.TO, "")
    if isinstance(recipient, EnvelopeRecipient):
        address = parse_mailbox(recipient.address, f"{what} recipient").addr_spec
        return EnvelopeRecipient(address, recipient.kind, recipient.options)
    return EnvelopeRecipient(parse_mailbox(recipient, f"{what} recipient").addr_spec)


def raw_message(mail_from: Any, recipients: Any, message: Any, what: str,
                index: int | None = None) -> tuple[Envelope, Content]:
    """send_raw's envelope and content: addresses parsed strictly ("Name <a@b>" or "a@b"; "<>"
    is the null sender; a recipient may also be an EnvelopeRecipient carrying DSN options),
    the message bytes as given; SMTPUTF8 / 8BITMIME as the bytes need. ``what`` names the
    caller in error messages, followed by ``index`` when given ("send_batch message 17":
    formatted only when an error or an address not seen before needs it, not for every
    message of a batch)."""
    global _last
    if not isinstance(message, (bytes, bytearray, memoryview)):
        raise SMTPInputError(f"{_label(what, index)}: message must be bytes, not {type(message).__name__}")
    if type(mail_from) is not str:  # (the message is formatted only when it is needed)
        check_str(mail_from, f"{_label(what, index)}: mail_from")
    if isinstance(recipients, str):
        recipients = [recipients]
    last = _last
    if last is not None and type(recipients) is list and mail_from == last[0] and recipients == last[1] \
            and _all_str(recipients):
        envelope, address_utf8 = last[2], last[3]
    else:
        what = _label(what, index)
        sender = parse_reverse_path(mail_from, f"{what} mail_from")
        rcpts = [_recipient(r, what) for r in recipients]
        if not rcpts:
            raise SMTPInputError("Please specify a recipient.", 165)
        envelope = make_envelope(sender, rcpts, "MAIL")
        address_utf8 = not sender.isascii()
        for rcpt in rcpts:  # (a loop, not any() over a generator: a new envelope per message in a mailing)
            if not rcpt.address.isascii():
                address_utf8 = True
        if type(recipients) is list and _all_str(recipients):
            _last = (mail_from, list(recipients), envelope, address_utf8)
    data = message if type(message) is bytes else bytes(message)  # (bytes(bytes) is a costly no-op)
    if data.isascii():  # the common case: one scan, no header split
        eight_bit, utf8 = False, False
    else:
        eight_bit = True
        utf8 = not data.split(b"\r\n\r\n", 1)[0].isascii()
    return envelope, make_content([data], len(data), eight_bit, False, utf8 or address_utf8, True)


def _label(what: str, index: int | None) -> str:
    return what if index is None else f"{what} {index}"


def _all_str(recipients: list[Any]) -> bool:
    """Every recipient is a plain str (a loop, not all() over a generator: this runs on every
    send_raw, usually for one recipient)."""
    for recipient in recipients:
        if type(recipient) is not str:
            return False
    return True
