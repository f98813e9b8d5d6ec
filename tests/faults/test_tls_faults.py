"""FAULTS.md items 13-17 through smtpx.SMTP: STARTTLS refused or stripped while TLS is
required, response injection after the 220, a drop right after it, and certificates that
must be refused unless the user accepts exactly that certificate. Nothing is sent in the
clear after the failure (no MAIL, no AUTH)."""
from __future__ import annotations

import datetime
import ssl

import pytest

import smtpx
from smtpx.enums import SSLStartMode
from tests.servers.scripted import RawServer, ScriptedServer

from tests.faults.raw import GREET, ehlo, smtp_for


@pytest.mark.parametrize("reply", ["454 4.7.0 TLS not available", "500 5.5.1 unrecognised"])
def test_13_starttls_refused_while_required_fails_and_nothing_else_is_sent(tls, make_smtp, reply):
    ctx, ca_pem = tls
    with ScriptedServer(tls_context=ctx, users={"u": "p"}) as srv:
        srv.reply("STARTTLS", reply)
        smtp = make_smtp(srv, ssl_start_mode=SSLStartMode.EXPLICIT, user="u", password="p")
        smtp.config("SSLServerCACerts=" + ca_pem)
        with pytest.raises(smtpx.SMTPTLSError):
            smtp.send()
        assert not smtp.connected and smtp.idle
        assert srv.verbs()[:2] == ["EHLO", "STARTTLS"]
        assert not {"AUTH", "MAIL", "RCPT", "DATA"} & set(srv.verbs())
        assert srv.auth_log == [] and srv.messages == []


def test_14_starttls_stripped_from_ehlo_fails_before_auth_or_mail(make_smtp, server):
    smtp = make_smtp(server, ssl_start_mode=SSLStartMode.EXPLICIT, user="u", password="p")
    with pytest.raises(smtpx.SMTPTLSError):
        smtp.send()
    assert server.verbs() == ["EHLO"] and server.messages == []


def test_15_bytes_after_the_starttls_220_are_refused_before_the_handshake():
    script = [GREET, *ehlo("STARTTLS"), ("expect", b"STARTTLS"),
              ("send", b"220 2.0.0 go ahead\r\n250-injected\r\n250 AUTH PLAIN\r\n")]
    with RawServer(script) as raw:
        smtp = smtp_for(raw, ssl_start_mode=SSLStartMode.EXPLICIT, user="u", password="p")
        with pytest.raises(smtpx.SMTPError) as info:
            smtp.send()
        assert isinstance(info.value, (smtpx.SMTPTLSError, smtpx.SMTPProtocolError))
        assert not smtp.connected
    after = bytes(raw.received).split(b"STARTTLS\r\n", 1)[1]
    assert after == b""  # no ClientHello, no EHLO, no AUTH after the injected bytes


def test_16_drop_right_after_the_starttls_220():
    script = [GREET, *ehlo("STARTTLS"), ("expect", b"STARTTLS"), ("send", b"220 go ahead\r\n"), ("close", None)]
    with RawServer(script) as raw:
        smtp = smtp_for(raw, ssl_start_mode=SSLStartMode.EXPLICIT)
        with pytest.raises(smtpx.SMTPError) as info:
            smtp.send()
        assert isinstance(info.value, (smtpx.SMTPTLSError, smtpx.SMTPCommunicationError))
        assert not smtp.connected and smtp.idle


def _server_ctx(ca, *names, **when):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf = ca.issue_cert(*names, **when)
    leaf.configure_cert(ctx)
    return ctx, leaf.cert_chain_pems[0].bytes().decode()


NOW = datetime.datetime.now(datetime.timezone.utc)
BAD_CERTS = {
    "expired": dict(names=("127.0.0.1",), not_before=NOW - datetime.timedelta(days=30),
                    not_after=NOW - datetime.timedelta(days=1)),
    "not_yet_valid": dict(names=("127.0.0.1",), not_before=NOW + datetime.timedelta(days=1),
                          not_after=NOW + datetime.timedelta(days=30)),
    "wrong_host": dict(names=("mail.other.example",)),
}


@pytest.mark.parametrize("case", sorted(BAD_CERTS))
def test_17_bad_certificates_are_refused_unless_the_handler_accepts(ca, make_smtp, case):
    spec = dict(BAD_CERTS[case])
    ctx, leaf_pem = _server_ctx(ca, *spec.pop("names"), **spec)
    with ScriptedServer(tls_context=ctx) as srv:
        smtp = make_smtp(srv, ssl_start_mode=SSLStartMode.EXPLICIT)
        smtp.config("SSLServerCACerts=" + ca.cert_pem.bytes().decode())
        with pytest.raises(smtpx.SMTPCertificateError) as info:
            smtp.send()
        assert info.value.code == 280
        assert srv.verbs() == ["EHLO", "STARTTLS"] and srv.messages == []
        # The user's handler accepting that very certificate lets the send go ahead.
        seen = []

        def accept(event):
            seen.append(event.status)
            event.accept = True

        smtp.on_ssl_server_authentication = accept
        smtp.send()
        assert len(srv.messages) == 1 and seen and seen[0] != "OK"


def test_17_ssl_accept_server_cert_accepts_only_that_certificate(ca, make_smtp):
    ctx, leaf_pem = _server_ctx(ca, "mail.other.example")
    other_ctx, other_pem = _server_ctx(ca, "mail.third.example")
    with ScriptedServer(tls_context=ctx) as srv:
        smtp = make_smtp(srv, ssl_start_mode=SSLStartMode.EXPLICIT)
        smtp.ssl_accept_server_cert = smtpx.Certificate(other_pem.encode())  # a different certificate
        with pytest.raises(smtpx.SMTPCertificateError):
            smtp.send()
        smtp.ssl_accept_server_cert = smtpx.Certificate(leaf_pem.encode())
        smtp.send()
        assert len(srv.messages) == 1


def test_18_capabilities_learnt_before_starttls_are_forgotten(tls, make_smtp):
    """Before TLS the server (or a man in the middle) says SIZE 1000; after TLS it sets no
    limit. A 5 KB message must go: the plaintext SIZE was dropped with the first EHLO."""
    ctx, ca_pem = tls
    with ScriptedServer(tls_context=ctx, drop_capabilities=["SIZE"]) as srv:
        handler = srv._controller.handler
        original = handler.handle_EHLO

        async def handle_EHLO(server, session, envelope, hostname, responses):  # noqa: N802
            lines = await original(server, session, envelope, hostname, responses)
            if session.ssl is None:
                lines = lines[:-1] + ["250-SIZE 1000"] + lines[-1:]
            return lines

        handler.handle_EHLO = handle_EHLO
        smtp = make_smtp(srv, ssl_start_mode=SSLStartMode.EXPLICIT, message_text=("x" * 70 + "\n") * 70)
        smtp.config("SSLServerCACerts=" + ca_pem)
        smtp.send()
        assert srv.verbs()[:3] == ["EHLO", "STARTTLS", "EHLO"]
        assert len(srv.messages) == 1
        mail = next(c for c in srv.commands if c.startswith("MAIL"))
        assert "SIZE=" not in mail.upper()  # no SIZE offered after TLS: none declared
