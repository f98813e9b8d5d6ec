"""Bad input from the user (SMTPInputError at creation) and bad data from the server
(SMTPAuthError), and that no secret ever shows in repr() or an error message."""
from __future__ import annotations

import pytest

from smtpx.errors import SMTPAuthError, SMTPInputError
from smtpx.sasl import (
    CramMD5Mechanism,
    DigestMD5Mechanism,
    LoginMechanism,
    PlainMechanism,
    XOAuth2Mechanism,
    create_mechanism,
)

SECRET = "Sup3r-Secret-Value"
MECHANISMS_WITH_PASSWORD = [0, 1, 2, 4, 5]


def test_apop_is_refused_as_a_pop3_mechanism():
    with pytest.raises(SMTPAuthError, match="POP3"):
        create_mechanism(3, "user", "pass")


@pytest.mark.parametrize("value", [13, -1, "x", None])
def test_unknown_mechanism_value(value):
    with pytest.raises(SMTPInputError, match="AuthMechanism"):
        create_mechanism(value, "user", "pass")


@pytest.mark.parametrize("mechanism", [0, 1, 2, 4, 5, 7])
@pytest.mark.parametrize("bad", ["\x00", "\r", "\n", "a\r\nRSET"])
def test_control_characters_in_the_user_name_are_refused(mechanism, bad):
    with pytest.raises(SMTPInputError, match="user name"):
        create_mechanism(mechanism, "us" + bad + "er", "pass", "token", hostname="h")


@pytest.mark.parametrize("mechanism", MECHANISMS_WITH_PASSWORD)
def test_nul_in_the_password_is_refused_without_quoting_it(mechanism):
    with pytest.raises(SMTPInputError) as info:
        create_mechanism(mechanism, "user", SECRET + "\x00", hostname="h")
    assert SECRET not in str(info.value)
    assert "password" in str(info.value)


@pytest.mark.parametrize("mechanism", [0, 1, 4, 5])
def test_cr_lf_in_the_password_is_carried_where_the_mechanism_can(mechanism):
    # base64 (LOGIN, PLAIN) and hashing (CRAM-MD5, DIGEST-MD5) carry any character but NUL
    create_mechanism(mechanism, "user", "pa\r\nss", hostname="h")


@pytest.mark.parametrize("mechanism", [4, 5])
@pytest.mark.parametrize("bad", ["\x00", "\r", "\n"])
def test_control_characters_in_the_authorization_identity(mechanism, bad):
    with pytest.raises(SMTPInputError, match="authorization identity"):
        create_mechanism(mechanism, "user", "pass", "boss" + bad, hostname="h")


@pytest.mark.parametrize("bad", ["\x01", "\x00", "\r", "\n", "\x7f"])
def test_xoauth2_refuses_separators_and_controls(bad):
    with pytest.raises(SMTPInputError):
        create_mechanism(7, "user", "", "tok" + bad + "en")
    with pytest.raises(SMTPInputError):
        create_mechanism(7, "us" + bad + "er", "", "token")


def test_xoauth2_needs_a_token():
    with pytest.raises(SMTPInputError, match="AuthorizationIdentity"):
        create_mechanism(7, "user", "password-is-not-a-token", "")


@pytest.mark.parametrize("mechanism", [0, 1, 2, 4, 5, 7])
def test_empty_user_is_refused(mechanism):
    with pytest.raises(SMTPInputError, match="user name"):
        create_mechanism(mechanism, "", "pass", "token", hostname="h")


@pytest.mark.parametrize("hostname", ["", "a/b", 'a"b', "a b", "a\r\nb"])
def test_digest_md5_needs_a_clean_host_name(hostname):
    with pytest.raises(SMTPInputError):
        create_mechanism(5, "user", "pass", hostname=hostname)


@pytest.mark.parametrize("mechanism", [0, 1, 2, 4, 5, 7])
def test_secrets_never_show_in_repr_or_str(mechanism):
    mech = create_mechanism(mechanism, "user", SECRET, SECRET, hostname="h")
    for text in (repr(mech), str(mech)):
        assert SECRET not in text
        assert "user" in text


# -- server misbehaviour ---------------------------------------------------------------------


def test_cram_md5_refuses_an_empty_or_second_challenge():
    with pytest.raises(SMTPAuthError):
        CramMD5Mechanism("u", "p").respond(b"")
    mech = CramMD5Mechanism("u", "p")
    mech.respond(b"<1@x>")
    with pytest.raises(SMTPAuthError):
        mech.respond(b"<2@x>")


def test_login_refuses_a_third_challenge():
    mech = LoginMechanism("u", "p")
    mech.respond(b"Username:")
    mech.respond(b"Password:")
    with pytest.raises(SMTPAuthError):
        mech.respond(b"Again:")


def test_plain_refuses_a_challenge_after_the_initial_response():
    mech = PlainMechanism("u", "p")
    mech.initial_response()
    with pytest.raises(SMTPAuthError):
        mech.respond(b"")


def digest(**kw):
    return DigestMD5Mechanism("chris", SECRET, hostname="h", cnonce="c", **kw)


@pytest.mark.parametrize(
    "challenge, message",
    [
        (b'realm="r",qop="auth",algorithm=md5-sess', "no nonce"),
        (b'nonce="a",nonce="b",algorithm=md5-sess', "repeats"),
        (b'nonce="a",qop="auth"', "md5-sess"),
        (b'nonce="a",algorithm=md5', "md5-sess"),
        (b'nonce="a",algorithm=md5-sess,charset=latin1', "charset"),
        (b'nonce="a",algorithm=md5-sess,qop="auth-int,auth-conf"', "integrity or privacy"),
        (b'nonce="a,algorithm=md5-sess', "unterminated"),
        (b'nonce"a"', "no '='"),
        (b"\xff\xfe", "UTF-8"),
        (b'nonce="a",algorithm=md5-sess,rspauth=00', "rspauth before"),
        (b'nonce="' + b"a" * 3000 + b'",algorithm=md5-sess', "2048"),
    ],
)
def test_digest_md5_malformed_challenges(challenge, message):
    with pytest.raises(SMTPAuthError, match=message) as info:
        digest().respond(challenge)
    assert SECRET not in str(info.value)


def test_digest_md5_wrong_rspauth_is_an_impostor():
    mech = digest()
    mech.respond(b'nonce="a",algorithm=md5-sess')
    with pytest.raises(SMTPAuthError, match="rspauth"):
        mech.respond(b"rspauth=00000000000000000000000000000000")
    assert not mech.server_verified


def test_digest_md5_success_without_rspauth_is_refused():
    mech = digest()
    mech.respond(b'nonce="a",algorithm=md5-sess')
    with pytest.raises(SMTPAuthError, match="did not prove"):
        mech.verify_success(b"")


def test_digest_md5_second_challenge_must_be_rspauth():
    mech = digest()
    mech.respond(b'nonce="a",algorithm=md5-sess')
    with pytest.raises(SMTPAuthError, match="no rspauth"):
        mech.respond(b'nonce="b",algorithm=md5-sess,stale=true')


def test_digest_md5_non_latin1_without_utf8_charset():
    mech = DigestMD5Mechanism("Ωmega", "pw", hostname="h")
    with pytest.raises(SMTPAuthError, match="ISO 8859-1"):
        mech.respond(b'nonce="a",algorithm=md5-sess')


def test_xoauth2_only_one_error_round():
    mech = XOAuth2Mechanism("u", SECRET)
    mech.initial_response()
    mech.respond(b"{}")
    with pytest.raises(SMTPAuthError) as info:
        mech.respond(b"{}")
    assert SECRET not in str(info.value)
