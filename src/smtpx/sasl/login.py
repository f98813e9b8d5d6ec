"""AUTH LOGIN (amUserPassword = 0): the user name, then the password, each in answer to a
server prompt (draft-murchison-sasl-login). Both travel as plain base64."""
from __future__ import annotations

from smtpx.sasl.base import SASLMechanism, check_user_password


class LoginMechanism(SASLMechanism):
    name = "LOGIN"
    sends_cleartext = True

    def __init__(self, user: str, password: str) -> None:
        check_user_password(self.name, user, password)
        super().__init__(user)
        self._password = password
        self._step = 0

    def initial_response(self) -> bytes | None:
        # Some servers refuse an initial response for LOGIN; wait for the prompt instead.
        return None

    def respond(self, challenge: bytes) -> bytes:
        # Servers word the prompts differently ("Username:", "User Name\0", ...), so the
        # order of the challenges decides, not their text.
        self._step += 1
        if self._step == 1:
            return self.user.encode("utf-8")
        if self._step == 2:
            self.complete = True
            return self._password.encode("utf-8")
        raise self._unexpected_challenge()
