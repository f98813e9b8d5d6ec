"""Kerberos (amKerberos = 6) as the SASL GSSAPI mechanism (RFC 4752), through the optional
``gssapi`` package (``pip install 'smtpx[kerberos]'``).

Exchange: GSS-API context tokens until the context is established (mutual authentication),
then the server sends a wrapped 4-byte offer (security layers bitmask + max buffer size) and the
client answers with a wrapped 4-byte choice + the authorization identity. smtpx always chooses
"no security layer" (TLS protects the session), so the offer must include it.

Credentials: with a password, a ticket is obtained for ``user`` (needs the GSSAPI password
extension, as MIT krb5 and Heimdal provide); with only a user name, that principal's ticket is
taken from the credential cache; with neither, the default credential cache is used.
"""
from __future__ import annotations

import struct
from typing import Any

from smtpx.errors import SMTPAuthError
from smtpx.sasl.base import SASLMechanism, check_field, require_field

LAYER_NONE = 0x01
LAYER_INTEGRITY = 0x02
LAYER_CONFIDENTIALITY = 0x04

_MISSING_MSG = (
    "Kerberos (GSSAPI) authentication needs the gssapi package, which is not installed; "
    "install it with: pip install 'smtpx[kerberos]'"
)


def load_gssapi() -> Any:
    try:
        import gssapi  # noqa: PLC0415 - optional dependency, imported on use
    except ImportError as exc:
        raise SMTPAuthError(_MISSING_MSG, missing_extra="kerberos") from exc
    return gssapi


def security_layer_reply(offer: bytes, authorization_identity: str) -> bytes:
    """RFC 4752 §3.1: from the server's unwrapped offer, build the unwrapped reply that
    chooses no security layer (max size 0) and carries the authorization identity."""
    if len(offer) != 4:
        raise SMTPAuthError(
            f"the server's GSSAPI security-layer offer is {len(offer)} bytes long, not 4"
        )
    layers = offer[0]
    if not layers & LAYER_NONE:
        raise SMTPAuthError(
            "the server requires a GSSAPI integrity or privacy layer, which smtpx does not "
            "implement (it relies on TLS instead)"
        )
    return struct.pack("!I", LAYER_NONE << 24) + authorization_identity.encode("utf-8")


class GSSAPIMechanism(SASLMechanism):
    name = "GSSAPI"

    def __init__(
        self,
        user: str,
        password: str,
        authorization_identity: str = "",
        *,
        hostname: str,
        service: str = "smtp",
    ) -> None:
        require_field("host name (for the service principal)", hostname, "Kerberos")
        check_field("user name", user)
        check_field("authorization identity", authorization_identity)
        check_field("password", password, ("\x00",))
        check_field("host name", hostname, ("\x00", "\r", "\n", "@", "/", " "))
        gssapi = load_gssapi()
        super().__init__(user)
        self.authorization_identity = authorization_identity
        try:
            target = gssapi.Name(f"{service}@{hostname}", name_type=gssapi.NameType.hostbased_service)
            creds = self._credentials(gssapi, user, password)
            flags = (
                gssapi.RequirementFlag.mutual_authentication
                | gssapi.RequirementFlag.integrity
                | gssapi.RequirementFlag.out_of_sequence_detection
            )
            self._context = gssapi.SecurityContext(name=target, creds=creds, usage="initiate", flags=flags)
        except gssapi.exceptions.GSSError as exc:
            raise SMTPAuthError(f"could not set up Kerberos: {exc}") from None
        self._gss_error = gssapi.exceptions.GSSError
        self._started = False

    @staticmethod
    def _credentials(gssapi: Any, user: str, password: str) -> Any:
        if not user:
            return None  # default credential cache
        name = gssapi.Name(user, name_type=gssapi.NameType.user)
        if not password:
            return gssapi.Credentials(name=name, usage="initiate")
        try:
            from gssapi.raw import acquire_cred_with_password  # noqa: PLC0415
        except ImportError:
            raise SMTPAuthError(
                "this GSSAPI library cannot obtain a Kerberos ticket from a password; run kinit "
                "and leave Password empty to use the credential cache"
            ) from None
        result = acquire_cred_with_password(name, password.encode("utf-8"), usage="initiate")
        return gssapi.Credentials(result.creds)

    def initial_response(self) -> bytes | None:
        self._started = True
        return self._step(None)

    def respond(self, challenge: bytes) -> bytes:
        if not self._started:
            return self.initial_response() or b""
        if self.complete:
            raise self._unexpected_challenge()
        if not self._context.complete:
            return self._step(challenge)
        # The context is up: this challenge is the wrapped security-layer offer.
        try:
            offer = self._context.unwrap(challenge).message
            reply = security_layer_reply(offer, self.authorization_identity)
            wrapped: bytes = self._context.wrap(reply, False).message
        except self._gss_error as exc:
            raise SMTPAuthError(f"Kerberos security-layer negotiation failed: {exc}") from None
        self.complete = True
        return wrapped

    def _step(self, token: bytes | None) -> bytes:
        try:
            return self._context.step(token) or b""
        except self._gss_error as exc:
            raise SMTPAuthError(f"Kerberos authentication failed: {exc}") from None
