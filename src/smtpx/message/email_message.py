"""A stdlib ``email.message.Message`` (or ``EmailMessage``) as smtpx sends it: the envelope
from its headers (smtplib's ``send_message`` rules), its bytes with CRLF line ends and without
Bcc, and what it needs from the server (SMTPUTF8).

The rules:

- the sender is the Sender header, else From; the recipients are To, Cc and Bcc. When the
  message has exactly one Resent- block (one Resent-Date), Resent-Sender / Resent-From and
  Resent-To / Resent-Cc / Resent-Bcc are used instead; more than one is an error (which block
  is the latest cannot be told for sure). ``from_addr`` / ``to_addrs`` given override them;
- Bcc and Resent-Bcc never go out; the caller's message is not changed (the stdlib generator
  sets missing MIME boundaries on what it writes: here, a copy);
- the bytes are the message's own policy with CRLF line ends; ``From `` at the start of a body
  line is not changed (that is mbox quoting, not SMTP's business); when an envelope address is
  not ASCII, a policy with ``utf8`` (EmailPolicy) writes the headers as UTF-8, as smtplib does;
- SMTPUTF8 is needed when an envelope address is not ASCII, or the header section is not ASCII
  (a ``utf8`` policy), or ``mail_options`` asks for it.

Stricter than smtplib, and always before a byte is written (SMTPInputError): addresses go
through smtpx's strict parser (a header the stdlib parser only gets through by guessing,
e.g. ``Name a@b``, which it reads as ``"Name a"@b``, is refused, not guessed at); a message
with no recipient (code 165) or no sender (164); more than one From, Sender, To, Cc or Bcc header
(RFC 5322 allows one; smtplib silently uses the first); a From with several mailboxes and no
Sender; a header name or value that would start another line (CR, LF, another control
character, or a character ``str.splitlines`` breaks on, such as U+0085 or U+2028: the
stdlib's generator would write them as line ends), in any part; options with control
characters or white space; something that is not a Message.
"""
from __future__ import annotations

import copy
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from email import errors as email_errors
from email.generator import BytesGenerator
from email.message import Message
from email.policy import EmailPolicy, default as _default_policy
from typing import Any

from smtpx.engine import Content, Envelope, EnvelopeRecipient
from smtpx.engine.commands import recipient_params
from smtpx.errors import SMTPInputError
from smtpx.message.addresses import parse_mailbox, parse_reverse_path
from smtpx.message.raw import raw_message
from smtpx.validators import CONTROLS, check_characters, check_str

__all__ = ["PreparedMessage", "prepare_email_message", "email_message"]

# A fold as header values store it (parsed messages keep their folds): a line end followed by
# white space and more text. Removed before the character check, which then refuses every
# other line end.
_FOLD = re.compile(r"\r?\n(?=[ \t]+[^ \t\r\n])")
# What may not stay in a header value: C0 controls but tab, DEL, the C1 controls, and the
# Unicode line and paragraph separators; str.splitlines (which the generator folds with)
# breaks lines at \v, \f, \x1c-\x1e, \x85, U+2028 and U+2029 as well as at CR and LF.
_HEADER_FORBIDDEN = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
# RFC 5322 field name: printable ASCII but the colon.
_FIELD_NAME = re.compile(r"[!-9;-~]+\Z")
# The header section as generated: field lines and folded continuations, CRLF between.
_HEADER_SECTION = re.compile(rb"(?:[!-9;-~]+:|[ \t])[^\r\n]*(?:\r\n(?:[!-9;-~]+:|[ \t])[^\r\n]*)*\Z")
# MAIL parameters the engine sets from the content; asking for them is allowed.
_OWN_MAIL_OPTIONS = {"SMTPUTF8", "BODY=8BITMIME", "BODY=7BIT"}
# Defects of the stdlib address parser that do not change the address it found.
_HARMLESS_DEFECTS = (email_errors.ObsoleteHeaderDefect, email_errors.NonASCIILocalPartDefect)


@dataclass(frozen=True, slots=True)
class PreparedMessage:
    """A message ready for send_raw / send_batch: ``mail_from`` ("<>" for the null sender)
    and ``recipients`` (addr-specs) for the envelope, ``data`` (CRLF line ends, no Bcc),
    ``smtputf8`` (the server must offer SMTPUTF8), and the options, checked."""

    mail_from: str
    recipients: tuple[str, ...]
    data: bytes
    smtputf8: bool
    mail_options: tuple[str, ...] = ()
    rcpt_options: tuple[str, ...] = ()

    def raw(self) -> tuple[str, list[str], bytes]:
        """(mail_from, recipients, data): a send_raw call's arguments, a send_batch item."""
        return self.mail_from, list(self.recipients), self.data

    def engine_item(self, what: str = "send_message") -> tuple[Envelope, Content]:
        """The engine's (Envelope, Content), as raw_message makes them for send_raw, with the
        options applied: RCPT options on every recipient, SMTPUTF8 / BODY=8BITMIME from
        mail_options. Other MAIL parameters cannot be carried (the engine's Envelope has none;
        DSN's RET / ENVID are the DSNReturn / DSNEnvelopeId settings): SMTPInputError."""
        envelope, content = raw_message(self.mail_from, list(self.recipients), self.data, what)
        options = {option.upper() for option in self.mail_options}
        unsupported = sorted(options - _OWN_MAIL_OPTIONS)
        if unsupported:
            raise SMTPInputError(
                f"{what}: the MAIL parameter(s) {', '.join(unsupported)} cannot be given per message "
                "(smtpx sets SIZE, BODY and SMTPUTF8 itself; DSN's RET and ENVID are the DSNReturn and "
                "DSNEnvelopeId settings)")
        if self.smtputf8 or "BODY=8BITMIME" in options:
            content = replace(content, smtputf8=content.smtputf8 or self.smtputf8,
                              eight_bit=content.eight_bit or "BODY=8BITMIME" in options)
        if self.rcpt_options:
            joined = " ".join(self.rcpt_options)
            # A new Envelope: raw_message may share its envelope with later calls.
            envelope = Envelope(envelope.mail_from,
                                [EnvelopeRecipient(r.address, r.kind, joined) for r in envelope.recipients])
        return envelope, content


def email_message(msg: Any, from_addr: str | None = None, to_addrs: str | Iterable[str] | None = None,
                  mail_options: Iterable[str] = (), rcpt_options: Iterable[str] = (),
                  what: str = "send_message") -> tuple[Envelope, Content]:
    """send_message's engine item: ``prepare_email_message(...).engine_item(what)``."""
    return prepare_email_message(msg, from_addr, to_addrs, mail_options, rcpt_options, what).engine_item(what)


def prepare_email_message(msg: Any, from_addr: str | None = None, to_addrs: str | Iterable[str] | None = None,
                          mail_options: Iterable[str] = (), rcpt_options: Iterable[str] = (),
                          what: str = "send_message") -> PreparedMessage:
    """Turn ``msg`` into a PreparedMessage with smtplib's send_message rules (module
    docstring); bad input raises SMTPInputError."""
    if not isinstance(msg, Message):
        raise SMTPInputError(f"{what}: msg must be an email.message.Message (or EmailMessage), "
                             f"not {type(msg).__name__}")
    mail_opts = _options(mail_options, f"{what}: mail_options")
    rcpt_opts = _options(rcpt_options, f"{what}: rcpt_options")
    if rcpt_opts:
        recipient_params(" ".join(rcpt_opts), f"{what}: rcpt_options")  # refused now, not at send
    prefix = _resent_prefix(msg, what)

    if from_addr is None:
        sender = _sender(msg, prefix, what)
    else:
        check_str(from_addr, f"{what}: from_addr")
        # "" is the null sender, as for smtplib's sendmail
        sender = (parse_reverse_path(from_addr, f"{what} from_addr") if from_addr.strip() else "") or "<>"
    if to_addrs is None:
        recipients = [addr for name in ("To", "Cc", "Bcc") for addr in _addresses(msg, prefix + name, what)]
    else:
        if isinstance(to_addrs, str):
            to_addrs = [to_addrs]
        elif not isinstance(to_addrs, Iterable) or isinstance(to_addrs, (bytes, bytearray)):
            raise SMTPInputError(f"{what}: to_addrs must be a string or a list of strings, "
                                 f"not {type(to_addrs).__name__}")
        recipients = [parse_mailbox(check_str(addr, f"{what}: to_addrs item"), f"{what} to_addrs").addr_spec
                      for addr in to_addrs]
    if not recipients:
        raise SMTPInputError(f"{what}: the message has no recipient (no {prefix}To, {prefix}Cc or "
                             f"{prefix}Bcc address, and no to_addrs)", 165)

    international = not all(addr.isascii() for addr in (sender, *recipients))
    data = _generate(msg, international, what)
    smtputf8 = international or not data.split(b"\r\n\r\n", 1)[0].isascii() or \
        any(option.upper() == "SMTPUTF8" for option in mail_opts)
    return PreparedMessage(sender, tuple(recipients), data, smtputf8, mail_opts, rcpt_opts)


# ================================================================================== helpers
def _options(options: Any, what: str) -> tuple[str, ...]:
    """smtplib's option lists: strings, each one word (no white space, no control character)."""
    if isinstance(options, (str, bytes)):
        raise SMTPInputError(f"{what} must be a list of strings, not one {type(options).__name__}")
    try:
        items = tuple(options)
    except TypeError:
        raise SMTPInputError(f"{what} must be a list of strings, not {type(options).__name__}") from None
    for index, option in enumerate(items):
        label = f"{what}[{index}]"
        check_characters(check_str(option, label), label, CONTROLS)
        if not option or " " in option:
            raise SMTPInputError(f"{label} must be one word (an ESMTP parameter), not {option!r}")
    return items


def _resent_prefix(msg: Message, what: str) -> str:
    """"Resent-" when the message has exactly one Resent- block, "" when none."""
    dates = msg.get_all("Resent-Date")
    if dates is None:
        return ""
    if len(dates) > 1:
        raise SMTPInputError(f"{what}: the message has more than one Resent- block ({len(dates)} Resent-Date "
                             "headers); which is the latest cannot be told: give from_addr and to_addrs")
    return "Resent-"


def _one_header(msg: Message, name: str, what: str) -> str | None:
    values = msg.get_all(name)
    if not values:
        return None
    if len(values) > 1:
        raise SMTPInputError(f"{what}: the message has {len(values)} {name} headers (RFC 5322 allows one)")
    return str(values[0])


def _addresses(msg: Message, name: str, what: str) -> list[str]:
    """The addr-specs of one address header (groups flattened; "undisclosed-recipients:;"
    gives none). The stdlib parser splits the list; smtpx's checks each address."""
    value = _one_header(msg, name, what)
    if value is None:
        return []
    label = f"{what}: the {name} header"
    check_characters(_FOLD.sub("", value), label, _HEADER_FORBIDDEN)
    try:
        parsed = _default_policy.header_factory(name, _FOLD.sub("", value))
    except (email_errors.HeaderParseError, ValueError, IndexError) as error:
        raise SMTPInputError(f"{label} cannot be parsed ({error}): {value!r}") from None
    for defect in parsed.defects:
        if not isinstance(defect, _HARMLESS_DEFECTS):
            raise SMTPInputError(f"{label} is not a valid address list ({defect}): {value!r}")
    return [parse_mailbox(address.addr_spec, label).addr_spec
            for address in getattr(parsed, "addresses", ())]


def _sender(msg: Message, prefix: str, what: str) -> str:
    sender = _addresses(msg, prefix + "Sender", what)
    if sender:
        if len(sender) > 1:
            raise SMTPInputError(f"{what}: the {prefix}Sender header has {len(sender)} addresses (one allowed)")
        return sender[0]
    authors = _addresses(msg, prefix + "From", what)
    if not authors:
        raise SMTPInputError(f"{what}: the message has no sender (no {prefix}Sender or {prefix}From address, "
                             "and no from_addr)", 164)
    if len(authors) > 1:
        raise SMTPInputError(f"{what}: the {prefix}From header has {len(authors)} addresses and there is no "
                             f"{prefix}Sender header (RFC 5322 3.6.2): give from_addr or a {prefix}Sender")
    return authors[0]


def _check_headers(msg: Message, what: str) -> None:
    """Every header name and value of every part: nothing that would start another line."""
    for part in msg.walk():
        for name, value in part.raw_items():
            if not isinstance(name, str) or not _FIELD_NAME.match(name):
                raise SMTPInputError(f"{what}: the header name {name!r} is not a valid field name "
                                     "(printable ASCII without ':' or white space)")
            check_characters(_FOLD.sub("", str(value)), f"{what}: the {name} header", _HEADER_FORBIDDEN)


def _copy_tree(msg: Message) -> Message:
    """A copy of every Message object of the tree, sharing headers and payload strings (all
    immutable). Enough for what writing changes: the generator sets the missing MIME
    boundaries (set_boundary), and that, like ``del``, gives a message a new header list.
    (copy.deepcopy would do too, at ten times the cost of writing a small message: it also
    copies every header's parse tree.)"""
    out = copy.copy(msg)
    if msg.is_multipart():
        parts = msg.get_payload()  # a multipart's payload: the list of its parts
        out.set_payload([_copy_tree(part) if isinstance(part, Message) else part for part in parts])
    return out


def _generate(msg: Message, international: bool, what: str) -> bytes:
    """The message's bytes as sent: a copy without Bcc / Resent-Bcc, CRLF line ends."""
    outgoing = _copy_tree(msg)
    del outgoing["Bcc"]
    del outgoing["Resent-Bcc"]
    _check_headers(outgoing, what)
    policy = msg.policy.clone(linesep="\r\n")
    if international and isinstance(policy, EmailPolicy):  # addresses as UTF-8, not RFC 2047
        policy = policy.clone(utf8=True)
    buffer = io.BytesIO()
    try:
        BytesGenerator(buffer, mangle_from_=False, policy=policy).flatten(outgoing, unixfrom=False)
    except (email_errors.MessageError, ValueError, TypeError, LookupError) as error:
        raise SMTPInputError(f"{what}: the message cannot be written: {error}") from None
    data = buffer.getvalue()
    # The last guard: the header section (up to the first empty line) is field lines and
    # folds only, CRLF-separated, whatever a header object rendered to.
    head = data.split(b"\r\n\r\n", 1)[0]
    if head and not _HEADER_SECTION.match(head):
        raise SMTPInputError(f"{what}: the generated header section is malformed (a header value "
                             "holds a line break); nothing was sent")
    return data
