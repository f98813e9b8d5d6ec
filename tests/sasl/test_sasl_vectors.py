"""Published test vectors and exact wire formats for the SASL mechanisms."""
from __future__ import annotations

import base64

import pytest

from smtpx.enums import AuthMechanism
from smtpx.errors import SMTPAuthError
from smtpx.sasl import (
    CramMD5Mechanism,
    DigestMD5Mechanism,
    LoginMechanism,
    PlainMechanism,
    XOAuth2Mechanism,
    create_mechanism,
)
from smtpx.sasl.digest_directives import parse_directives
from smtpx.sasl.digest_md5 import digest_values

# RFC 2831 §4, first example (IMAP); only the service differs from what smtpx uses.
RFC2831_CHALLENGE = (
    b'realm="elwood.innosoft.com",nonce="OA6MG9tEQGm2hh",qop="auth",'
    b"algorithm=md5-sess,charset=utf-8"
)
RFC2831_RESPONSE_HASH = "d388dad90d4bbd760a152321f2143af7"
RFC2831_RSPAUTH = b"rspauth=ea40f60335c427b5527b84dbabcdfffd"


def rfc2831_mechanism(**overrides):
    options = dict(hostname="elwood.innosoft.com", service="imap", cnonce="OA6MHXh6VqTrRk")
    options.update(overrides)
    return DigestMD5Mechanism("chris", "secret", **options)


def test_cram_md5_rfc2195_example():
    mech = CramMD5Mechanism("tim", "tanstaaftanstaaf")
    assert mech.initial_response() is None
    response = mech.respond(b"<1896.697170952@postoffice.reston.mci.net>")
    assert response == b"tim b913a602c7eda7a495b4e6e7334d3890"
    assert mech.complete


def test_plain_rfc4616_examples():
    assert PlainMechanism("tim", "tanstaaftanstaaf").initial_response() == b"\x00tim\x00tanstaaftanstaaf"
    with_authzid = PlainMechanism("Kurt", "xipj3plmq", "Ursel")
    assert with_authzid.initial_response() == b"Ursel\x00Kurt\x00xipj3plmq"


def test_plain_answers_an_empty_prompt_when_no_initial_response_was_sent():
    mech = PlainMechanism("tim", "tanstaaftanstaaf")
    assert mech.respond(b"") == b"\x00tim\x00tanstaaftanstaaf"
    with pytest.raises(SMTPAuthError):
        mech.respond(b"")


def test_plain_utf8_credentials():
    mech = PlainMechanism("jürgen", "pässwörd")
    assert mech.initial_response() == "\x00jürgen\x00pässwörd".encode("utf-8")


def test_login_sends_user_then_password_whatever_the_prompt_says():
    mech = LoginMechanism("someone", "s3cret")
    assert mech.initial_response() is None
    assert mech.respond(b"User Name\x00") == b"someone"
    assert not mech.complete
    assert mech.respond(b"Password:") == b"s3cret"
    assert mech.complete
    with pytest.raises(SMTPAuthError):
        mech.respond(b"Password:")


def test_digest_md5_rfc2831_example():
    mech = rfc2831_mechanism()
    assert mech.initial_response() is None
    response = mech.respond(RFC2831_CHALLENGE)
    fields = {k: v[0] for k, v in parse_directives(response).items()}
    assert fields == {
        "charset": "utf-8",
        "username": "chris",
        "realm": "elwood.innosoft.com",
        "nonce": "OA6MG9tEQGm2hh",
        "nc": "00000001",
        "cnonce": "OA6MHXh6VqTrRk",
        "digest-uri": "imap/elwood.innosoft.com",
        "response": RFC2831_RESPONSE_HASH,
        "qop": "auth",
    }
    assert not mech.complete
    assert mech.respond(RFC2831_RSPAUTH) == b""
    assert mech.complete and mech.server_verified
    mech.verify_success(b"")  # already proved: no error


def test_digest_md5_rspauth_in_the_success_data():
    mech = rfc2831_mechanism()
    mech.respond(RFC2831_CHALLENGE)
    mech.verify_success(RFC2831_RSPAUTH)
    assert mech.server_verified


def test_digest_md5_uses_smtp_service_and_hostname_by_default():
    mech = create_mechanism(AuthMechanism.SASL_DIGEST_MD5, "chris", "secret", hostname="mail.example.org")
    fields = parse_directives(mech.respond(RFC2831_CHALLENGE))
    assert fields["digest-uri"] == ["smtp/mail.example.org"]
    # a fresh random cnonce, not the test vector's
    assert fields["cnonce"][0] != "OA6MHXh6VqTrRk" and len(fields["cnonce"][0]) >= 16


def test_digest_md5_authzid_changes_the_hash_and_is_sent():
    plain = rfc2831_mechanism().respond(RFC2831_CHALLENGE)
    with_authzid = rfc2831_mechanism(authorization_identity="boss").respond(RFC2831_CHALLENGE)
    fields = parse_directives(with_authzid)
    assert fields["authzid"] == ["boss"]
    assert fields["response"] != parse_directives(plain)["response"]


def test_digest_md5_realm_choice():
    challenge = b'realm="first.example",realm="second.example",nonce="n1",algorithm=md5-sess'
    fields = parse_directives(rfc2831_mechanism().respond(challenge))
    assert fields["realm"] == ["first.example"]
    fields = parse_directives(rfc2831_mechanism(realm="second.example").respond(challenge))
    assert fields["realm"] == ["second.example"]
    # no realm offered: none sent, and the hash uses the empty realm
    fields = parse_directives(rfc2831_mechanism().respond(b'nonce="n1",algorithm=md5-sess'))
    assert "realm" not in fields


def test_digest_md5_quotes_special_characters_in_the_user_name():
    mech = DigestMD5Mechanism('we"ird\\name', "pw", hostname="h", cnonce="c")
    response = mech.respond(b'nonce="n",algorithm=md5-sess,charset=utf-8')
    assert b'username="we\\"ird\\\\name"' in response
    assert parse_directives(response)["username"] == ['we"ird\\name']


def test_digest_md5_latin1_hashing_rule():
    """With charset=utf-8, text that fits ISO 8859-1 is hashed as ISO 8859-1 (RFC 2831 §2.1.2.1):
    so 'jürgen' must hash like the same name sent by a Latin-1 client."""
    challenge_utf8 = b'realm="r",nonce="n",algorithm=md5-sess,charset=utf-8'
    challenge_latin1 = b'realm="r",nonce="n",algorithm=md5-sess'
    utf8 = DigestMD5Mechanism("jürgen", "pw", hostname="h", cnonce="c").respond(challenge_utf8)
    latin1 = DigestMD5Mechanism("jürgen", "pw", hostname="h", cnonce="c").respond(challenge_latin1)
    assert "jürgen".encode("utf-8") in utf8
    assert "jürgen".encode("iso-8859-1") in latin1
    expected, _ = digest_values(
        user="jürgen".encode("iso-8859-1"), realm=b"r", password=b"pw", nonce=b"n", cnonce=b"c",
        authzid=b"", digest_uri=b"smtp/h",
    )
    assert parse_directives(utf8)["response"] == [expected]
    assert parse_directives(latin1.decode("iso-8859-1").encode())["response"] == [expected]
    # outside ISO 8859-1 the UTF-8 bytes are hashed
    greek = DigestMD5Mechanism("Ωmega", "pw", hostname="h", cnonce="c").respond(challenge_utf8)
    expected, _ = digest_values(
        user="Ωmega".encode("utf-8"), realm=b"r", password=b"pw", nonce=b"n", cnonce=b"c",
        authzid=b"", digest_uri=b"smtp/h",
    )
    assert parse_directives(greek)["response"] == [expected]


def test_xoauth2_format_matches_the_published_example():
    mech = XOAuth2Mechanism("someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg")
    initial = mech.initial_response()
    assert base64.b64encode(initial) == (
        b"dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhk"
        b"SFJoZG1semRHRXVZMjl0Q2cBAQ=="
    )


def test_xoauth2_answers_the_error_challenge_with_an_empty_response():
    mech = create_mechanism(7, "someuser@example.com", "", "token-123")
    assert mech.initial_response() == b"user=someuser@example.com\x01auth=Bearer token-123\x01\x01"
    answer = mech.respond(b'{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}')
    assert answer == b""
    assert mech.server_error == {"status": "401", "schemes": "bearer", "scope": "https://mail.google.com/"}
    with pytest.raises(SMTPAuthError):
        mech.respond(b"{}")


def test_xoauth2_non_json_error_is_kept_as_text():
    mech = XOAuth2Mechanism("u", "t")
    mech.initial_response()
    assert mech.respond(b"not json") == b""
    assert mech.server_error == {"raw": "not json"}


@pytest.mark.parametrize(
    "value, name, cleartext",
    [
        (0, "LOGIN", True),
        (1, "CRAM-MD5", False),
        (2, "NTLM", False),
        (4, "PLAIN", True),
        (5, "DIGEST-MD5", False),
        (7, "XOAUTH2", True),
    ],
)
def test_factory_maps_the_reference_values(value, name, cleartext):
    mech = create_mechanism(value, "user", "pass", "token", hostname="mail.example.org")
    assert mech.name == name
    assert mech.sends_cleartext is cleartext
    assert create_mechanism(AuthMechanism(value), "user", "pass", "token", hostname="h").name == name
