"""CRAM-MD5 (RFC 2195, amCRAMMD5 = 1): ``user SP hex(HMAC-MD5(password, challenge))``."""
from __future__ import annotations

import hashlib
import hmac

from smtpx.errors import SMTPAuthError
from smtpx.sasl.base import SASLMechanism, check_user_password


class CramMD5Mechanism(SASLMechanism):
    name = "CRAM-MD5"

    def __init__(self, user: str, password: str) -> None:
        check_user_password(self.name, user, password)
        super().__init__(user)
        self._password = password

    def respond(self, challenge: bytes) -> bytes:
        if self.complete:
            raise self._unexpected_challenge()
        if not challenge:
            raise SMTPAuthError("the server sent an empty CRAM-MD5 challenge; authentication aborted")
        digest = hmac.new(self._password.encode("utf-8"), challenge, hashlib.md5).hexdigest()
        self.complete = True
        return self.user.encode("utf-8") + b" " + digest.encode("ascii")
