"""How a message travels through the broker: a JSON object, never a pickle.

``{"v": 1, "mail_from": str, "recipients": [str, ...], "data": base64 of the bytes,
"message_id": str, "key": str}``, and ``"dsn": {address: options}`` when recipients carry DSN
options (RFC 3461 NOTIFY / ORCPT: a queue file's, through ``smtpx queue push``). An ``EmailMessage`` is turned into its envelope and bytes
by the producer (``prepare_email_message``: smtplib's rules, Bcc removed, checked before
anything is published); raw bytes travel as they are.

Every message carries a Message-ID, given by the producer so that it stays the same across
redeliveries and retries: an EmailMessage without one gets a new one (on a copy: the caller's
message is not changed); raw bytes get a ``Message-ID:`` header put in front of their header
section only when they have none (a message that has one is never rewritten).

``key`` is the idempotency key (smtpx.celery.marks): a SHA-256 of the Message-ID, the sender
and the recipients, so the same Message-ID sent to other recipients is another delivery.
"""
from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import re
import uuid
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from smtpx.engine.envelope import EnvelopeRecipient
from smtpx.errors import SMTPInputError
from smtpx.message.email_message import prepare_email_message

__all__ = ["WireMessage", "encode_message", "decode_message", "new_message_id", "message_id_of"]

VERSION = 1
# The end of the header section: the first empty line (CRLF or bare LF line ends).
_HEADER_END = re.compile(rb"\r?\n\r?\n")
# A Message-ID field at the start of a line of the header section, and its value (unfolded
# enough for the common case: the value up to the line end, continuation lines appended).
_MESSAGE_ID = re.compile(rb"(?im)^message-id[ \t]*:[ \t]*([^\r\n]*(?:\r?\n[ \t][^\r\n]*)*)")


@dataclass(frozen=True)
class WireMessage:
    """A decoded message: the envelope, the bytes, its Message-ID and idempotency key."""

    mail_from: str
    recipients: tuple[str, ...]
    data: bytes
    message_id: str
    key: str
    dsn: dict[str, str] = field(default_factory=dict)  # address -> its DSN options

    def envelope_recipients(self) -> list[str | EnvelopeRecipient]:
        """The recipients for send_raw / send_batch, with their DSN options."""
        dsn = self.dsn
        return [EnvelopeRecipient(r, options=dsn[r]) if r in dsn else r for r in self.recipients]


def new_message_id(mail_from: str = "") -> str:
    """A new unique Message-ID, in the sender's domain (``smtpx.invalid`` without one)."""
    domain = mail_from.rpartition("@")[2].strip("<> ") if "@" in mail_from else ""
    if not domain or not re.fullmatch(r"[A-Za-z0-9.-]+", domain):
        domain = "smtpx.invalid"
    return f"<{uuid.uuid4().hex}@{domain}>"


def message_id_of(data: bytes) -> str | None:
    """The Message-ID of raw message bytes (its header section only), or None."""
    end = _HEADER_END.search(data)
    head = data[: end.start() + 2] if end else data
    found = _MESSAGE_ID.search(head)
    if found is None:
        return None
    value = b" ".join(found.group(1).split()).decode("ascii", "replace")
    return value or None


def idempotency_key(message_id: str, mail_from: str, recipients: tuple[str, ...]) -> str:
    text = "\n".join([message_id, mail_from, *sorted(recipients)])
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def _line_end(data: bytes) -> bytes:
    first = data.find(b"\n")
    return b"\r\n" if first <= 0 or data[first - 1:first] == b"\r" else b"\n"


def _with_message_id(data: bytes, mail_from: str, message_id: str | None) -> tuple[bytes, str]:
    found = message_id_of(data)
    if found is not None:
        return data, found
    new = message_id or new_message_id(mail_from)
    if any(c in new for c in "\r\n") or not new.isascii():
        raise SMTPInputError(f"smtpx.celery: a Message-ID must be one line of ASCII, not {new!r}")
    return b"Message-ID: " + new.encode("ascii") + _line_end(data) + data, new


def _dsn_of(recipients: Any) -> tuple[Any, dict[str, str]]:
    """EnvelopeRecipients (a queue file's) as their addresses, and their DSN options."""
    if isinstance(recipients, str) or not isinstance(recipients, (list, tuple)):
        return recipients, {}
    dsn = {r.address: r.options for r in recipients if isinstance(r, EnvelopeRecipient) and r.options}
    return [r.address if isinstance(r, EnvelopeRecipient) else r for r in recipients], dsn


def _check_dsn(dsn: Any, rcpts: tuple[str, ...]) -> dict[str, str]:
    if not isinstance(dsn, dict) or not all(isinstance(a, str) and isinstance(o, str) and a in rcpts
                                            for a, o in dsn.items()):
        raise SMTPInputError("smtpx.celery: dsn must map recipients of the message to their DSN options (str)")
    return dsn


def _check_envelope(mail_from: Any, recipients: Any, data: Any) -> tuple[str, tuple[str, ...], bytes]:
    if not isinstance(mail_from, str):
        raise SMTPInputError(f"smtpx.celery: the sender must be a str, not {type(mail_from).__name__}")
    if isinstance(recipients, str):
        recipients = [recipients]
    try:
        rcpts = tuple(recipients)
    except TypeError:
        raise SMTPInputError("smtpx.celery: the recipients must be a list of str") from None
    if not rcpts or not all(isinstance(r, str) for r in rcpts):
        raise SMTPInputError("smtpx.celery: the recipients must be a non-empty list of str")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise SMTPInputError(f"smtpx.celery: the message must be bytes, not {type(data).__name__}")
    return mail_from, rcpts, bytes(data)


def encode_message(message: Any, message_id: str | None = None) -> dict[str, Any]:
    """The JSON-able form of ``message``: an ``email.message.Message``, a ``(mail_from,
    recipients, bytes)`` tuple, or an already encoded dict (returned as it is, after a check).
    ``message_id`` is used when the message has none (default: a new unique one).
    SMTPInputError for anything else, or for a message smtpx would refuse to send."""
    if isinstance(message, dict):
        decode_message(message)  # refuses a damaged one here, before it is published
        return message
    dsn: dict[str, str]
    if isinstance(message, Message):
        dsn = {}
        if message.get("Message-ID") is None:
            message = copy.deepcopy(message)  # the caller's message is not changed (a shallow copy shares the headers)
            message["Message-ID"] = message_id or new_message_id(str(message.get("From", "")))
        prepared = prepare_email_message(message, what="smtpx.celery")
        mail_from, rcpts, data = prepared.mail_from, prepared.recipients, prepared.data
    elif isinstance(message, tuple) and len(message) == 3:
        recipients, dsn = _dsn_of(message[1])
        mail_from, rcpts, data = _check_envelope(message[0], recipients, message[2])
    else:
        raise SMTPInputError("smtpx.celery: a message is an email.message.Message, a (mail_from, recipients, "
                             f"bytes) tuple or an encoded dict, not {type(message).__name__}")
    data, mid = _with_message_id(data, mail_from, message_id)
    encoded: dict[str, Any] = {"v": VERSION, "mail_from": mail_from, "recipients": list(rcpts),
                               "data": base64.b64encode(data).decode("ascii"), "message_id": mid,
                               "key": idempotency_key(mid, mail_from, tuple(rcpts))}
    if dsn:
        encoded["dsn"] = dsn
    return encoded


def decode_message(item: Any) -> WireMessage:
    """The WireMessage of an encoded dict; SMTPInputError when it is not one (a damaged or
    hand-made payload): that message fails alone."""
    if not isinstance(item, dict) or item.get("v") != VERSION:
        raise SMTPInputError("smtpx.celery: not an encoded message (version 1 dict)")
    try:
        data = base64.b64decode(item["data"], validate=True)
        mail_from, rcpts, data = _check_envelope(item["mail_from"], item["recipients"], data)
        message_id, key = item["message_id"], item["key"]
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise SMTPInputError(f"smtpx.celery: a damaged encoded message: {exc}") from None
    if not isinstance(message_id, str) or not isinstance(key, str):
        raise SMTPInputError("smtpx.celery: a damaged encoded message: message_id and key must be str")
    if key != idempotency_key(message_id, mail_from, rcpts):
        raise SMTPInputError("smtpx.celery: a damaged encoded message: its key does not match its envelope")
    return WireMessage(mail_from, rcpts, data, message_id, key, _check_dsn(item.get("dsn", {}), rcpts))
