"""Reply scanning (RFC 5321 section 4.2): bytes in, complete replies out.

Strict on purpose: Python's int() accepts " 25", "+25", "2_5" and non-ASCII digits, so the
code is checked byte by byte: exactly three ASCII digits, the first 2-5, then SP, "-" or the
end of the line. Every line of a multi-line reply must carry the same code. A line ends with
CRLF or a bare LF (the CR is not part of the text). Text is decoded as UTF-8 with replacement,
so no byte sequence (0xFF, NUL, ...) can make it fail; the text is *not* sanitised for display
(callers sanitise traces).

Limits (memory stays bounded whatever the server sends, and however the input is split):
``max_line`` bytes per line (line end not counted; a partial line longer than that is refused
before its end arrives), ``max_reply`` bytes per reply (line ends counted), ``max_lines`` lines
per reply. Breaking one, or a syntax error, raises ``SMTPProtocolError`` whose ``replies``
attribute holds the replies completed earlier in the same ``feed()``; the scanner then refuses
further input (the connection cannot be trusted any more).
"""
from __future__ import annotations

from typing import Any

from smtpx.errors import SMTPProtocolError


# One-line replies repeat: a server says the same "250 2.1.5 Ok" to every RCPT of a batch. A
# scanner keeps the last RECENT different ones of up to RECENT_LINE bytes, and a line equal to
# one of them gives the very same Reply object again: a batch then makes no new objects for
# them, and keeps one copy instead of one per message. (A Reply is a value: nothing changes
# one after it is made.)
RECENT = 4
RECENT_LINE = 128


class Reply:
    """One complete server reply: ``code``, ``enhanced`` ("x.y.z" or None), ``lines``. Read
    only: equal one-line replies from one connection may be one shared object."""

    __slots__ = ("code", "enhanced", "lines")

    def __init__(self, code: int, enhanced: str | None, lines: list[str]) -> None:
        self.code = code
        self.enhanced = enhanced
        self.lines = lines

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Reply):
            return NotImplemented
        return (self.code, self.enhanced, self.lines) == (other.code, other.enhanced, other.lines)

    __hash__ = None  # type: ignore[assignment]  # mutable, like the list it holds

    def __repr__(self) -> str:
        return f"Reply({self.code}, {self.enhanced!r}, {self.lines!r})"


def enhanced_code(text: str, reply_class: int) -> str | None:
    """"x.y.z" when ``text`` starts with an RFC 3463 enhanced status code whose class digit
    equals ``reply_class``; otherwise None (a mismatched class is ignored, not an error)."""
    head = text.split(" ", 1)[0]
    parts = head.split(".")
    if len(parts) != 3:
        return None
    cls, subject, detail = parts
    if len(cls) != 1 or cls not in "245" or ord(cls) - 0x30 != reply_class:
        return None
    for part in (subject, detail):
        if not 1 <= len(part) <= 3 or not all("0" <= ch <= "9" for ch in part):
            return None
    return head


def sanitise(line: bytes) -> str:
    """Printable, bounded form of a bad line for error messages."""
    text = bytes(line[:80]).decode("utf-8", "replace")
    return "".join(ch if ch.isprintable() else "?" for ch in text)


# b"200".."599" -> 200..599: only three ASCII digits, the first 2-5, are a code.
_CODES = {str(code).encode("ascii"): code for code in range(200, 600)}


class ReplyScanner:
    """Feed raw bytes; get back every reply they complete. Partial data waits for more."""

    def __init__(self, max_line: int = 8192, max_reply: int = 65536, max_lines: int = 1000) -> None:
        for limit in (max_line, max_reply, max_lines):
            if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
                raise ValueError("ReplyScanner limits must be positive ints")
        self.max_line = max_line
        self.max_reply = max_reply
        self.max_lines = max_lines
        self._pending = b""  # the partial line only (at most max_line + 1 bytes)
        self._code = -1  # code of the reply in progress, -1 between replies
        self._lines: list[str] = []
        self._reply_size = 0
        self._failed = False
        self._recent: list[Any] = [b"", None] * RECENT  # [line bytes, Reply] pairs (RECENT above)
        self._recent_next = 0  # the pair the next new one-line reply replaces

    @property
    def has_pending(self) -> bool:
        """True while part of a reply (a partial line, or lines of an unfinished multi-line
        reply) waits for more data."""
        return bool(self._pending) or bool(self._lines)

    def feed(self, data: bytes) -> list[Reply]:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError("ReplyScanner.feed() needs bytes")
        if isinstance(data, memoryview):
            data = data.tobytes()
        if self._failed:
            raise SMTPProtocolError("the reply scanner already failed; the connection must be dropped")
        replies: list[Reply] = []
        try:
            self._feed(data, replies)
        except SMTPProtocolError as exc:
            self._failed = True
            exc.replies = replies  # type: ignore[attr-defined]
            raise
        return replies

    def _feed(self, data: bytes, replies: list[Reply]) -> None:
        # One loop with the line rules inlined: this is the hot path without the C kernels.
        max_line = self.max_line
        max_reply = self.max_reply
        max_lines = self.max_lines
        pending = self._pending
        if len(pending) + len(data) > max_line + 1 and data.find(b"\n") < 0:
            self._too_long()  # refuse before copying a huge partial line
        buf = pending + data if pending else bytes(data)
        code_now = self._code
        lines = self._lines
        size = self._reply_size
        start = 0
        end = buf.find(b"\n", len(pending))  # the old partial line has no LF
        while end >= 0:
            line_end = end - 1 if end > start and buf[end - 1] == 0x0D else end
            n = line_end - start
            if n > max_line:
                self._too_long()
            code = _CODES.get(buf[start : start + 3]) if n >= 3 else None
            sep = buf[start + 3 : start + 4] if n > 3 else b""
            if code is None or (sep != b" " and sep != b"-" and sep != b""):
                raise SMTPProtocolError(f"malformed reply code in line {sanitise(buf[start:line_end])!r}")
            if code_now >= 0 and code != code_now:
                raise SMTPProtocolError(f"multi-line reply changed its code from {code_now} to {code}")
            size += end + 1 - start
            if size > max_reply:
                raise SMTPProtocolError(f"reply larger than {max_reply} bytes")
            if len(lines) >= max_lines:
                raise SMTPProtocolError(f"reply has more than {max_lines} lines")
            if code_now < 0 and sep != b"-":  # a one-line reply
                replies.append(self._one_line(buf[start:line_end], code))
                size = 0
                start = end + 1
                end = buf.find(b"\n", start)
                continue
            lines.append(buf[start + 4 : line_end].decode("utf-8", "replace") if n > 4 else "")
            if sep == b"-":
                code_now = code
            else:
                # The enhanced code normally heads every line; the first line is enough, the
                # last line is the fallback for servers that only mark the final one.
                enhanced = enhanced_code(lines[0], code // 100)
                if enhanced is None and len(lines) > 1:
                    enhanced = enhanced_code(lines[-1], code // 100)
                replies.append(Reply(code, enhanced, lines))
                code_now = -1
                lines = []
                size = 0
            start = end + 1
            end = buf.find(b"\n", start)
        self._code = code_now
        self._lines = lines
        self._reply_size = size
        rest = len(buf) - start
        # A partial line may hold max_line bytes plus the CR of its CRLF.
        if rest > max_line + 1 or (rest == max_line + 1 and buf[-1] != 0x0D):
            self._too_long()
        self._pending = buf[start:]

    def _one_line(self, line: bytes, code: int) -> Reply:
        """The Reply of a one-line reply (``line`` without its line end): the one made for the
        same bytes lately, or a new one, remembered when short."""
        recent = self._recent
        for i in range(0, 2 * RECENT, 2):
            if recent[i] == line:
                reply: Reply = recent[i + 1]
                return reply
        text = line[4:].decode("utf-8", "replace")
        reply = Reply(code, enhanced_code(text, code // 100), [text])
        if len(line) <= RECENT_LINE:
            i = self._recent_next
            recent[i], recent[i + 1] = line, reply
            self._recent_next = (i + 2) % (2 * RECENT)
        return reply

    def _too_long(self) -> None:
        raise SMTPProtocolError(f"reply line longer than {self.max_line} bytes")
