"""A MessageSpec -> the message to send: the envelope (MAIL FROM, RCPT TO) and the content (the
header block, an empty line, the body). docs/compose.md describes the rules.

How the facade calls it (once per send)::

    msg = compose_message(spec)                       # before connecting: bad input raises here
    msg = msg.for_server(engine.capabilities.has("8BITMIME"))   # after EHLO
    try:
        result = engine.send_mail(msg.envelope, msg.content())
    finally:
        msg.close()   # closes a message stream when CloseStreamAfterTransfer is on

``server_8bitmime=None`` (not connected yet: message_headers, queue()) gives the form that is
safe for every server (8-bit text gets quoted-printable or base64), so a queued file can go
to any server later. ``for_server`` re-plans only what depends on 8BITMIME: the encoding of an
8-bit text body (and its MIME headers), and a stream's 8-bit flag.
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
from typing import IO, NamedTuple

from smtpx import kernels
from smtpx.engine.envelope import Content, Envelope, EnvelopeRecipient, make_content
from smtpx.enums import Importance, Priority, RecipientType, Sensitivity
from smtpx.errors import SMTPInputError
from smtpx.message.addresses import (
    Mailbox,
    display_name_is_encoded,
    format_address_list,
    parse_address_list,
    parse_mailbox,
    parse_reverse_path,
)
from smtpx.message.fields import OtherHeaders, parse_other_headers
from smtpx.message.spec import MessageSpec
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
_id_pid = b"%s%d." % (_id_seed, os.getpid())  # os.getpid() is a system call: once per process


def _seeded() -> dict[str, hashlib._Hash]:
    """Per algorithm, a hash that has taken the seed and the pid: each id copies it and adds
    its own count (the same digest as hashing it all, without setting up a hash each time)."""
    return {name: new(_id_pid) for name, new in _HASHES.items()}


_id_hashes = _seeded()


def _new_id_pid() -> None:
    global _id_pid, _id_hashes
    _id_pid = b"%s%d." % (_id_seed, os.getpid())
    _id_hashes = _seeded()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_id_pid)
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
    process id and a counter, so ids never repeat, even across fork() (the child's pid
    differs) or in another process (its seed does)."""
    digest = _id_hashes[algorithm].copy()
    digest.update(str(next(_id_counter)).encode("ascii"))
    return f"<{digest.hexdigest()}@{domain}>"


@lru_cache(maxsize=64)  # (a mail merge keeps its sender: three calls a message, one regex each)
def _id_domain(from_box: Mailbox | None, hello: str) -> str:
    """The domain of a fresh Message-ID: the sender's, else the HELO name, else this host's."""
    if from_box is not None:
        domain = from_box.addr_spec.rpartition("@")[2]
        if _HOSTNAME.match(domain):
            return domain
    if hello and _HOSTNAME.match(hello):
        return hello
    return _local_domain()


def _headers_of(text: str) -> list[Header]:
    """Header objects (field, value as sent with the folding removed) of a header block."""
    out: list[Header] = []
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


class _Body(NamedTuple):
    """How the body goes: its bytes (None for a stream), the MIME headers it needs, its
    transfer encoding, its class, the codec that shows it as text (TransferText), and whether
    another answer to "has the server 8BITMIME?" would change any of that."""

    data: bytes | None
    mime: list[tuple[str, str]]
    encoding: str | None
    eight_bit: bool
    binary: bool
    text_codec: str | None
    follows_8bitmime: bool


class _Parts(NamedTuple):
    """What for_server() needs to plan again a body whose form depends on 8BITMIME: the spec,
    the computed header fields (Date and Message-ID included, so the message keeps them),
    OtherHeaders, and the 8BITMIME answer the body was planned for."""

    spec: MessageSpec
    fields: list[tuple[str, str]]
    other: OtherHeaders
    server_8bitmime: bool | None


@dataclass
class ComposedMessage:
    """The message ready for the engine. ``content()`` gives a fresh engine Content each call
    (for a stream: seekable streams are rewound; others can be sent once)."""

    envelope: Envelope
    headers_string: str
    needs_smtputf8: bool
    eight_bit: bool
    binary: bool
    transfer_encoding: str | None  # "7bit", "8bit", "quoted-printable", "base64"; None: as given
    size: int | None
    body: bytes | None = None
    stream: IO[bytes] | None = None
    close_stream: bool = False
    _text_codec: str | None = field(default=None, repr=False)
    _parts: _Parts | None = field(default=None, repr=False)
    _stream_start: int | None = field(default=None, repr=False)
    _stream_used: bool = field(default=False, repr=False)

    @property
    def headers(self) -> list[Header]:
        """The headers as sent (field, value without the folding)."""
        return _headers_of(self.headers_string)

    @property
    def transfer_text(self) -> str | None:
        """The body as sent, as text (config TransferText); None for a stream. Decoded when
        asked, not on every send."""
        if self.body is None or self._text_codec is None:
            return None
        return self.body.decode(self._text_codec, "surrogateescape")

    def for_server(self, server_8bitmime: bool) -> "ComposedMessage":
        """This message for a server whose EHLO did (or did not) offer 8BITMIME: the same
        object unless the body's form depends on the answer (8-bit text goes as it is to such a
        server, quoted-printable or base64 to others; a stream's 8-bit flag follows it)."""
        parts = self._parts
        if parts is None or bool(parts.server_8bitmime) == server_8bitmime:
            return self
        body = _body_plan(parts.spec, parts.other, server_8bitmime)
        return _assemble(parts.spec, self.envelope, parts.fields, parts.other, server_8bitmime, body)

    def content(self) -> Content:
        # (made for every message: its slots filled from C, smtpx.engine.envelope.make_content)
        return make_content(self.iter_bytes(), self.size, self.eight_bit, self.binary, self.needs_smtputf8, True)

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
    for box in boxes:
        if box.name and display_name_is_encoded(box.name):
            return _Encoded(value)
    return value


@lru_cache(maxsize=256, typed=True)  # typed: an _Encoded value folds otherwise than an equal str
def _fold(name: str, value: str, max_len: int, charset: str) -> str:
    if type(value) is _Encoded:
        return _fold_plain(name, value, max_len)
    if value.isascii() and len(name) + 2 + len(value) <= max_len and "=?" not in value:
        return f"{name}: {value}"  # nothing to fold or encode (the kernel would return the same)
    if "\r\n" in value:  # already folded by the user (OtherHeaders continuation lines)
        return f"{name}: {value}"
    return kernels.fold_header(name, value, max_len, charset)


def _from_box(spec: MessageSpec) -> Mailbox | None:
    return parse_mailbox(spec.from_, "From") if spec.from_.strip() else None


# The last header fields computed, with what they were computed from: the next message with
# the same header properties (a loop of send()) makes only its Date and Message-ID again when
# they are "*". (key, fields, index of a "*" Date, index of a "*" Message-ID, the id's domain)
_last_fields: tuple[tuple[object, ...], list[tuple[str, str]], int, int, str] | None = None


def _header_fields(spec: MessageSpec, from_box: Mailbox | None, now: float | None) -> list[tuple[str, str]]:
    """The computed header fields, in order, before the MIME ones the body may add."""
    global _last_fields
    key = (spec.from_, spec.recipients, spec.subject, spec.message_date, spec.message_id, spec.reply_to,
           spec.importance, spec.priority, spec.sensitivity, spec.delivery_notification_to,
           spec.read_receipt_to, spec.settings)
    last = _last_fields
    if last is not None and now is None and last[0] == key:
        return _renewed(last[1], last[2], last[3], spec.settings.message_id_algorithm, last[4])
    fields = _new_header_fields(spec, from_box, now)
    if now is None:
        _last_fields = (key, fields, *_fresh_at(spec, fields), _id_domain(from_box, spec.settings.hello))
    return list(fields)


def _fresh_at(spec: MessageSpec, fields: list[tuple[str, str]]) -> tuple[int, int]:
    """Where in ``fields`` the Date and the Message-ID made for each message ("*") are; -1
    for one that is given, or absent."""
    names = [name for name, _ in fields]
    date = names.index("Date") if spec.message_date == "*" and "Date" in names else -1
    mid = names.index("Message-ID") if spec.message_id == "*" and "Message-ID" in names else -1
    return date, mid


def _renewed(fields: list[tuple[str, str]], date_at: int, id_at: int, algorithm: str,
             id_domain: str) -> list[tuple[str, str]]:
    """A copy of ``fields`` with a fresh Date and Message-ID at those indexes (-1: none)."""
    fields = list(fields)
    if date_at >= 0:
        fields[date_at] = ("Date", format_date())
    if id_at >= 0:
        fields[id_at] = ("Message-ID", make_message_id(algorithm, id_domain))
    return fields


def _new_header_fields(spec: MessageSpec, from_box: Mailbox | None, now: float | None) -> list[tuple[str, str]]:
    names_charset = mime_charset(spec.settings.charset)
    fields: list[tuple[str, str]] = []
    if from_box is not None:
        fields.append(("From", _address_value([from_box], names_charset)))
    to = [mb for kind, mb, _ in spec.recipients if kind is RecipientType.TO]
    cc = [mb for kind, mb, _ in spec.recipients if kind is RecipientType.CC]
    if to:
        fields.append(("To", _address_value(to, names_charset)))
    if cc:
        fields.append(("Cc", _address_value(cc, names_charset)))
    if spec.subject:
        fields.append(("Subject", spec.subject))
    date = spec.message_date
    if date:
        fields.append(("Date", format_date(now) if date == "*" else date))
    mid = spec.message_id
    if mid:
        if mid == "*":
            mid = make_message_id(spec.settings.message_id_algorithm, _id_domain(from_box, spec.settings.hello))
        elif not mid.startswith("<"):
            mid = f"<{mid}>"
        fields.append(("Message-ID", mid))
    if spec.reply_to.strip():
        reply_to = parse_address_list(spec.reply_to, "ReplyTo")
        if reply_to:
            fields.append(("Reply-To", _address_value(reply_to, names_charset)))
    if spec.importance:
        fields.append(("Importance", IMPORTANCE_HEADER[spec.importance]))
    if spec.priority:
        fields.append(("Priority", PRIORITY_HEADER[spec.priority]))
    if spec.sensitivity:
        fields.append(("Sensitivity", SENSITIVITY_HEADER[spec.sensitivity]))
    if spec.delivery_notification_to.strip():
        boxes = parse_address_list(spec.delivery_notification_to, "DeliveryNotificationTo")
        fields.append(("Return-Receipt-To", _address_value(boxes, names_charset)))
    if spec.read_receipt_to.strip():
        boxes = parse_address_list(spec.read_receipt_to, "ReadReceiptTo")
        fields.append(("Disposition-Notification-To", _address_value(boxes, names_charset)))
    return fields


def _header_block(spec: MessageSpec, fields: list[tuple[str, str]], mime: list[tuple[str, str]],
                  other: OtherHeaders) -> ComposedHeaders:
    """The folded header block: the computed fields, the MIME ones, then OtherHeaders (alone
    when they replace the computed ones)."""
    lines = _header_lines(spec, fields, mime, other)
    if other.replaces and not lines:
        text = ""
    else:
        lines.append("")
        lines.append("")
        text = "\r\n".join(lines)
    return ComposedHeaders(text, not text.isascii(), other.replaces)


def _header_lines(spec: MessageSpec, fields: list[tuple[str, str]], mime: list[tuple[str, str]],
                  other: OtherHeaders) -> list[str]:
    """The header block's folded lines, without line ends."""
    max_len, charset = _fold_settings(spec)
    every = other.fields if other.replaces else [*fields, *mime, *other.fields]
    return [_fold(name, value, max_len, charset) for name, value in every]


def compose_headers(spec: MessageSpec, *, mime: list[tuple[str, str]] | None = None,
                    now: float | None = None) -> ComposedHeaders:
    """The header block of ``spec``; ``mime``: the MIME headers the body needs."""
    other = parse_other_headers(spec.other_headers)
    fields = [] if other.replaces else _header_fields(spec, _from_box(spec), now)
    return _header_block(spec, fields, mime or [], other)


def _envelope(spec: MessageSpec, verb: str, replaced: bool, from_box: Mailbox | None) -> Envelope:
    if spec.return_path.strip():
        mail_from = parse_reverse_path(spec.return_path)
    elif from_box is not None:
        mail_from = from_box.addr_spec
    else:
        raise SMTPInputError("Please specify a sender (From).", code=164)
    if from_box is None and not replaced:
        raise SMTPInputError("Please specify a sender (From).", code=164)
    recipients: list[EnvelopeRecipient] = []
    seen: set[str] = set()
    has_to = False
    for kind, mailbox, options in spec.recipients:
        addr = mailbox.addr_spec
        if addr in seen:  # one RCPT per address: the first kind given wins
            continue
        seen.add(addr)
        has_to = has_to or kind is RecipientType.TO
        recipients.append(EnvelopeRecipient(addr, kind, options))
    if not recipients:
        raise SMTPInputError("Please specify a recipient.", code=165)
    if not has_to and not spec.settings.allow_empty_to:
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


# The last text body planned: a loop of send() with an unchanged MessageText plans it once.
# Keyed by the str object itself (``is``: no comparison of a long body) and the other inputs;
# a _Body is immutable, so sharing it is safe.
_last_text_plan: tuple[str, str, bool | None, bool, _Body] | None = None


def _plan_text_body(text: str, charset: str, server_8bitmime: bool | None, user_mime: bool) -> _Body:
    global _last_text_plan
    last = _last_text_plan
    if last is not None and last[0] is text and last[1] == charset and last[2] == server_8bitmime \
            and last[3] == user_mime:
        return last[4]
    body = _plan_new_text_body(text, charset, server_8bitmime, user_mime)
    _last_text_plan = (text, charset, server_8bitmime, user_mime, body)
    return body


def _plan_new_text_body(text: str, charset: str, server_8bitmime: bool | None, user_mime: bool) -> _Body:
    codec = charset or "utf-8"
    try:
        raw = _normalise_text(text).encode(codec)
    except UnicodeEncodeError as exc:
        raise SMTPInputError(f"MessageText has characters the charset {codec!r} cannot encode: "
                             f"{exc.object[exc.start:exc.end]!r}") from None
    cls = kernels.classify_body(raw)
    if user_mime:  # the user wrote the MIME headers: the body is theirs, sent as is
        return _Body(raw, [], None, cls.eight_bit, cls.binary, codec, False)
    if cls.seven_bit and text.isascii():
        return _Body(raw, [], "7bit", False, False, "latin-1", False)
    ctype = f'text/plain; charset="{mime_charset(charset)}"'
    if cls.seven_bit:
        # Non-ASCII text in a 7-bit charset (ISO-2022-JP, UTF-7): without a Content-Type the
        # reader would take it as US-ASCII (RFC 2045 5.2), so the charset must be named.
        return _Body(raw, _mime(ctype, "7bit"), "7bit", False, False, "latin-1", False)
    if cls.eight_bit and server_8bitmime:
        return _Body(raw, _mime(ctype, "8bit"), "8bit", True, False, codec, True)
    high = len(raw.translate(None, _HIGH_BYTES))
    if high * 6 > len(raw):  # QP would be longer than base64 (each 8-bit octet costs 3 in QP)
        body, cte = kernels.b64_encode_wrapped(raw), "base64"
    else:
        body, cte = kernels.qp_encode(raw), "quoted-printable"
        if body and not body.endswith(b"\r\n"):
            body += b"\r\n"
    # ASCII after the transfer encoding; 8-bit text would go as it is to an 8BITMIME server.
    return _Body(body, _mime(ctype, cte), cte, False, False, "latin-1", cls.eight_bit)


def _mime(content_type: str, encoding: str) -> list[tuple[str, str]]:
    return [("MIME-Version", "1.0"), ("Content-Type", content_type), ("Content-Transfer-Encoding", encoding)]


def _body_plan(spec: MessageSpec, other: OtherHeaders, server_8bitmime: bool | None) -> _Body:
    if spec.stream is not None:
        return _Body(None, [], None, bool(server_8bitmime), False, None, True)
    if spec.message:
        cls = kernels.classify_body(spec.message)
        return _Body(spec.message, [], None, cls.eight_bit, cls.binary, "utf-8", False)
    user_mime = other.replaces or any(name.lower() in _MIME_NAMES for name, _ in other.fields)
    return _plan_text_body(spec.message_text, spec.settings.charset, server_8bitmime, user_mime)


def preview_headers(spec: MessageSpec) -> ComposedHeaders:
    """The header block a send would use now (message_headers / message_headers_string),
    in the form for a server whose 8BITMIME support is not known yet."""
    mime = _body_plan(spec, parse_other_headers(spec.other_headers), None).mime
    return compose_headers(spec, mime=mime)


def compose_message(spec: MessageSpec, *, server_8bitmime: bool | None = None, verb: str = "MAIL",
                    now: float | None = None, reuse: bool = False, ahead: Ahead | None = None) -> ComposedMessage:
    """Compose the message ``spec`` describes.

    server_8bitmime: True/False once EHLO said whether the server has 8BITMIME; None when it is
    not known (the 7-bit-safe form; ComposedMessage.for_server() adapts it later). verb: MAIL,
    or SEND/SOML/SAML for send_to_terminal_*. reuse: the message goes to the engine and to no
    one else (the facades' send()): it may be the last one composed again, with a fresh "*"
    Date and Message-ID, when the spec is equal (_Template); a message that reaches the caller
    never shares its mutable envelope that way. ahead: a message made ahead from the kept
    template (message_ahead), given when it is still fit (same template, same second). Raises
    SMTPInputError: 164 without From, 165 without recipients, 10022 for bad input."""
    global _last_template
    template = _last_template if reuse else None
    if template is not None and now is None and template.verb == verb \
            and template.server_8bitmime == server_8bitmime:
        if template.spec == spec:
            if ahead is not None and ahead.template is template and ahead.second == int(time.time()):
                return ahead.message
            return template.again()
        if _same_but_recipients(template.spec, spec):  # a mail merge: the next recipient
            merged = template.for_recipients(spec)
            if merged is not None:
                message, _last_template = merged
                return message
    other = parse_other_headers(spec.other_headers)
    body = _body_plan(spec, other, server_8bitmime)
    from_box = _from_box(spec)
    fields = [] if other.replaces else _header_fields(spec, from_box, now)
    envelope = _envelope(spec, verb, other.replaces, from_box)
    message = _assemble(spec, envelope, fields, other, server_8bitmime, body)
    if reuse and now is None and spec.stream is None:  # a stream is read anew by each send: never kept
        _last_template = _Template.of(spec, server_8bitmime, verb, message, fields, body.mime, other,
                                      _id_domain(from_box, spec.settings.hello), from_box)
    return message


@dataclass(slots=True)
class _Template:
    """The last message composed from an in-memory spec, kept so that the next one from an
    equal spec (a loop of send() with unchanged properties) is this message again with only
    its "*" Date and Message-ID made anew: composition is deterministic otherwise. A spec is
    immutable, and equal specs mostly hold the very same objects, so the check is cheap.

    A spec equal but for its recipients (a mail merge: the recipients cleared and set before
    each send()) is this message again with its To and Cc fields and its envelope made for
    them too, when the header has the same fields (a To where there was one, a Cc where there
    was one); otherwise it is composed anew."""

    spec: MessageSpec
    server_8bitmime: bool | None
    verb: str
    message: ComposedMessage
    fields: list[tuple[str, str]]
    lines: list[str]  # the folded header lines, then "" and "" (the CRLFs that end the block)
    date_at: int  # the index of a "*" Date in fields and lines, or -1
    id_at: int  # the index of a "*" Message-ID, or -1
    id_domain: str
    fold: tuple[int, str]  # _fold_settings(spec)
    to_at: int  # the index of To in fields and lines, or -1 (also -1 when OtherHeaders replace them)
    cc_at: int  # the index of Cc, or -1
    from_box: Mailbox | None

    @classmethod
    def of(cls, spec: MessageSpec, server_8bitmime: bool | None, verb: str, message: ComposedMessage,
           fields: list[tuple[str, str]], mime: list[tuple[str, str]], other: OtherHeaders,
           id_domain: str, from_box: Mailbox | None) -> "_Template":
        date_at, id_at = _fresh_at(spec, fields)  # fields: [] when OtherHeaders replace them
        lines = [*_header_lines(spec, fields, mime, other), "", ""]
        names = [name for name, _ in fields]
        to_at = names.index("To") if "To" in names else -1
        cc_at = names.index("Cc") if "Cc" in names else -1
        return cls(spec, server_8bitmime, verb, message, fields, lines, date_at, id_at, id_domain,
                   _fold_settings(spec), to_at, cc_at, from_box)

    def again(self) -> ComposedMessage:
        """The kept message with a fresh Date and Message-ID where they are "*"."""
        kept = self.message
        if self.date_at < 0 and self.id_at < 0:
            return _copy(self, self.fields, kept.headers_string, kept.envelope, kept.needs_smtputf8, self.spec)
        fields, lines = _fresh_date_and_id(self, self.fields, self.lines.copy())
        return _copy(self, fields, "\r\n".join(lines), kept.envelope, kept.needs_smtputf8, self.spec)

    def for_recipients(self, spec: MessageSpec) -> tuple[ComposedMessage, _Template] | None:
        """The kept message for ``spec``, equal to the kept one but for its recipients, with
        their To, Cc and envelope and a fresh Date and Message-ID, and the template to keep
        for the next message (a new one: a template never changes, as threads share it);
        None when the header's fields would differ (compose it anew). Raises as composing
        anew would (165 without recipients)."""
        to = [mailbox for kind, mailbox, _ in spec.recipients if kind is RecipientType.TO]
        cc = [mailbox for kind, mailbox, _ in spec.recipients if kind is RecipientType.CC]
        if (self.to_at >= 0) != bool(to) or (self.cc_at >= 0) != bool(cc) or not (to or cc):
            return None
        envelope = _envelope(spec, self.verb, False, self.from_box)
        fields, lines = list(self.fields), self.lines.copy()
        charset = mime_charset(spec.settings.charset)
        max_len, fold_charset = self.fold
        for at, name, boxes in ((self.to_at, "To", to), (self.cc_at, "Cc", cc)):
            if at >= 0:
                value = _address_value(boxes, charset)
                fields[at] = (name, value)
                lines[at] = _fold.__wrapped__(name, value, max_len, fold_charset)  # (new each message)
        sent_fields, sent_lines = _fresh_date_and_id(self, fields, lines.copy())
        text = "\r\n".join(sent_lines)
        smtputf8 = not text.isascii() or not envelope.mail_from.isascii() or \
            any(not recipient.address.isascii() for recipient in envelope.recipients)
        message = _copy(self, sent_fields, text, envelope, smtputf8, spec)
        return message, _Template(spec, self.server_8bitmime, self.verb, message, fields, lines, self.date_at,
                                  self.id_at, self.id_domain, self.fold, self.to_at, self.cc_at, self.from_box)


class Ahead:
    """The kept template's next message, made before it is asked for: a loop of send() makes
    it while the server answers the message before (the engine's ``meanwhile``), where its
    time costs nothing (docs/internals.md, "Work while the server answers"). Its Date is that
    second's, so it is given only in the same second; its Message-ID is as unique as any."""

    __slots__ = ("template", "message", "content", "second")

    def __init__(self, template: _Template, message: ComposedMessage, content: Content, second: int) -> None:
        self.template = template
        self.message = message
        self.content = content  # message.content(), made ahead too
        self.second = second


def message_ahead(spec: MessageSpec, server_8bitmime: bool | None) -> Ahead | None:
    """The next message compose_message(spec, ..., reuse=True) would give, made now from the
    kept template; None when the template is not this spec's (compose_message checks the verb)."""
    template = _last_template
    if template is None or template.server_8bitmime != server_8bitmime \
            or not (template.spec is spec or template.spec == spec):
        return None
    second = int(time.time())  # read first: the Date made below is of this second or a later one
    message = template.again()
    return Ahead(template, message, message.content(), second)


# The template's two steps, as module functions rather than methods: compiled, compose.pxd
# makes them C functions, called without binding a method object first (a loop of send() runs
# them for every message).


def _fresh_date_and_id(template: _Template, fields: list[tuple[str, str]], lines: list[str]
                       ) -> tuple[list[tuple[str, str]], list[str]]:
    """``fields`` (a copy, when a value changes) and ``lines`` (changed in place), with a
    fresh Date and Message-ID where they are "*"."""
    date_at, id_at = template.date_at, template.id_at
    if date_at < 0 and id_at < 0:
        return fields, lines
    fresh = _renewed(fields, date_at, id_at, template.spec.settings.message_id_algorithm, template.id_domain)
    max_len, charset = template.fold
    # Fresh values, never seen before: folded without the cache, which would only churn. Both
    # are short ASCII without "=?", which _fold gives as they are when they fit on the line.
    if date_at >= 0:
        value = fresh[date_at][1]
        lines[date_at] = "Date: " + value if len(value) + 6 <= max_len else \
            _fold.__wrapped__("Date", value, max_len, charset)
    if id_at >= 0:
        value = fresh[id_at][1]
        lines[id_at] = "Message-ID: " + value if len(value) + 12 <= max_len else \
            _fold.__wrapped__("Message-ID", value, max_len, charset)
    return fresh, lines


def _copy(template: _Template, fields: list[tuple[str, str]], text: str, envelope: Envelope,
          smtputf8: bool, spec: MessageSpec) -> ComposedMessage:
    """The kept message with this header block, envelope and SMTPUTF8 need, for ``spec``: the
    same body and flags otherwise (Date and Message-ID are ASCII). A shallow copy, made without
    the copy module's protocol (this is a loop of send()'s per-call cost)."""
    kept = template.message
    message = object.__new__(ComposedMessage)
    message.__dict__.update(kept.__dict__)
    message.headers_string = text
    if envelope is not kept.envelope:  # (a mail merge's; again() keeps the kept one, already copied)
        message.envelope = envelope
        message.needs_smtputf8 = smtputf8
    message.size = (len(text) if text.isascii() else len(text.encode("utf-8"))) + len(kept.body or b"")
    if kept._parts is not None:
        message._parts = kept._parts._replace(spec=spec, fields=fields)
    return message


def _same_but_recipients(kept: MessageSpec, spec: MessageSpec) -> bool:
    """Every field of the two specs equal but the recipients."""
    return kept[:_RECIPIENTS_AT] == spec[:_RECIPIENTS_AT] and kept[_RECIPIENTS_AT + 1:] == spec[_RECIPIENTS_AT + 1:]


_RECIPIENTS_AT = MessageSpec._fields.index("recipients")
_last_template: _Template | None = None


def _fold_settings(spec: MessageSpec) -> tuple[int, str]:
    """The line length and charset the header block is folded with."""
    settings = spec.settings
    return (settings.max_header_length if settings.fold_headers else 998), (settings.charset or "utf-8")


def _assemble(spec: MessageSpec, envelope: Envelope, fields: list[tuple[str, str]], other: OtherHeaders,
              server_8bitmime: bool | None, body: _Body) -> ComposedMessage:
    """The header block around ``body``, the message's size and its SMTPUTF8 need."""
    head = _header_block(spec, fields, body.mime, other)
    smtputf8 = head.needs_smtputf8 or not envelope.mail_from.isascii() or \
        any(not r.address.isascii() for r in envelope.recipients)
    stream = spec.stream
    size: int | None = None
    start: int | None = None
    head_len = len(head.text) if head.text.isascii() else len(head.text.encode("utf-8"))
    if stream is None:
        size = head_len + len(body.data or b"")
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
        needs_smtputf8=smtputf8,
        eight_bit=body.eight_bit,
        binary=body.binary,
        transfer_encoding=body.encoding,
        size=size,
        body=body.data,
        stream=stream,
        close_stream=stream is not None and spec.settings.close_stream,
        _text_codec=body.text_codec,
        _parts=_Parts(spec, fields, other, server_8bitmime) if body.follows_8bitmime else None,
        _stream_start=start,
    )
