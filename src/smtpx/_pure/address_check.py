"""Whether an address is the usual kind, checked in one step: the fast path of the RFC 5321
check (smtpx.engine.validation) and of the RFC 5322 parser (smtpx.message.addresses), which
both accept such an address unchanged and do their full work only for the others.

A plain address is ASCII: a dot-string local part (atoms of RFC 5321 atext, letters, digits
and ``!#$%&'*+-/=?^_`{|}~``, joined by single dots), one ``@``, and a domain of labels
joined by single dots, each of letters, digits and inner hyphens. No brackets, quotes, white
space, address literal or non-ASCII character: those go the full way. Anything but a str is
not plain. Length limits are not part of it (their checks stay with the callers).
"""
from __future__ import annotations

import re

__all__ = ["is_plain_address"]

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
PLAIN_ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*")


def is_plain_address(text: object) -> bool:
    """True for a plain address (above)."""
    return type(text) is str and PLAIN_ADDRESS.fullmatch(text) is not None
