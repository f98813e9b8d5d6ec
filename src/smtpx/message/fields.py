"""What a header field may hold: the checks of header-like values (used by the properties when
they are set, and by composition when a message is built) and the parsing of OtherHeaders.

A header value is one line: no CR, LF, NUL or other control character (tab is white space), and
no RFC 2047 encoded word that decodes to CR, LF or NUL (a header injection the reader would
decode). OtherHeaders holds ``Name: value`` lines, whose values follow the same rule.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, NamedTuple

from smtpx.errors import SMTPInputError
from smtpx.message.addresses import Mailbox, parse_mailbox
from smtpx.validators import check_no_controls, check_str

__all__ = ["OtherHeaders", "check_single_line", "check_message_id", "parse_other_headers", "recipient_mailbox"]

_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_FIELD_NAME = re.compile(r"[!-9;-~]+\Z")  # printable ASCII without ":" (RFC 5322 ftext)


def _decoded_words_have_line_breaks(value: str) -> bool:
    import email.header

    for m in _ENCODED_WORD.finditer(value):
        try:
            for data, charset in email.header.decode_header(m.group(0)):
                if isinstance(data, bytes):
                    data = data.decode(charset or "ascii", "replace")
                if any(c in data for c in "\r\n\0"):
                    return True
        except (ValueError, LookupError):
            continue  # not a valid encoded word: sent (and shown) as the text it is
    return False


def check_single_line(value: Any, what: str) -> str:
    """A header-like value: a str without control characters (tab allowed) and without an
    encoded word that decodes to CR, LF or NUL."""
    text = check_no_controls(check_str(value, what), what, allow_tab=True)
    if "=?" in text and _decoded_words_have_line_breaks(text):
        raise SMTPInputError(f"{what}: an encoded word in {text!r} hides CR, LF or NUL")
    return text


def check_message_id(value: Any, what: str) -> str:
    """MessageId: "*" (a fresh id), "" (none), or an id in ASCII without spaces."""
    text = check_single_line(value, what)
    if any(c in text for c in " \t") or not text.isascii():
        raise SMTPInputError(f"{what}: {text!r} must be ASCII without spaces")
    return text


class OtherHeaders(NamedTuple):
    """A parsed OtherHeaders value: whether it replaces the computed headers (it starts with an
    empty line), and its (name, value) fields, folding kept."""

    replaces: bool
    fields: tuple[tuple[str, str], ...]


def parse_other_headers(text: Any, what: str = "OtherHeaders") -> OtherHeaders:
    """Lines split at CRLF, CR or LF; a line starting with white space continues the previous
    header (its folding kept, with CRLF). SMTPInputError for a line that is not ``Name: value``,
    control characters, an injected encoded word, or a line over 998 octets."""
    if text == "":
        return _NO_OTHER_HEADERS  # the usual case, without a cache lookup
    return _parse_other_headers(check_str(text, what), what)


_NO_OTHER_HEADERS = OtherHeaders(False, ())


@lru_cache(maxsize=64)
def _parse_other_headers(text: str, what: str) -> OtherHeaders:
    if not text:
        return OtherHeaders(False, ())
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    replaces = lines[0] == ""
    if replaces:
        lines = lines[1:]
    fields: list[tuple[str, str]] = []
    for line in lines:
        if line == "":
            continue  # a trailing line end, or blank lines between headers
        if len(line.encode("utf-8")) > 998:
            raise SMTPInputError(f"{what}: a line is longer than 998 octets: {line[:60]!r}...")
        if line[0] in " \t":
            if not fields:
                raise SMTPInputError(f"{what}: continuation line without a header: {line!r}")
            check_single_line(line, what)
            name, value = fields[-1]
            fields[-1] = (name, value + "\r\n" + line)
            continue
        name, colon, value = line.partition(":")
        if not colon or not _FIELD_NAME.match(name):
            raise SMTPInputError(f"{what}: {line!r} is not a 'Name: value' header line")
        check_single_line(value, f"{what} ({name})")
        fields.append((name, value[1:] if value.startswith(" ") else value))
    return OtherHeaders(replaces, tuple(fields))


def recipient_mailbox(address: str, name: str) -> Mailbox:
    """The mailbox of a message recipient: its address parsed, with its own display name when it
    has one (SMTPInputError for a bad address or name)."""
    mailbox = parse_mailbox(address, "MessageRecipient.address")
    if name and name != mailbox.name:
        check_no_controls(name, "MessageRecipient.name", allow_tab=True)
        return Mailbox(name, mailbox.addr_spec)
    return mailbox
