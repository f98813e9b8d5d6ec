"""SASL mechanisms as pure challenge -> response objects (see docs/internals.md, "sasl/").

``create_mechanism(auth_mechanism, user, password, authorization_identity, *, hostname,
use_ntlm_v2, token)`` maps the reference's AuthMechanism values to a mechanism object:

====  ==================  ==================  =========================================
 0    amUserPassword      LOGIN               cleartext
 1    amCRAMMD5           CRAM-MD5
 2    amNTLM              NTLM                needs pyspnego (``smtpx[ntlm]``)
 3    amAPOP              --                  POP3 only: SMTPAuthError
 4    amSASLPlain         PLAIN               cleartext; authzid = AuthorizationIdentity
 5    amSASLDigestMD5     DIGEST-MD5          digest-uri ``smtp/<hostname>``
 6    amKerberos          GSSAPI              needs gssapi (``smtpx[kerberos]``)
 7    amXOAUTH2           XOAUTH2             token (see below); cleartext (bearer)
 8    (smtpx's own)       SCRAM-SHA-1         RFC 5802; server signature checked
 9    (smtpx's own)       SCRAM-SHA-256       RFC 7677; server signature checked
10    (smtpx's own)       SCRAM-SHA-1-PLUS    SMTPNotSupportedError (no tls-exporter)
11    (smtpx's own)       SCRAM-SHA-256-PLUS  SMTPNotSupportedError (no tls-exporter)
12    (smtpx's own)       OAUTHBEARER         RFC 7628; token (see below); cleartext (bearer)
====  ==================  ==================  =========================================

For XOAUTH2 and OAUTHBEARER the token is ``token`` when given, else AuthorizationIdentity
(the reference's place for it); the facade passes a fresh one from ``token_provider`` at
each authentication.

Every mechanism object has ``name``, ``sends_cleartext``, ``complete``, ``initial_response()``,
``respond(challenge)`` and ``verify_success(data)``. Bad user input (NUL, CR, LF where the
mechanism cannot carry them; missing user or token) raises SMTPInputError at creation, before
anything is sent. Server misbehaviour raises SMTPAuthError. No object ever shows its password
or token in repr(), str() or an error message.
"""
from __future__ import annotations

from smtpx.enums import AuthMechanism
from smtpx.errors import SMTPAuthError, SMTPInputError, SMTPNotSupportedError
from smtpx.sasl.base import SASLMechanism
from smtpx.sasl.cram_md5 import CramMD5Mechanism
from smtpx.sasl.digest_md5 import DigestMD5Mechanism
from smtpx.sasl.kerberos import GSSAPIMechanism
from smtpx.sasl.login import LoginMechanism
from smtpx.sasl.ntlm import NTLMMechanism
from smtpx.sasl.oauthbearer import OAuthBearerMechanism
from smtpx.sasl.plain import PlainMechanism
from smtpx.sasl.scram import ScramSHA1Mechanism, ScramSHA256Mechanism
from smtpx.sasl.xoauth2 import XOAuth2Mechanism

__all__ = [
    "SASLMechanism",
    "LoginMechanism",
    "PlainMechanism",
    "CramMD5Mechanism",
    "DigestMD5Mechanism",
    "XOAuth2Mechanism",
    "OAuthBearerMechanism",
    "ScramSHA1Mechanism",
    "ScramSHA256Mechanism",
    "NTLMMechanism",
    "GSSAPIMechanism",
    "create_mechanism",
]


def create_mechanism(
    auth_mechanism: int,
    user: str,
    password: str,
    authorization_identity: str = "",
    *,
    hostname: str = "",
    use_ntlm_v2: bool = True,
    token: str | None = None,
) -> SASLMechanism:
    """Build the mechanism for the AuthMechanism value ``auth_mechanism`` (an int or an
    ``AuthMechanism``). ``hostname`` is the server's name as the user gave it (MailServer);
    DIGEST-MD5 and Kerberos need it."""
    try:
        kind = AuthMechanism(int(auth_mechanism))
    except (ValueError, TypeError):
        raise SMTPInputError(
            f"unknown AuthMechanism {auth_mechanism!r}; valid values are 0-{int(max(AuthMechanism))}"
        ) from None
    user = "" if user is None else user
    password = "" if password is None else password
    authorization_identity = "" if authorization_identity is None else authorization_identity

    if kind is AuthMechanism.USER_PASSWORD:
        return LoginMechanism(user, password)
    if kind is AuthMechanism.SASL_PLAIN:
        return PlainMechanism(user, password, authorization_identity)
    if kind is AuthMechanism.CRAM_MD5:
        return CramMD5Mechanism(user, password)
    if kind is AuthMechanism.SASL_DIGEST_MD5:
        return DigestMD5Mechanism(user, password, authorization_identity, hostname=hostname)
    if kind is AuthMechanism.SCRAM_SHA_256:
        return ScramSHA256Mechanism(user, password, authorization_identity)
    if kind is AuthMechanism.SCRAM_SHA_1:
        return ScramSHA1Mechanism(user, password, authorization_identity)
    if kind in (AuthMechanism.SCRAM_SHA_1_PLUS, AuthMechanism.SCRAM_SHA_256_PLUS):
        raise SMTPNotSupportedError(
            f"AuthMechanism {kind.name} needs tls-exporter channel binding (RFC 9266), which "
            "Python's ssl module does not expose; use SCRAM_SHA_256 over TLS instead"
        )
    if kind is AuthMechanism.XOAUTH2:
        return XOAuth2Mechanism(user, authorization_identity if token is None else token)
    if kind is AuthMechanism.OAUTHBEARER:
        return OAuthBearerMechanism(user, authorization_identity if token is None else token, hostname=hostname)
    if kind is AuthMechanism.NTLM:
        return NTLMMechanism(user, password, hostname=hostname, use_ntlm_v2=use_ntlm_v2)
    if kind is AuthMechanism.KERBEROS:
        return GSSAPIMechanism(user, password, authorization_identity, hostname=hostname)
    # AuthMechanism.APOP
    raise SMTPAuthError(
        "AuthMechanism amAPOP (3) is a POP3 login method (RFC 1939) and does not exist in "
        "SMTP; choose LOGIN, PLAIN, CRAM-MD5, DIGEST-MD5, NTLM, Kerberos or XOAUTH2"
    )
