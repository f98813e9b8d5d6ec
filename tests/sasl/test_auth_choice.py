"""AuthMechanismAuto: the strongest mechanism the server offers (smtpx.sasl.choice), against
a real Postfix with Cyrus SASL (PLAIN LOGIN CRAM-MD5 DIGEST-MD5 SCRAM-SHA-1 SCRAM-SHA-256) and
the scripted aiosmtpd server; the pools turn it on by default."""
from __future__ import annotations

import uuid

import pytest

import smtpx
from smtpx import AuthMechanism, SSLStartMode
from smtpx.sasl.choice import choose_mechanism
from tests.servers.scripted import ScriptedServer

ALL = {"PLAIN", "LOGIN", "CRAM-MD5", "DIGEST-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256", "XOAUTH2", "OAUTHBEARER"}


@pytest.mark.parametrize("offered, tls, token, expected", [
    (ALL, True, False, AuthMechanism.SCRAM_SHA_256),
    (ALL - {"SCRAM-SHA-256"}, True, False, AuthMechanism.SCRAM_SHA_1),
    ({"PLAIN", "LOGIN", "CRAM-MD5"}, True, False, AuthMechanism.CRAM_MD5),  # smtplib's first choice
    ({"PLAIN", "LOGIN"}, True, False, AuthMechanism.SASL_PLAIN),
    ({"LOGIN"}, True, False, AuthMechanism.USER_PASSWORD),
    ({"PLAIN", "CRAM-MD5"}, False, False, AuthMechanism.CRAM_MD5),  # no cleartext without TLS
    (ALL, True, True, AuthMechanism.OAUTHBEARER),
    ({"XOAUTH2", "PLAIN"}, True, True, AuthMechanism.XOAUTH2),
])
def test_the_order(offered, tls, token, expected):
    assert choose_mechanism(offered, tls=tls, allow_plaintext=False, has_password=True,
                            has_token=token) == expected


def test_cleartext_only_without_tls_is_refused_and_says_why():
    with pytest.raises(smtpx.SMTPAuthError, match="cleartext"):
        choose_mechanism({"PLAIN", "LOGIN"}, tls=False, allow_plaintext=False, has_password=True, has_token=False)
    assert choose_mechanism({"PLAIN"}, tls=False, allow_plaintext=True, has_password=True,
                            has_token=False) == AuthMechanism.SASL_PLAIN


def test_nothing_usable_names_what_was_offered():
    with pytest.raises(smtpx.SMTPAuthError, match="GSSAPI NTLM"):
        choose_mechanism({"NTLM", "GSSAPI"}, tls=True, allow_plaintext=False, has_password=True, has_token=False)


@pytest.mark.postfix
def test_postfix_over_starttls_gets_scram_sha_256(postfix):
    tag = "auto-" + uuid.uuid4().hex[:12]
    client = smtpx.SMTP(mail_server=postfix.host, mail_port=postfix.smtp_port, timeout=20,
                        from_="sender@example.test", send_to="rcpt@example.test", subject=tag, message_text=tag,
                        ssl_start_mode=SSLStartMode.EXPLICIT, user=postfix.user, password=postfix.password,
                        config={"SSLServerCACerts": postfix.ca_pem, "AuthMechanismAuto": True})
    client.send()
    postfix.wait_for_delivery(tag)
    assert "sasl_method=SCRAM-SHA-256" in postfix.wait_for_log("sasl_method=SCRAM-SHA-256")


@pytest.mark.postfix
def test_a_pool_picks_the_strongest_mechanism_by_default(postfix):
    start = len(postfix.log_text())
    with smtpx.SMTPPool(1, mail_server=postfix.host, mail_port=postfix.smtp_port, timeout=20,
                        ssl_start_mode=SSLStartMode.EXPLICIT, user=postfix.user, password=postfix.password,
                        config={"SSLServerCACerts": postfix.ca_pem}) as pool:
        pool.send_raw("sender@example.test", ["rcpt@example.test"], b"Subject: pool auto\r\n\r\nx\r\n")
    assert "sasl_method=SCRAM-SHA-256" in postfix.wait_for_log("sasl_method=", start=start)


def test_over_plaintext_the_choice_skips_the_cleartext_mechanisms():
    """The scripted server offers PLAIN, LOGIN, CRAM-MD5 and XOAUTH2 without TLS: CRAM-MD5."""
    with ScriptedServer(users={"u": "p"}) as server:
        client = smtpx.SMTP(mail_server=server.host, mail_port=server.port, user="u", password="p",
                            from_="a@example.com", send_to="b@example.org", message_text="x\r\n",
                            config={"AuthMechanismAuto": True})
        client.send()
        assert server.auth_log == [("CRAM-MD5", "u")] and len(server.messages) == 1
