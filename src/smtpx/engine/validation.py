"""Input checks done before anything is written: control characters in anything that goes on
a command line (smtpx.validators.check_no_controls, shared by every layer), and the RFC 5321 /
6531 syntax of envelope addresses."""
from __future__ import annotations

import functools
import re

from smtpx.errors import SMTPInputError
from smtpx.kernels import is_plain_address
from smtpx.validators import CONTROLS, check_no_controls, describe_character

__all__ = ["check_no_controls", "check_address", "check_hello_name", "check_esmtp_param", "strip_brackets"]

# The character classes allow any non-ASCII character (RFC 6531), so each is written as what
# it excludes: a class that names the range \u0080-\U0010ffff makes re build a table of every
# code point when the module is imported (about 40 ms, in every process that imports smtpx).
# RFC 5321 atext: printable ASCII except the specials "(),.:;<>@[\].
_ATOM = r'[^\x00-\x20"(),.:;<>@\[\\\]\x7f]+'
_DOT_STRING = re.compile(rf"{_ATOM}(?:\.{_ATOM})*")
# qtextSMTP is printable ASCII except '"' and '\'; quoted-pairSMTP is '\' + printable ASCII.
_QUOTED_STRING = re.compile(r'"(?:[^\x00-\x1f"\\\x7f]|\\[\x20-\x7e])*"')
_LETTER_DIGIT = r"[^\x00-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f]"  # A-Z a-z 0-9 and non-ASCII
_LETTER_DIGIT_HYPHEN = r"[^\x00-\x2c\x2e\x2f\x3a-\x40\x5b-\x60\x7b-\x7f]"
_LABEL = rf"{_LETTER_DIGIT}(?:{_LETTER_DIGIT_HYPHEN}*{_LETTER_DIGIT})?"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_ADDRESS_LITERAL = re.compile(r"\[[\x21-\x5a\x5e-\x7e]+\]")


def strip_brackets(address: str) -> str:
    """'<a@b>' -> 'a@b'; unbalanced brackets are an error."""
    address = address.strip(" ")
    opens, closes = address.startswith("<"), address.endswith(">")
    if opens and closes and len(address) >= 2:
        return address[1:-1]
    if opens or closes:
        raise SMTPInputError("has unbalanced angle brackets")
    return address


def check_address(address: str, what: str, *, null_allowed: bool = False) -> str:
    """Return the bare mailbox ('' for the null reverse-path) or raise SMTPInputError
    saying "<what> '<address>' <problem>"."""
    # The usual address (smtpx.kernels.is_plain_address), accepted in one pass: a bulk
    # mailing's recipients are each new, so the cache below rarely serves them.
    if is_plain_address(address):
        return address
    # Bulk senders repeat the same addresses: remember the good ones (errors are not cached).
    try:
        return _checked_address(address, null_allowed)
    except SMTPInputError as error:
        raise SMTPInputError(f"{what} {address!r} {error.description}") from None


@functools.lru_cache(maxsize=4096)
def _checked_address(address: str, null_allowed: bool) -> str:
    match = CONTROLS.search(address)
    if match is not None:
        raise SMTPInputError(f"contains {describe_character(match.group())}, which is not allowed")
    bare = strip_brackets(address)
    if bare == "":
        if null_allowed:
            return ""
        raise SMTPInputError("is empty")
    if bare.lower() == "postmaster":  # RFC 5321 4.5.1: the one address without a domain
        return bare
    local, domain = _split_mailbox(bare)
    if not (_DOT_STRING.fullmatch(local) or _QUOTED_STRING.fullmatch(local)):
        raise SMTPInputError(f"has an invalid local part {local!r}")
    if not (_DOMAIN.fullmatch(domain) or _ADDRESS_LITERAL.fullmatch(domain)):
        raise SMTPInputError(f"has an invalid domain {domain!r}")
    return bare


def _split_mailbox(bare: str) -> tuple[str, str]:
    if bare.startswith('"'):
        end = _quoted_end(bare)
        if end < 0:
            raise SMTPInputError("has an unterminated quoted local part")
        local, rest = bare[: end + 1], bare[end + 1 :]
        if not rest.startswith("@"):
            raise SMTPInputError("must be local-part@domain")
        return local, rest[1:]
    if bare.count("@") != 1:
        raise SMTPInputError("must contain exactly one '@' (quote the local part if it has one)")
    local, _, domain = bare.partition("@")
    return local, domain


def _quoted_end(text: str) -> int:
    index = 1
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if char == '"':
            return index
        index += 1
    return -1


def check_hello_name(name: str) -> None:
    check_no_controls(name, "the HELO/EHLO name")
    if not name or " " in name:
        raise SMTPInputError(f"the HELO/EHLO name {name!r} must be one non-empty word")


_KEYWORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-]*")
_VALUE = re.compile(r"[\x21-\x3c\x3e-\x7e]+")  # RFC 5321 esmtp-value: printable, no '=' or space


def check_esmtp_param(keyword: str, value: str | None, what: str) -> None:
    check_no_controls(keyword + (value or ""), what)
    if not _KEYWORD.fullmatch(keyword):
        raise SMTPInputError(f"{what}: {keyword!r} is not a valid ESMTP parameter name")
    if value is not None and not _VALUE.fullmatch(value):
        raise SMTPInputError(f"{what}: the value {value!r} of {keyword} is not a valid ESMTP value")
