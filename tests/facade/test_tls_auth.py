"""TLS (STARTTLS, implicit, automatic), certificate decisions and AUTH through the facade,
against aiosmtpd with a trustme test CA."""
from __future__ import annotations

import ssl

import pytest
import trustme

import smtpx
from smtpx.enums import AuthMechanism, SSLStartMode

from tests.servers.scripted import ScriptedServer


@pytest.fixture(scope="module")
def leaf(ca):
    """(server SSLContext, leaf certificate PEM) for 127.0.0.1."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert = ca.issue_cert("127.0.0.1")
    cert.configure_cert(ctx)
    return ctx, cert.cert_chain_pems[0].bytes()


def _trusting(smtp, ca_pem):
    smtp.config("SSLServerCACerts=" + ca_pem)
    return smtp


def test_starttls_then_ehlo_again_then_send(tls, make_smtp):
    ctx, ca_pem = tls
    statuses, ssl_status, auth_events = [], [], []
    with ScriptedServer(tls_context=ctx, require_starttls=True) as srv:
        smtp = _trusting(make_smtp(srv, ssl_start_mode=SSLStartMode.EXPLICIT,
                                   on_connection_status=lambda e: statuses.append(e.connection_event),
                                   on_ssl_status=lambda e: ssl_status.append(e.message),
                                   on_ssl_server_authentication=auth_events.append), ca_pem)
        assert smtp.ssl_enabled
        smtp.send()
        assert srv.verbs() == ["EHLO", "STARTTLS", "EHLO", "MAIL", "RCPT", "DATA", "QUIT"]
        assert len(srv.messages) == 1
    assert statuses == ["Remote host connection complete", "SSL handshake complete", "Remote host disconnected"]
    assert ssl_status  # handshake progress was reported
    assert len(auth_events) == 1 and auth_events[0].accept is True and auth_events[0].status == "OK"
    assert b"BEGIN CERTIFICATE" in auth_events[0].cert_encoded
    assert "trustme" in smtp.ssl_server_cert.issuer
    assert smtp.config("SSLNegotiatedVersion").startswith("TLS")
    assert smtp.config("SSLNegotiatedCipher") != ""


@pytest.mark.parametrize("mode", [SSLStartMode.IMPLICIT, SSLStartMode.AUTOMATIC])
def test_implicit_tls_from_the_first_byte(tls, make_smtp, mode):
    ctx, ca_pem = tls
    with ScriptedServer(tls_context=ctx, implicit_tls=True) as srv:
        smtp = _trusting(make_smtp(srv, ssl_start_mode=mode), ca_pem)  # automatic: port is not 25/587
        smtp.connect()
        assert smtp.connected
        assert srv.verbs() == ["EHLO"]  # no STARTTLS: TLS was on from the start
        assert smtp.ssl_server_cert is not None
        smtp.send()
        assert len(srv.messages) == 1


def test_untrusted_certificate_is_refused_with_280_and_nothing_follows(tls, make_smtp):
    ctx, _ = tls
    events = []
    with ScriptedServer(tls_context=ctx) as srv:
        smtp = make_smtp(srv, ssl_start_mode=SSLStartMode.EXPLICIT, on_ssl_server_authentication=events.append)
        with pytest.raises(smtpx.SMTPCertificateError) as info:
            smtp.send()
        assert info.value.code == 280
        assert srv.verbs() == ["EHLO", "STARTTLS"]
        assert srv.messages == []
    assert events and events[0].accept is False and events[0].status != "OK"
    assert not smtp.connected and smtp.idle


def test_handler_can_accept_an_untrusted_certificate(tls, make_smtp):
    ctx, _ = tls
    seen = []

    def accept(event):
        seen.append((event.accept, event.status))
        event.accept = True

    with ScriptedServer(tls_context=ctx) as srv:
        smtp = make_smtp(srv, ssl_start_mode=SSLStartMode.EXPLICIT, on_ssl_server_authentication=accept)
        smtp.send()
        assert len(srv.messages) == 1
    assert seen[0][0] is False and seen[0][1] != "OK"


def test_handler_can_refuse_a_trusted_certificate(tls, make_smtp):
    ctx, ca_pem = tls

    def refuse(event):
        event.accept = False

    with ScriptedServer(tls_context=ctx) as srv:
        smtp = _trusting(make_smtp(srv, ssl_start_mode=SSLStartMode.EXPLICIT, on_ssl_server_authentication=refuse), ca_pem)
        with pytest.raises(smtpx.SMTPCertificateError):
            smtp.connect()
        assert srv.verbs() == ["EHLO", "STARTTLS"]


def test_ssl_accept_server_cert_pins_exactly_that_certificate(leaf, make_smtp):
    ctx, leaf_pem = leaf
    with ScriptedServer(tls_context=ctx) as srv:
        smtp = make_smtp(srv, ssl_start_mode=SSLStartMode.EXPLICIT)
        smtp.ssl_accept_server_cert = smtpx.Certificate(leaf_pem)
        smtp.send()
        assert len(srv.messages) == 1
        # Another certificate pinned: refused again.
        other = trustme.CA().issue_cert("127.0.0.1").cert_chain_pems[0].bytes()
        smtp.ssl_accept_server_cert = smtpx.Certificate(other)
        with pytest.raises(smtpx.SMTPCertificateError):
            smtp.send()
    with pytest.raises(smtpx.SMTPInputError):
        smtp.ssl_accept_server_cert = "not a certificate"


def test_ssl_cert_is_presented_to_a_server_that_requires_one(ca, make_smtp):
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    ca.configure_trust(server_ctx)
    client = ca.issue_cert("client@example.com")
    pem = client.private_key_and_cert_chain_pem.bytes()
    ca_pem = ca.cert_pem.bytes().decode()
    with ScriptedServer(tls_context=server_ctx) as srv:
        smtp = _trusting(make_smtp(srv, ssl_start_mode=SSLStartMode.EXPLICIT), ca_pem)
        with pytest.raises(smtpx.SMTPError):  # no client certificate: the server refuses
            smtp.send()
        assert srv.messages == []
        smtp.ssl_cert = smtpx.Certificate(smtpx.CertStoreType.PEM_KEY_BLOB, pem)
        smtp.send()
        assert len(srv.messages) == 1


def test_ssl_server_cert_is_reset_by_a_new_connection(tls, make_smtp, server):
    ctx, ca_pem = tls
    with ScriptedServer(tls_context=ctx, implicit_tls=True) as srv:
        smtp = _trusting(make_smtp(srv, ssl_start_mode=SSLStartMode.IMPLICIT), ca_pem)
        smtp.connect()
        smtp.disconnect()
    assert smtp.ssl_server_cert is not None  # still there after the disconnect
    smtp.ssl_start_mode = SSLStartMode.NONE
    smtp.mail_port = server.port
    smtp.connect()
    assert smtp.ssl_server_cert is None
    assert smtp.config("SSLNegotiatedVersion") == ""


def test_ssl_provider_values_all_use_the_ssl_module(tls, make_smtp):
    ctx, ca_pem = tls
    with ScriptedServer(tls_context=ctx, implicit_tls=True) as srv:
        for provider in (smtpx.SSLProvider.PLATFORM, smtpx.SSLProvider.INTERNAL):
            smtp = _trusting(make_smtp(srv, ssl_start_mode=SSLStartMode.IMPLICIT, ssl_provider=provider), ca_pem)
            smtp.send()
        assert len(srv.messages) == 2
    with pytest.raises(smtpx.SMTPInputError):
        smtpx.SMTP().ssl_provider = 9


@pytest.mark.parametrize("mechanism, name", [(AuthMechanism.USER_PASSWORD, "LOGIN"), (AuthMechanism.SASL_PLAIN, "PLAIN")])
def test_auth_over_starttls(tls, make_smtp, mechanism, name):
    ctx, ca_pem = tls
    with ScriptedServer(tls_context=ctx, users={"ann": "s3cret"}) as srv:
        smtp = _trusting(make_smtp(srv, ssl_start_mode=SSLStartMode.EXPLICIT, user="ann", password="s3cret",
                                   auth_mechanism=mechanism), ca_pem)
        smtp.send()
        assert srv.auth_log == [(name, "ann")]
        assert srv.verbs()[:4] == ["EHLO", "STARTTLS", "EHLO", "AUTH"]


def test_plaintext_auth_is_refused_unless_allowed(server, make_smtp):
    server.users["ann"] = "s3cret"
    smtp = make_smtp(server, user="ann", password="s3cret")
    with pytest.raises(smtpx.SMTPAuthError):
        smtp.send()
    assert "AUTH" not in server.verbs() and server.messages == []
    smtp.config("AllowPlaintextAuth=True")
    smtp.send()
    assert server.auth_log == [("LOGIN", "ann")]
    assert len(server.messages) == 1


def test_wrong_password_fails_typed_and_the_object_stays_usable(server, make_smtp):
    server.users["ann"] = "right"
    smtp = make_smtp(server, user="ann", password="wrong")
    smtp.config("AllowPlaintextAuth=True")
    with pytest.raises(smtpx.SMTPAuthError) as info:
        smtp.connect()
    assert info.value.reply_code == 535
    assert not smtp.connected and smtp.idle
    smtp.password = "right"
    smtp.connect()
    assert smtp.connected


@pytest.mark.parametrize("mask", [True, False])
def test_auth_is_masked_in_the_trace_unless_turned_off(server, make_smtp, mask):
    server.users["ann"] = "s3cret"
    trail = []
    smtp = make_smtp(server, user="ann", password="s3cret", auth_mechanism=AuthMechanism.SASL_PLAIN,
                     on_pi_trail=lambda e: trail.append(e.message))
    smtp.config("AllowPlaintextAuth=True")
    smtp.config(f"MaskSensitiveData={mask}")
    smtp.connect()
    secret = "AGFubgBzM2NyZXQ="  # base64("\0ann\0s3cret")
    auth_lines = [m for m in trail if m.startswith("AUTH")]
    assert auth_lines
    assert any(secret in m for m in trail) is (not mask)


def test_no_auth_without_user(server, make_smtp):
    smtp = make_smtp(server, password="only a password")
    smtp.send()
    assert "AUTH" not in server.verbs()


def test_cram_md5_needs_no_plaintext_allowance(server, make_smtp):
    server.users["ann"] = "s3cret"
    smtp = make_smtp(server, user="ann", password="s3cret", auth_mechanism=AuthMechanism.CRAM_MD5)
    smtp.send()  # CRAM-MD5 never sends the password, so plaintext is fine
    assert server.auth_log == [("CRAM-MD5", "ann")]
    smtp.password = "wrong"
    with pytest.raises(smtpx.SMTPAuthError):
        smtp.send()
    assert server.auth_log[-1] == ("CRAM-MD5", None)
    assert len(server.messages) == 1


def test_apop_is_refused_as_a_pop3_mechanism(server, make_smtp):
    smtp = make_smtp(server, user="ann", password="pw", auth_mechanism=AuthMechanism.APOP)
    with pytest.raises(smtpx.SMTPAuthError, match="POP3"):
        smtp.send()
    assert "AUTH" not in server.verbs() and server.messages == []


@pytest.mark.parametrize("reuse", [False, True])
def test_reuse_ssl_session_resumes_the_previous_session(tls, make_smtp, reuse):
    ctx, ca_pem = tls
    with ScriptedServer(tls_context=ctx, implicit_tls=True) as srv:
        smtp = _trusting(make_smtp(srv, ssl_start_mode=SSLStartMode.IMPLICIT), ca_pem)
        smtp.config(f"ReuseSSLSession={reuse}")
        smtp.config("SSLEnabledProtocols=3072")  # TLS 1.2: a resumed session keeps its id
        ids = []
        for _ in range(2):
            smtp.connect()
            ids.append(smtp._tls_info.session.id)  # what was negotiated (no public view of the id)
            smtp.disconnect()
    assert ids[0] and (ids[0] == ids[1]) is reuse


@pytest.mark.parametrize(
    "protocols, suites, version, suite",
    [
        ("3072", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "TLSv1.2", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"),
        ("3072", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLSv1.2", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"),
        ("12288", "*", "TLSv1.3", None),
    ],
)
def test_tls_config_reaches_the_handshake(tls, make_smtp, protocols, suites, version, suite):
    ctx, ca_pem = tls
    with ScriptedServer(tls_context=ctx, implicit_tls=True) as srv:
        smtp = _trusting(make_smtp(srv, ssl_start_mode=SSLStartMode.IMPLICIT), ca_pem)
        smtp.config(f"SSLEnabledProtocols={protocols}")
        smtp.config(f"SSLEnabledCipherSuites={suites}")
        smtp.connect()
        assert smtp.config("SSLNegotiatedVersion") == version
        if suite is not None:
            assert smtp.config("SSLNegotiatedCipherSuite") == suite


def test_ssl_server_cert_is_kept_when_auth_fails_after_the_handshake(tls, make_smtp):
    ctx, ca_pem = tls
    with ScriptedServer(tls_context=ctx, users={"ann": "right"}) as srv:
        smtp = _trusting(make_smtp(srv, ssl_start_mode=SSLStartMode.EXPLICIT, user="ann", password="wrong"), ca_pem)
        with pytest.raises(smtpx.SMTPAuthError):
            smtp.connect()
        assert not smtp.connected
        assert smtp.ssl_server_cert is not None and "trustme" in smtp.ssl_server_cert.issuer


def test_kerberos_without_gssapi_names_the_extra(server, make_smtp):
    try:
        import gssapi  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("gssapi is installed here: the missing-extra error cannot happen")
    smtp = make_smtp(server, user="ann@EXAMPLE.TEST", auth_mechanism=AuthMechanism.KERBEROS)
    server.extra_capabilities.append("AUTH GSSAPI")
    with pytest.raises(smtpx.SMTPAuthError, match=r"smtpx\[kerberos\]"):
        smtp.send()
    assert server.messages == []
