"""RequireTLS (RFC 8689) against the real aiosmtpd server: REQUIRETLS on MAIL FROM over
STARTTLS to a server that offers it; refused before MAIL (nothing sent) in plaintext or when
the server does not offer it."""
from __future__ import annotations

import pytest

import smtpx
from smtpx.enums import SSLStartMode
from tests.servers.scripted import ScriptedServer


def client(server, ca_pem: str, **extra) -> smtpx.SMTP:
    return smtpx.SMTP(mail_server=server.host, mail_port=server.port, from_="a@example.com",
                      send_to="b@example.org", message_text="hi\r\n",
                      config={"RequireTLS": True, "SSLServerCACerts": ca_pem}, **extra)


def test_requiretls_goes_on_mail_over_starttls(tls):
    ctx, ca_pem = tls
    with ScriptedServer(tls_context=ctx, extra_capabilities=["REQUIRETLS"]) as server:
        client(server, ca_pem, ssl_start_mode=SSLStartMode.EXPLICIT).send()
        [stored] = server.messages
        assert "REQUIRETLS" in [option.upper() for option in stored.mail_options]


def test_requiretls_in_plaintext_is_refused_before_mail(tls):
    _, ca_pem = tls
    with ScriptedServer(extra_capabilities=["REQUIRETLS"]) as server:
        with pytest.raises(smtpx.SMTPTLSError):
            client(server, ca_pem, ssl_start_mode=SSLStartMode.NONE).send()
        assert "MAIL" not in server.verbs() and server.messages == []


def test_requiretls_to_a_server_without_it_is_refused_before_mail(tls):
    ctx, ca_pem = tls
    with ScriptedServer(tls_context=ctx) as server:
        with pytest.raises(smtpx.SMTPNotSupportedError):
            client(server, ca_pem, ssl_start_mode=SSLStartMode.EXPLICIT).send()
        assert "MAIL" not in server.verbs() and server.messages == []
