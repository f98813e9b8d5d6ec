"""Parse and write the ``name=value, name="quoted value"`` lists of DIGEST-MD5 (RFC 2831 §7)."""
from __future__ import annotations

from smtpx.errors import SMTPAuthError

_SEPARATORS = " \t,"


def parse_directives(data: bytes, what: str = "DIGEST-MD5 challenge") -> dict[str, list[str]]:
    """Return each directive's values (a name may repeat, e.g. ``realm``), names lower-cased.
    Raises SMTPAuthError on anything malformed; the bytes come from the server."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SMTPAuthError(f"the {what} is not valid UTF-8") from None
    result: dict[str, list[str]] = {}
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in _SEPARATORS:
            i += 1
        if i >= n:
            return result
        eq = text.find("=", i)
        if eq < 0:
            raise SMTPAuthError(f"malformed {what}: a directive has no '='")
        name = text[i:eq].strip().lower()
        if not name or any(c in name for c in ' \t,"'):
            raise SMTPAuthError(f"malformed {what}: bad directive name")
        i = eq + 1
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] == '"':
            value, i = _read_quoted(text, i + 1, what)
            while i < n and text[i] in " \t":
                i += 1
            if i < n and text[i] != ",":
                raise SMTPAuthError(f"malformed {what}: text after a quoted value")
        else:
            end = text.find(",", i)
            end = n if end < 0 else end
            value, i = text[i:end].strip(), end
            if any(c in value for c in ' \t"'):
                raise SMTPAuthError(f"malformed {what}: bad token value")
        result.setdefault(name, []).append(value)


def _read_quoted(text: str, i: int, what: str) -> tuple[str, int]:
    out = []
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n:
            out.append(text[i + 1])
            i += 2
        elif c == '"':
            return "".join(out), i + 1
        else:
            out.append(c)
            i += 1
    raise SMTPAuthError(f"malformed {what}: unterminated quoted string")


def single(directives: dict[str, list[str]], name: str, what: str) -> str | None:
    """The value of a directive that may appear at most once (RFC 2831 says a repeat is an error)."""
    values = directives.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise SMTPAuthError(f"the {what} repeats the {name!r} directive")
    return values[0]


def quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
