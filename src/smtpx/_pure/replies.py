"""Reply scanning (RFC 5321 section 4.2): bytes in, complete replies out.

Strict on purpose: Python's int() accepts " 25", "+25", "2_5" and non-ASCII digits, so the
code is checked byte by byte. Limits cap memory against hostile servers.
"""
from __future__ import annotations

from smtpx.errors import SMTPProtocolError


class Reply:
    """One complete server reply."""

    __slots__ = ("code", "enhanced", "lines")

    def __init__(self, code: int, enhanced: str | None, lines: list[str]) -> None:
        self.code = code
        self.enhanced = enhanced
        self.lines = lines

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Reply) and type(other).__name__ != "Reply":
            return NotImplemented
        return (self.code, self.enhanced, self.lines) == (other.code, other.enhanced, other.lines)  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return f"Reply({self.code}, {self.enhanced!r}, {self.lines!r})"


def _is_digit(b: int) -> bool:
    return 0x30 <= b <= 0x39


def _enhanced_code(text: str, reply_class: int) -> str | None:
    """Return "x.y.z" when the text starts with an enhanced status code of the reply's class."""
    head = text.split(" ", 1)[0]
    parts = head.split(".")
    if len(parts) != 3:
        return None
    cls, subject, detail = parts
    if len(cls) != 1 or cls not in "245" or ord(cls) - 0x30 != reply_class:
        return None
    for part in (subject, detail):
        if not (1 <= len(part) <= 3) or not all("0" <= ch <= "9" for ch in part):
            return None
    return head


class ReplyScanner:
    """Feed raw bytes; get back every reply they complete. Partial data waits for more."""

    def __init__(self, max_line: int = 8192, max_reply: int = 65536, max_lines: int = 1000) -> None:
        self.max_line = max_line
        self.max_reply = max_reply
        self.max_lines = max_lines
        self._buffer = bytearray()
        self._code = -1
        self._lines: list[str] = []
        self._reply_size = 0

    def feed(self, data: bytes) -> list[Reply]:
        buffer = self._buffer
        buffer += data
        replies: list[Reply] = []
        start = 0
        while True:
            end = buffer.find(b"\n", start)
            if end < 0:
                if len(buffer) - start > self.max_line:
                    raise SMTPProtocolError(f"reply line longer than {self.max_line} bytes")
                break
            line_end = end - 1 if end > start and buffer[end - 1] == 0x0D else end
            if line_end - start > self.max_line:
                raise SMTPProtocolError(f"reply line longer than {self.max_line} bytes")
            reply = self._line(bytes(buffer[start:line_end]))
            if reply is not None:
                replies.append(reply)
            start = end + 1
        del buffer[:start]
        return replies

    def _line(self, line: bytes) -> Reply | None:
        if len(line) < 3 or not (_is_digit(line[0]) and _is_digit(line[1]) and _is_digit(line[2])):
            raise SMTPProtocolError(f"malformed reply line: {_sanitise(line)!r}")
        if not (0x32 <= line[0] <= 0x35):
            raise SMTPProtocolError(f"reply code out of range: {_sanitise(line)!r}")
        if len(line) > 3 and line[3] not in (0x20, 0x2D):
            raise SMTPProtocolError(f"malformed reply line: {_sanitise(line)!r}")
        code = (line[0] - 0x30) * 100 + (line[1] - 0x30) * 10 + (line[2] - 0x30)
        if self._code >= 0 and code != self._code:
            raise SMTPProtocolError(f"multi-line reply changed code from {self._code} to {code}")
        self._reply_size += len(line) + 2
        if self._reply_size > self.max_reply:
            raise SMTPProtocolError(f"reply larger than {self.max_reply} bytes")
        if len(self._lines) >= self.max_lines:
            raise SMTPProtocolError(f"reply has more than {self.max_lines} lines")
        self._code = code
        self._lines.append(line[4:].decode("utf-8", "replace"))
        if len(line) > 3 and line[3] == 0x2D:
            return None
        lines = self._lines
        # The enhanced code normally heads every line; the first line is enough, the last
        # line is the fallback for servers that only mark the final one.
        enhanced = _enhanced_code(lines[0], code // 100) or _enhanced_code(lines[-1], code // 100)
        self._code = -1
        self._lines = []
        self._reply_size = 0
        return Reply(code, enhanced, lines)


def _sanitise(line: bytes) -> str:
    """Printable form of a bad line for errors and traces (no control bytes, bounded)."""
    text = line[:200].decode("utf-8", "replace")
    return "".join(ch if ch.isprintable() else "?" for ch in text)
