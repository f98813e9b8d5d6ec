"""The message the flags of ``smtpx send`` / ``smtpx queue add`` describe, as ``smtpx.SMTP``
properties.

smtpx composes the top-level headers as for any send (From, To, Cc, Subject, Date,
Message-ID: RFC 2047 words, folding, Bcc never written, SMTPUTF8 when an address needs it) and
the envelope with each recipient's kind, so the StopOn*Errors rules apply per kind (a refused
Bcc does not stop the send). A plain text body is ``message_text``, as ever. When there is an
``--html`` part or an ``--attach``ment, the stdlib's ``email.message.EmailMessage`` builds the
MIME structure: its top-level MIME headers go into ``other_headers`` and its body, as bytes with
CRLF line ends, into ``message`` (sent as given). The policy's ``cte_type="7bit"`` makes every
part 7-bit (quoted-printable or base64), so the message, and a queue file of it, suits any
server, with or without 8BITMIME. ``--header`` lines are ``other_headers`` too (Date and
Message-ID set ``message_date`` / ``message_id`` instead, so they replace the generated ones).
"""
from __future__ import annotations

import argparse
import email.policy
import mimetypes
import os
import sys
from email.message import EmailMessage
from typing import Any

from smtpx.cli.exits import EXIT_INPUT, EXIT_USAGE, CommandLineError

# CRLF line ends whatever the platform; every part 7-bit (base64 or quoted-printable as needed).
_POLICY = email.policy.SMTP.clone(cte_type="7bit")
_HEADER_PROPERTIES = {"date": "message_date", "message-id": "message_id"}


def _split(values: list[str]) -> str:
    return ", ".join(v.strip() for v in values if v.strip())


def _read_text(path: str, flag: str) -> str:
    try:
        if path == "-":
            return sys.stdin.read()
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandLineError(f"{flag}: cannot read {path!r}: {exc}", EXIT_INPUT) from None


def _body_text(args: argparse.Namespace) -> str:
    if args.body_file is not None:
        return _read_text(args.body_file, "--body-file")
    return str(args.body or "")


def _html(value: str) -> str:
    """--html: HTML text when it contains a tag, else the name of a UTF-8 file."""
    if "<" in value:
        return value
    if not os.path.isfile(value):
        raise CommandLineError(f"--html: {value!r} is neither HTML text (no '<' in it) nor a file", EXIT_INPUT)
    return _read_text(value, "--html")


def _attachment(msg: EmailMessage, path: str) -> None:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise CommandLineError(f"--attach: cannot read {path!r}: {exc.strerror or exc}", EXIT_INPUT) from None
    guessed, encoding = mimetypes.guess_type(path)
    # A compressed file ("x.tar.gz": encoding gzip) is sent as the opaque bytes it is.
    if guessed is None or encoding is not None or "/" not in guessed:
        guessed = "application/octet-stream"
    maintype, subtype = guessed.split("/", 1)
    msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=os.path.basename(path))


def mime_body(text: str, html: str | None, attachments: list[str]) -> tuple[str, bytes]:
    """The MIME structure of the body (EmailMessage): (its top-level MIME header lines, each
    ending CRLF; the body bytes after the empty line)."""
    msg = EmailMessage(policy=_POLICY)
    if html is not None and not text:
        msg.set_content(html, subtype="html")
    else:
        msg.set_content(text)
        if html is not None:
            msg.add_alternative(html, subtype="html")
    for path in attachments:
        _attachment(msg, path)
    for part in msg.walk():  # EmailMessage gives each added part a MIME-Version: only the top needs one
        if part is not msg:
            del part["MIME-Version"]
    data = msg.as_bytes()
    head, _, body = data.partition(b"\r\n\r\n")
    return head.decode("ascii") + "\r\n", body


def message_settings(args: argparse.Namespace) -> tuple[dict[str, Any], list[str]]:
    """The message properties and config strings of the message flags. Raises CommandLineError."""
    if not args.to and not args.cc and not args.bcc:
        raise CommandLineError("give at least one --to, --cc or --bcc", EXIT_USAGE)
    text = _body_text(args)
    props: dict[str, Any] = {"from_": args.from_, "send_to": _split(args.to), "cc": _split(args.cc),
                             "bcc": _split(args.bcc), "subject": args.subject}
    config = [] if args.to else ["AllowEmptyTo=True"]
    other: list[str] = []
    for name, value in args.header:
        prop = _HEADER_PROPERTIES.get(name.lower())
        if prop is not None:
            props[prop] = value
        else:
            other.append(f"{name}: {value}\r\n")
    if args.html is not None or args.attach:
        mime_headers, body = mime_body(text, None if args.html is None else _html(args.html), args.attach)
        other.append(mime_headers)
        props["message"] = body
    else:
        props["message_text"] = text
    if other:
        props["other_headers"] = "".join(other)
    return props, config
