"""NTLM against pyspnego's real NTLM acceptor, and the Kerberos (GSSAPI) parts that can be
tested without a KDC."""
from __future__ import annotations

import struct
import sys

import pytest
import spnego

from smtpx.errors import SMTPAuthError
from smtpx.sasl import create_mechanism
from smtpx.sasl.kerberos import security_layer_reply



@pytest.fixture
def ntlm_acceptor(tmp_path, monkeypatch):
    """A factory of pyspnego NTLM acceptors that know 'user'/'pass' and 'CORP\\\\alice'."""
    users = tmp_path / "ntlm-users"
    users.write_text(":user:pass\nCORP:alice:wonder land\n", encoding="utf-8")
    monkeypatch.setenv("NTLM_USER_FILE", str(users))
    return lambda: spnego.server(protocol="ntlm", options=spnego.NegotiateOptions.use_ntlm)


def nt_response_length(authenticate: bytes) -> int:
    assert authenticate[:8] == b"NTLMSSP\x00"
    assert struct.unpack_from("<I", authenticate, 8)[0] == 3  # AUTHENTICATE_MESSAGE
    return struct.unpack_from("<H", authenticate, 20)[0]


def run_exchange(mech, acceptor):
    negotiate = mech.initial_response()
    assert negotiate[:8] == b"NTLMSSP\x00"
    challenge = acceptor.step(negotiate)
    authenticate = mech.respond(challenge)
    acceptor.step(authenticate)
    return authenticate


@pytest.mark.parametrize("v2, short_response", [(True, False), (False, True)])
def test_ntlm_round_trip_with_pyspnego_acceptor(ntlm_acceptor, v2, short_response):
    acceptor = ntlm_acceptor()
    mech = create_mechanism(2, "user", "pass", hostname="mail.example.org", use_ntlm_v2=v2)
    authenticate = run_exchange(mech, acceptor)
    assert acceptor.complete
    assert acceptor.client_principal == "user"
    assert mech.complete
    # NTLMv1 responses are exactly 24 bytes; NTLMv2 ones carry a blob and are longer
    assert (nt_response_length(authenticate) == 24) is short_response


def test_ntlm_domain_user(ntlm_acceptor):
    acceptor = ntlm_acceptor()
    run_exchange(create_mechanism(2, "CORP\\alice", "wonder land", hostname="h"), acceptor)
    assert acceptor.client_principal == "CORP\\alice"


@pytest.mark.parametrize("v2", [True, False])
def test_ntlm_wrong_password_is_rejected_by_the_acceptor(ntlm_acceptor, v2):
    acceptor = ntlm_acceptor()
    mech = create_mechanism(2, "user", "wrong", hostname="h", use_ntlm_v2=v2)
    with pytest.raises(spnego.exceptions.SpnegoError):
        run_exchange(mech, acceptor)
    assert not acceptor.complete


def test_ntlm_answers_an_empty_prompt_with_the_negotiate_message():
    mech = create_mechanism(2, "user", "pass", hostname="h")
    assert mech.respond(b"")[:8] == b"NTLMSSP\x00"


def test_ntlm_garbage_challenge_is_an_auth_error():
    mech = create_mechanism(2, "user", "pass", hostname="h")
    mech.initial_response()
    with pytest.raises(SMTPAuthError, match="NTLM failed"):
        mech.respond(b"this is not an NTLM challenge")


def test_ntlm_refuses_an_empty_challenge_and_a_third_round(ntlm_acceptor):
    mech = create_mechanism(2, "user", "pass", hostname="h")
    mech.initial_response()
    with pytest.raises(SMTPAuthError):
        mech.respond(b"")
    mech = create_mechanism(2, "user", "pass", hostname="h")
    run_exchange(mech, ntlm_acceptor())
    with pytest.raises(SMTPAuthError):
        mech.respond(b"more")


def test_ntlm_without_pyspnego_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "spnego", None)  # makes "import spnego" fail
    with pytest.raises(SMTPAuthError, match=r"smtpx\[ntlm\]"):
        create_mechanism(2, "user", "pass", hostname="h")


# -- Kerberos / GSSAPI ------------------------------------------------------------------------


def test_kerberos_without_gssapi_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "gssapi", None)
    with pytest.raises(SMTPAuthError, match=r"smtpx\[kerberos\]") as info:
        create_mechanism(6, "user", "pass", hostname="mail.example.org")
    assert info.value.missing_extra == "kerberos"


def test_kerberos_input_errors_come_before_the_missing_package(monkeypatch):
    from smtpx.errors import SMTPInputError

    monkeypatch.setitem(sys.modules, "gssapi", None)
    with pytest.raises(SMTPInputError):
        create_mechanism(6, "user", "pass", hostname="")
    with pytest.raises(SMTPInputError):
        create_mechanism(6, "us\r\ner", "pass", hostname="h")


@pytest.mark.parametrize(
    "offer, authzid, reply",
    [
        (b"\x01\x00\x00\x00", "", b"\x01\x00\x00\x00"),
        (b"\x07\x00\x10\x00", "", b"\x01\x00\x00\x00"),  # all layers offered: still none chosen
        (b"\x01\xff\xff\xff", "boss@EXAMPLE.ORG", b"\x01\x00\x00\x00boss@EXAMPLE.ORG"),
    ],
)
def test_gssapi_security_layer_reply(offer, authzid, reply):
    assert security_layer_reply(offer, authzid) == reply


@pytest.mark.parametrize("offer", [b"\x06\x00\x10\x00", b"\x01\x00\x00", b"\x01\x00\x00\x00\x00", b""])
def test_gssapi_security_layer_bad_offers(offer):
    with pytest.raises(SMTPAuthError):
        security_layer_reply(offer, "")
