"""Interoperability with a real Postfix smtpd (started by the ``postfix`` fixture).

Each feature is checked on the server side: in the mailbox Postfix delivered to, or in its
log, where the whole SMTP conversation of 127.0.0.1 is recorded (debug_peer_list).
"""
from __future__ import annotations

import uuid

import pytest

import smtpx
from smtpx import AuthMechanism, RecipientType, SSLStartMode

pytestmark = pytest.mark.postfix


def marker() -> str:
    return "mark-" + uuid.uuid4().hex[:12]


def client_for(postfix, **kwargs) -> smtpx.SMTP:
    client = smtpx.SMTP(mail_server=postfix.host, mail_port=postfix.smtp_port, timeout=20, **kwargs)
    client.config("SSLServerCACerts=" + postfix.ca_pem)
    return client


def trace_of(client: smtpx.SMTP) -> list[tuple[int, str]]:
    lines: list[tuple[int, str]] = []
    client.on_pi_trail = lambda event: lines.append((event.direction, event.message))
    return lines


def test_plain_send_is_delivered_byte_for_byte_body(postfix):
    tag = marker()
    client = client_for(postfix, from_="Sender <sender@example.test>", send_to="rcpt@example.test",
                        subject="Plain " + tag, message_text=f"first line {tag}\r\n.leading dot\r\nlast\r\n")
    client.send()
    delivered = postfix.wait_for_delivery(tag)
    assert f"Subject: Plain {tag}" in delivered
    # the leading dot was stuffed on the wire and un-stuffed by Postfix: exactly one dot
    assert "\n.leading dot\n" in delivered.replace("\r\n", "\n")
    assert "To: rcpt@example.test" in delivered


def test_pipelining_and_chunking_are_used(postfix):
    tag = marker()
    client = client_for(postfix, from_="sender@example.test", send_to="a@example.test, b@example.test",
                        subject=tag, message_text="chunked body " + tag)
    trace = trace_of(client)
    client.send()
    postfix.wait_for_delivery(tag)
    sent = [message for direction, message in trace if direction == 0]
    assert any(line.startswith("BDAT ") and line.endswith(" LAST") for line in sent), sent
    assert not any(line == "DATA" for line in sent)
    log = postfix.wait_for_log("BDAT")
    assert "< localhost[127.0.0.1]: BDAT" in log


def test_chunking_can_be_switched_off(postfix):
    tag = marker()
    client = client_for(postfix, from_="sender@example.test", send_to="rcpt@example.test",
                        subject=tag, message_text="data body " + tag)
    client.config("UseChunking=False")
    trace = trace_of(client)
    client.send()
    postfix.wait_for_delivery(tag)
    assert "DATA" in [message for direction, message in trace if direction == 0]


def test_mixed_recipient_results(postfix):
    tag = marker()
    client = client_for(postfix, from_="sender@example.test", send_to="ok@example.test",
                        bcc="reject@example.test", subject=tag, message_text=tag)
    errors = []
    client.on_error = lambda event: errors.append(event)
    result = client.send()
    assert [r.address for r in result.accepted] == ["ok@example.test"]
    assert [r.address for r in result.refused] == ["reject@example.test"]
    assert result.refused[0].reply.code == 554
    assert errors and "reject@example.test" in errors[0].description
    postfix.wait_for_delivery(tag)


def test_refused_to_recipient_fails_the_send(postfix):
    client = client_for(postfix, from_="sender@example.test", send_to="reject@example.test",
                        subject="x", message_text="never delivered")
    with pytest.raises(smtpx.SMTPRecipientsRefused) as info:
        client.send()
    assert info.value.reply_code == 554
    assert info.value.enhanced == "5.7.1"


def test_smtputf8_address(postfix):
    tag = marker()
    client = client_for(postfix, from_="sender@example.test", send_to="jürgen@example.test",
                        subject="Grüße " + tag, message_text="body " + tag)
    client.send()
    postfix.wait_for_delivery(tag)
    log = postfix.wait_for_log("jürgen@example.test")
    assert "SMTPUTF8" in log


def test_dsn_parameters_reach_postfix_and_it_reports_success(postfix):
    tag = marker()
    client = client_for(postfix, from_="dsn-sender@example.test", subject=tag, message_text="dsn " + tag)
    client.message_recipients.append(
        smtpx.MessageRecipient(address="dsn-rcpt@example.test", recipient_type=RecipientType.TO,
                               options="NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;dsn-rcpt@example.test")
    )
    client.config("DSNReturn=HDRS")
    client.config("DSNEnvelopeId=" + tag)
    client.send()
    log = postfix.wait_for_log("NOTIFY=SUCCESS,FAILURE")
    assert f"ENVID={tag}" in log and "RET=HDRS" in log
    # Postfix sends a success DSN back to the sender, which lands in the same mailbox.
    report = postfix.wait_for_delivery("Successful Mail Delivery Report", tag)
    assert "Action: delivered" in report


def test_starttls_explicit(postfix):
    tag = marker()
    client = client_for(postfix, from_="sender@example.test", send_to="rcpt@example.test",
                        subject=tag, message_text=tag, ssl_start_mode=SSLStartMode.EXPLICIT)
    client.send()
    delivered = postfix.wait_for_delivery(tag)
    assert "with ESMTPS" in delivered
    assert client.ssl_server_cert is not None and "mx.example.test" in client.ssl_server_cert.subject_alt_names


def test_implicit_tls(postfix):
    tag = marker()
    client = client_for(postfix, from_="sender@example.test", send_to="rcpt@example.test",
                        subject=tag, message_text=tag, ssl_start_mode=SSLStartMode.IMPLICIT)
    client.mail_port = postfix.smtps_port
    client.send()
    assert "with ESMTPS" in postfix.wait_for_delivery(tag)


def test_untrusted_certificate_is_refused_before_anything_is_sent(postfix):
    client = smtpx.SMTP(mail_server=postfix.host, mail_port=postfix.smtps_port, timeout=20,
                        ssl_start_mode=SSLStartMode.IMPLICIT, from_="sender@example.test",
                        send_to="rcpt@example.test", message_text="x")
    statuses = []

    def on_auth(event):
        statuses.append((event.accept, event.status))

    client.on_ssl_server_authentication = on_auth
    with pytest.raises(smtpx.SMTPTLSError):
        client.send()
    assert statuses and statuses[0][0] is False


@pytest.mark.parametrize(
    "mechanism,name",
    [
        (AuthMechanism.SASL_PLAIN, "PLAIN"),
        (AuthMechanism.USER_PASSWORD, "LOGIN"),
        (AuthMechanism.CRAM_MD5, "CRAM-MD5"),
        (AuthMechanism.SASL_DIGEST_MD5, "DIGEST-MD5"),
    ],
)
def test_sasl_over_starttls(postfix, mechanism, name):
    tag = marker()
    client = client_for(postfix, from_="sender@example.test", send_to="rcpt@example.test",
                        subject=tag, message_text=tag, ssl_start_mode=SSLStartMode.EXPLICIT,
                        user=postfix.user, password=postfix.password, auth_mechanism=mechanism)
    trace = trace_of(client)
    client.send()
    delivered = postfix.wait_for_delivery(tag)
    assert "Authenticated sender: smtpxuser@example.test" in delivered
    assert "with ESMTPSA" in delivered
    log = postfix.wait_for_log(f"sasl_method={name}")
    assert "sasl_username=smtpxuser@example.test" in log
    # the password never shows in the trace
    assert not any(postfix.password in message for _, message in trace)


def test_wrong_password_is_a_typed_auth_error(postfix):
    client = client_for(postfix, from_="sender@example.test", send_to="rcpt@example.test",
                        message_text="x", ssl_start_mode=SSLStartMode.EXPLICIT, user=postfix.user,
                        password="wrong", auth_mechanism=AuthMechanism.CRAM_MD5)
    with pytest.raises(smtpx.SMTPAuthError) as info:
        client.send()
    assert info.value.reply_code == 535


def test_plaintext_password_auth_refused_without_tls(postfix):
    client = client_for(postfix, from_="sender@example.test", send_to="rcpt@example.test",
                        message_text="x", user=postfix.user, password=postfix.password,
                        auth_mechanism=AuthMechanism.SASL_PLAIN)
    log_start = len(postfix.log_text())
    with pytest.raises(smtpx.SMTPAuthError):
        client.send()
    # Wait until Postfix has logged the whole session, then look at what the client sent
    # ("< peer: command" lines); the server's own EHLO reply offers AUTH PLAIN, which is fine.
    session = postfix.wait_for_log("disconnect from", start=log_start)
    sent = [line.split(": < ", 1)[1].split("]: ", 1)[-1] for line in session.splitlines() if ": < " in line]
    assert sent, session
    assert sent[-1] == "QUIT"
    assert not any(command.upper().startswith("AUTH") for command in sent), sent


def test_message_over_size_limit_refused_before_mail(postfix):
    client = client_for(postfix, from_="sender@example.test", send_to="rcpt@example.test",
                        message_text="x" * 70 + "\r\n")
    client.message_text = ("y" * 998 + "\r\n") * (postfix.size_limit // 1000 + 10)
    trace = trace_of(client)
    with pytest.raises(smtpx.SMTPMessageTooLarge):
        client.send()
    assert not any(message.startswith("MAIL FROM") for direction, message in trace if direction == 0)


def test_connection_reuse_many_messages(postfix):
    client = client_for(postfix, from_="sender@example.test", send_to="rcpt@example.test")
    tags = [marker() for _ in range(5)]
    client.connect()
    try:
        for tag in tags:
            client.subject = tag
            client.message_text = "reuse " + tag
            client.send()
            assert client.connected
    finally:
        client.disconnect()
    for tag in tags:
        postfix.wait_for_delivery(tag)


def test_verify_on_postfix(postfix):
    client = client_for(postfix)
    client.connect()
    try:
        client.verify("smtpxbox@example.test")
        assert client.last_reply.startswith("252")
    finally:
        client.disconnect()
