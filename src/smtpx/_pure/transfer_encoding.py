"""Content-Transfer-Encodings of RFC 2045: base64 (section 6.8) and quoted-printable
(section 6.7), in one shot and as streaming encoders whose output is the same however the
input is split.

base64: lines of ``line_len`` characters (a multiple of 4, 4..996), each line (the last
one too) ending with CRLF, like ``base64.encodebytes`` but with CRLF; no input, no output.

quoted-printable: the input is taken in canonical form, so only CRLF is a line break and
stays a CRLF (a hard break); a bare CR or LF is encoded (=0D, =0A), which makes
``binascii.a2b_qp(qp_encode(data)) == data`` hold for every input. Encoded: "=", every
byte outside printable ASCII except space and tab, and a space or tab that would end a
line (before a hard break or at the end of the data). Output lines are at most 76
characters; a soft break ("=" CRLF) comes after at most 75, and never splits an =XX.
The output ends with CRLF only when the input did.
"""
from __future__ import annotations

import binascii
import re

from smtpx._pure.stuffing import as_bytes
from smtpx.errors import SMTPInputError

_CRLF = b"\r\n"
_MAX_LINE = 996  # RFC 5321's 998 octets less room to spare, a multiple of 4


def check_line_len(line_len: object) -> int:
    """``line_len`` validated: an int, a multiple of 4, from 4 to 996."""
    if isinstance(line_len, bool) or not isinstance(line_len, int):
        raise TypeError(f"line_len must be an int, not {type(line_len).__name__}")
    if line_len < 4 or line_len > _MAX_LINE or line_len % 4:
        raise SMTPInputError(f"line_len must be a multiple of 4 from 4 to {_MAX_LINE}, not {line_len}")
    return line_len


def _b64_lines(data: bytes | bytearray, line_len: int) -> bytes:
    if not data:
        return b""
    encoded = binascii.b2a_base64(data, newline=False)
    lines = [encoded[i : i + line_len] for i in range(0, len(encoded), line_len)]
    lines.append(b"")
    return _CRLF.join(lines)


def b64_encode_wrapped(data: bytes, line_len: int = 76) -> bytes:
    """Base64 of ``data`` in lines of ``line_len`` characters, each ending with CRLF."""
    return _b64_lines(as_bytes(data), check_line_len(line_len))


class Base64Encoder:
    """Streaming ``b64_encode_wrapped``: feed() returns the complete lines so far."""

    __slots__ = ("_line_len", "_group", "_pending", "_finished")

    def __init__(self, line_len: int = 76) -> None:
        self._line_len = check_line_len(line_len)
        self._group = line_len // 4 * 3  # input bytes per output line
        self._pending = b""
        self._finished = False

    def feed(self, chunk: bytes) -> bytes:
        data = as_bytes(chunk)
        if self._finished:
            raise SMTPInputError("Base64Encoder.feed() called after finish()")
        if self._pending:
            data = self._pending + data
        full = len(data) - len(data) % self._group
        self._pending = bytes(data[full:])
        return _b64_lines(data[:full], self._line_len)

    def finish(self) -> bytes:
        if self._finished:
            raise SMTPInputError("Base64Encoder.finish() called twice")
        self._finished = True
        return _b64_lines(self._pending, self._line_len)


# --- quoted-printable ---------------------------------------------------------------------

_WHITESPACE = (9, 32)
_ESCAPED = [b"=%02X" % b for b in range(256)]
# every byte but printable ASCII ("=" excepted), space and tab
_NEEDS_ESCAPE = re.compile(rb"[^\x21-\x3c\x3e-\x7e \t]")
_SOFT_BREAK = b"=\r\n"


def _escape(match: re.Match[bytes]) -> bytes:
    return _ESCAPED[match[0][0]]


def _qp_segment(seg: bytes, col: int, ends_line: bool, out: list[bytes]) -> int:
    """Encode ``seg`` (no CRLF inside) from column ``col``; return the new column.

    ``ends_line``: the segment's last byte is the last of its line (a CRLF or the end of the
    data follows), so trailing white space is encoded and the line may use all 76 columns.
    Lines are filled greedily: as many whole tokens (a byte, or an =XX) as fit in 75
    columns, then a soft break.
    """
    if not seg:
        return col
    encoded = _NEEDS_ESCAPE.sub(_escape, seg)
    if ends_line and seg[-1] in _WHITESPACE:
        encoded = encoded[:-1] + _ESCAPED[seg[-1]]
    pos, size = 0, len(encoded)
    while True:
        room = 75 - col
        rest = size - pos
        if rest <= room or (ends_line and rest <= room + 1):
            # the rest fits; a line's last token may take the 76th column
            out.append(encoded[pos:])
            return col + rest
        cut = pos + max(room, 0)
        # never split an =XX ("=" appears in the encoded text only as an escape's start)
        if cut - 1 >= pos and encoded[cut - 1] == 61:
            cut -= 1
        elif cut - 2 >= pos and encoded[cut - 2] == 61:
            cut -= 2
        out.append(encoded[pos:cut])
        out.append(_SOFT_BREAK)
        pos, col = cut, 0


def _qp_core(data: bytes, col: int, final: bool) -> tuple[bytes, int, int]:
    """Encode what can be decided now: (output, new column, bytes consumed).

    Encoding a byte needs the two after it (is a CRLF next?), so unless ``final`` the last
    two bytes wait for more input.
    """
    n = len(data)
    limit = n if final else n - 2
    out: list[bytes] = []
    i = 0
    while i < limit:
        crlf = data.find(_CRLF, i)
        if crlf == -1 or crlf > limit:
            end = limit
            ends_line = final  # at the end of the data, or not at a line end yet
        else:
            end = crlf
            ends_line = True
        col = _qp_segment(data[i:end], col, ends_line, out)
        i = end
        if end == crlf and i < limit:
            out.append(_CRLF)
            col = 0
            i += 2
    return b"".join(out), col, max(i, 0)


def qp_encode(data: bytes) -> bytes:
    """Quoted-printable of ``data`` (see the module docstring for the rules)."""
    return _qp_core(bytes(as_bytes(data)), 0, True)[0]


class QPEncoder:
    """Streaming ``qp_encode``: at most two input bytes wait between feeds."""

    __slots__ = ("_col", "_pending", "_finished")

    def __init__(self) -> None:
        self._col = 0
        self._pending = b""
        self._finished = False

    def feed(self, chunk: bytes) -> bytes:
        data = bytes(as_bytes(chunk))
        if self._finished:
            raise SMTPInputError("QPEncoder.feed() called after finish()")
        if self._pending:
            data = self._pending + data
        out, self._col, used = _qp_core(data, self._col, False)
        self._pending = data[used:]
        return out

    def finish(self) -> bytes:
        if self._finished:
            raise SMTPInputError("QPEncoder.finish() called twice")
        self._finished = True
        return _qp_core(self._pending, self._col, True)[0]
