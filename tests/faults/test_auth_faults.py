"""FAULTS.md items 20-22 through smtpx.SMTP against aiosmtpd: a failed strong mechanism is not
retried with a weaker one; PLAIN/LOGIN never go over plaintext unless allowed; traces and
errors never show the credential unless masking is off."""
from __future__ import annotations

import base64

import pytest

import smtpx
from smtpx.enums import AuthMechanism


def test_20_failed_cram_md5_is_not_retried_with_plain_or_login(server, make_smtp):
    server.users["ann"] = "right"
    smtp = make_smtp(server, user="ann", password="wrong", auth_mechanism=AuthMechanism.CRAM_MD5)
    smtp.config("AllowPlaintextAuth=True")  # even when the weaker ones would be allowed
    with pytest.raises(smtpx.SMTPAuthError):
        smtp.send()
    assert server.auth_log == [("CRAM-MD5", None)]
    assert [c for c in server.commands if c.startswith("AUTH")] == ["AUTH CRAM-MD5"]
    assert "MAIL" not in server.verbs() and server.messages == []


@pytest.mark.parametrize("mechanism", [AuthMechanism.USER_PASSWORD, AuthMechanism.SASL_PLAIN])
def test_21_cleartext_mechanisms_over_plaintext_are_refused_before_auth(server, make_smtp, mechanism):
    server.users["ann"] = "pw"
    smtp = make_smtp(server, user="ann", password="pw", auth_mechanism=mechanism)
    with pytest.raises(smtpx.SMTPError):
        smtp.send()
    assert "AUTH" not in server.verbs() and "MAIL" not in server.verbs()


def test_22_a_server_echoing_the_credential_is_masked_in_trace_and_error(server, make_smtp):
    blob = base64.b64encode(b"\x00ann\x00s3cret").decode()
    server.reply("AUTH", f"535 5.7.8 bad credentials {blob}")
    trail = []
    smtp = make_smtp(server, user="ann", password="s3cret", auth_mechanism=AuthMechanism.SASL_PLAIN,
                     on_pi_trail=lambda e: trail.append(e.message))
    smtp.config("AllowPlaintextAuth=True")
    with pytest.raises(smtpx.SMTPAuthError) as info:
        smtp.send()
    shown = "\n".join(trail) + "\n" + str(info.value) + "\n" + (info.value.reply_text or "") + "\n" + smtp.last_reply
    assert blob not in shown and "s3cret" not in shown
    assert any(line.startswith("535") for line in trail)  # the reply itself is still traced
