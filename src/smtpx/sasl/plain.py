"""SASL PLAIN (RFC 4616, amSASLPlain = 4): ``authzid NUL authcid NUL passwd`` in one message."""
from __future__ import annotations

from smtpx.sasl.base import SASLMechanism, check_field, require_field


class PlainMechanism(SASLMechanism):
    name = "PLAIN"
    sends_cleartext = True

    def __init__(self, user: str, password: str, authorization_identity: str = "") -> None:
        require_field("user name", user, self.name)
        # RFC 4616 forbids NUL in all three fields (it is the separator); CR/LF are refused
        # in the identities because no real account name holds them.
        check_field("user name", user)
        check_field("authorization identity", authorization_identity)
        check_field("password", password, ("\x00",))
        super().__init__(user)
        self.authorization_identity = authorization_identity
        self._password = password
        self._sent = False

    def _message(self) -> bytes:
        self._sent = True
        self.complete = True
        return b"\x00".join(
            part.encode("utf-8") for part in (self.authorization_identity, self.user, self._password)
        )

    def initial_response(self) -> bytes | None:
        return self._message()

    def respond(self, challenge: bytes) -> bytes:
        # An empty 334 asks for the message when no initial response was sent (RFC 4954).
        if not self._sent and not challenge:
            return self._message()
        raise self._unexpected_challenge()
