"""TLS with AsyncSMTP against aiosmtpd servers with a trustme certificate: STARTTLS, implicit
TLS, the same verification verdict and accept hook as smtpx.SMTP, and nothing written before
the verdict."""
from __future__ import annotations

import pytest

import smtpx
from tests.servers.scripted import RawServer, ScriptedServer
from smtpx import SSLStartMode

from .helpers import arun, client_for


def test_starttls_with_a_trusted_certificate_delivers(tls):
    server_ctx, ca_pem = tls
    events = []
    with ScriptedServer(tls_context=server_ctx, require_starttls=True) as srv:
        async def go():
            client = client_for(srv, ssl_start_mode=SSLStartMode.EXPLICIT, message_text="secret body",
                                on_ssl_server_authentication=events.append)
            client.config("SSLServerCACerts=" + ca_pem)
            await client.send()
            return client.ssl_server_cert

        cert = arun(go)
        assert srv.verbs() == ["EHLO", "STARTTLS", "EHLO", "MAIL", "RCPT", "DATA", "QUIT"]
        assert b"secret body" in srv.messages[0].data
    assert [(e.accept, e.status) for e in events] == [(True, "OK")]
    assert cert is not None and "trustme" in cert.issuer


def test_untrusted_certificate_is_refused_and_nothing_follows_the_handshake(tls):
    server_ctx, _ = tls
    events = []
    with ScriptedServer(tls_context=server_ctx) as srv:
        async def go():
            client = client_for(srv, ssl_start_mode=SSLStartMode.EXPLICIT, message_text="never sent",
                                on_ssl_server_authentication=events.append)
            with pytest.raises(smtpx.SMTPCertificateError) as info:
                await client.send()
            assert info.value.code == 280
            assert not client.connected

        arun(go)
        assert srv.verbs() == ["EHLO", "STARTTLS"]
        assert srv.messages == []
    assert len(events) == 1 and events[0].accept is False and events[0].status != "OK"


def test_a_handler_can_accept_an_untrusted_certificate(tls):
    server_ctx, _ = tls
    seen = []

    def accept(event):
        seen.append((event.accept, event.status))
        event.accept = True

    with ScriptedServer(tls_context=server_ctx) as srv:
        async def go():
            client = client_for(srv, ssl_start_mode=SSLStartMode.EXPLICIT, message_text="accepted",
                                on_ssl_server_authentication=accept)
            await client.send()
            return client.ssl_server_cert

        cert = arun(go)
        assert len(srv.messages) == 1
    assert seen and seen[0][0] is False
    assert cert is not None


def test_implicit_tls(tls):
    server_ctx, ca_pem = tls
    with ScriptedServer(tls_context=server_ctx, implicit_tls=True) as srv:
        async def go():
            client = client_for(srv, ssl_start_mode=SSLStartMode.IMPLICIT, message_text="over tls")
            client.config("SSLServerCACerts=" + ca_pem)
            statuses = []
            client.on_connection_status = lambda e: statuses.append(e.connection_event)
            await client.send()
            return statuses

        statuses = arun(go)
        assert srv.verbs()[0] == "EHLO" and len(srv.messages) == 1
    assert statuses[:2] == ["Remote host connection complete", "SSL handshake complete"]


def test_implicit_tls_untrusted_certificate_nothing_is_written(tls):
    server_ctx, _ = tls
    events = []
    with ScriptedServer(tls_context=server_ctx, implicit_tls=True) as srv:
        async def go():
            client = client_for(srv, ssl_start_mode=SSLStartMode.IMPLICIT, on_ssl_server_authentication=events.append)
            with pytest.raises(smtpx.SMTPCertificateError):
                await client.connect()

        arun(go)
        assert srv.commands == []  # not even EHLO went over the refused TLS session
    assert len(events) == 1 and events[0].accept is False


def test_bytes_injected_after_the_starttls_220_are_refused():
    script = [("send", b"220 raw.test ESMTP\r\n"), ("expect", b"EHLO"),
              ("send", b"250-raw.test\r\n250 STARTTLS\r\n"), ("expect", b"STARTTLS"),
              ("send", b"220 go ahead\r\n250 injected\r\n"), ("wait", 0.5)]
    with RawServer(script) as raw:
        async def go():
            client = smtpx.aio.AsyncSMTP(mail_server=raw.host, mail_port=raw.port, timeout=5,
                                         ssl_start_mode=SSLStartMode.EXPLICIT)
            with pytest.raises(smtpx.SMTPTLSError):
                await client.connect()

        arun(go)
    assert raw.received.count(b"\n") == 2  # EHLO and STARTTLS: nothing after


def test_tls_settings_asyncio_cannot_honour_raise_before_connecting(server):
    async def go():
        client = client_for(server, ssl_start_mode=SSLStartMode.EXPLICIT)
        client.config("LogSSLPackets=True")
        with pytest.raises(NotImplementedError, match="LogSSLPackets"):
            await client.connect()

    arun(go)
    assert server.commands == []


def test_reuse_ssl_session_is_refused_clearly_before_connecting(server):
    async def go():
        client = client_for(server, ssl_start_mode=SSLStartMode.EXPLICIT)
        client.config("ReuseSSLSession=True")
        with pytest.raises(NotImplementedError, match="ReuseSSLSession"):
            await client.connect()
        assert server.commands == []
        plain = client_for(server, ssl_start_mode=SSLStartMode.NONE)
        plain.config("ReuseSSLSession=True")  # no TLS: nothing to resume, nothing refused
        await plain.connect()
        await plain.disconnect()

    arun(go)
    assert server.verbs() == ["EHLO", "QUIT"]
