"""NTLM (amNTLM = 2) through pyspnego's pure-Python NTLM provider (MS-SMTPNTLM flow:
``AUTH NTLM <negotiate>``, 334 <challenge>, <authenticate>, 235).

``use_ntlm_v2`` (config UseNTLMv2, default True) picks NTLMv2 responses; False sends NTLMv1
responses with NTLM2 session security, for old servers only. pyspnego chooses between them from
the LM_COMPAT_LEVEL environment variable when the context is created; smtpx sets the choice on
the context itself instead, so the setting is per connection and does not touch the process
environment.
"""
from __future__ import annotations

from typing import Any

from smtpx.errors import SMTPAuthError
from smtpx.sasl.base import SASLMechanism, check_field, check_user_password

_MISSING_MSG = (
    "NTLM authentication needs the pyspnego package; install it with: pip install 'smtpx[ntlm]'"
)


def _load_spnego() -> Any:
    try:
        import spnego  # noqa: PLC0415 - optional dependency, imported on use
    except ImportError as exc:
        raise SMTPAuthError(_MISSING_MSG, missing_extra="ntlm") from exc
    return spnego


class NTLMMechanism(SASLMechanism):
    name = "NTLM"

    def __init__(self, user: str, password: str, *, hostname: str = "", use_ntlm_v2: bool = True) -> None:
        check_user_password(self.name, user, password)
        check_field("host name", hostname)
        super().__init__(user)
        self.use_ntlm_v2 = bool(use_ntlm_v2)
        spnego = _load_spnego()
        try:
            # use_ntlm forces pyspnego's own NTLM code, never a system GSSAPI/SSPI provider, so
            # the given user and password are what is used.
            self._context = spnego.client(
                user,
                password,
                hostname=hostname or "unspecified",
                service="SMTP",
                protocol="ntlm",
                options=spnego.NegotiateOptions.use_ntlm,
            )
        except Exception as exc:  # pyspnego raises its own error types (and ValueError)
            raise SMTPAuthError(f"could not set up NTLM: {type(exc).__name__}: {exc}") from None
        self._choose_version()
        self._negotiate_sent = False

    def _choose_version(self) -> None:
        ctx = self._context
        if all(hasattr(ctx, attr) for attr in ("_nt_v2", "_nt_v1", "_lm")):
            # LM responses are never sent: they are broken beyond repair.
            ctx._nt_v2 = self.use_ntlm_v2
            ctx._nt_v1 = not self.use_ntlm_v2
            ctx._lm = False
        elif not self.use_ntlm_v2:
            raise SMTPAuthError(
                "this pyspnego version does not let smtpx choose NTLMv1 (UseNTLMv2=False); "
                "set the environment variable LM_COMPAT_LEVEL=2 instead"
            )

    def initial_response(self) -> bytes | None:
        self._negotiate_sent = True
        return self._step(None)

    def respond(self, challenge: bytes) -> bytes:
        if not self._negotiate_sent:
            # The server prompted with an empty 334 because no initial response was sent.
            return self.initial_response() or b""
        if self.complete:
            raise self._unexpected_challenge()
        if not challenge:
            raise SMTPAuthError("the server sent an empty NTLM challenge; authentication aborted")
        token = self._step(challenge)
        self.complete = True
        return token

    def _step(self, token: bytes | None) -> bytes:
        try:
            out = self._context.step(token)
        except Exception as exc:  # malformed challenge etc.; never include credentials
            raise SMTPAuthError(f"NTLM failed: {type(exc).__name__}: {exc}") from None
        return out or b""
