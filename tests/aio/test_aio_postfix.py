"""AsyncSMTP against the real Postfix fixture: delivery checked in the mbox, PIPELINING and
CHUNKING on the wire, STARTTLS + SASL, implicit TLS, certificate decisions, and many clients
on one event loop."""
from __future__ import annotations

import asyncio
import time
import uuid

import pytest

import smtpx
from smtpx import AuthMechanism, SSLStartMode
from smtpx.aio import AsyncSMTP
from tests.servers.postfix import split_mbox

from .helpers import arun, trail_of

pytestmark = pytest.mark.postfix


def marker() -> str:
    return "mark-" + uuid.uuid4().hex[:12]


def client_for(postfix, trust: bool = True, **props) -> AsyncSMTP:
    client = AsyncSMTP(mail_server=postfix.host, mail_port=postfix.smtp_port, timeout=20, **props)
    if trust:
        client.config("SSLServerCACerts=" + postfix.ca_pem)
    return client


def test_send_raw_is_delivered_byte_for_byte(postfix):
    tag = marker()
    message = (f"From: <sender@example.test>\r\nTo: <rcpt@example.test>\r\nSubject: {tag}\r\n"
               f"Message-ID: <{tag}@example.test>\r\nDate: Sat, 28 Nov 2026 12:00:00 +0000\r\n\r\n"
               ".leading dot\r\n..two dots\r\nTabs\tand trailing space \r\n\r\nlast line\r\n").encode()

    async def go():
        async with client_for(postfix) as client:
            return await client.send_raw("sender@example.test", ["rcpt@example.test"], message)

    result = arun(go)
    assert result.all_accepted
    delivered = postfix.wait_for_delivery(tag)
    # local(8) stores LF line ends and adds its own headers above ours: ours follow unchanged.
    assert message.decode().replace("\r\n", "\n") in delivered.replace("\r\n", "\n")


def test_send_from_properties_pipelines_and_chunks(postfix):
    tag = marker()

    async def go():
        client = client_for(postfix, from_="sender@example.test", send_to="rcpt@example.test",
                            subject=tag, message_text=f"body {tag}\r\n")
        trail = trail_of(client)
        await client.send()
        return trail

    trail = arun(go)
    postfix.wait_for_delivery(tag)
    sent = [m for d, m in trail if d == 0]
    mail = next(i for i, (d, m) in enumerate(trail) if d == 0 and m.startswith("MAIL FROM"))
    # One recipient: MAIL, RCPT and BDAT ... LAST go out together before any reply.
    assert [(d, m.split(" ")[0]) for d, m in trail[mail:mail + 3]] == [(0, "MAIL"), (0, "RCPT"), (0, "BDAT")]
    assert any(m.startswith("BDAT ") and m.endswith(" LAST") for m in sent)


@pytest.mark.parametrize("mechanism,name", [(AuthMechanism.SASL_PLAIN, "PLAIN"), (AuthMechanism.CRAM_MD5, "CRAM-MD5")])
def test_starttls_and_auth(postfix, mechanism, name):
    tag = marker()

    async def go():
        client = client_for(postfix, from_="sender@example.test", send_to="rcpt@example.test",
                            subject=tag, message_text=tag, ssl_start_mode=SSLStartMode.EXPLICIT,
                            user=postfix.user, password=postfix.password, auth_mechanism=mechanism)
        trail = trail_of(client)
        await client.send()
        return trail, client.ssl_server_cert

    trail, cert = arun(go)
    delivered = postfix.wait_for_delivery(tag)
    assert "with ESMTPSA" in delivered
    assert "Authenticated sender: smtpxuser@example.test" in delivered
    assert f"sasl_method={name}" in postfix.wait_for_log(f"sasl_method={name}")
    assert not any(postfix.password in m for _, m in trail)
    assert cert is not None and "mx.example.test" in cert.subject_alt_names


def test_implicit_tls(postfix):
    tag = marker()

    async def go():
        client = client_for(postfix, from_="sender@example.test", send_to="rcpt@example.test",
                            subject=tag, message_text=tag, ssl_start_mode=SSLStartMode.IMPLICIT)
        client.mail_port = postfix.smtps_port
        await client.send()

    arun(go)
    assert "with ESMTPS" in postfix.wait_for_delivery(tag)


def test_untrusted_postfix_certificate_refused_then_accepted_by_a_handler(postfix):
    tag = marker()
    verdicts = []

    async def go():
        refused = client_for(postfix, trust=False, from_="sender@example.test", send_to="rcpt@example.test",
                             subject=tag, message_text="refused " + tag, ssl_start_mode=SSLStartMode.EXPLICIT,
                             on_ssl_server_authentication=lambda e: verdicts.append(e.accept))
        with pytest.raises(smtpx.SMTPCertificateError):
            await refused.send()

        def accept(event):
            verdicts.append(event.accept)
            event.accept = True

        accepted = client_for(postfix, trust=False, from_="sender@example.test", send_to="rcpt@example.test",
                              subject=tag, message_text="accepted " + tag, ssl_start_mode=SSLStartMode.EXPLICIT,
                              on_ssl_server_authentication=accept)
        await accepted.send()

    arun(go)
    assert verdicts == [False, False]  # the verdict the handlers saw
    assert "accepted " + tag in postfix.wait_for_delivery(tag)
    assert not any("refused " + tag in m for m in split_mbox(postfix.mailbox_text()))


def test_twenty_clients_ten_messages_each_on_one_loop(postfix):
    tag = marker()
    clients, per_client = 20, 10

    async def one(n: int) -> None:
        async with client_for(postfix) as client:
            for i in range(per_client):
                body = f"Subject: {tag} {n}-{i}\r\n\r\n{tag}-{n}-{i}\r\n".encode()
                result = await client.send_raw("sender@example.test", ["rcpt@example.test"], body)
                assert result.all_accepted

    async def go():
        await asyncio.gather(*(one(n) for n in range(clients)))

    arun(go, limit=120)
    wanted = {f"{tag}-{n}-{i}" for n in range(clients) for i in range(per_client)}
    postfix.wait_for_delivery(f"{tag}-{clients - 1}-{per_client - 1}", timeout=60)
    deadline = time.monotonic() + 60
    while True:
        text = postfix.mailbox_text()
        missing = {w for w in wanted if w + "\n" not in text.replace("\r\n", "\n")}
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert not missing, f"{len(missing)} of {len(wanted)} messages not delivered"
