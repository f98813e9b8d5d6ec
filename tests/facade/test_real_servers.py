"""The facade against the real peers started by tests/servers: Postfix (STARTTLS, implicit TLS,
SASL, CHUNKING, per-recipient refusal, delivery into an mbox) and a dante SOCKS proxy."""
from __future__ import annotations

import secrets

import pytest

import smtpx
from smtpx.enums import AuthMechanism, FirewallType, SSLStartMode

from tests.servers.postfix import SASL_PASSWORD, SASL_USER


def _smtp(postfix, port, mode, **props):
    marker = secrets.token_hex(8)
    smtp = smtpx.SMTP(mail_server="127.0.0.1", mail_port=port, ssl_start_mode=mode,
                      from_="Sender <sender@example.test>", send_to="smtpxbox@example.test",
                      subject=f"facade {marker}", message_text=f".dot first\r\nmarker {marker}\r\n", **props)
    smtp.config("SSLServerCACerts=" + postfix.ca_pem)
    return smtp, marker


@pytest.mark.postfix
@pytest.mark.parametrize("mechanism", [AuthMechanism.SASL_PLAIN, AuthMechanism.CRAM_MD5, AuthMechanism.SASL_DIGEST_MD5])
def test_starttls_auth_and_delivery(postfix, mechanism):
    trail = []
    smtp, marker = _smtp(postfix, postfix.smtp_port, SSLStartMode.EXPLICIT, user=SASL_USER, password=SASL_PASSWORD,
                         auth_mechanism=mechanism, on_pi_trail=lambda e: trail.append(e.message))
    result = smtp.send()
    assert [r.address for r in result.accepted] == ["smtpxbox@example.test"]
    delivered = postfix.wait_for_delivery(marker)
    assert f"\n.dot first\nmarker {marker}\n" in delivered.replace("\r\n", "\n")
    assert "STARTTLS" in trail and any(m.startswith("AUTH") for m in trail)
    assert smtp.ssl_server_cert is not None and smtp.config("SSLNegotiatedVersion").startswith("TLS")
    assert any(m.startswith("BDAT") for m in trail)  # Postfix offers CHUNKING: the facade's send used it


@pytest.mark.postfix
def test_implicit_tls_and_a_refused_recipient(postfix):
    errors = []
    smtp, marker = _smtp(postfix, postfix.smtps_port, SSLStartMode.IMPLICIT, bcc="reject@example.test",
                         on_error=errors.append)
    result = smtp.send()
    assert [r.address for r in result.refused] == ["reject@example.test"]
    assert errors and "reject@example.test" in errors[0].description
    postfix.wait_for_delivery(marker)


@pytest.mark.proxy
def test_firewall_socks5_reaches_the_server_through_dante(socks_proxy):
    from tests.servers.scripted import ScriptedServer

    with ScriptedServer() as srv:
        smtp = smtpx.SMTP(mail_server=srv.host, mail_port=srv.port, from_="a@example.com", send_to="b@example.com")
        smtp.firewall = smtpx.Firewall(firewall_type=FirewallType.SOCKS5, host=socks_proxy.host, port=socks_proxy.port)
        statuses = []
        smtp.on_connection_status = lambda e: statuses.append(e.connection_event)
        smtp.send()
        assert len(srv.messages) == 1
        assert statuses[:2] == ["Firewall connection complete", "Remote host connection complete"]


@pytest.mark.postfix
def test_use_chunking_off_sends_data_instead_of_bdat(postfix):
    trail = []
    smtp, marker = _smtp(postfix, postfix.smtp_port, SSLStartMode.NONE, on_pi_trail=lambda e: trail.append(e.message))
    smtp.config("UseChunking=False")
    smtp.send()
    assert "DATA" in trail and not any(m.startswith("BDAT") for m in trail)
    delivered = postfix.wait_for_delivery(marker)
    assert f"\n.dot first\nmarker {marker}\n" in delivered.replace("\r\n", "\n")
