"""send_message(EmailMessage) on SMTP, AsyncSMTP and both pools, and EmailMessage items in
send_batch, against the real aiosmtpd server (tests/servers/scripted.py), which stores each
message's envelope and bytes exactly as received. The conversion rules themselves are tested
in tests/message/test_email_message.py; here: that every entry point uses them, sends what
they make, and refuses bad input before writing anything."""
from __future__ import annotations

import asyncio
from email import message_from_bytes
from email.message import EmailMessage

import pytest

import smtpx
from smtpx.aio import AsyncSMTP, AsyncSMTPPool
from smtpx.engine import SendResult
from smtpx.errors import SMTPInputError


def make_message(n: int = 0, *, bcc: bool = True) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Alice <alice@example.com>"
    msg["To"] = "bob@example.com"
    msg["Cc"] = "Carol <carol@example.com>"
    if bcc:
        msg["Bcc"] = "dave@example.com"
    msg["Subject"] = f"message {n}"
    msg.set_content(f"Hello {n}\n.leading dot\n")
    msg.add_attachment(bytes(range(256)), maintype="application", subtype="octet-stream", filename="all.bin")
    return msg


def check_stored(stored, n: int = 0) -> None:
    assert stored.mail_from == "alice@example.com"
    assert sorted(stored.rcpt_tos) == ["bob@example.com", "carol@example.com", "dave@example.com"]
    assert b"\r\nBcc:" not in stored.data and not stored.data.startswith(b"Bcc:")
    assert b"dave@example.com" not in stored.data
    parsed = message_from_bytes(stored.data)
    assert parsed["Subject"] == f"message {n}"
    parts = list(parsed.walk())
    attachment = [p for p in parts if p.get_filename() == "all.bin"][0]
    assert attachment.get_payload(decode=True) == bytes(range(256))
    text = [p for p in parts if p.get_content_type() == "text/plain"][0]
    assert text.get_payload(decode=True).replace(b"\r\n", b"\n") == f"Hello {n}\n.leading dot\n".encode()


def client(server) -> smtpx.SMTP:
    return smtpx.SMTP(mail_server=server.host, mail_port=server.port)


def test_send_message_takes_the_envelope_from_the_headers(server):
    msg = make_message()
    before = msg.as_bytes()
    result = client(server).send_message(msg)
    assert isinstance(result, SendResult)
    assert sorted(r.address for r in result.accepted) == ["bob@example.com", "carol@example.com",
                                                          "dave@example.com"]
    [stored] = server.messages
    check_stored(stored)
    assert msg.as_bytes() == before  # the caller's message (its Bcc) is untouched


def test_explicit_addresses_and_rcpt_options_win(server):
    result = client(server).send_message(make_message(), from_addr="bounce@example.org",
                                         to_addrs=["only@example.org"])
    assert [r.address for r in result.accepted] == ["only@example.org"]
    [stored] = server.messages
    assert stored.mail_from == "bounce@example.org" and stored.rcpt_tos == ["only@example.org"]


def test_a_message_without_recipients_is_refused_before_anything_is_written(server):
    msg = EmailMessage()
    msg["From"] = "alice@example.com"
    msg.set_content("nobody to send to")
    with pytest.raises(SMTPInputError):
        client(server).send_message(msg)
    assert "MAIL" not in server.verbs()


def test_a_smuggled_header_is_refused_before_anything_is_written(server):
    msg = make_message()
    msg.replace_header("Subject", "x")
    msg._headers = [(k, "hi\r\nBcc: victim@example.net" if k == "Subject" else v)  # type: ignore[attr-defined]
                    for k, v in msg._headers]  # type: ignore[attr-defined]
    smtp = client(server)
    with pytest.raises(SMTPInputError):
        smtp.send_message(msg)
    assert "MAIL" not in server.verbs()


def test_send_message_is_not_a_batch(server):
    with pytest.raises(SMTPInputError):
        client(server).send_batch(make_message())  # type: ignore[arg-type]
    assert server.verbs() == []


def test_send_batch_takes_email_messages_beside_tuples(server):
    bad = EmailMessage()
    bad["From"] = "alice@example.com"  # no recipient
    batch = [make_message(0), ("x@example.com", ["y@example.com"], b"Subject: raw\r\n\r\nraw\r\n"), bad,
             make_message(3)]
    results = client(server).send_batch(batch)
    assert isinstance(results[0], SendResult) and isinstance(results[1], SendResult)
    assert isinstance(results[2], SMTPInputError) and isinstance(results[3], SendResult)
    stored = server.messages
    assert len(stored) == 3
    check_stored(stored[0], 0)
    check_stored(stored[2], 3)


def test_async_send_message(server):
    async def main():
        async with AsyncSMTP(mail_server=server.host, mail_port=server.port) as smtp:
            first = await smtp.send_message(make_message(0))
            batch = await smtp.send_batch([make_message(1), make_message(2)])
            return first, batch

    first, batch = asyncio.run(main())
    assert isinstance(first, SendResult) and all(isinstance(r, SendResult) for r in batch)
    for n, stored in enumerate(server.messages):
        check_stored(stored, n)


def test_pools_send_message_and_email_message_batches(server):
    with smtpx.SMTPPool(2, mail_server=server.host, mail_port=server.port) as pool:
        pool.send_message(make_message(0))
        results = pool.send_batch([make_message(n) for n in (1, 2, 3)])
    assert all(isinstance(r, SendResult) for r in results)

    async def main():
        async with AsyncSMTPPool(2, mail_server=server.host, mail_port=server.port) as pool:
            await pool.send_message(make_message(4))
            return await pool.send_batch([make_message(n) for n in (5, 6)])

    assert all(isinstance(r, SendResult) for r in asyncio.run(main()))
    subjects = sorted(message_from_bytes(s.data)["Subject"] for s in server.messages)
    assert subjects == [f"message {n}" for n in range(7)]
    for stored in server.messages:
        check_stored(stored, int(message_from_bytes(stored.data)["Subject"].split()[1]))


def test_the_send_to_trap_and_the_loop_the_readme_shows(server):
    """send_to adds to the recipients (the reference's rule): without reset_headers() the
    second send goes to both; with it (the README's loop), each message to its own person."""
    smtp = smtpx.SMTP(mail_server=server.host, mail_port=server.port)
    with smtp:
        for person in ("a@example.org", "b@example.org"):
            smtp.from_ = "me@example.com"
            smtp.send_to = person
            smtp.message_text = "hi\r\n"
            smtp.send()
        for person in ("c@example.org", "d@example.org"):
            smtp.reset_headers()
            smtp.from_ = "me@example.com"
            smtp.send_to = person
            smtp.message_text = "hi\r\n"
            smtp.send()
    assert [s.rcpt_tos for s in server.messages] == [
        ["a@example.org"], ["a@example.org", "b@example.org"], ["c@example.org"], ["d@example.org"]]
