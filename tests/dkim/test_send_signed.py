"""DKIM on the send paths, end to end: smtpx.SMTP / AsyncSMTP with ``dkim=`` send to the real
aiosmtpd scripted server, and dkimpy verifies the bytes the server stored."""
from __future__ import annotations

import asyncio
from email.message import EmailMessage

import pytest

import smtpx
from smtpx.aio import AsyncSMTP
from smtpx.dkim import DKIMSigner
from smtpx.errors import SMTPInputError
from tests.dkim.test_signer import MESSAGES, key, verify
from tests.servers.scripted_fixtures import server  # noqa: F401  (fixture)

DOMAIN = "example.com"
RAW = b"From: Alice <alice@example.com>\r\nTo: bob@example.org\r\nSubject: signed\r\n\r\nHello\r\n.dot\r\n"


@pytest.fixture
def signers():
    return [DKIMSigner(domain=DOMAIN, selector="rsa", private_key=key("rsa2048")),
            DKIMSigner(domain=DOMAIN, selector="ed", private_key=key("ed25519"), canonicalization="simple/simple")]


def client(srv, **props):
    return smtpx.SMTP(mail_server=srv.host, mail_port=srv.port, timeout=15, **props)


def email_message() -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Alice <alice@example.com>"
    msg["To"] = "bob@example.org"
    msg["Subject"] = "caf\u00e9 \u2603 folded " + "word " * 30
    msg.set_content("line one  \n.dot line\n\u00e9t\u00e9\n")
    return msg


def test_send_raw_signed(server, signers):
    smtp = client(server, dkim=signers[0])
    smtp.send_raw("alice@example.com", ["bob@example.org"], RAW)
    [stored] = server.messages
    assert stored.data.startswith(b"DKIM-Signature: v=1; a=rsa-sha256;")
    assert stored.data.endswith(RAW)
    assert verify(stored.data, signers[0])
    assert not verify(stored.data.replace(b"Hello", b"Hallo"), signers[0])


def test_two_signatures_and_property(server, signers):
    smtp = client(server)
    assert smtp.dkim is None
    smtp.dkim = signers
    assert smtp.dkim == tuple(signers)
    smtp.send_message(email_message())
    [stored] = server.messages
    assert stored.data.count(b"DKIM-Signature:") == 2
    assert verify(stored.data, *signers, index=0)
    assert verify(stored.data, *signers, index=1)
    smtp.dkim = None
    smtp.send_raw("alice@example.com", ["bob@example.org"], RAW)
    assert server.messages[1].data == RAW  # unsigned again


def test_send_batch_signed(server, signers):
    smtp = client(server, dkim=signers[1])
    items = [("alice@example.com", ["bob@example.org"], MESSAGES[name])
             for name in ("plain", "folded", "no_final_crlf", "dots", "eight_bit", "empty_body")]
    items.append(email_message())
    items.append(("alice@example.com", ["bob@example.org"], b"Subject: no From\r\n\r\nx\r\n"))
    results = smtp.send_batch(items)
    assert isinstance(results[-1], SMTPInputError)  # the signer refuses it; the rest go
    assert not any(isinstance(result, Exception) for result in results[:-1])
    assert len(server.messages) == len(items) - 1
    for stored in server.messages:
        assert verify(stored.data, signers[1])


def test_bad_message_sends_nothing(server, signers):
    smtp = client(server, dkim=signers[0])
    with pytest.raises(SMTPInputError, match="no From"):
        smtp.send_raw("alice@example.com", ["bob@example.org"], b"Subject: x\r\n\r\nbody\r\n")
    assert server.messages == [] and server.commands == []  # not even a connection's EHLO


def test_bad_setting(server):
    smtp = client(server)
    for bad in ("signer", [object()], 3):
        with pytest.raises(SMTPInputError, match="DKIMSigner"):
            smtp.dkim = bad
    assert smtp.dkim is None


def test_async_send_raw_and_message_signed(server, signers):
    async def main():
        smtp = AsyncSMTP(mail_server=server.host, mail_port=server.port, timeout=15, dkim=signers)
        await smtp.send_raw("alice@example.com", ["bob@example.org"], RAW)
        await smtp.send_message(email_message())
        await smtp.send_batch([("alice@example.com", ["bob@example.org"], MESSAGES["utf8"])])

    asyncio.run(asyncio.wait_for(main(), 60))
    assert len(server.messages) == 3
    for stored in server.messages:
        assert verify(stored.data, *signers, index=0)
        assert verify(stored.data, *signers, index=1)


def test_pools_sign(server, signers):
    """The pools hand ``dkim`` to each of their clients like any other setting."""
    items = [("alice@example.com", ["bob@example.org"], MESSAGES[name]) for name in ("plain", "dots", "folded")]
    with smtpx.SMTPPool(2, mail_server=server.host, mail_port=server.port, timeout=15, dkim=signers[0]) as pool:
        results = pool.send_batch(items)
        pool.send_raw("alice@example.com", ["bob@example.org"], RAW)
    assert not any(isinstance(result, Exception) for result in results)

    async def main():
        async with smtpx.aio.AsyncSMTPPool(2, mail_server=server.host, mail_port=server.port, timeout=15,
                                           dkim=signers[1]) as pool:
            return await pool.send_batch(items)

    assert not any(isinstance(result, Exception) for result in asyncio.run(asyncio.wait_for(main(), 60)))
    assert len(server.messages) == 7
    for stored in server.messages[:4]:
        assert verify(stored.data, signers[0])
    for stored in server.messages[4:]:
        assert verify(stored.data, signers[1]) and not verify(stored.data, signers[0])


def test_last_line_without_line_end_gets_one(server, signers):
    """Trailing white space on a last line without CRLF: sent with the CRLF DATA adds anyway
    (BDAT would not add it, and verifiers disagree on such a line)."""
    message = b"From: alice@example.com\r\nSubject: x\r\n\r\nlast line  \t"
    client(server, dkim=signers[0]).send_raw("alice@example.com", ["bob@example.org"], message)
    [stored] = server.messages
    assert stored.data.endswith(message + b"\r\n")
    assert verify(stored.data, signers[0])


def test_send_from_properties_signed(server, signers):
    """send(): the message the properties describe, composed on the connection, then signed."""
    smtp = client(server, dkim=signers, from_="Alice <alice@example.com>", send_to="bob@example.org",
                  subject="caf\u00e9 " + "long subject " * 10, message_text=".leading dot\nbare LF\r\nlast line  ")
    smtp.send()
    smtp.connect()
    smtp.subject = "second, on the open connection"
    smtp.send()
    smtp.disconnect()
    assert len(server.messages) == 2
    for stored in server.messages:
        assert verify(stored.data, *signers, index=0) and verify(stored.data, *signers, index=1)
    assert b"second, on the open connection" in server.messages[1].data


def test_send_stream_and_composed_batch_signed(server, signers, tmp_path):
    """A body from set_message_stream is read into memory and signed; so is a ComposedMessage
    in send_batch."""
    body = tmp_path / "body.txt"
    body.write_bytes(b"streamed line  \r\n" * 5000 + b".dot\r\n")
    smtp = client(server, dkim=signers[0], from_="alice@example.com", send_to="bob@example.org", subject="s")
    with open(body, "rb") as stream:
        smtp.set_message_stream(stream)
        smtp.send()
    smtp.set_message_stream(None)
    smtp.message_text = "composed"
    composed = smtp.compose()
    smtp.send_batch([composed])

    async def main():
        smtp = AsyncSMTP(mail_server=server.host, mail_port=server.port, timeout=15, dkim=signers[1],
                         from_="alice@example.com", send_to="bob@example.org", subject="async send()")
        await smtp.send()

    asyncio.run(asyncio.wait_for(main(), 60))
    assert len(server.messages) == 3
    assert server.messages[0].data.count(b"streamed line") == 5000
    for stored in server.messages[:2]:
        assert verify(stored.data, signers[0])
    assert verify(server.messages[2].data, signers[1])
