"""Every AuthMechanism through smtpx.SMTP, end to end, against aiosmtpd with the server side of
each mechanism (tests/servers/auth.py computes its half independently of smtpx.sasl): over
STARTTLS with a test CA, a message is sent and the server records who authenticated."""
from __future__ import annotations

import ssl

import pytest
import trustme

import smtpx
from smtpx import AuthMechanism, SSLStartMode
from tests.servers.auth import running_auth_server

USERS = {"alice": "wonder-land-1"}


@pytest.fixture(scope="module")
def tls():
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(server_context)
    return server_context, ca.cert_pem.bytes().decode()


def client_for(srv, ca_pem: str, **props) -> smtpx.SMTP:
    client = smtpx.SMTP(mail_server="127.0.0.1", mail_port=srv.port, timeout=15,
                        ssl_start_mode=SSLStartMode.EXPLICIT, from_="alice@example.com",
                        send_to="bob@example.com", message_text="authenticated body\r\n", **props)
    client.config("SSLServerCACerts=" + ca_pem)
    return client


@pytest.mark.parametrize("mechanism,name", [
    (AuthMechanism.USER_PASSWORD, "LOGIN"),
    (AuthMechanism.SASL_PLAIN, "PLAIN"),
    (AuthMechanism.CRAM_MD5, "CRAM-MD5"),
    (AuthMechanism.SASL_DIGEST_MD5, "DIGEST-MD5"),
    (AuthMechanism.NTLM, "NTLM"),
    (AuthMechanism.XOAUTH2, "XOAUTH2"),
])
def test_each_mechanism_authenticates_and_delivers(tls, mechanism, name):
    server_context, ca_pem = tls
    with running_auth_server(users=USERS, tls_context=server_context, auth_require_tls=True) as srv:
        props = dict(user="alice", auth_mechanism=mechanism)
        if mechanism == AuthMechanism.XOAUTH2:
            client = client_for(srv, ca_pem, **props)
            client.config("AuthorizationIdentity=" + USERS["alice"])  # the OAuth token
        else:
            client = client_for(srv, ca_pem, password=USERS["alice"], **props)
        trail: list[str] = []
        client.on_pi_trail = lambda event: trail.append(event.message)
        client.send()
        attempts = [a for a in srv.handler.attempts if a.success]
        messages = list(srv.messages)
    assert [a.mechanism for a in attempts] == [name]
    assert len(messages) == 1 and messages[0].auth_user == "alice"
    assert messages[0].content.endswith(b"authenticated body\r\n")
    assert any(line.startswith(f"AUTH {name}") for line in trail)
    assert not any(USERS["alice"] in line for line in trail)  # masked


@pytest.mark.parametrize("mechanism", [AuthMechanism.CRAM_MD5, AuthMechanism.SASL_DIGEST_MD5,
                                       AuthMechanism.NTLM])
def test_a_wrong_password_is_a_typed_error_and_nothing_is_sent(tls, mechanism):
    server_context, ca_pem = tls
    with running_auth_server(users=USERS, tls_context=server_context) as srv:
        client = client_for(srv, ca_pem, user="alice", password="not-it", auth_mechanism=mechanism)
        with pytest.raises(smtpx.SMTPAuthError):
            client.send()
        assert not srv.messages
        assert not client.connected and client.idle


def test_apop_is_refused_clearly_before_anything_is_sent(tls):
    server_context, ca_pem = tls
    with running_auth_server(users=USERS, tls_context=server_context) as srv:
        client = client_for(srv, ca_pem, user="alice", password="x", auth_mechanism=AuthMechanism.APOP)
        with pytest.raises(smtpx.SMTPAuthError) as info:
            client.send()
        assert "POP3" in info.value.description
        assert not srv.handler.attempts and not srv.messages


def test_kerberos_without_gssapi_names_the_extra(tls):
    try:
        import gssapi  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("gssapi is installed here: the missing-package error cannot be shown")
    server_context, ca_pem = tls
    with running_auth_server(users=USERS, tls_context=server_context) as srv:
        client = client_for(srv, ca_pem, user="alice", password="x", auth_mechanism=AuthMechanism.KERBEROS)
        with pytest.raises(smtpx.SMTPAuthError) as info:
            client.send()
        assert "smtpx[kerberos]" in info.value.description
        assert not srv.messages
