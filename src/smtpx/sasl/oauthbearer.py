"""OAUTHBEARER (RFC 7628): the standard OAuth 2.0 bearer-token mechanism.

The client message is ``n,a=<user>,\\x01host=<host>\\x01auth=Bearer <token>\\x01\\x01`` (a GS2
header, then key=value pairs separated by \\x01). On failure the server sends a 334 holding a
JSON error (status, scope, openid-configuration); the client answers it with a single \\x01
(RFC 7628 section 3.2.3) and the server then sends its final 5xx, which the engine raises as
SMTPAuthError. The JSON stays on ``server_error``.

Like XOAUTH2, the bearer token can be replayed by whoever sees it, so ``sends_cleartext`` is
True: refused over plaintext unless the user allows it.
"""
from __future__ import annotations

from smtpx.sasl.base import gs2_name
from smtpx.sasl.xoauth2 import XOAuth2Mechanism


class OAuthBearerMechanism(XOAuth2Mechanism):
    name = "OAUTHBEARER"
    error_ack = b"\x01"

    def __init__(self, user: str, token: str, *, hostname: str = "") -> None:
        super().__init__(user, token)
        # The host is optional in RFC 7628; sent when known, since some servers check it.
        self.hostname = "" if any(c in hostname for c in "\x01,\r\n ") else hostname

    def _message(self) -> str:
        host = f"host={self.hostname}\x01" if self.hostname else ""
        return f"n,a={gs2_name(self.user)},\x01{host}auth=Bearer {self._token}\x01\x01"
