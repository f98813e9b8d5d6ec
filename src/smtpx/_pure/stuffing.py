"""The bytes sent after DATA (dot-stuffed, RFC 5321 section 4.5.2) and after BDAT
(normalised only, RFC 3030), produced chunk by chunk.

Line ends: every CRLF, bare CR and bare LF becomes one CRLF. "\\r\\r\\n" is a bare CR and
then a CRLF, so it gives two line ends (the same reading as smtplib's ``\\r(?!\\n)``).
A chunk may end between a CR and its LF, so a trailing CR is held back until the next
chunk (or finish()) says what it was. The output is the same however the input is split.
"""
from __future__ import annotations

from smtpx.errors import SMTPInputError

_CRLF = b"\r\n"


def as_bytes(chunk: object) -> bytes | bytearray:
    """The chunk as bytes; a memoryview is copied, anything else is refused."""
    if isinstance(chunk, (bytes, bytearray)):
        return chunk
    if isinstance(chunk, memoryview):
        return bytes(chunk)
    raise TypeError(f"expected bytes, bytearray or memoryview, not {type(chunk).__name__}")


def normalise_line_ends(data: bytes | bytearray) -> bytes:
    """Every CRLF, bare CR and bare LF as CRLF (data must not end with a held-back CR)."""
    # CRLF first, so its CR is not taken for a bare one; then every LF gets its CR back.
    return bytes(data).replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", _CRLF)


class CRLFNormalizer:
    """Line-end normalisation for BDAT: no dot-stuffing and no terminator.

    ``finish()`` only flushes a CR held back from the last chunk (as CRLF); it adds no line
    end of its own, so data that did not end with a line end still does not.
    """

    __slots__ = ("_pending_cr", "_finished")

    def __init__(self) -> None:
        self._pending_cr = False
        self._finished = False

    def feed(self, chunk: bytes) -> bytes:
        data = as_bytes(chunk)
        if self._finished:
            raise SMTPInputError("CRLFNormalizer.feed() called after finish()")
        if not data:
            return b""
        if self._pending_cr:
            data = b"\r" + data
        self._pending_cr = data.endswith(b"\r")
        if self._pending_cr:
            data = data[:-1]
        return normalise_line_ends(data)

    def finish(self) -> bytes:
        if self._finished:
            raise SMTPInputError("CRLFNormalizer.finish() called twice")
        self._finished = True
        return _CRLF if self._pending_cr else b""


class DotStuffer:
    """Line-end normalisation plus dot-stuffing for DATA, and the end-of-data terminator.

    Every line that starts with "." gets one more "." in front. ``finish()`` adds a CRLF when
    the data did not end with a line end, then ``.\\r\\n``. Empty data counts as not ending
    with a line end, so it finishes as ``\\r\\n.\\r\\n`` (one empty line), exactly as
    smtplib's ``SMTP.data(b"")`` does.
    """

    __slots__ = ("_pending_cr", "_line_start", "_empty", "_finished")

    def __init__(self) -> None:
        self._pending_cr = False
        self._line_start = True
        self._empty = True
        self._finished = False

    def feed(self, chunk: bytes) -> bytes:
        data = as_bytes(chunk)
        if self._finished:
            raise SMTPInputError("DotStuffer.feed() called after finish()")
        if not data:
            return b""
        self._empty = False
        if self._pending_cr:
            data = b"\r" + data
        self._pending_cr = data.endswith(b"\r")
        if self._pending_cr:
            data = data[:-1]
        out = normalise_line_ends(data)
        if not out:
            return b""
        out = out.replace(b"\r\n.", b"\r\n..")
        if self._line_start and out[:1] == b".":
            out = b"." + out
        self._line_start = out.endswith(_CRLF)
        return out

    def finish(self) -> bytes:
        if self._finished:
            raise SMTPInputError("DotStuffer.finish() called twice")
        self._finished = True
        if self._pending_cr or self._empty or not self._line_start:
            return b"\r\n.\r\n"
        return b".\r\n"
