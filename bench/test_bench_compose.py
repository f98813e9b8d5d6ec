"""Composing a message from properties: smtpx (properties -> compose_message -> bytes) against
email.message.EmailMessage + as_bytes(), the same message, in the same run. Floor: 20x.

The message: From, To, two Cc, a non-ASCII Subject, a 2 KB body, Date and Message-ID. Each
round builds everything from scratch on both sides: smtpx creates the object and sets the
properties (address parsing included); EmailMessage sets the same headers and the body.
"""
from __future__ import annotations

import email.message
import email.policy
import email.utils

from smtpx.message.compose import compose_message
from smtpx.facade import properties

FROM = '"Sender Name" <sender@example.com>'
TO = "Recipient <to@example.org>"
CC = "cc1@example.org, Second Cc <cc2@example.net>"
SUBJECT = "Grüße aus Köln: Ihre Bestellung Nr. 12345 ist unterwegs — vielen Dank!"
BODY = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\n" * 30)[:2048]


class Message(properties.Properties):
    """The message half of the property table with its config (as a facade's, no connection)."""

    def __init__(self) -> None:
        self._init_config()
        self._reset_properties(properties.HEADERS, properties.BODY)


def smtpx_compose() -> bytes:
    m = Message()
    m.from_ = FROM
    m.send_to = TO
    m.cc = CC
    m.subject = SUBJECT
    m.message_text = BODY
    return b"".join(compose_message(m._message_spec()).iter_bytes())


def emailmessage_compose() -> bytes:
    msg = email.message.EmailMessage()
    msg["From"] = FROM
    msg["To"] = TO
    msg["Cc"] = CC
    msg["Subject"] = SUBJECT
    msg["Date"] = email.utils.formatdate(localtime=True)
    msg["Message-ID"] = email.utils.make_msgid(domain="example.com")
    msg.set_content(BODY)
    return msg.as_bytes(policy=email.policy.SMTP)


def test_same_message_both_ways():
    """Both sides build an equivalent message (headers decode to the same values)."""
    ours = email.message_from_bytes(smtpx_compose(), policy=email.policy.default)
    theirs = email.message_from_bytes(emailmessage_compose(), policy=email.policy.default)
    for name in ("From", "To", "Cc", "Subject"):
        assert str(ours[name]) == str(theirs[name]), name
    assert ours["Date"] and ours["Message-ID"]
    assert ours.get_content().replace("\r\n", "\n") == theirs.get_content().replace("\r\n", "\n")


def test_bench_compose_smtpx(benchmark, ratios):
    benchmark(smtpx_compose)
    ratios.record("compose from properties", "smtpx", benchmark, floor=20)


def test_bench_compose_smtpx_cold_address_cache(benchmark, ratios):
    """The same, with the parsed-address cache emptied every round (every address parsed anew)."""
    from smtpx.message.addresses import _parse_cached

    def cold() -> bytes:
        _parse_cached.cache_clear()
        return smtpx_compose()

    benchmark(cold)
    ratios.record("compose from properties", "smtpx, cold addr cache", benchmark, floor=20)


def test_bench_compose_emailmessage(benchmark, ratios):
    benchmark(emailmessage_compose)
    ratios.record("compose from properties", "EmailMessage", benchmark, baseline=True)
