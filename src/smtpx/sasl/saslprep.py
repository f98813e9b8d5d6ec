"""SASLprep (RFC 4013, the stringprep profile SCRAM uses for user names and passwords).

Built on the stdlib ``stringprep`` tables (RFC 3454). Strings are prepared as *queries*
(RFC 5802 section 2.2): unassigned code points are let through. RFC 7613 (PRECIS
OpaqueString) replaces RFC 4013 but maps every password a user can type the same way: width
and compatibility forms by NFKC, non-ASCII spaces to U+0020, the "mapped to nothing" set
removed.
"""
from __future__ import annotations

import stringprep
import unicodedata

from smtpx.errors import SMTPInputError

# RFC 4013 section 2.3: every table that makes a character prohibited (C.1.2 is mapped to a
# space in step 1, so it cannot remain, but it stays here as the RFC lists it).
_PROHIBITED = (
    stringprep.in_table_c12,
    stringprep.in_table_c21,
    stringprep.in_table_c22,
    stringprep.in_table_c3,
    stringprep.in_table_c4,
    stringprep.in_table_c5,
    stringprep.in_table_c6,
    stringprep.in_table_c7,
    stringprep.in_table_c8,
    stringprep.in_table_c9,
)


def saslprep(value: str, field: str) -> str:
    """``value`` prepared by SASLprep, or SMTPInputError naming ``field`` (never the value:
    it may be a password)."""
    if value.isascii() and value.isprintable():
        return value  # nothing to map, normalize or prohibit in printable ASCII (the usual case)
    # 1. Map: non-ASCII spaces to SPACE, "commonly mapped to nothing" (B.1) removed.
    mapped = "".join(
        " " if stringprep.in_table_c12(ch) else ch for ch in value if not stringprep.in_table_b1(ch)
    )
    # 2. Normalize: Unicode NFKC.
    text = unicodedata.normalize("NFKC", mapped)
    # 3. Prohibit.
    for position, ch in enumerate(text):
        if any(table(ch) for table in _PROHIBITED):
            raise SMTPInputError(
                f"the {field} holds a character SASLprep prohibits (U+{ord(ch):04X} at position "
                f"{position}, a control, private-use or non-character code point)"
                if field != "password" else
                f"the {field} holds a character SASLprep prohibits (a control, private-use or "
                "non-character code point)"
            )
    # 4. Bidi (RFC 3454 section 6): right-to-left text may hold no left-to-right character and
    # must begin and end with a right-to-left one.
    if any(stringprep.in_table_d1(ch) for ch in text):
        if any(stringprep.in_table_d2(ch) for ch in text) or not (
            stringprep.in_table_d1(text[0]) and stringprep.in_table_d1(text[-1])
        ):
            raise SMTPInputError(f"the {field} mixes right-to-left and left-to-right text in a way SASLprep forbids")
    return text
