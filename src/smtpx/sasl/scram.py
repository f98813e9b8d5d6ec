"""SCRAM-SHA-1 and SCRAM-SHA-256 (RFC 5802, RFC 7677): the password never crosses the wire,
and the server proves it knows it too.

    client-first   n,[a=<authzid>],n=<user>,r=<client nonce>     (AUTH SCRAM-... <initial>)
    server-first   r=<client nonce + server nonce>,s=<salt>,i=<iterations>         (334)
    client-final   c=<base64 gs2 header>,r=<nonce>,p=<proof>
    server-final   v=<server signature>  or  e=<error>                              (334)
    client         (empty response), then the server's 235

What is refused from the server (SMTPAuthError; the engine then cancels the exchange with
"*" and sends nothing else): a nonce that does not extend ours, a salt that is not base64, an
iteration count outside [MIN_ITERATIONS, MAX_ITERATIONS], a mandatory extension (m=), an
``e=`` error, a server signature that does not match, and a 235 that comes before the server
signature (the session is then dropped: the server did not prove itself).

The iteration bounds: RFC 7677 section 4 says a server SHOULD announce at least 4096, and a
lower count makes a captured exchange cheap to attack offline, so fewer is refused. The upper
bound stops a hostile server from making the client burn CPU for minutes: 1,000,000 is above
what current advice for stored PBKDF2-HMAC-SHA256 hashes asks (OWASP: 600,000) and costs well
under a second of PBKDF2 in OpenSSL.

The -PLUS variants need tls-exporter channel binding (RFC 9266), which the ``ssl`` module does
not expose (no export_keying_material); they are refused with SMTPNotSupportedError.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from typing import ClassVar

from smtpx.errors import SMTPAuthError
from smtpx.sasl.base import SASLMechanism, check_field, check_user_password, gs2_name
from smtpx.sasl.saslprep import saslprep

MIN_ITERATIONS = 4096
MAX_ITERATIONS = 1_000_000
_GS2_HEADER_NO_BINDING = "n,"


def _parse(message: bytes, what: str) -> list[tuple[str, str]]:
    """``a=value,b=value`` attributes in order; SMTPAuthError when malformed."""
    try:
        text = message.decode("utf-8")
    except UnicodeDecodeError:
        raise SMTPAuthError(f"the SCRAM {what} is not UTF-8; authentication aborted") from None
    attributes = []
    for part in text.split(","):
        if len(part) < 2 or part[1] != "=" or not part[0].isalpha():
            raise SMTPAuthError(f"the SCRAM {what} is malformed; authentication aborted")
        attributes.append((part[0], part[2:]))
    return attributes


class ScramMechanism(SASLMechanism):
    """The SCRAM exchange for one hash; subclasses name the mechanism and the hash."""

    hash_name: ClassVar[str] = ""

    def __init__(self, user: str, password: str, authorization_identity: str = "", *,
                 nonce: str | None = None) -> None:
        check_user_password(self.name, user, password)
        check_field("authorization identity", authorization_identity)
        super().__init__(user)
        self._username = saslprep(user, "user name")
        self._password = saslprep(password, "password")
        self.authorization_identity = authorization_identity
        # 24 random bytes, base64: printable, never a comma (RFC 5802 "printable").
        self._nonce = nonce if nonce is not None else base64.b64encode(secrets.token_bytes(24)).decode("ascii")
        authzid = f"a={gs2_name(authorization_identity)}" if authorization_identity else ""
        self._gs2_header = f"{_GS2_HEADER_NO_BINDING}{authzid},"
        self._client_first_bare = f"n={gs2_name(self._username)},r={self._nonce}"
        self._server_signature: bytes | None = None  # expected v=, once the proof is sent
        self.verified = False

    # -- the exchange ------------------------------------------------------------------------
    def initial_response(self) -> bytes | None:
        return (self._gs2_header + self._client_first_bare).encode("utf-8")

    def respond(self, challenge: bytes) -> bytes:
        if self.verified:
            raise self._unexpected_challenge()
        if self._server_signature is not None:
            self._check_server_final(challenge)
            self.complete = True
            return b""
        if not challenge:
            # An empty 334 asks for the client-first message (no initial response was sent).
            response = self.initial_response()
            assert response is not None
            return response
        return self._client_final(challenge)

    def verify_success(self, data: bytes) -> None:
        if not self.verified:
            raise SMTPAuthError(
                f"the server accepted {self.name} without proving it knows the password "
                "(no server signature); the session is dropped"
            )

    # -- the steps -----------------------------------------------------------------------------
    def _client_final(self, server_first: bytes) -> bytes:
        attributes = _parse(server_first, "server-first message")
        if attributes[0][0] == "m":
            raise SMTPAuthError("the SCRAM server asks for a mandatory extension smtpx does not know; "
                                "authentication aborted")
        values = dict(attributes[:3])
        if [key for key, _ in attributes[:3]] != ["r", "s", "i"]:
            raise SMTPAuthError("the SCRAM server-first message lacks r=, s= or i=; authentication aborted")
        nonce, salt_text, count_text = values["r"], values["s"], values["i"]
        if not nonce.startswith(self._nonce) or len(nonce) == len(self._nonce):
            raise SMTPAuthError("the SCRAM server nonce does not extend the client nonce; authentication aborted")
        try:
            salt = base64.b64decode(salt_text, validate=True)
        except (binascii.Error, ValueError):
            salt = b""
        if not salt:
            raise SMTPAuthError("the SCRAM salt is not valid base64; authentication aborted")
        if not (count_text.isascii() and count_text.isdigit()):
            raise SMTPAuthError("the SCRAM iteration count is not a number; authentication aborted")
        count = int(count_text)
        if not MIN_ITERATIONS <= count <= MAX_ITERATIONS:
            raise SMTPAuthError(
                f"the SCRAM server asks for {count} iterations, outside the accepted "
                f"{MIN_ITERATIONS}-{MAX_ITERATIONS}; authentication aborted"
            )
        channel_binding = base64.b64encode(self._gs2_header.encode("utf-8")).decode("ascii")
        without_proof = f"c={channel_binding},r={nonce}"
        auth_message = ",".join(
            (self._client_first_bare, server_first.decode("utf-8"), without_proof)
        ).encode("utf-8")

        salted = hashlib.pbkdf2_hmac(self.hash_name, self._password.encode("utf-8"), salt, count)
        client_key = self._hmac(salted, b"Client Key")
        stored_key = hashlib.new(self.hash_name, client_key).digest()
        signature = self._hmac(stored_key, auth_message)
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        self._server_signature = self._hmac(self._hmac(salted, b"Server Key"), auth_message)
        return f"{without_proof},p={base64.b64encode(proof).decode('ascii')}".encode("utf-8")

    def _check_server_final(self, server_final: bytes) -> None:
        attributes = _parse(server_final, "server-final message")
        key, value = attributes[0]
        if key == "e":
            raise SMTPAuthError(f"the SCRAM server refused the proof: {value[:100]}; authentication aborted")
        try:
            signature = base64.b64decode(value, validate=True) if key == "v" else b""
        except (binascii.Error, ValueError):
            signature = b""
        assert self._server_signature is not None
        if not hmac.compare_digest(signature, self._server_signature):
            raise SMTPAuthError(
                f"the {self.name} server signature does not match: the server does not know the "
                "password (an impostor?); authentication aborted"
            )
        self.verified = True

    def _hmac(self, key: bytes, message: bytes) -> bytes:
        return hmac.new(key, message, self.hash_name).digest()


class ScramSHA1Mechanism(ScramMechanism):
    name = "SCRAM-SHA-1"
    hash_name = "sha1"


class ScramSHA256Mechanism(ScramMechanism):
    name = "SCRAM-SHA-256"
    hash_name = "sha256"
