"""Picking the strongest mechanism the server offers (config AuthMechanismAuto): what a user
who gives a user name and a password (or an OAuth token) and no mechanism expects.

The order: the OAuth mechanisms when a token is given (OAUTHBEARER, then XOAUTH2); then
SCRAM-SHA-256, SCRAM-SHA-1 (the server proves it knows the password), CRAM-MD5 (the password
never crosses the wire), PLAIN, LOGIN. PLAIN, LOGIN and the bearer tokens are cleartext: never
chosen without TLS unless AllowPlaintextAuth. The -PLUS variants need TLS channel binding that
Python's ssl module cannot give (docs/sasl.md), so they are not candidates."""
from __future__ import annotations

from collections.abc import Collection

from smtpx.enums import AuthMechanism
from smtpx.errors import SMTPAuthError

__all__ = ["choose_mechanism", "PASSWORD_ORDER", "TOKEN_ORDER"]

TOKEN_ORDER = ((AuthMechanism.OAUTHBEARER, "OAUTHBEARER"), (AuthMechanism.XOAUTH2, "XOAUTH2"))
PASSWORD_ORDER = (
    (AuthMechanism.SCRAM_SHA_256, "SCRAM-SHA-256"),
    (AuthMechanism.SCRAM_SHA_1, "SCRAM-SHA-1"),
    (AuthMechanism.CRAM_MD5, "CRAM-MD5"),
    (AuthMechanism.SASL_PLAIN, "PLAIN"),
    (AuthMechanism.USER_PASSWORD, "LOGIN"),
)
_CLEARTEXT = {"PLAIN", "LOGIN", "OAUTHBEARER", "XOAUTH2"}


def choose_mechanism(offered: Collection[str], *, tls: bool, allow_plaintext: bool, has_password: bool,
                     has_token: bool) -> AuthMechanism:
    """The strongest mechanism in ``offered`` (the server's AUTH keywords, upper case) that
    the credentials allow; SMTPAuthError naming what was offered when there is none."""
    candidates = (TOKEN_ORDER if has_token else ()) + (PASSWORD_ORDER if has_password else ())
    for kind, name in candidates:
        if name in offered and (tls or allow_plaintext or name not in _CLEARTEXT):
            return kind
    shown = " ".join(sorted(offered)) or "none"
    cleartext_only = not tls and not allow_plaintext and any(name in offered for _, name in candidates)
    hint = (" (only cleartext ones, refused without TLS unless AllowPlaintextAuth)" if cleartext_only else "")
    raise SMTPAuthError(f"AuthMechanismAuto: the server offers no mechanism smtpx can use with these "
                        f"credentials{hint}; offered: {shown}")
