"""Classify a message body for its transfer encoding and BODY= parameter (RFC 2045 section
2.7-2.9, RFC 6152 8BITMIME, RFC 3030 BINARYMIME).

Exactly one of ``seven_bit``, ``eight_bit`` and ``binary`` is true:

- ``binary``: a NUL, a bare CR or bare LF (not part of a CRLF), or a line over 998 octets;
- ``eight_bit``: not binary, and some octet is over 127;
- ``seven_bit``: neither.

``longest_line`` is the longest line in octets, line ends excluded, where CRLF, a bare CR
and a bare LF all end a line (so it is the longest line the server sees once the data is
normalised); the last line counts even without a line end. Empty data: 7-bit, 0.
"""
from __future__ import annotations

from typing import NamedTuple

from smtpx._pure.stuffing import as_bytes

MAX_LINE = 998  # RFC 5321 section 4.5.3.1.6, without the CRLF


class BodyClass(NamedTuple):
    seven_bit: bool
    eight_bit: bool
    binary: bool
    longest_line: int


def classify_body(data: bytes) -> BodyClass:
    """Classify ``data``. The compiled twin makes one pass; this one leans on bytes methods,
    which are faster from Python than a loop over the octets."""
    data = bytes(as_bytes(data))
    crlf = data.count(b"\r\n")
    bare_line_end = data.count(b"\r") != crlf or data.count(b"\n") != crlf
    lines = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    longest = max(map(len, lines))
    binary = bare_line_end or b"\0" in data or longest > MAX_LINE
    eight_bit = not binary and not data.isascii()
    return BodyClass(not binary and not eight_bit, eight_bit, binary, longest)
