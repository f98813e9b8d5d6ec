"""DIGEST-MD5 (RFC 2831, amSASLDigestMD5 = 5), client side, ``qop=auth`` only.

Step one: the server's digest-challenge -> our digest-response. Step two: the server's
``rspauth`` proves it knows the password too; we check it and answer with nothing.
Integrity and privacy layers (auth-int, auth-conf) are not implemented: a server that
offers only those is refused with a clear error. DIGEST-MD5 is historic (RFC 6331) but
still deployed (Cyrus SASL), which is why it is here.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os

from smtpx.errors import SMTPAuthError, SMTPInputError
from smtpx.sasl.base import SASLMechanism, check_field, require_field
from smtpx.sasl.digest_directives import parse_directives, quote, single

MAX_CHALLENGE = 2048  # RFC 2831 §2.1.1: a digest-challenge is at most 2048 bytes
_NC = "00000001"      # one authentication per challenge: the nonce count is always 1


def _hash_text(value: str, utf8: bool, field: str) -> bytes:
    """The bytes RFC 2831 hashes: ISO 8859-1 whenever the text fits in it (even when UTF-8
    was negotiated), UTF-8 otherwise, and only if the server announced charset=utf-8."""
    try:
        return value.encode("iso-8859-1")
    except UnicodeEncodeError:
        if utf8:
            return value.encode("utf-8")
        raise SMTPAuthError(
            f"the {field} has characters outside ISO 8859-1 and the server did not offer "
            "charset=utf-8 for DIGEST-MD5"
        ) from None


def _md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def digest_values(
    *,
    user: bytes,
    realm: bytes,
    password: bytes,
    nonce: bytes,
    cnonce: bytes,
    authzid: bytes,
    digest_uri: bytes,
    nc: bytes = _NC.encode(),
    qop: bytes = b"auth",
) -> tuple[str, str]:
    """(response, rspauth) for qop=auth, as lower-case hex (RFC 2831 §2.1.2.1)."""
    a1 = hashlib.md5(user + b":" + realm + b":" + password).digest() + b":" + nonce + b":" + cnonce
    if authzid:
        a1 += b":" + authzid
    ha1 = _md5_hex(a1).encode()
    prefix = ha1 + b":" + nonce + b":" + nc + b":" + cnonce + b":" + qop + b":"
    response = _md5_hex(prefix + _md5_hex(b"AUTHENTICATE:" + digest_uri).encode())
    rspauth = _md5_hex(prefix + _md5_hex(b":" + digest_uri).encode())
    return response, rspauth


class DigestMD5Mechanism(SASLMechanism):
    name = "DIGEST-MD5"

    def __init__(
        self,
        user: str,
        password: str,
        authorization_identity: str = "",
        *,
        hostname: str,
        service: str = "smtp",
        realm: str | None = None,
        cnonce: str | None = None,
    ) -> None:
        """``realm``: None takes the first realm the server offers (none offered: no realm).
        ``cnonce`` is for test vectors only; by default it is 128 random bits."""
        require_field("user name", user, self.name)
        require_field("host name (for digest-uri)", hostname, self.name)
        check_field("user name", user)
        check_field("authorization identity", authorization_identity)
        check_field("password", password, ("\x00",))
        check_field("host name", hostname, ("\x00", "\r", "\n", '"', "\\", "/", " "))
        check_field("service", service, ("\x00", "\r", "\n", '"', "\\", "/", " "))
        if realm is not None:
            check_field("realm", realm)
        super().__init__(user)
        self.authorization_identity = authorization_identity
        self.digest_uri = f"{service}/{hostname}"
        self._realm = realm
        self._password = password
        self._cnonce = cnonce or base64.b64encode(os.urandom(16)).decode("ascii").rstrip("=")
        self._expected_rspauth: str | None = None
        self.server_verified = False

    def respond(self, challenge: bytes) -> bytes:
        if self._expected_rspauth is None:
            return self._answer_challenge(challenge)
        if not self.server_verified:
            self._check_rspauth(challenge)
            self.complete = True
            return b""  # RFC 4954: the client acknowledges the server's final data with nothing
        raise self._unexpected_challenge()

    def verify_success(self, data: bytes) -> None:
        """Called after the 235 with any data it carried. The server must have proved that it
        knows the password (rspauth), either in a 334 before or in this data."""
        if data and not self.server_verified:
            self._check_rspauth(data)
        if not self.server_verified:
            raise SMTPAuthError(
                "the server accepted DIGEST-MD5 without sending rspauth, so it did not prove it "
                "knows the password; treating the session as not authenticated"
            )

    # -- step one --------------------------------------------------------------------

    def _answer_challenge(self, challenge: bytes) -> bytes:
        what = "DIGEST-MD5 challenge"
        if len(challenge) > MAX_CHALLENGE:
            raise SMTPAuthError(f"the {what} is longer than {MAX_CHALLENGE} bytes")
        directives = parse_directives(challenge, what)
        if "rspauth" in directives:
            raise SMTPAuthError("the server sent rspauth before any DIGEST-MD5 response")
        nonce = single(directives, "nonce", what)
        if not nonce:
            raise SMTPAuthError(f"the {what} has no nonce")
        algorithm = single(directives, "algorithm", what)
        if algorithm is None or algorithm.lower() != "md5-sess":
            raise SMTPAuthError(f"the {what} does not ask for algorithm=md5-sess")
        charset = single(directives, "charset", what)
        if charset is not None and charset.lower() != "utf-8":
            raise SMTPAuthError(f"the {what} names an unknown charset")
        utf8 = charset is not None
        qop_options = [q.strip().lower() for q in (single(directives, "qop", what) or "auth").split(",")]
        if "auth" not in qop_options:
            raise SMTPAuthError(
                "the server offers DIGEST-MD5 only with an integrity or privacy layer "
                f"({', '.join(qop_options)}), which smtpx does not implement"
            )
        realms = directives.get("realm", [])
        realm = self._realm if self._realm is not None else (realms[0] if realms else None)

        response, rspauth = digest_values(
            user=_hash_text(self.user, utf8, "user name"),
            realm=_hash_text(realm or "", utf8, "realm"),
            password=_hash_text(self._password, utf8, "password"),
            nonce=nonce.encode("utf-8"),
            cnonce=self._cnonce.encode("ascii"),
            authzid=self.authorization_identity.encode("utf-8"),
            digest_uri=self.digest_uri.encode("utf-8"),
        )
        self._expected_rspauth = rspauth
        parts = []
        if utf8:
            parts.append("charset=utf-8")
        parts.append("username=" + quote(self.user))
        if realm is not None:
            parts.append("realm=" + quote(realm))
        parts += [
            "nonce=" + quote(nonce),
            "nc=" + _NC,
            "cnonce=" + quote(self._cnonce),
            "digest-uri=" + quote(self.digest_uri),
            "response=" + response,
            "qop=auth",
        ]
        if self.authorization_identity:
            parts.append("authzid=" + quote(self.authorization_identity))
        text = ",".join(parts)
        # Without charset=utf-8 the response is ISO 8859-1 (the hash check above already
        # made sure every field fits).
        try:
            return text.encode("utf-8" if utf8 else "iso-8859-1")
        except UnicodeEncodeError:  # only the authzid can get here
            raise SMTPInputError(
                "the authorization identity is not ISO 8859-1 and the server did not offer "
                "charset=utf-8 for DIGEST-MD5"
            ) from None

    # -- step two --------------------------------------------------------------------

    def _check_rspauth(self, data: bytes) -> None:
        what = "DIGEST-MD5 server response"
        directives = parse_directives(data, what)
        rspauth = single(directives, "rspauth", what)
        if rspauth is None:
            raise SMTPAuthError(f"the {what} has no rspauth")
        if self._expected_rspauth is None or not hmac.compare_digest(
            rspauth.lower().encode("ascii", "replace"), self._expected_rspauth.encode("ascii")
        ):
            raise SMTPAuthError(
                "the server's DIGEST-MD5 rspauth is wrong: it does not know the password "
                "(possible impostor); authentication aborted"
            )
        self.server_verified = True
