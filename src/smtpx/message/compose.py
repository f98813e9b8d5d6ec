"""Properties -> the message to send: the envelope (MAIL FROM, RCPT TO) and the content (the
header block, an empty line, the body). docs/compose.md describes the rules.

How the facade calls it::

    msg = compose_message(smtp, server_8bitmime=engine.capabilities.has("8BITMIME"))
    try:
        result = engine.send_mail(msg.envelope, msg.content())
        smtp._last_headers_string = msg.headers_string      # config("MessageHeadersString")
        smtp._last_transfer_text = msg.transfer_text or ""  # config("TransferText")
    finally:
        msg.close()   # closes a message stream when CloseStreamAfterTransfer is on

``server_8bitmime=None`` (not connected yet: message_headers, queue()) gives the form that is
safe for every server (8-bit text gets quoted-printable or base64), so a queued file can go
to any server later.
"""
from __future__ import annotations

import codecs
import email.charset
import hashlib
import io
import itertools
import os
import re
import socket
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import IO, Any

from smtpx import kernels
from smtpx.message.addresses import (
    Mailbox,
    check_header_text,
    display_name_is_encoded,
    format_address_list,
    parse_address_list,
    parse_reverse_path,
)
from smtpx.engine.envelope import Content, Envelope, EnvelopeRecipient
from smtpx.enums import Importance, Priority, RecipientType, Sensitivity
from smtpx.errors import SMTPInputError
from smtpx.facade.message_properties import recipient_mailbox
from smtpx.types import Header

__all__ = [
    "ComposedMessage",
    "ComposedHeaders",
    "compose_message",
    "compose_headers",
    "preview_headers",
    "format_date",
    "make_message_id",
    "IMPORTANCE_HEADER",
    "PRIORITY_HEADER",
    "SENSITIVITY_HEADER",
    "STREAM_CHUNK",
]

STREAM_CHUNK = 64 * 1024  # bytes read from a message stream at a time

# RFC 2156 (section 5.3.4) header values, which Outlook and most clients read and write.
IMPORTANCE_HEADER = {Importance.HIGH: "high", Importance.NORMAL: "normal", Importance.LOW: "low"}
PRIORITY_HEADER = {Priority.URGENT: "urgent", Priority.NORMAL: "normal", Priority.NON_URGENT: "non-urgent"}
SENSITIVITY_HEADER = {
    Sensitivity.PERSONAL: "Personal",
    Sensitivity.PRIVATE: "Private",
    Sensitivity.COMPANY_CONFIDENTIAL: "Company-Confidential",
}
_MIME_NAMES = frozenset({"content-type", "content-transfer-encoding", "mime-version"})
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_HASHES = {"MD5": hashlib.md5, "SHA1": hashlib.sha1, "SHA256": hashlib.sha256}
_HOSTNAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?\Z")
_HIGH_BYTES = bytes(range(128))  # deleted by translate() to count the 8-bit octets

_date_cache: tuple[int, str] = (-1, "")


@lru_cache(maxsize=32)
def mime_charset(charset: str) -> str:
    """The name written in Content-Type and encoded words for a Charset setting ("" = UTF-8),
    chosen as the folding kernel does (so headers and body agree)."""
    if not charset or codecs.lookup(charset).name == "utf-8":
        return "utf-8"
    return email.charset.Charset(charset).input_charset.lower()


def format_date(when: float | None = None) -> str:
    """RFC 5322 date-time in local time with a numeric zone, e.g. "Sat, 28 Nov 2026 13:09:33 +0000"
    (no locale: day and month names are always English)."""
    global _date_cache
    now = time.time() if when is None else when
    second = int(now)
    if when is None and _date_cache[0] == second:
        return _date_cache[1]
    t = time.localtime(second)
    off = t.tm_gmtoff or 0
    sign = "+" if off >= 0 else "-"
    off = abs(off) // 60
    text = (f"{_DAYS[t.tm_wday]}, {t.tm_mday} {_MONTHS[t.tm_mon - 1]} {t.tm_year} "
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} {sign}{off // 60:02d}{off % 60:02d}")
    if when is None:
        _date_cache = (second, text)
    return text


_id_counter = itertools.count()
_id_seed = os.urandom(16)
_local_host: str | None = None


def _local_domain() -> str:
    global _local_host
    if _local_host is None:
        try:
            name = socket.gethostname()
        except OSError:
            name = ""
        _local_host = name if _HOSTNAME.match(name or "") else "localhost"
    return _local_host


def make_message_id(algorithm: str, domain: str) -> str:
    """``<hash@domain>``: the hash (MD5, SHA1 or SHA256) of a per-process random seed, the
    process id, the time in ns and a counter, so ids never repeat, even across fork()."""
    material = b"%s%d.%d.%d" % (_id_seed, os.getpid(), time.time_ns(), next(_id_counter))
    return f"<{_HASHES[algorithm](material).hexdigest()}@{domain}>"


def _id_domain(from_box: Mailbox | None, hello: str) -> str:
    if from_box is not None:
        domain = from_box.addr_spec.rpartition("@")[2]
        if _HOSTNAME.match(domain):
            return domain
    if hello and _HOSTNAME.match(hello):
        return hello
    return _local_domain()


def _headers_of(text: str) -> list[Header]:
    """Header objects (field, value as sent with the folding removed) of a header block."""
    out = []
    for line in text.split("\r\n"):
        if not line:
            continue
        if line[0] in " \t" and out:
            out[-1].value += line
            continue
        name, _, value = line.partition(":")
        out.append(Header(name, value[1:] if value.startswith(" ") else value))
    return out


@dataclass
class ComposedHeaders:
    """The header block: ``text`` (folded, each line ending with CRLF, then the empty line; ""
    when OtherHeaders is just an empty line) and ``headers`` (field, value as sent, unfolded)."""

    text: str
    needs_smtputf8: bool
    replaced: bool

    @property
    def headers(self) -> list[Header]:
        return _headers_of(self.text)


@dataclass
class ComposedMessage:
    """The message ready for the engine. ``content()`` gives a fresh engine Content each call
    (for a stream: seekable streams are rewound; others can be sent once)."""

    envelope: Envelope
    headers_string: str
    transfer_text: str | None  # the body as sent; None for a stream
    needs_smtputf8: bool
    eight_bit: bool
    binary: bool
    transfer_encoding: str | None  # "7bit", "8bit", "quoted-printable", "base64"; None: as given
    size: int | None
    body: bytes | None = None
    stream: IO[bytes] | None = None
    close_stream: bool = False
    _stream_start: int | None = field(default=None, repr=False)
    _stream_used: bool = field(default=False, repr=False)

    @property
    def headers(self) -> list[Header]:
        """The headers as sent (field, value without the folding)."""
        return _headers_of(self.headers_string)

    def content(self) -> Content:
        return Content(self.iter_bytes(), self.size, eight_bit=self.eight_bit, binary=self.binary,
                       smtputf8=self.needs_smtputf8, normalise=True)

    def iter_bytes(self) -> Iterable[bytes]:
        """The message bytes (headers, empty line, body), not dot-stuffed, in chunks. In-memory
        bodies give a tuple (re-iterable, so the engine may pipeline it and retry after a 452);
        a stream gives a one-shot iterator."""
        head = self.headers_string.encode("utf-8")
        if self.stream is None:
            return (head, self.body or b"")
        return self._stream_chunks(head)

    def _stream_chunks(self, head: bytes) -> Iterator[bytes]:
        stream = self.stream
        assert stream is not None
        if self._stream_used:
            if self._stream_start is None:
                raise SMTPInputError("the message stream is not seekable and was already sent; "
                                     "call set_message_stream() again")
            stream.seek(self._stream_start)
        self._stream_used = True
        if head:
            yield head
        read = stream.read
        while True:
            chunk = read(STREAM_CHUNK)
            if not chunk:
                return
            if isinstance(chunk, str):
                raise SMTPInputError("the message stream must be opened in binary mode")
            yield bytes(chunk)

    def close(self) -> None:
        """After the transfer: closes the message stream if CloseStreamAfterTransfer is on."""
        if self.stream is not None and self.close_stream:
            self.stream.close()


def _fold_plain(name: str, value: str, max_len: int) -> str:
    """Fold at spaces without encoding anything: for address headers whose display names were
    already written as encoded words (the kernel would encode their "=?" again)."""
    parts = [name, ":"]
    line = len(name) + 1
    for word in value.split(" "):
        if line + 1 + len(word) > max_len and line > len(name) + 1:
            parts.append("\r\n")
            line = 0
        parts.append(" ")
        parts.append(word)
        line += 1 + len(word)
    return "".join(parts)


class _Encoded(str):
    """An address-list value whose display names are already encoded words."""


def _address_value(boxes: list[Mailbox], charset: str) -> str:
    value = format_address_list(boxes, charset)
    if any(display_name_is_encoded(b.name) for b in boxes):
        return _Encoded(value)
    return value


def _fold(name: str, value: str, max_len: int, charset: str) -> str:
    if type(value) is _Encoded:
        return _fold_plain(name, value, max_len)
    if value.isascii() and len(name) + 2 + len(value) <= max_len and "=?" not in value:
        return f"{name}: {value}"  # nothing to fold or encode (the kernel would return the same)
    if "\r\n" in value:  # already folded by the user (OtherHeaders continuation lines)
        return f"{name}: {value}"
    return kernels.fold_header(name, value, max_len, charset)


def _recipients(obj: Any) -> list[tuple[RecipientType, Mailbox, str]]:
    """(kind, parsed mailbox, options) per entry of message_recipients (checked again here:
    MessageRecipient objects can be changed after they were added)."""
    out = []
    for r in obj._mp_recipients:
        kind = r.recipient_type
        if type(kind) is not RecipientType:
            try:
                kind = RecipientType(int(kind))
            except (ValueError, TypeError):
                raise SMTPInputError(f"MessageRecipient.recipient_type {kind!r} is not 0 (To), 1 (Cc) or 2 (BCc)") from None
        if r.options:
            check_header_text(r.options, "MessageRecipient.options")
        out.append((kind, recipient_mailbox(r), r.options))
    return out


def compose_headers(obj: Any, *, mime: list[tuple[str, str]] | None = None, now: float | None = None,
                    recipients: list[tuple[RecipientType, Mailbox, str]] | None = None) -> ComposedHeaders:
    """The header block from the properties of ``obj`` (a MessageProperties object). ``mime``:
    the MIME headers the body needs (compose_message passes them)."""
    cfg = obj._config
    fold = cfg.value("FoldHeaders")
    max_len = cfg.value("MaxHeaderLength") if fold else 998
    charset = cfg.value("Charset") or "utf-8"
    names_charset = mime_charset(cfg.value("Charset"))
    replaced, other = obj._mp_other_parsed

    fields: list[tuple[str, str]] = []
    if not replaced:
        from_box = obj._mp_from_box
        if from_box is not None:
            fields.append(("From", _address_value([from_box], names_charset)))
        if recipients is None:
            recipients = _recipients(obj)
        to = [mb for kind, mb, _ in recipients if kind is RecipientType.TO]
        cc = [mb for kind, mb, _ in recipients if kind is RecipientType.CC]
        if to:
            fields.append(("To", _address_value(to, names_charset)))
        if cc:
            fields.append(("Cc", _address_value(cc, names_charset)))
        if obj._mp_subject:
            fields.append(("Subject", obj._mp_subject))
        date = obj._mp_message_date
        if date:
            fields.append(("Date", format_date(now) if date == "*" else date))
        mid = obj._mp_message_id
        if mid:
            if mid == "*":
                mid = make_message_id(cfg.value("MessageIdAlgorithm"), _id_domain(from_box, cfg.value("Hello")))
            elif not mid.startswith("<"):
                mid = f"<{mid}>"
            fields.append(("Message-ID", mid))
        if obj._mp_reply_to_boxes:
            fields.append(("Reply-To", _address_value(obj._mp_reply_to_boxes, names_charset)))
        if obj._mp_importance:
            fields.append(("Importance", IMPORTANCE_HEADER[obj._mp_importance]))
        if obj._mp_priority:
            fields.append(("Priority", PRIORITY_HEADER[obj._mp_priority]))
        if obj._mp_sensitivity:
            fields.append(("Sensitivity", SENSITIVITY_HEADER[obj._mp_sensitivity]))
        if obj._mp_delivery_notification_to.strip():
            boxes = parse_address_list(obj._mp_delivery_notification_to, "DeliveryNotificationTo")
            fields.append(("Return-Receipt-To", _address_value(boxes, names_charset)))
        if obj._mp_read_receipt_to.strip():
            boxes = parse_address_list(obj._mp_read_receipt_to, "ReadReceiptTo")
            fields.append(("Disposition-Notification-To", _address_value(boxes, names_charset)))
        if mime:
            fields.extend(mime)
    fields.extend((h.field, h.value) for h in other)

    lines = [_fold(name, value, max_len, charset) for name, value in fields]
    if replaced and not lines:
        text = ""
    else:
        lines.append("")
        lines.append("")
        text = "\r\n".join(lines)
    return ComposedHeaders(text, not text.isascii(), replaced)


def _envelope(obj: Any, verb: str, replaced: bool, parsed: list[tuple[RecipientType, Mailbox, str]]) -> Envelope:
    cfg = obj._config
    return_path = obj._mp_return_path
    from_box = obj._mp_from_box
    if return_path.strip():
        mail_from = parse_reverse_path(return_path)
    elif from_box is not None:
        mail_from = from_box.addr_spec
    else:
        raise SMTPInputError("Please specify a sender (From).", code=164)
    if from_box is None and not replaced:
        raise SMTPInputError("Please specify a sender (From).", code=164)
    recipients: list[EnvelopeRecipient] = []
    seen: set[str] = set()
    has_to = False
    for kind, mailbox, options in parsed:
        addr = mailbox.addr_spec
        if addr in seen:  # one RCPT per address: the first kind given wins
            continue
        seen.add(addr)
        has_to = has_to or kind is RecipientType.TO
        recipients.append(EnvelopeRecipient(addr, kind, options))
    if not recipients:
        raise SMTPInputError("Please specify a recipient.", code=165)
    if not has_to and not cfg.value("AllowEmptyTo"):
        raise SMTPInputError("Please specify a recipient: SendTo is empty (set AllowEmptyTo to send to Cc/BCc only).",
                             code=165)
    return Envelope(mail_from, recipients, verb)


def _normalise_text(text: str) -> str:
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\n", "\r\n")
    if text and not text.endswith("\r\n"):
        text += "\r\n"
    return text


def _plan_text_body(text: str, charset: str, server_8bitmime: bool | None, user_mime: bool):
    """(body bytes, mime headers, transfer encoding, eight_bit, binary)."""
    codec = charset or "utf-8"
    try:
        raw = _normalise_text(text).encode(codec)
    except UnicodeEncodeError as exc:
        raise SMTPInputError(f"MessageText has characters the charset {codec!r} cannot encode: "
                             f"{exc.object[exc.start:exc.end]!r}") from None
    cls = kernels.classify_body(raw)
    if user_mime:  # the user wrote the MIME headers: the body is theirs, sent as is
        return raw, [], None, cls.eight_bit, cls.binary
    ctype = f'text/plain; charset="{mime_charset(charset)}"'
    if cls.seven_bit:
        if text.isascii():
            return raw, [], "7bit", False, False
        # Non-ASCII text in a 7-bit charset (ISO-2022-JP, UTF-7): without a Content-Type the
        # reader would take it as US-ASCII (RFC 2045 5.2), so the charset must be named.
        return raw, [("MIME-Version", "1.0"), ("Content-Type", ctype), ("Content-Transfer-Encoding", "7bit")], \
            "7bit", False, False
    if cls.eight_bit and server_8bitmime:
        return raw, [("MIME-Version", "1.0"), ("Content-Type", ctype), ("Content-Transfer-Encoding", "8bit")], \
            "8bit", True, False
    high = len(raw.translate(None, _HIGH_BYTES))
    if high * 6 > len(raw):  # QP would be longer than base64 (each 8-bit octet costs 3 in QP)
        body, cte = kernels.b64_encode_wrapped(raw), "base64"
    else:
        body, cte = kernels.qp_encode(raw), "quoted-printable"
        if body and not body.endswith(b"\r\n"):
            body += b"\r\n"
    return body, [("MIME-Version", "1.0"), ("Content-Type", ctype), ("Content-Transfer-Encoding", cte)], \
        cte, False, False


def _body_plan(obj: Any, server_8bitmime: bool | None):
    """(body bytes or None for a stream, mime headers, cte, eight_bit, binary, transfer_text)."""
    replaced, other = obj._mp_other_parsed
    if obj._mp_stream is not None:
        return None, [], None, bool(server_8bitmime), False, None
    if obj._mp_message:
        body = obj._mp_message
        cls = kernels.classify_body(body)
        return body, [], None, cls.eight_bit, cls.binary, body.decode("utf-8", "surrogateescape")
    user_mime = replaced or any(h.field.lower() in _MIME_NAMES for h in other)
    charset = obj._config.value("Charset")
    body, mime, cte, eight_bit, binary = _plan_text_body(obj._mp_message_text, charset, server_8bitmime, user_mime)
    if eight_bit or user_mime:
        text = body.decode(charset or "utf-8", "surrogateescape")
    else:
        text = body.decode("latin-1")  # ASCII after the transfer encoding
    return body, mime, cte, eight_bit, binary, text


def preview_headers(obj: Any) -> ComposedHeaders:
    """The header block a send would use now (message_headers / message_headers_string),
    in the form for a server whose 8BITMIME support is not known yet."""
    mime = _body_plan(obj, None)[1]
    return compose_headers(obj, mime=mime)


def compose_message(obj: Any, *, server_8bitmime: bool | None = None, verb: str = "MAIL",
                    now: float | None = None) -> ComposedMessage:
    """Compose the message from the properties and config of ``obj``.

    server_8bitmime: True/False once EHLO said whether the server has 8BITMIME; None when it is
    not known (the 7-bit-safe form). verb: MAIL, or SEND/SOML/SAML for send_to_terminal_*.
    Raises SMTPInputError: 164 without From, 165 without recipients, 10022 for bad input."""
    cfg = obj._config
    stream = obj._mp_stream
    body, mime, cte, eight_bit, binary, transfer_text = _body_plan(obj, server_8bitmime)
    parsed = _recipients(obj)
    head = compose_headers(obj, mime=mime, now=now, recipients=parsed)
    envelope = _envelope(obj, verb, head.replaced, parsed)
    smtputf8 = head.needs_smtputf8 or not envelope.mail_from.isascii() or \
        any(not r.address.isascii() for r in envelope.recipients)

    size: int | None = None
    start: int | None = None
    head_len = len(head.text) if head.text.isascii() else len(head.text.encode("utf-8"))
    if stream is None:
        size = head_len + len(body or b"")
    else:
        try:
            if stream.seekable():
                start = stream.tell()
                end = stream.seek(0, io.SEEK_END)
                stream.seek(start)
                size = head_len + end - start
        except (AttributeError, OSError, ValueError):
            start, size = None, None
    return ComposedMessage(
        envelope=envelope,
        headers_string=head.text,
        transfer_text=transfer_text,
        needs_smtputf8=smtputf8,
        eight_bit=eight_bit,
        binary=binary,
        transfer_encoding=cte,
        size=size,
        body=body,
        stream=stream,
        close_stream=stream is not None and cfg.value("CloseStreamAfterTransfer"),
        _stream_start=start,
    )
