"""smtpx.django.EmailBackend: Django's mail API sent through smtpx.

Against a real Postfix (marked ``postfix``): send_mail, send_mass_mail and
EmailMultiAlternatives with an HTML alternative and an attachment, read back from the mailbox
Postfix delivered to; STARTTLS with the test CA, implicit TLS, AUTH. Against the facade
tests' aiosmtpd server: connection reuse (EHLOs counted on the server), fail_silently,
refused recipients, settings.
"""
from __future__ import annotations

import email
import email.policy
import uuid

import pytest
from django.core import mail
from django.core.mail import EmailMessage, EmailMultiAlternatives, get_connection
from django.test import override_settings

import smtpx
from smtpx.django import EmailBackend
from smtpx.errors import SMTPConnectError, SMTPInputError, SMTPRecipientsRefused
from tests.servers.sockets import free_port

BACKEND = "smtpx.django.EmailBackend"
PAYLOAD = bytes(range(256)) * 50 + b"\r\n.\r\nFrom \n"


def tag() -> str:
    return "mark-" + uuid.uuid4().hex[:12]


def postfix_backend(postfix, **kwargs) -> EmailBackend:
    kwargs.setdefault("timeout", 20)
    return get_connection(BACKEND, host=postfix.host, port=postfix.smtp_port, **kwargs)


def parse(delivered: str) -> email.message.EmailMessage:
    return email.message_from_bytes(delivered.encode("utf-8"), policy=email.policy.default)


# =================================================================================== Postfix
@pytest.mark.postfix
def test_send_mail_is_delivered(postfix):
    mark = tag()
    count = mail.send_mail(f"Hello {mark}", f"body line {mark}\nsecond line\n", "Site <site@example.test>",
                           ["one@example.test"], connection=postfix_backend(postfix))
    assert count == 1
    delivered = parse(postfix.wait_for_delivery(mark))
    assert delivered["Subject"] == f"Hello {mark}"
    assert delivered["From"] == "Site <site@example.test>"
    assert delivered["To"] == "one@example.test"
    assert f"body line {mark}" in delivered.get_content()


@pytest.mark.postfix
def test_send_mass_mail_over_one_connection(postfix):
    mark = tag()
    messages = [(f"{mark} #{n}", f"message {n} {mark}", "site@example.test", [f"r{n}@example.test"])
                for n in range(3)]
    start = len(postfix.log_text())
    assert mail.send_mass_mail(messages, connection=postfix_backend(postfix)) == 3
    for n in range(3):
        delivered = parse(postfix.wait_for_delivery(f"{mark} #{n}"))
        assert delivered["To"] == f"r{n}@example.test"
    log = postfix.wait_for_log(f"r2@example.test", start=start)
    # one SMTP session: one EHLO from the client in the conversation Postfix logged
    assert log.count("< localhost[127.0.0.1]: EHLO") == 1, log[-3000:]


@pytest.mark.postfix
def test_multi_alternatives_with_attachment(postfix):
    mark = tag()
    message = EmailMultiAlternatives(
        subject=f"Report {mark} caf\u00e9", body=f"plain text {mark}\n", from_email="Site <site@example.test>",
        to=["to@example.test"], cc=["cc@example.test"], bcc=["hidden@example.test"],
        connection=postfix_backend(postfix))
    message.attach_alternative(f"<p>html {mark}</p>", "text/html")
    message.attach("data.bin", PAYLOAD, "application/octet-stream")
    message.attach("notes.txt", "gr\u00fc\u00dfe\n", "text/plain")
    assert message.send() == 1
    delivered_text = postfix.wait_for_delivery(mark, "X-Original-To: hidden@example.test")
    delivered = parse(delivered_text)
    assert delivered["Subject"] == f"Report {mark} caf\u00e9"
    assert delivered["Cc"] == "cc@example.test"
    assert delivered["Bcc"] is None and "hidden@example.test" not in delivered_text.split("\n\n", 1)[1]
    plain = delivered.get_body(("plain",))
    html = delivered.get_body(("html",))
    assert plain is not None and f"plain text {mark}" in plain.get_content()
    assert html is not None and f"<p>html {mark}</p>" in html.get_content()
    attachments = {part.get_filename(): part for part in delivered.iter_attachments()}
    assert attachments["data.bin"].get_content() == PAYLOAD
    assert attachments["notes.txt"].get_content() == "gr\u00fc\u00dfe\n"
    for rcpt in ("to@example.test", "cc@example.test"):  # every envelope recipient got it
        postfix.wait_for_delivery(mark, f"X-Original-To: {rcpt}")


@pytest.mark.postfix
def test_use_tls_with_the_ca_and_auth(postfix):
    mark = tag()
    backend = postfix_backend(postfix, use_tls=True, username=postfix.user, password=postfix.password,
                              config={"SSLServerCACerts": postfix.ca_pem})
    assert mail.send_mail(mark, mark, "site@example.test", ["tls@example.test"], connection=backend) == 1
    delivered = postfix.wait_for_delivery(mark)
    assert "with ESMTPSA" in delivered  # STARTTLS and AUTH
    assert f"Authenticated sender: {postfix.user}@" in delivered


@pytest.mark.postfix
def test_use_tls_without_the_ca_is_refused(postfix):
    backend = postfix_backend(postfix, use_tls=True)
    with pytest.raises(smtpx.errors.SMTPCertificateError):
        mail.send_mail("x", "x", "site@example.test", ["tls@example.test"], connection=backend)
    silent = postfix_backend(postfix, use_tls=True, fail_silently=True)
    assert mail.send_mail("x", "x", "site@example.test", ["tls@example.test"], connection=silent) == 0


@pytest.mark.postfix
def test_use_ssl_on_the_smtps_port(postfix, tmp_path):
    mark = tag()
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(postfix.ca_pem)
    with override_settings(EMAIL_HOST=postfix.host, EMAIL_PORT=postfix.smtps_port, EMAIL_USE_SSL=True,
                           EMAIL_TIMEOUT=20, SMTPX_CONFIG={"SSLServerCACerts": str(ca_file)}):
        assert mail.send_mail(mark, mark, "site@example.test", ["ssl@example.test"]) == 1
    assert "with ESMTPS" in postfix.wait_for_delivery(mark)


# =================================================================================== aiosmtpd
def aio_backend(server, **kwargs) -> EmailBackend:
    return get_connection(BACKEND, host=server.host, port=server.port, **kwargs)


def message(n: int, connection=None, **kwargs) -> EmailMessage:
    kwargs.setdefault("to", [f"r{n}@example.com"])
    return EmailMessage(f"subject {n}", f"body {n}\n", "site@example.com", connection=connection, **kwargs)


def test_open_reuses_one_connection(server):
    backend = aio_backend(server)
    assert backend.open() is True
    assert backend.open() is False
    assert backend.send_messages([message(1)]) == 1
    assert backend.send_messages([message(2), message(3)]) == 2
    assert backend.connection is not None and backend.connection.connected
    backend.close()
    assert backend.connection is None
    assert server.verbs().count("EHLO") == 1
    assert server.verbs().count("QUIT") == 1
    assert [m.rcpt_tos for m in server.messages] == [["r1@example.com"], ["r2@example.com"], ["r3@example.com"]]


def test_without_open_each_call_has_its_own_connection(server):
    backend = aio_backend(server)
    assert backend.send_messages([message(1)]) == 1
    assert backend.send_messages([message(2), message(3)]) == 2
    assert backend.connection is None
    assert server.verbs().count("EHLO") == 2
    assert server.verbs().count("QUIT") == 2


def test_context_manager_opens_and_closes(server):
    with aio_backend(server) as backend:
        assert backend.send_messages([message(1), message(2)]) == 2
        assert backend.connection is not None
    assert backend.connection is None
    assert server.verbs().count("EHLO") == 1


def without_stamps(data: bytes) -> bytes:
    return b"\r\n".join(line for line in data.split(b"\r\n") if not line.startswith((b"Date:", b"Message-ID:")))


def test_envelope_and_bytes_as_djangos_backend(server):
    msg = message(1, cc=["c@example.com"], bcc=["hidden@example.com"], reply_to=["reply@example.com"])
    msg.from_email = "Site Name <site@example.com>"
    assert aio_backend(server).send_messages([msg]) == 1
    [stored] = server.messages
    assert stored.mail_from == "site@example.com"
    assert stored.rcpt_tos == ["r1@example.com", "c@example.com", "hidden@example.com"]
    # what Django's own backend sends (Date and Message-ID are new for each message() call)
    assert without_stamps(stored.data) == without_stamps(msg.message().as_bytes(linesep="\r\n"))
    assert b"hidden@example.com" not in stored.data


def test_messages_without_recipients_are_skipped(server):
    backend = aio_backend(server)
    assert backend.send_messages([message(1, to=[]), message(2)]) == 1
    assert backend.send_messages([]) == 0
    assert backend.send_messages([message(3, to=[])]) == 0
    assert [m.rcpt_tos for m in server.messages] == [["r2@example.com"]]


def test_fail_silently_swallows_connection_refused():
    port = free_port()  # nothing listens there
    silent = get_connection(BACKEND, host="127.0.0.1", port=port, fail_silently=True)
    assert silent.open() is None
    assert silent.send_messages([message(1)]) == 0
    assert mail.send_mail("s", "b", "site@example.com", ["r@example.com"], fail_silently=True,
                          connection=get_connection(BACKEND, host="127.0.0.1", port=port, fail_silently=True)) == 0
    loud = get_connection(BACKEND, host="127.0.0.1", port=port)
    with pytest.raises(SMTPConnectError) as caught:
        loud.send_messages([message(1)])
    assert isinstance(caught.value, ConnectionRefusedError) or caught.value.code == 10061


def test_refused_recipient(server):
    server.reply("RCPT", "550 5.1.1 no such user", when="r2@", times=None)
    loud = aio_backend(server)
    with pytest.raises(SMTPRecipientsRefused):
        loud.send_messages([message(1), message(2), message(3)])
    assert [m.rcpt_tos for m in server.messages] == [["r1@example.com"], ["r3@example.com"]]  # pipelined on
    silent = aio_backend(server, fail_silently=True)
    assert silent.send_messages([message(1), message(2), message(3)]) == 2


def test_partly_refused_message_counts_as_sent(server):
    """smtplib's rule (Django's backend): sent to the accepted recipients, counted as sent."""
    server.reply("RCPT", "550 5.1.1 no such user", when="bad@", times=None)
    backend = aio_backend(server)
    assert backend.send_messages([message(1, to=["ok@example.com", "bad@example.com"])]) == 1
    assert server.messages[0].rcpt_tos == ["ok@example.com"]


def test_bad_input_raises_even_when_silent(server):
    msg = message(1)
    msg.extra_headers["X-Injected"] = "a"
    real = msg.message

    def smuggled():
        built = real()
        built._headers.append(("X-Note", "x\r\nBcc: evil@example.net"))  # past Django's own check
        return built

    msg.message = smuggled
    with pytest.raises(SMTPInputError, match="X-Note"):
        aio_backend(server, fail_silently=True).send_messages([msg, message(2)])
    assert server.messages == []  # nothing of the batch was written
    assert "MAIL" not in server.verbs()


def test_tls_and_ssl_together_are_refused():
    with pytest.raises(ValueError, match="mutually exclusive"):
        get_connection(BACKEND, use_tls=True, use_ssl=True)
    with override_settings(EMAIL_USE_TLS=True, EMAIL_USE_SSL=True):
        with pytest.raises(ValueError, match="mutually exclusive"):
            get_connection(BACKEND)


def test_settings_are_read(server):
    with override_settings(EMAIL_HOST=server.host, EMAIL_PORT=server.port, EMAIL_TIMEOUT=2.5,
                           EMAIL_HOST_USER="", EMAIL_HOST_PASSWORD=""):
        backend = get_connection()
        assert isinstance(backend, EmailBackend)
        client = backend._client()
        assert (client.mail_server, client.mail_port, client.timeout) == (server.host, server.port, 3)
        assert client.ssl_start_mode == smtpx.SSLStartMode.NONE
        assert mail.send_mail("s", "b", "site@example.com", ["r@example.com"]) == 1
    assert get_connection(BACKEND, timeout=None)._client().timeout == 0  # no timeout, as smtplib's
    assert get_connection(BACKEND, use_tls=True)._client().ssl_start_mode == smtpx.SSLStartMode.EXPLICIT
    assert get_connection(BACKEND, use_ssl=True)._client().ssl_start_mode == smtpx.SSLStartMode.IMPLICIT
    assert server.messages[0].rcpt_tos == ["r@example.com"]


def test_auth_with_user_and_password():
    from tests.servers.scripted import ScriptedServer

    with ScriptedServer(users={"alice": "pw"}) as srv:
        backend = aio_backend(srv, username="alice", password="pw", config={"AllowPlaintextAuth": True})
        assert backend.send_messages([message(1)]) == 1
        assert srv.auth_log and srv.auth_log[-1][1] == "alice"
        nobody = aio_backend(srv, username="alice", password="", config={})  # Django logs in only with both
        assert nobody.send_messages([message(2)]) == 1
        assert len(srv.auth_log) == 1
        # The backend picks the strongest mechanism offered (AuthMechanismAuto): without TLS
        # that is CRAM-MD5, never PLAIN or LOGIN, so the password does not cross in clear.
        cautious = aio_backend(srv, username="alice", password="pw")
        assert cautious.send_messages([message(3)]) == 1
        assert srv.auth_log[-1] == ("CRAM-MD5", "alice")
        # Told to use LOGIN without TLS: smtpx's default refuses (smtplib would send it); nothing is sent
        login = aio_backend(srv, username="alice", password="pw", config={"AuthMechanismAuto": False})
        with pytest.raises(smtpx.errors.SMTPAuthError, match="in clear"):
            login.send_messages([message(4)])
        assert len(srv.messages) == 3 and len(srv.auth_log) == 2


def test_client_certificate_files(tmp_path, ca):
    leaf = ca.issue_cert("client.example.com")
    cert = tmp_path / "cert.pem"
    key = tmp_path / "key.pem"
    cert.write_bytes(leaf.cert_chain_pems[0].bytes())
    key.write_bytes(leaf.private_key_pem.bytes())
    client = get_connection(BACKEND, ssl_certfile=str(cert), ssl_keyfile=str(key))._client()
    assert client.ssl_cert is not None and "trustme" in client.ssl_cert.subject
    assert client.ssl_cert.private_key_available
    both = tmp_path / "both.pem"
    both.write_bytes(cert.read_bytes() + key.read_bytes())
    assert get_connection(BACKEND, ssl_certfile=str(both))._client().ssl_cert.private_key_available
    with pytest.raises(ValueError):
        get_connection(BACKEND, ssl_keyfile=str(key))._client()


def test_use_tls_to_a_server_without_starttls(server):
    with pytest.raises(smtpx.errors.SMTPTLSError, match="STARTTLS"):
        aio_backend(server, use_tls=True).send_messages([message(1)])
    assert aio_backend(server, use_tls=True, fail_silently=True).send_messages([message(1)]) == 0
    assert server.messages == []
