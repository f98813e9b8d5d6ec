"""Header folding (RFC 5322 section 2.2.3) with RFC 2047 encoded words for non-ASCII text.

``fold_header(name, value, max_len=80, charset="utf-8")`` returns the whole ``Name: value``
field, folded with CRLF + white space, without a trailing CRLF. Decisions, so that the pure and
compiled twins agree and a reader gets the value back:

* White space is only SP and HTAB. Folding inserts CRLF *before* existing white space and never
  adds or removes any, so unfolding (removing CRLF) gives the line back. Leading white space of
  the value is dropped: readers ignore it after the colon anyway.
* Unstructured headers fold at any white space. Address-list headers (``is_address_header``)
  fold between addresses (at the white space after a top-level comma) and only fall back to
  white space inside an address when the address alone is longer than a line.
* A word that cannot be folded (ASCII, longer than ``max_len``) is left whole; RFC 5322 allows
  lines up to 998 characters. A line longer than 998 raises ``SMTPInputError``.
* Text needing encoding: a white-space-delimited word with non-ASCII characters, or with "=?"
  (which a reader would otherwise take for an encoded word). Consecutive such words form one
  run, white space included, so readers (which drop white space between encoded words) get it
  back. Each run is written as B or Q, whichever is shorter for the run (Q on a tie), in words
  of at most 75 characters that never split a character. Q uses the RFC 2047 section 5(3) safe
  set (letters, digits, ``!*+-/``) so the same words are valid in phrases.
* In address lists only a display name (the text before ``<``) is encoded, and as a whole:
  an encoded word stands for a phrase word (RFC 2047 section 5(3)), so quoted strings are
  unquoted first (``"Müller, Hans"`` becomes one encoded word for ``Müller, Hans``); a reader
  that parses the list gets that name back. Unquoted names also survive a flat decode
  (decode_header) unchanged. The ``<addr-spec>``, anything after it, and elements without
  ``<...>`` (bare addresses, group syntax) are never encoded: non-ASCII there is left raw
  (SMTPUTF8).
* ``charset`` other than UTF-8 is used as given (its MIME name in the encoded word); characters
  it cannot represent, unknown or non-ASCII-compatible charsets raise ``SMTPInputError``.
* Rejected with ``SMTPInputError`` (a ``ValueError``): CR or LF in the value, also when hidden
  in text shaped like an encoded word that decodes to CR or LF; other C0 controls except HTAB,
  and DEL; field names that are not printable ASCII without ":"; max_len outside 1..998, or
  too small for one encoded character.
* Lengths are counted in characters of the returned string.
"""
from __future__ import annotations

import base64
import binascii
import codecs
import email.charset
import re
from functools import lru_cache

from smtpx.errors import SMTPInputError

MAX_ENCODED_WORD = 75  # RFC 2047 section 2
MAX_LINE = 998  # RFC 5322 section 2.1.1

# Headers whose value is an address list (RFC 5322 3.6.2/3.6.3/3.6.6, RFC 3798, and common
# non-standard ones). Any "Resent-*" header except the date and message id is one too.
ADDRESS_HEADERS = frozenset(
    {
        "from",
        "sender",
        "reply-to",
        "to",
        "cc",
        "bcc",
        "return-receipt-to",
        "disposition-notification-to",
        "errors-to",
        "mail-followup-to",
        "mail-reply-to",
        "apparently-to",
    }
)
_RESENT_NOT_ADDRESSES = frozenset({"resent-date", "resent-message-id"})

_BAD_VALUE_CHAR = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_WSP_SPLIT = re.compile(r"([ \t]+)")
# What readers take for an encoded word (the shape email.header.decode_header looks for).
_ENCODED_WORD = re.compile(r"=\?([^?]*?)\?([qQbB])\?(.*?)\?=")
_TOKEN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789!#$%&'+-^_`{}~")
_ASCII_PROBE = "=?azAZ09!*+-/_ \t<>,\"()"

# Q encoding table: byte -> text. Safe bytes stay, space is "_", the rest is =XX.
_Q_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")
_Q_TABLE = [chr(b) if b in _Q_SAFE else "_" if b == 0x20 else f"={b:02X}" for b in range(256)]
_Q_COST = [len(t) for t in _Q_TABLE]


def is_address_header(name: str) -> bool:
    """True when ``name``'s value is an address list (folded between addresses)."""
    lower = name.lower()
    if lower in ADDRESS_HEADERS:
        return True
    return lower.startswith("resent-") and lower not in _RESENT_NOT_ADDRESSES


def check_name(name: object) -> str:
    if not isinstance(name, str) or not name:
        raise SMTPInputError("header name must be a non-empty string")
    for ch in name:
        if not ("!" <= ch <= "~") or ch == ":":
            raise SMTPInputError(f"header name {name[:100]!r} must be printable ASCII without ':'")
    return name


def check_value(value: object) -> str:
    if not isinstance(value, str):
        raise SMTPInputError("header value must be a string")
    bad = _BAD_VALUE_CHAR.search(value)
    if bad is not None:
        if bad.group() in "\r\n":
            raise SMTPInputError("header value contains CR or LF")
        raise SMTPInputError(f"header value contains control character {bad.group()!r}")
    return value


def check_hidden_line_breaks(value: str) -> None:
    """Refuse text shaped like an encoded word that a reader would decode to CR or LF
    (header injection through the decoder). Other encoded-word lookalikes are harmless:
    fold_header encodes them, so readers show them literally."""
    if "=?" not in value:
        return
    for match in _ENCODED_WORD.finditer(value):
        payload = match.group(3).encode("ascii", "replace")
        try:
            if match.group(2) in "qQ":
                raw = binascii.a2b_qp(payload, header=True)
            else:
                raw = base64.b64decode(payload + b"===")
        except (binascii.Error, ValueError):
            continue
        if b"\r" in raw or b"\n" in raw:
            raise SMTPInputError("header value hides CR or LF in an encoded word")


def check_max_len(max_len: object) -> int:
    if not isinstance(max_len, int) or isinstance(max_len, bool) or not 1 <= max_len <= MAX_LINE:
        raise SMTPInputError(f"max_len must be an int from 1 to {MAX_LINE}")
    return max_len


def resolve_charset(charset: str) -> tuple[str, str]:
    """(MIME name for encoded words, Python codec name) of ``charset``."""
    if not isinstance(charset, str) or not charset:
        raise SMTPInputError("charset must be a non-empty string")
    return _resolve_charset(charset)


@lru_cache(maxsize=64)
def _resolve_charset(charset: str) -> tuple[str, str]:
    try:
        codec = codecs.lookup(charset).name
    except LookupError:
        raise SMTPInputError(f"unknown charset {charset!r}") from None
    mime = "utf-8" if codec == "utf-8" else email.charset.Charset(charset).input_charset.lower()
    if not mime or not set(mime) <= _TOKEN_CHARS:
        raise SMTPInputError(f"charset name {charset!r} cannot be used in an encoded word")
    try:
        compatible = _ASCII_PROBE.encode(codec) == _ASCII_PROBE.encode("ascii")
    except (UnicodeError, LookupError):
        compatible = False
    if not compatible:
        raise SMTPInputError(f"charset {charset!r} is not ASCII-compatible")
    return mime, codec


def needs_encoding(word: str) -> bool:
    return not word.isascii() or "=?" in word


# --- items: ("p", sep, text) plain text, ("r", sep, text) a run to encode, ("a", sep, text) a
# display name to encode (kept in one encoded word when it fits one) ---------------------


def _plain_items(text: str, first_sep: str) -> list[tuple[str, str, str]]:
    """Plain items of ``text`` (which starts with a non-space, or is empty)."""
    parts = _WSP_SPLIT.split(text)
    items = [("p", first_sep, parts[0])] if parts[0] or first_sep else []
    for i in range(1, len(parts), 2):
        items.append(("p", parts[i], parts[i + 1]))
    return items


def _unstructured_items(value: str) -> list[tuple[str, str, str]]:
    parts = _WSP_SPLIT.split(value)
    items: list[tuple[str, str, str]] = []
    run_sep = run_text = None
    seps = [" "] + parts[1::2]
    for sep, word in zip(seps, parts[0::2]):
        if word and needs_encoding(word):
            if run_text is None:
                run_sep, run_text = sep, word
            else:
                run_text += sep + word
            continue
        if run_text is not None:
            items.append(("r", run_sep, run_text))  # type: ignore[arg-type]
            run_text = None
        if word or sep != " " or items:
            items.append(("p", sep, word))
    if run_text is not None:
        items.append(("r", run_sep, run_text))  # type: ignore[arg-type]
    return items


def split_addresses(value: str) -> list[tuple[int, int, int]]:
    """(start, end, angle) per top-level element; the comma ends (and belongs to) an element;
    angle is the index of the element's first top-level "<", or -1."""
    elements = []
    start = 0
    angle = -1
    in_quote = in_angle = escape = False
    depth = 0
    for i, ch in enumerate(value):
        if escape:
            escape = False
        elif in_quote:
            if ch == "\\":
                escape = True
            elif ch == '"':
                in_quote = False
        elif depth:
            if ch == "\\":
                escape = True
            elif ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
        elif in_angle:
            if ch == ">":
                in_angle = False
        elif ch == '"':
            in_quote = True
        elif ch == "(":
            depth = 1
        elif ch == "<":
            in_angle = True
            if angle < 0:
                angle = i
        elif ch == ",":
            elements.append((start, i + 1, angle))
            start = i + 1
            angle = -1
    if start < len(value):
        elements.append((start, len(value), angle))
    return elements


def phrase_text(phrase: str) -> str:
    """The text a phrase stands for: quoted strings unquoted, backslash escapes resolved."""
    if '"' not in phrase:
        return phrase
    out = []
    quoted = escape = False
    for ch in phrase:
        if escape:
            out.append(ch)
            escape = False
        elif quoted and ch == "\\":
            escape = True
        elif ch == '"':
            quoted = not quoted
        else:
            out.append(ch)
    return "".join(out)


def _address_elements(value: str) -> list[list[tuple[str, str, str]]]:
    elements = []
    for n, (start, end, angle) in enumerate(split_addresses(value)):
        body_start = start
        while body_start < end and value[body_start] in " \t":
            body_start += 1
        sep = " " if n == 0 else value[start:body_start]
        if angle >= 0:
            phrase = value[body_start:angle]
            core = phrase.rstrip(" \t")
            if core and needs_encoding(core):
                items = [("a", sep, phrase_text(core))]
                items += _plain_items(value[angle:end], phrase[len(core):])
                elements.append(items)
                continue
        elements.append(_plain_items(value[body_start:end], sep))
    return elements


# --- encoding runs --------------------------------------------------------------------------


class _Run:
    """One run of text to encode, cut into encoded words on demand."""

    def __init__(self, text: str, mime: str, codec: str) -> None:
        try:
            raw = text.encode(codec)
        except UnicodeEncodeError as exc:
            raise SMTPInputError(
                f"header value has characters charset {mime!r} cannot encode: {exc.object[exc.start:exc.end]!r}"
            ) from None
        qlen = sum(_Q_COST[b] for b in raw)
        blen = (len(raw) + 2) // 3 * 4
        self.q = qlen <= blen
        self.whole = min(qlen, blen)  # payload length as one word
        self.prefix = f"=?{mime}?{'q' if self.q else 'b'}?"
        self.overhead = len(self.prefix) + 2
        self.whole += self.overhead
        self.utf8 = codec == "utf-8"
        self.codec = codec
        self.text = text
        self.raw = raw
        self.pos = 0  # index into raw (UTF-8) or text (other charsets)
        self.end = len(raw) if self.utf8 else len(text)

    def done(self) -> bool:
        return self.pos >= self.end

    def take(self, cap: int) -> str | None:
        """The next encoded word of at most ``cap`` characters, or None if not even one
        character fits."""
        room = cap - self.overhead
        if room <= 0:
            return None
        if self.utf8:
            return self._take_utf8(room)
        return self._take_generic(room)

    def _take_utf8(self, room: int) -> str | None:
        raw = self.raw
        end = self.end
        i = self.pos
        if self.q:
            used = 0
            while i < end:
                j = i + 1
                cost = _Q_COST[raw[i]]
                while j < end and raw[j] & 0xC0 == 0x80:
                    cost += _Q_COST[raw[j]]
                    j += 1
                if used + cost > room:
                    break
                used += cost
                i = j
        else:
            limit = room // 4 * 3  # bytes that fit
            while i < end:
                j = i + 1
                while j < end and raw[j] & 0xC0 == 0x80:
                    j += 1
                if j - self.pos > limit:
                    break
                i = j
        if i == self.pos:
            return None
        return self._word(raw[self.pos : i], i)

    def _take_generic(self, room: int) -> str | None:
        # Encode growing prefixes: stateful charsets (ISO-2022-*) need each word to stand alone.
        text = self.text
        best = None
        j = self.pos + 1
        while j <= self.end:
            chunk = text[self.pos : j].encode(self.codec)
            size = sum(_Q_COST[b] for b in chunk) if self.q else (len(chunk) + 2) // 3 * 4
            if size > room:
                break
            best = (chunk, j)
            j += 1
        if best is None:
            return None
        return self._word(best[0], best[1])

    def _word(self, chunk: bytes, new_pos: int) -> str:
        self.pos = new_pos
        if self.q:
            payload = "".join([_Q_TABLE[b] for b in chunk])
        else:
            payload = base64.b64encode(chunk).decode("ascii")
        return f"{self.prefix}{payload}?="


# --- layout -----------------------------------------------------------------------------------


class _Layout:
    def __init__(self, name: str, max_len: int, mime: str, codec: str) -> None:
        self.parts = [name, ":"]
        self.line_len = len(name) + 1
        self.longest = 0
        self.max_len = max_len
        self.mime = mime
        self.codec = codec
        self.first = True  # nothing placed after "Name:" yet

    def newline(self) -> None:
        self.longest = max(self.longest, self.line_len)
        self.parts.append("\r\n")
        self.line_len = 0

    def place(self, kind: str, sep: str, text: str) -> None:
        if kind == "p":
            if (
                text
                and sep
                and not self.first
                and self.line_len + len(sep) + len(text) > self.max_len
            ):
                self.newline()
            self.parts.append(sep)
            self.parts.append(text)
            self.line_len += len(sep) + len(text)
        else:
            self._place_run(sep, text, kind == "a")
        self.first = False

    def _place_run(self, sep: str, text: str, keep_whole: bool) -> None:
        run = _Run(text, self.mime, self.codec)
        if keep_whole:
            # A display name that fits one encoded word stays one word (moved to a new line
            # rather than split): some readers put spaces between the words of a phrase.
            fresh = min(MAX_ENCODED_WORD, self.max_len - len(sep))
            if min(MAX_ENCODED_WORD, self.max_len - self.line_len - len(sep)) < run.whole <= fresh:
                self.newline()
        while not run.done():
            cap = min(MAX_ENCODED_WORD, self.max_len - self.line_len - len(sep))
            word = run.take(cap)
            if word is None:
                self.newline()
                cap = min(MAX_ENCODED_WORD, self.max_len - len(sep))
                word = run.take(cap)
                if word is None:
                    raise SMTPInputError(f"max_len {self.max_len} is too small for an encoded word")
            self.parts.append(sep)
            self.parts.append(word)
            self.line_len += len(sep) + len(word)
            sep = " "

    def place_element(self, items: list[tuple[str, str, str]]) -> None:
        """An address: kept on one line when it fits there, else moved to a new line as a whole
        (folding inside it only when it is longer than a line by itself)."""
        if not self.first and items and items[0][1] and self.line_len > 0:
            if self._would_fold(items):
                self.newline()
        for item in items:
            self.place(*item)

    def _would_fold(self, items: list[tuple[str, str, str]]) -> bool:
        if items[0][0] == "p":  # plain text only: a little arithmetic
            line_len = self.line_len
            max_len = self.max_len
            for _, sep, text in items:
                width = len(sep) + len(text)
                if text and sep and line_len + width > max_len:
                    return True
                line_len += width
            return False
        trial = _Layout.__new__(_Layout)  # a display name to encode: lay it out on a copy
        trial.__dict__.update(self.__dict__)
        trial.parts = []
        for item in items:
            trial.place(*item)
        return "\r\n" in trial.parts

    def result(self) -> str:
        self.longest = max(self.longest, self.line_len)
        if self.longest > MAX_LINE:
            raise SMTPInputError(f"header line would be longer than {MAX_LINE} characters")
        return "".join(self.parts)


def fold_header(name: str, value: str, max_len: int = 80, charset: str = "utf-8") -> str:
    """``Name: value`` folded to ``max_len`` with CRLF + white space, no trailing CRLF."""
    check_name(name)
    check_value(value)
    check_hidden_line_breaks(value)
    check_max_len(max_len)
    mime, codec = resolve_charset(charset)
    value = value.lstrip(" \t")
    layout = _Layout(name, max_len, mime, codec)
    if is_address_header(name):
        for items in _address_elements(value):
            layout.place_element(items)
    else:
        for item in _unstructured_items(value):
            layout.place(*item)
    return layout.result()
