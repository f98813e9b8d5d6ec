"""SCRAM against a real server: Postfix smtpd with Cyrus SASL's SCRAM plugin over sasldb (the
``postfix`` fixture, tests/servers/postfix.py). The server checks our proof and we check its
signature, so a delivered message means both sides computed the same SCRAM keys."""
from __future__ import annotations

import uuid

import pytest

import smtpx
from smtpx import AuthMechanism, SSLStartMode

pytestmark = pytest.mark.postfix


def _client(postfix, **kwargs) -> smtpx.SMTP:
    client = smtpx.SMTP(mail_server=postfix.host, mail_port=postfix.smtp_port, timeout=20,
                        from_="sender@example.test", send_to="rcpt@example.test",
                        ssl_start_mode=SSLStartMode.EXPLICIT, **kwargs)
    client.config("SSLServerCACerts=" + postfix.ca_pem)
    return client


@pytest.mark.parametrize("mechanism, name", [
    (AuthMechanism.SCRAM_SHA_256, "SCRAM-SHA-256"),
    (AuthMechanism.SCRAM_SHA_1, "SCRAM-SHA-1"),
])
def test_scram_with_postfix_and_cyrus_sasl(postfix, mechanism, name):
    tag = "mark-" + uuid.uuid4().hex[:12]
    client = _client(postfix, user=postfix.user, password=postfix.password, auth_mechanism=mechanism,
                     subject=tag, message_text=tag)
    trace: list[str] = []
    client.on_pi_trail = lambda event: trace.append(event.message)
    client.send()
    delivered = postfix.wait_for_delivery(tag)
    assert "Authenticated sender: smtpxuser@example.test" in delivered
    log = postfix.wait_for_log(f"sasl_method={name}")
    assert "sasl_username=smtpxuser@example.test" in log
    assert not any(postfix.password in line for line in trace)
    assert any(line.startswith(f"AUTH {name} ") for line in trace)


def test_scram_wrong_password_is_a_typed_auth_error(postfix):
    client = _client(postfix, user=postfix.user, password="wrong", auth_mechanism=AuthMechanism.SCRAM_SHA_256,
                     message_text="x")
    trace: list[str] = []
    client.on_pi_trail = lambda event: trace.append(event.message)
    with pytest.raises(smtpx.SMTPAuthError) as info:
        client.send()
    assert info.value.code == 535 or "535" in str(info.value)
    assert not any(line.startswith("MAIL") for line in trace)
