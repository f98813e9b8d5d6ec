"""The shape every SASL mechanism has, and the input checks they share.

A mechanism is a pure challenge -> response object: it never touches a socket and never
base64-encodes (the engine does both). It keeps the secret in a private attribute and never
puts it in ``repr()``, error messages or log records.
"""
from __future__ import annotations

from typing import ClassVar

from smtpx.errors import SMTPAuthError, SMTPInputError
from smtpx.validators import character_class, check_characters, check_str

# Characters no mechanism here can carry in a user name or an authorization identity:
# NUL ends strings on many servers, CR/LF end the command line or split a log entry.
LINE_BREAKERS = ("\x00", "\r", "\n")


def check_field(field: str, value: str, forbidden: tuple[str, ...] = LINE_BREAKERS) -> str:
    """Refuse ``value`` when it holds one of ``forbidden`` (characters this mechanism cannot
    carry). The value itself is never quoted in the error: the field may be a password."""
    return check_characters(check_str(value, field), field, character_class("".join(forbidden)))


def require_field(field: str, value: str, mechanism: str) -> None:
    if not value:
        raise SMTPInputError(f"{mechanism} needs a non-empty {field}")


def check_user_password(mechanism: str, user: str, password: str) -> None:
    """The checks every user + password mechanism makes first: a user name, and neither field
    holding what the mechanism cannot carry (a password may hold anything but NUL)."""
    require_field("user name", user, mechanism)
    check_field("user name", user)
    check_field("password", password, ("\x00",))


def gs2_name(value: str) -> str:
    """A GS2 saslname (RFC 5802 section 5.1, used by SCRAM and OAUTHBEARER): "=" and ","
    escaped as =3D and =2C."""
    return value.replace("=", "=3D").replace(",", "=2C")


class SASLMechanism:
    """Base class. Subclasses set ``name`` and implement ``respond`` (and usually
    ``initial_response``)."""

    name: ClassVar[str] = ""
    #: True when the secret (or an equally reusable bearer token) travels in a form an
    #: eavesdropper can replay; the engine refuses such mechanisms over plaintext unless the
    #: user allowed it.
    sends_cleartext: ClassVar[bool] = False

    def __init__(self, user: str) -> None:
        self.user = user
        self.complete = False  # True once the client has nothing more to say

    def initial_response(self) -> bytes | None:
        """Bytes for ``AUTH <name> <initial>``; None means send no initial response;
        b"" means an empty one ("=")."""
        return None

    def respond(self, challenge: bytes) -> bytes:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__}.respond is not implemented")

    def verify_success(self, data: bytes) -> None:
        """Check data a server sent along with its success reply. Mechanisms without a
        server-final message accept anything."""

    def _unexpected_challenge(self) -> SMTPAuthError:
        return SMTPAuthError(
            f"the server sent another {self.name} challenge after the exchange was complete; "
            "authentication aborted"
        )

    def __repr__(self) -> str:
        # Never include the password, the token or any derived secret.
        return f"<{type(self).__name__} name={self.name!r} user={self.user!r} complete={self.complete}>"

    __str__ = __repr__
