"""XOAUTH2 (amXOAUTH2 = 7): Google's / Microsoft's OAuth 2.0 bearer-token mechanism.

The client message is ``user=<user>\\x01auth=Bearer <token>\\x01\\x01``; the token comes from
AuthorizationIdentity. On failure the server sends a 334 with a JSON error; the client must
answer it with an empty response, after which the server sends the final 5xx.

``sends_cleartext`` is True: the bearer token is base64, not protected, and anyone who sees
it can replay it until it expires, which is the same exposure as a password. So the same
rule applies: refused over plaintext unless the user allows it.
"""
from __future__ import annotations

import json
from typing import Any, ClassVar

from smtpx.sasl.base import SASLMechanism, check_field, require_field

_CONTROL = tuple(chr(c) for c in range(0x20)) + ("\x7f",)  # includes \x01, the separator


class XOAuth2Mechanism(SASLMechanism):
    name = "XOAUTH2"
    sends_cleartext = True
    #: what the client answers the server's JSON error with (OAUTHBEARER sends "\x01")
    error_ack: ClassVar[bytes] = b""

    def __init__(self, user: str, token: str) -> None:
        require_field("user name", user, self.name)
        require_field("OAuth token (AuthorizationIdentity)", token, self.name)
        check_field("user name", user, _CONTROL)
        check_field("OAuth token (AuthorizationIdentity)", token, _CONTROL)
        super().__init__(user)
        self._token = token
        self._error_answered = False
        #: the server's JSON error (status, schemes, scope), when it sent one; holds no secret
        self.server_error: dict[str, Any] | None = None

    def initial_response(self) -> bytes | None:
        self.complete = True
        return self._message().encode("utf-8")

    def _message(self) -> str:
        return f"user={self.user}\x01auth=Bearer {self._token}\x01\x01"

    def respond(self, challenge: bytes) -> bytes:
        if not self.complete:
            # The engine did not send the initial response (empty 334 first): send it now.
            if not challenge:
                response = self.initial_response()
                assert response is not None
                return response
        if self._error_answered:
            raise self._unexpected_challenge()
        # A challenge after the client message is the server's error report.
        self._error_answered = True
        self.server_error = _parse_error(challenge)
        return self.error_ack


def _parse_error(challenge: bytes) -> dict[str, Any]:
    try:
        value = json.loads(challenge.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return {"raw": challenge.decode("utf-8", "replace")[:512]}
    return value if isinstance(value, dict) else {"raw": value}
