"""Byte-level helpers for the fault tests: canned raw-server scripts."""
from __future__ import annotations

import smtpx

from tests.servers.scripted import RawServer

GREET = ("send", b"220 raw.test ESMTP\r\n")


def ehlo(*caps: str) -> list:
    """Read EHLO and answer it with ``caps`` (no PIPELINING unless asked)."""
    lines = ["raw.test", *caps]
    reply = "".join(f"250-{c}\r\n" for c in lines[:-1]) + f"250 {lines[-1]}\r\n"
    return [("expect", b"EHLO"), ("send", reply.encode())]


def smtp_for(raw: RawServer, **props) -> smtpx.SMTP:
    props.setdefault("from_", "sender@example.com")
    props.setdefault("send_to", "rcpt@example.com")
    props.setdefault("timeout", 5)
    return smtpx.SMTP(mail_server=raw.host, mail_port=raw.port, **props)


def lines(raw: RawServer) -> list[bytes]:
    """The command lines the raw server received (split on CRLF)."""
    return [line for line in bytes(raw.received).split(b"\r\n") if line]
