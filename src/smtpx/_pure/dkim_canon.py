"""DKIM canonicalization (RFC 6376 section 3.4): the body chunk by chunk, and one header field.

Line ends are read as the wire sends them (smtpx._pure.stuffing): every CRLF, bare CR and bare
LF is one CRLF, so the hash is over what the receiver gets. A chunk may end between a CR and
its LF; the CR is held back until the next chunk (or finish()) says what it was.

Body, ``DKIMBodyCanonicalizer(relaxed)``: ``feed(chunk)`` returns the canonical bytes that are
already certain, ``finish()`` the rest; the concatenation is the same however the body is cut.

* simple (3.4.3): lines as they are; empty lines at the end are dropped and the body ends with
  one CRLF (it gets one when it had none). An empty body is ``CRLF``.
* relaxed (3.4.4): runs of SP/HTAB become one SP, SP/HTAB at the end of a line go, then empty
  lines at the end are dropped; a non-empty body ends with CRLF. An empty body is empty.

What is held back between chunks: a CR, the number of empty lines seen since the last line
with content (written only when more content follows), and in relaxed mode whether white
space is pending on the current line (written as one SP only when content follows it).

Header, ``dkim_canonicalize_header(field, relaxed)``: ``field`` is one whole header field
(name, colon, value and its continuation lines, with or without its final line end).

* simple (3.4.1): the field unchanged but for line ends (normalised), ending with CRLF.
* relaxed (3.4.2): every CR and LF removed (unfolding), the name (up to the first colon)
  lower-cased (ASCII) with SP/HTAB before the colon removed, the value's SP/HTAB runs made one
  SP and removed at both ends; ``name:value`` CRLF. A field without a colon is all name.
"""
from __future__ import annotations

import re

from smtpx._pure.stuffing import CRLFNormalizer, as_bytes, normalise_line_ends
from smtpx.errors import SMTPInputError

_CRLF = b"\r\n"
_WSP_RUN = re.compile(rb"[ \t]+")


class DKIMBodyCanonicalizer:
    """The canonical body, produced chunk by chunk (relaxed or simple)."""

    __slots__ = ("_relaxed", "_line_ends", "_blank", "_wsp", "_content", "_emitted", "_finished")

    def __init__(self, relaxed: bool) -> None:
        self._relaxed = bool(relaxed)
        self._line_ends = CRLFNormalizer()  # the wire's line ends, a CR held across chunks
        self._blank = 0          # empty lines held back since the last line with content
        self._wsp = False        # relaxed: white space pending on the current line
        self._content = False    # the current line has content already written
        self._emitted = False    # anything written at all (simple: an empty body is CRLF)
        self._finished = False

    def _line_end(self, out: list[bytes]) -> None:
        self._wsp = False  # white space at the end of a line goes
        if self._content:
            out.append(_CRLF)
            self._content = False
        else:
            self._blank += 1

    def _content_piece(self, out: list[bytes], piece: bytes, space_before: bool) -> None:
        if self._blank:
            out.append(_CRLF * self._blank)
            self._blank = 0
        if space_before:
            out.append(b" ")
        out.append(piece)
        self._content = True
        self._emitted = True

    def feed(self, chunk: bytes) -> bytes:
        data = as_bytes(chunk)
        if self._finished:
            raise SMTPInputError("DKIMBodyCanonicalizer.feed() called after finish()")
        if not data:
            return b""
        lines = self._line_ends.feed(chunk).split(_CRLF)
        out: list[bytes] = []
        last = len(lines) - 1
        for index, line in enumerate(lines):
            if self._relaxed:
                line = _WSP_RUN.sub(b" ", line)
                lead = line[:1] == b" "
                if lead:
                    line = line[1:]
                trail = line[-1:] == b" "
                if trail:
                    line = line[:-1]
                if line:
                    self._content_piece(out, line, self._wsp or lead)
                    self._wsp = trail
                else:
                    self._wsp = self._wsp or lead
            elif line:
                self._content_piece(out, line, False)
            if index < last:
                self._line_end(out)
        return b"".join(out)

    def finish(self) -> bytes:
        if self._finished:
            raise SMTPInputError("DKIMBodyCanonicalizer.finish() called twice")
        self._finished = True
        out: list[bytes] = []
        if self._line_ends.finish():  # a CR held back at the very end: one line end
            self._line_end(out)
        if self._content or (not self._relaxed and not self._emitted):
            out.append(_CRLF)
        return b"".join(out)


def dkim_canonicalize_header(field: bytes, relaxed: bool) -> bytes:
    """One header field in canonical form, ending with CRLF."""
    data = as_bytes(field)
    if not relaxed:
        out = normalise_line_ends(data)
        return out if out.endswith(_CRLF) else out + _CRLF
    unfolded = bytes(data).replace(b"\r", b"").replace(b"\n", b"")
    name, _, value = unfolded.partition(b":")
    value = _WSP_RUN.sub(b" ", value).strip(b" ")
    return name.rstrip(b" \t").lower() + b":" + value + _CRLF
