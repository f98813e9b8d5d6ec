"""What the server offered in its EHLO reply (RFC 5321 section 4.1.1.1)."""
from __future__ import annotations

from collections.abc import Iterable


class Capabilities:
    """Extension keywords (upper case) with their parameter strings."""

    __slots__ = ("raw", "auth_mechanisms", "size_limit", "server_name")

    def __init__(self) -> None:
        self.raw: dict[str, str] = {}
        self.auth_mechanisms: set[str] = set()
        self.size_limit: int | None = None  # None: no SIZE, or "SIZE 0" / no number (no fixed limit)
        self.server_name = ""

    def has(self, name: str) -> bool:
        return name in self.raw or name.upper() in self.raw  # keywords are kept in upper case

    def __repr__(self) -> str:
        return f"Capabilities({self.raw!r})"

    @classmethod
    def from_ehlo(cls, lines: Iterable[str]) -> Capabilities:
        """Parse the lines of a 250 EHLO reply; the first names the server."""
        caps = cls()
        iterator = iter(lines)
        caps.server_name = next(iterator, "").split(" ", 1)[0]
        for line in iterator:
            line = line.strip()
            if not line:
                continue
            keyword, _, params = line.partition(" ")
            if keyword.upper().startswith("AUTH="):
                # The pre-RFC 2554 form some servers still send: "AUTH=LOGIN PLAIN".
                params = (keyword[5:] + " " + params).strip()
                keyword = "AUTH"
            keyword = keyword.upper()
            params = params.strip()
            if keyword in caps.raw and params:
                caps.raw[keyword] = (caps.raw[keyword] + " " + params).strip()
            else:
                caps.raw.setdefault(keyword, params)
            if keyword == "AUTH":
                caps.auth_mechanisms.update(word.upper() for word in params.split())
            elif keyword == "SIZE":
                caps.size_limit = _size_limit(params)
        return caps


def _size_limit(params: str) -> int | None:
    text = params.split(" ", 1)[0]
    if not text or not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value or None
