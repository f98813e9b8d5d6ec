"""SCRAM (RFC 5802 / RFC 7677), SASLprep (RFC 4013) and OAUTHBEARER (RFC 7628): the RFCs'
example exchanges byte for byte, and every server misbehaviour refused with SMTPAuthError."""
from __future__ import annotations

import base64

import pytest

from smtpx.enums import AuthMechanism
from smtpx.errors import SMTPAuthError, SMTPInputError, SMTPNotSupportedError
from smtpx.sasl import OAuthBearerMechanism, ScramSHA1Mechanism, ScramSHA256Mechanism, create_mechanism
from smtpx.sasl.saslprep import saslprep
from smtpx.sasl.scram import MAX_ITERATIONS, MIN_ITERATIONS

# RFC 5802 section 5 (SCRAM-SHA-1), user "user", password "pencil".
SHA1 = dict(
    mech=ScramSHA1Mechanism, nonce="fyko+d2lbbFgONRv9qkxdawL",
    server_first=b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
    client_final=b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
    server_final=b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
)
# RFC 7677 section 3 (SCRAM-SHA-256), same user and password.
SHA256 = dict(
    mech=ScramSHA256Mechanism, nonce="rOprNGfwEbeRWgbNEkqO",
    server_first=b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
    client_final=(b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                  b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="),
    server_final=b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
)
VECTORS = pytest.mark.parametrize("v", [SHA1, SHA256], ids=["rfc5802-sha1", "rfc7677-sha256"])


@VECTORS
def test_the_rfc_example_exchange(v):
    mech = v["mech"]("user", "pencil", nonce=v["nonce"])
    assert mech.initial_response() == f"n,,n=user,r={v['nonce']}".encode()
    assert mech.respond(v["server_first"]) == v["client_final"]
    assert not mech.verified
    assert mech.respond(v["server_final"]) == b""
    assert mech.verified and mech.complete
    mech.verify_success(b"")
    assert "pencil" not in repr(mech)


@VECTORS
def test_empty_first_challenge_asks_for_the_client_first_message(v):
    mech = v["mech"]("user", "pencil", nonce=v["nonce"])
    assert mech.respond(b"") == f"n,,n=user,r={v['nonce']}".encode()
    assert mech.respond(v["server_first"]) == v["client_final"]


@VECTORS
def test_a_wrong_server_signature_is_refused(v):
    mech = v["mech"]("user", "pencil", nonce=v["nonce"])
    mech.respond(v["server_first"])
    bad = b"v=" + base64.b64encode(b"\x00" * len(base64.b64decode(v["server_final"][2:])))
    with pytest.raises(SMTPAuthError, match="signature does not match"):
        mech.respond(bad)
    with pytest.raises(SMTPAuthError, match="without proving"):
        mech.verify_success(b"")


@VECTORS
def test_success_before_the_server_signature_is_refused(v):
    mech = v["mech"]("user", "pencil", nonce=v["nonce"])
    mech.respond(v["server_first"])
    with pytest.raises(SMTPAuthError, match="without proving"):
        mech.verify_success(b"")


def test_a_server_error_attribute_is_refused():
    mech = ScramSHA256Mechanism("user", "pencil", nonce=SHA256["nonce"])
    mech.respond(SHA256["server_first"])
    with pytest.raises(SMTPAuthError, match="invalid-proof"):
        mech.respond(b"e=invalid-proof")


NONCE = SHA256["nonce"]


@pytest.mark.parametrize("server_first, error", [
    (f"r=other{NONCE}x,s=QSXCR+Q6sek8bf92,i=4096".encode(), "nonce"),
    (f"r={NONCE},s=QSXCR+Q6sek8bf92,i=4096".encode(), "nonce"),  # not extended
    (f"r={NONCE}x,s=not*base64,i=4096".encode(), "salt"),
    (f"r={NONCE}x,s=,i=4096".encode(), "salt"),
    (f"r={NONCE}x,s=QSXCR+Q6sek8bf92,i=4095".encode(), "4095 iterations"),
    (f"r={NONCE}x,s=QSXCR+Q6sek8bf92,i={MAX_ITERATIONS + 1}".encode(), "iterations"),
    (f"r={NONCE}x,s=QSXCR+Q6sek8bf92,i=4000000000".encode(), "4000000000 iterations"),
    (f"r={NONCE}x,s=QSXCR+Q6sek8bf92,i=-1".encode(), "not a number"),
    (f"r={NONCE}x,s=QSXCR+Q6sek8bf92,i=４０９６".encode(), "not a number"),  # fullwidth digits
    (f"m=ext,r={NONCE}x,s=QSXCR+Q6sek8bf92,i=4096".encode(), "mandatory extension"),
    (f"s=QSXCR+Q6sek8bf92,r={NONCE}x,i=4096".encode(), "lacks"),
    (b"garbage", "malformed"),
    (b"\xff\xfe", "UTF-8"),
])
def test_a_bad_server_first_message_is_refused(server_first, error):
    mech = ScramSHA256Mechanism("user", "pencil", nonce=NONCE)
    with pytest.raises(SMTPAuthError, match=error):
        mech.respond(server_first)


def test_iteration_bounds_are_inclusive():
    for count in (MIN_ITERATIONS,):
        mech = ScramSHA1Mechanism("user", "pencil", nonce="abc")
        assert mech.respond(f"r=abcd,s=QSXCR+Q6sek8bf92,i={count}".encode()).startswith(b"c=biws,r=abcd,p=")


def test_user_name_and_authzid_are_escaped():
    mech = ScramSHA256Mechanism("a=b,c", "pw", "z=,", nonce="N")
    assert mech.initial_response() == b"n,a=z=3D=2C,n=a=3Db=2Cc,r=N"
    # the GS2 header travels again, base64, in c=
    assert mech.respond(b"r=NM,s=QSXCR+Q6sek8bf92,i=4096").startswith(
        b"c=" + base64.b64encode(b"n,a=z=3D=2C,") + b",r=NM,p=")


def test_random_nonces_differ_and_are_printable_without_commas():
    a, b = (ScramSHA256Mechanism("u", "p").initial_response() for _ in range(2))
    assert a != b and b"," not in a.split(b",r=")[1] and a.isascii()


# -- SASLprep (RFC 4013 section 3 examples) ----------------------------------------------------
@pytest.mark.parametrize("given, prepared", [
    ("I\u00adX", "IX"),  # soft hyphen mapped to nothing
    ("user", "user"),
    ("USER", "USER"),
    ("\u00aa", "a"),  # NFKC
    ("\u2168", "IX"),  # NFKC
    ("a\u00a0b", "a b"),  # non-ASCII space mapped to SPACE
])
def test_saslprep_rfc4013_examples(given, prepared):
    assert saslprep(given, "password") == prepared


@pytest.mark.parametrize("given", ["\u0007", "\u0627\u0031", "a\ue000"])  # control, bidi, private use
def test_saslprep_refusals_never_show_a_password(given):
    with pytest.raises(SMTPInputError) as info:
        saslprep(given, "password")
    assert given not in str(info.value)


def test_the_password_is_saslprepped_before_hashing():
    # "pencil" with a soft hyphen inside gives the RFC's proof unchanged.
    mech = ScramSHA256Mechanism("user", "pen\u00adcil", nonce=SHA256["nonce"])
    assert mech.respond(SHA256["server_first"]) == SHA256["client_final"]


def test_a_prohibited_password_is_refused_at_creation():
    with pytest.raises(SMTPInputError, match="password"):
        create_mechanism(AuthMechanism.SCRAM_SHA_256, "user", "bell\u0007")


# -- the factory -------------------------------------------------------------------------------
@pytest.mark.parametrize("value, name, cleartext", [
    (AuthMechanism.SCRAM_SHA_1, "SCRAM-SHA-1", False),
    (AuthMechanism.SCRAM_SHA_256, "SCRAM-SHA-256", False),
    (AuthMechanism.OAUTHBEARER, "OAUTHBEARER", True),
])
def test_factory_builds_the_new_mechanisms(value, name, cleartext):
    mech = create_mechanism(int(value), "user", "pass", "token", hostname="mx.example")
    assert (mech.name, mech.sends_cleartext) == (name, cleartext)


@pytest.mark.parametrize("value", [AuthMechanism.SCRAM_SHA_1_PLUS, AuthMechanism.SCRAM_SHA_256_PLUS])
def test_plus_variants_are_refused_clearly(value):
    with pytest.raises(SMTPNotSupportedError, match="tls-exporter"):
        create_mechanism(value, "user", "pass")


def test_enum_values_follow_the_references():
    assert [m.value for m in AuthMechanism][:8] == list(range(8))
    assert (AuthMechanism.SCRAM_SHA_1, AuthMechanism.SCRAM_SHA_256, AuthMechanism.SCRAM_SHA_1_PLUS,
            AuthMechanism.SCRAM_SHA_256_PLUS, AuthMechanism.OAUTHBEARER) == (8, 9, 10, 11, 12)


# -- OAUTHBEARER (RFC 7628) --------------------------------------------------------------------
def test_oauthbearer_rfc7628_client_message():
    # RFC 7628 section 4.1 (host and port there; smtpx sends the host it knows, no port).
    mech = OAuthBearerMechanism("user@example.com", "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==",
                                hostname="server.example.com")
    assert mech.initial_response() == (
        b"n,a=user@example.com,\x01host=server.example.com\x01"
        b"auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01"
    )
    assert "vF9dft" not in repr(mech)


def test_oauthbearer_error_is_answered_with_0x01():
    mech = OAuthBearerMechanism("user@example.com", "tok")
    mech.initial_response()
    error = b'{"status":"invalid_token","scope":"example_scope","openid-configuration":"https://x/"}'
    assert mech.respond(error) == b"\x01"
    assert mech.server_error is not None and mech.server_error["status"] == "invalid_token"
    with pytest.raises(SMTPAuthError):
        mech.respond(error)


def test_explicit_token_wins_over_authorization_identity():
    for value in (AuthMechanism.XOAUTH2, AuthMechanism.OAUTHBEARER):
        mech = create_mechanism(value, "u", "", "identity-token", token="fresh")
        assert b"Bearer fresh\x01" in (mech.initial_response() or b"")
