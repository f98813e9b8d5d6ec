"""Build real composed messages for the queue tests (through the mixin and compose)."""
from __future__ import annotations

from smtpx.message.compose import compose_message
from smtpx.facade.properties import Properties


class Msg(Properties):
    def __init__(self) -> None:
        self._init_properties()


def composed(i: int, body: str | None = None, **props):
    m = Msg()
    m.from_ = f"Sender {i} <sender{i}@example.com>"
    m.send_to = f"to{i}@example.org"
    m.cc = "cc@example.org"
    m.bcc = "hidden@example.org"
    m.subject = f"message {i} — ünïcode"
    m.message_id = f"msg{i}@example.com"
    # A fixed Date: two compositions of message i are the same bytes even across a second's
    # boundary (a test compares a queued file with the message composed again).
    m.message_date = "Mon, 07 Dec 2026 00:00:00 +0000"
    m.message_text = body if body is not None else f"Body of message {i}\n.leading dot\nline ü\n"
    for k, v in props.items():
        setattr(m, k, v)
    return compose_message(m._message_spec())


def wire_bytes(msg) -> bytes:
    return b"".join(msg.iter_bytes())
