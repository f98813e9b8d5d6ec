"""DKIM for the Celery tasks, from the app's config: ``app.conf.smtpx["dkim"]``.

Config files and environment variables hold text, not objects, so besides what ``SMTPPool``
takes (a ``smtpx.dkim.DKIMSigner`` or a list of them) the setting may be a mapping of
DKIMSigner's keyword arguments, ``{"domain", "selector", "private_key": a path or PEM text,
"headers", "canonicalization", "oversign_from", "expire"}``, or a list of mappings (one
DKIM-Signature each: RSA and Ed25519 together). The signers are made in each worker process
(settings_of runs there), so a key file is read on the machine that signs and no key travels
through the broker. The messages travel unsigned and are signed by the pool when sent (so
``t=`` and an ``x=`` expiry count from the send, on every redelivery too)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from smtpx.dkim import DKIMSigner
from smtpx.errors import SMTPConfigError, SMTPError

__all__ = ["signers_of"]


def _signer(value: Any, where: str) -> DKIMSigner:
    if isinstance(value, DKIMSigner):
        return value
    if not isinstance(value, Mapping):
        raise SMTPConfigError(f"{where} must be a smtpx.dkim.DKIMSigner or a mapping of its arguments "
                              f"(domain, selector, private_key, ...), not {type(value).__name__}")
    try:
        return DKIMSigner(**{str(key): item for key, item in value.items()})
    except TypeError as exc:  # an unknown or missing argument (the message names it, not the key)
        raise SMTPConfigError(f"{where}: {exc}") from None
    except SMTPError as exc:  # a bad key, domain, selector, ...: DKIMSigner says which (never the key)
        raise SMTPConfigError(f"{where}: {exc}") from None


def signers_of(value: Any) -> DKIMSigner | tuple[DKIMSigner, ...] | None:
    """The ``dkim`` setting made into signers (None: no signing); SMTPConfigError when wrong."""
    where = "app.conf.smtpx['dkim']"
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        signers = tuple(_signer(item, f"{where}[{n}]") for n, item in enumerate(value))
        return signers or None
    return _signer(value, where)
