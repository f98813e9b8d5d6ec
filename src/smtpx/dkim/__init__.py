"""DKIM signing (RFC 6376; Ed25519 by RFC 8463): ``DKIMSigner``. See docs/dkim.md."""
from __future__ import annotations

from smtpx.dkim.signer import DEFAULT_HEADERS, DKIMSigner

__all__ = ["DKIMSigner", "DEFAULT_HEADERS"]
