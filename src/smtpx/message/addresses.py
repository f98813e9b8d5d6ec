"""Strict RFC 5322 address parsing and formatting (with RFC 6532 UTF-8 allowed).

What is accepted, per comma-separated slot:

- ``addr-spec``: ``local@domain``. The local part is a dot-atom (no leading, trailing or double
  dot) or a quoted string (``"a@b"@example.com`` is valid and kept quoted). The domain is a
  dot-atom or a domain literal (``[192.0.2.1]``).
- ``name-addr``: ``Display Name <local@domain>``; the display name is a phrase of atoms and
  quoted strings (dots allowed in atoms, as the obsolete syntax does for ``John Q. Public``).
- Comments ``(...)``, nested and with escapes, are allowed wherever white space is; they are
  dropped (they never reach the envelope or the rebuilt header).
- Empty slots (``a@x, , b@y`` or a trailing comma) are skipped, as RFC 5322's obsolete list
  syntax allows.
- Non-ASCII characters are allowed in display names (RFC 2047-encoded later, when the header is
  written) and in addresses (which then need SMTPUTF8).

Refused with :class:`smtpx.errors.SMTPInputError` (nothing is ever sent for a refused address):
groups (``Team: a@x, b@y;``), source routes (``<@relay:a@x>``), more than one ``@``
(``a@b@c``), unbalanced quotes, comments, angle or square brackets, CR, LF, NUL and every other
control character (tab excepted, it is white space), DEL, a missing ``@``, and more than one
address where one is expected (``<a@x>,<b@y>`` in a single-address slot), and addresses
over RFC 5321's limits (local part 64 octets, domain 255, address 254, label 63), domain labels
starting or ending with '-', and address literals that are not IPv4, IPv6 or tag:content.
"""
from __future__ import annotations

import re
from typing import NamedTuple

from smtpx.errors import SMTPInputError
from smtpx.kernels import is_plain_address
from smtpx.validators import check_no_controls

__all__ = [
    "Mailbox",
    "parse_address_list",
    "parse_mailbox",
    "plain_addr_spec",
    "parse_reverse_path",
    "format_mailbox",
    "format_address_list",
    "format_display_name",
    "display_name_is_encoded",
]


class Mailbox(NamedTuple):
    """One parsed address: ``name`` (display name, unquoted; "" for none) and ``addr_spec``
    (``local@domain`` as it goes into MAIL FROM / RCPT TO, quoted local part kept quoted)."""

    name: str
    addr_spec: str


_ATEXT_ASCII = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~")
_WSP = " \t"
# The common shapes, checked in one regex match before the full parser.
_SIMPLE_ADDR = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
                          r"@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\Z")
_DOT_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_ADDR = _DOT_ATOM + r"@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
# One element of the common shapes: addr, Name <addr>, "Name" <addr> (ASCII, no escapes,
# no comments). Anything else goes to the full parser, which gives the same result.
_SIMPLE_ELEMENT = re.compile(
    r'[ \t]*(?:(?:"(?P<q>[^"\\\x00-\x1f\x7f]*)"'
    r"|(?P<p>[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+(?:[ \t]+[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+)*))?"
    r"[ \t]*<(?P<a>" + _ADDR + r")>|(?P<b>" + _ADDR + r"))[ \t]*\Z"
)
_NEEDS_FULL_PARSER = re.compile(r'["(\\:;\[]')
_PHRASE_SAFE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]+\Z")


def _is_atext(ch: str) -> bool:
    return ch in _ATEXT_ASCII or ch >= "\x80"


class _Parser:
    """A one-pass cursor over one address field."""

    __slots__ = ("text", "pos", "n", "what")

    def __init__(self, text: str, what: str) -> None:
        self.text = text
        self.pos = 0
        self.n = len(text)
        self.what = what

    def fail(self, why: str) -> SMTPInputError:
        return SMTPInputError(f"{self.what}: {why} in {self.text!r}")

    # -- lexical pieces ------------------------------------------------------------------
    def skip_cfws(self) -> None:
        text, n = self.text, self.n
        while self.pos < n:
            ch = text[self.pos]
            if ch in _WSP:
                self.pos += 1
            elif ch == "(":
                self.comment()
            else:
                return

    def comment(self) -> None:
        text, n = self.text, self.n
        depth = 0
        while self.pos < n:
            ch = text[self.pos]
            if ch == "\\":
                if self.pos + 1 >= n:
                    break
                self.pos += 2
                continue
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
                if depth == 0:
                    self.pos += 1
                    return
            self.pos += 1
        raise self.fail("unbalanced parenthesis (an unclosed comment)")

    def quoted_string(self) -> tuple[str, str]:
        """At a '"': returns (raw text with quotes, decoded content)."""
        text, n = self.text, self.n
        start = self.pos
        self.pos += 1
        out: list[str] = []
        while self.pos < n:
            ch = text[self.pos]
            if ch == "\\":
                if self.pos + 1 >= n:
                    break
                out.append(text[self.pos + 1])
                self.pos += 2
                continue
            if ch == '"':
                self.pos += 1
                return text[start:self.pos], "".join(out)
            out.append(ch)
            self.pos += 1
        raise self.fail("unbalanced quote")

    def atom_run(self) -> str:
        """Atoms with dots between them (dot-atom or obs-phrase word)."""
        text, n = self.text, self.n
        start = self.pos
        while self.pos < n and (_is_atext(text[self.pos]) or text[self.pos] == "."):
            self.pos += 1
        return text[start:self.pos]

    def domain(self) -> str:
        self.skip_cfws()
        if self.pos < self.n and self.text[self.pos] == "[":
            end = self.text.find("]", self.pos)
            if end < 0:
                raise self.fail("unbalanced square bracket in a domain literal")
            literal = self.text[self.pos:end + 1]
            if any(c in "[\\" for c in literal[1:-1]):
                raise self.fail("bad character in a domain literal")
            self.pos = end + 1
            return literal
        dom = self.atom_run()
        if not dom:
            raise self.fail("missing domain after '@'")
        self._check_dot_atom(dom, "domain")
        return dom

    def _check_dot_atom(self, s: str, part: str) -> None:
        if s.startswith(".") or s.endswith(".") or ".." in s:
            raise self.fail(f"bad dots in the {part} {s!r}")

    # -- grammar -----------------------------------------------------------------------------
    def addr_spec_after_local(self, local_raw: str) -> str:
        """Cursor on '@' after the local part; returns local@domain."""
        self.pos += 1
        dom = self.domain()
        self.skip_cfws()
        if self.pos < self.n and self.text[self.pos] == "@":
            raise self.fail("more than one '@' in an address")
        return f"{local_raw}@{dom}"

    def angle_addr(self) -> str:
        """Cursor on '<'."""
        self.pos += 1
        self.skip_cfws()
        if self.pos < self.n and self.text[self.pos] == "@":
            raise self.fail("source routes (<@relay:...>) are not supported")
        if self.pos < self.n and self.text[self.pos] == ">":
            raise self.fail("empty address '<>'")
        local_raw = self.local_part()
        if self.pos >= self.n or self.text[self.pos] != "@":
            if self.pos < self.n and self.text[self.pos] != ">":
                raise self.fail(f"unexpected {self.text[self.pos]!r} in an address")
            raise self.fail("missing '@' in an address")
        addr = self.addr_spec_after_local(local_raw)
        if self.pos >= self.n or self.text[self.pos] != ">":
            if self.pos >= self.n:
                raise self.fail("unbalanced angle bracket ('<' without '>')")
            raise self.fail(f"unexpected {self.text[self.pos]!r} in an address")
        self.pos += 1
        return addr

    def local_part(self) -> str:
        self.skip_cfws()
        if self.pos < self.n and self.text[self.pos] == '"':
            raw, _ = self.quoted_string()
        else:
            raw = self.atom_run()
            if not raw:
                ch = self.text[self.pos] if self.pos < self.n else "end of text"
                raise self.fail(f"unexpected {ch!r} where an address was expected")
            self._check_dot_atom(raw, "local part")
        self.skip_cfws()
        return raw

    def mailbox(self) -> Mailbox:
        text, n = self.text, self.n
        words: list[tuple[str, str, bool]] = []  # (raw, decoded, quoted)
        start = self.pos
        while True:
            self.skip_cfws()
            if self.pos >= n:
                break
            ch = text[self.pos]
            if ch == '"':
                raw, decoded = self.quoted_string()
                words.append((raw, decoded, True))
            elif _is_atext(ch) or ch == ".":
                run = self.atom_run()
                words.append((run, run, False))
            else:
                break
        ch = text[self.pos] if self.pos < n else ""
        if ch == "<":
            name = " ".join(d for _, d, _ in words)
            addr = self.angle_addr()
            self.skip_cfws()
            return Mailbox(name, addr)
        if ch == "@":
            if not words:
                raise self.fail("missing local part before '@'")
            if len(words) > 1:
                raise self.fail("white space inside an address (use \"Name\" <address> for a display name)")
            raw, _, quoted = words[0]
            if not quoted:
                self._check_dot_atom(raw, "local part")
            return Mailbox("", self.addr_spec_after_local(raw))
        if ch == ":":
            raise self.fail("group syntax (name: addresses;) is not supported")
        if ch == ">":
            raise self.fail("unbalanced angle bracket ('>' without '<')")
        if ch in ("", ","):
            if words:
                raise self.fail(f"missing '@' in {text[start:self.pos].strip()!r}")
            raise self.fail("empty address")
        raise self.fail(f"unexpected {ch!r}")

    def address_list(self) -> list[Mailbox]:
        out: list[Mailbox] = []
        n = self.n
        while True:
            self.skip_cfws()
            if self.pos >= n:
                return out
            if self.text[self.pos] == ",":  # empty slot (obs-addr-list)
                self.pos += 1
                continue
            out.append(self.mailbox())
            self.skip_cfws()
            if self.pos < n:
                ch = self.text[self.pos]
                if ch != ",":
                    if ch == "@":
                        raise self.fail("more than one '@' in an address")
                    if ch == ">":
                        raise self.fail("unbalanced angle bracket ('>' without '<')")
                    raise self.fail(f"unexpected {ch!r} after an address (separate addresses with commas)")
                self.pos += 1


# RFC 5321 4.5.3.1: local part <= 64 octets, domain <= 255, a path ("<" addr ">") <= 256;
# RFC 1035 2.3.4: a label <= 63. Longer ones would be refused by the server after they went
# out (or make a command line longer than 512 octets), so they are refused here instead.
_MAX_LOCAL, _MAX_DOMAIN, _MAX_ADDR, _MAX_LABEL = 64, 255, 254, 63


def _check_limits(addr: str, what: str) -> None:
    """Length limits, label shape and address-literal syntax of one parsed ``local@domain``."""
    local, _, domain = addr.rpartition("@")
    if len(addr) <= _MAX_LOCAL and addr.isascii() and "-" not in domain and not domain.startswith("["):
        return  # (the usual address: within every length limit, no label can start or end with '-')
    size = len(addr) if addr.isascii() else len(addr.encode("utf-8"))
    if size > _MAX_ADDR:
        raise SMTPInputError(f"{what}: address longer than {_MAX_ADDR} octets (RFC 5321 4.5.3.1.3): {addr[:60]!r}...")
    if len(local.encode("utf-8")) > _MAX_LOCAL:
        raise SMTPInputError(f"{what}: local part longer than {_MAX_LOCAL} octets (RFC 5321 4.5.3.1.1) in {addr!r}")
    if domain.startswith("["):
        _check_address_literal(domain, addr, what)
        return
    if len(domain.encode("utf-8")) > _MAX_DOMAIN:
        raise SMTPInputError(f"{what}: domain longer than {_MAX_DOMAIN} octets in {addr!r}")
    if domain.startswith("-") or domain.endswith("-") or "-." in domain or ".-" in domain:
        raise SMTPInputError(f"{what}: a domain label may not start or end with '-' in {addr!r}")
    if len(domain) > _MAX_LABEL and any(len(label) > _MAX_LABEL for label in domain.split(".") if label.isascii()):
        raise SMTPInputError(f"{what}: a domain label is longer than {_MAX_LABEL} characters in {addr!r}")


def _check_address_literal(literal: str, addr: str, what: str) -> None:
    """RFC 5321 4.1.3: [IPv4], [IPv6:...] or [tag:content]."""
    import ipaddress

    inner = literal[1:-1]
    tag, colon, rest = inner.partition(":")
    try:
        if not colon:
            ipaddress.IPv4Address(inner)
        elif tag.lower() == "ipv6":
            ipaddress.IPv6Address(rest)
        elif not (re.fullmatch(r"[A-Za-z0-9-]*[A-Za-z0-9]", tag) and rest and all(33 <= ord(c) <= 126 for c in rest)):
            raise ValueError(literal)
    except ValueError:
        raise SMTPInputError(f"{what}: bad address literal {literal!r} in {addr!r}") from None


# Addresses parsed before, by their text: bulk senders repeat them (the sender above all). The
# key is the text alone, not the caller's label for error messages, which may differ on every
# call ("send_batch message 17"); errors are not kept. Cleared when full, which is cheaper
# than an LRU's bookkeeping on every call and safe from several threads.
_PARSED: dict[str, tuple[Mailbox, ...]] = {}
_PARSED_MAX = 4096


def _parse_cached(text: str, what: str) -> tuple[Mailbox, ...]:
    found = _PARSED.get(text)
    if found is None:
        found = _parse(text, what)
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.clear()
        _PARSED[text] = found
    return found


def _parse(text: str, what: str) -> tuple[Mailbox, ...]:
    check_no_controls(text, what, allow_tab=True)  # tab is white space here
    stripped = text.strip(_WSP)
    if is_plain_address(stripped) or _SIMPLE_ADDR.match(stripped):  # (the first: one C pass)
        result: tuple[Mailbox, ...] = (Mailbox("", stripped),)
    elif stripped[:1] == "<" and stripped[-1:] == ">" and is_plain_address(stripped[1:-1]):
        result = (Mailbox("", stripped[1:-1]),)  # "<addr>", a mail merge's usual recipient
    else:
        fast = _fast_parse(text)
        result = fast if fast is not None else tuple(_Parser(text, what).address_list())
    for mailbox in result:
        _check_limits(mailbox.addr_spec, what)
    return result


def _simple_mailbox(piece: str) -> Mailbox | None:
    m = _SIMPLE_ELEMENT.match(piece)
    if m is None:
        return None
    q, p, a, b = m.group("q", "p", "a", "b")
    if b is not None:
        return Mailbox("", b)
    if q is not None:
        return Mailbox(q, a)
    return Mailbox(" ".join(p.split()) if p else "", a)


def _fast_parse(text: str) -> tuple[Mailbox, ...] | None:
    """The common shapes without the full parser; None when it must decide."""
    if _NEEDS_FULL_PARSER.search(text) is None:
        out = []
        for piece in text.split(","):
            if not piece.strip(_WSP):
                continue
            mb = _simple_mailbox(piece)
            if mb is None:
                return None
            out.append(mb)
        return tuple(out) if out else None
    if text.count('"') == 2 and "\\" not in text and "(" not in text:
        mb = _simple_mailbox(text)
        if mb is not None:
            return (mb,)
    return None


def parse_address_list(text: str, what: str = "address") -> list[Mailbox]:
    """Parse a comma-separated address field. ``what`` names the field in error messages."""
    if not isinstance(text, str):
        raise SMTPInputError(f"{what}: expected a str, not {type(text).__name__}")
    return list(_parse_cached(text, what))


def plain_addr_spec(text: object) -> str | None:
    """``text`` itself when it is the usual address (smtpx.kernels.is_plain_address, no white
    space around it) short enough that no length limit can apply: what
    ``parse_mailbox(text).addr_spec`` gives, in one step and without the parse cache (a
    mailing's recipients are each new, so the cache would only fill and empty). None for any
    other text, which goes the full way."""
    if type(text) is str and len(text) <= _MAX_LOCAL and is_plain_address(text):
        return text
    return None


def parse_mailbox(text: str, what: str = "address") -> Mailbox:
    """Parse a field that holds exactly one address (From, ReplyTo, ReturnPath...)."""
    if not isinstance(text, str):
        raise SMTPInputError(f"{what}: expected a str, not {type(text).__name__}")
    found = _parse_cached(text, what)
    if len(found) != 1:
        raise SMTPInputError(f"{what}: expected exactly one address, found {len(found)} in {text!r}")
    return found[0]


def parse_reverse_path(text: str, what: str = "ReturnPath") -> str:
    """The MAIL FROM address for ``text``: one address, or ``<>`` (the null reverse path, for
    bounces) which gives ""."""
    if text.strip(_WSP) == "<>":
        return ""
    return parse_mailbox(text, what).addr_spec


def _encoded_words(text: str, charset: str) -> str:
    """``text`` as RFC 2047 B-encoded words of at most 75 characters, never splitting a
    character (used for a non-ASCII display name that would need quoting)."""
    import base64

    prefix = f"=?{charset}?b?"
    room = (75 - len(prefix) - 2) // 4 * 3  # raw octets per word
    words: list[str] = []
    chunk = b""
    codec = "utf-8" if charset == "utf-8" else charset
    for ch in text:
        raw = ch.encode(codec)
        if len(chunk) + len(raw) > room:
            words.append(prefix + base64.b64encode(chunk).decode("ascii") + "?=")
            chunk = b""
        chunk += raw
    if chunk:
        words.append(prefix + base64.b64encode(chunk).decode("ascii") + "?=")
    return " ".join(words)


def display_name_is_encoded(name: str) -> bool:
    """True when format_display_name writes ``name`` as encoded words itself (non-ASCII that
    would need quoting); such a header must be folded without encoding it again."""
    return bool(name) and not name.isascii() and not (all(_is_atext(c) or c == " " for c in name) and "=?" not in name)


def format_display_name(name: str, charset: str = "utf-8") -> str:
    """A display name as written in a header:

    - a plain ASCII phrase: as is; ASCII with specials: a quoted string;
    - non-ASCII words only: as is, for the folding kernel to RFC 2047-encode;
    - non-ASCII that would need quoting (a comma, a quote...): B-encoded words here, since an
      encoded word is not allowed inside a quoted string (RFC 2047 section 5).
    """
    if not name:
        return ""
    if _PHRASE_SAFE.match(name) and not name.startswith(" ") and not name.endswith(" ") and "  " not in name:
        return name
    if name.isascii():
        return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if all(_is_atext(c) or c == " " for c in name) and "=?" not in name:
        return name  # non-ASCII words only: left for RFC 2047 encoding by the folding kernel
    try:
        return _encoded_words(name, charset or "utf-8")
    except UnicodeEncodeError:
        raise SMTPInputError(f"display name {name!r} has characters the charset {charset!r} cannot encode") from None


def format_mailbox(mailbox: Mailbox, charset: str = "utf-8") -> str:
    """``Name <addr>`` (name quoted or encoded when needed) or the bare address."""
    name, addr = mailbox
    if not name:
        return addr
    return f"{format_display_name(name, charset)} <{addr}>"


def format_address_list(mailboxes: list[Mailbox] | tuple[Mailbox, ...], charset: str = "utf-8") -> str:
    return ", ".join([format_mailbox(m, charset) for m in mailboxes])
