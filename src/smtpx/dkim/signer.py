"""DKIMSigner: the DKIM-Signature header field for a message (RFC 6376, RFC 8463).

Everything that can be wrong with the configuration (key, domain, selector, header list,
canonicalization, expiry) is checked when the signer is made, so a bad signer never reaches
a send. ``sign()`` keeps no state: one signer serves any number of threads.

The message is read with the wire's line ends (every CRLF, bare CR and bare LF counts as one
CRLF, as smtpx sends it) so the signature holds for the bytes the receiver gets; dot-stuffing
is undone by the receiver before verifying, so it does not matter.
"""
from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Iterable
from datetime import timedelta

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from smtpx import kernels
from smtpx.dkim.keys import KeySource, algorithm_of, dns_record, load_signing_key
from smtpx.errors import SMTPInputError

# Signed when present (every instance). Covers what a reader sees and what changes meaning
# (MIME structure, threading, list headers: RFC 8058 wants List-Unsubscribe-Post signed).
DEFAULT_HEADERS: tuple[str, ...] = (
    "From", "Sender", "Reply-To", "Subject", "Date", "Message-ID", "To", "Cc",
    "MIME-Version", "Content-Type", "Content-Transfer-Encoding", "Content-ID",
    "Content-Description", "In-Reply-To", "References",
    "List-Id", "List-Help", "List-Unsubscribe", "List-Unsubscribe-Post", "List-Subscribe",
    "List-Post", "List-Owner", "List-Archive",
)

_LINE_END = re.compile(rb"\r\n|\n|\r")
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")
# RFC 5322 ftext, less ";" (it would end the h= tag)
_FIELD_NAME = re.compile(r"[\x21-\x39\x3c-\x7e]+\Z")
_MODES = ("simple", "relaxed")
_LINE_WIDTH = 78
_B_ROOM = 12  # columns kept for the first piece of the b= value
_FOLD = "\r\n\t"


def _dns_name(value: object, what: str) -> str:
    """A domain or selector as A-labels, checked against the DNS hostname rules."""
    if not isinstance(value, str) or not value:
        raise SMTPInputError(f"DKIM {what} must be a non-empty string")
    try:
        ascii_name = value if value.isascii() else value.encode("idna").decode("ascii")
    except UnicodeError:
        raise SMTPInputError(f"DKIM {what} {value!r} is not a valid internationalised name") from None
    labels = ascii_name.split(".")
    if len(ascii_name) > 253 or not all(_LABEL.match(label) for label in labels):
        raise SMTPInputError(f"DKIM {what} {value!r} has characters or labels DNS does not allow "
                             "(letters, digits and inner hyphens, labels of 1 to 63, dot-separated)")
    return ascii_name.lower()


def _canonicalization(value: object) -> tuple[bool, bool]:
    """(relaxed headers, relaxed body) from the c= syntax; one word means a simple body."""
    if not isinstance(value, str):
        raise SMTPInputError("DKIM canonicalization must be a string such as 'relaxed/relaxed'")
    header, _, body = value.strip().lower().partition("/")
    body = body or "simple"
    if header not in _MODES or body not in _MODES:
        raise SMTPInputError(f"DKIM canonicalization {value!r}: expected simple or relaxed, "
                             "for headers and body ('relaxed/relaxed', 'simple/simple', ...)")
    return header == "relaxed", body == "relaxed"


def _header_names(headers: Iterable[str] | None) -> tuple[str, ...]:
    if headers is None:
        return DEFAULT_HEADERS
    if isinstance(headers, (str, bytes)):
        raise SMTPInputError("DKIM headers must be a list of header names, not one string")
    names: list[str] = []
    seen: set[str] = set()
    for name in headers:
        if not isinstance(name, str) or not _FIELD_NAME.match(name):
            raise SMTPInputError(f"DKIM headers: {name!r} is not a header field name")
        if name.lower() == "dkim-signature":
            raise SMTPInputError("DKIM headers: DKIM-Signature is not signed by a DKIM signature")
        if name.lower() not in seen:
            seen.add(name.lower())
            names.append(name)
    if "from" not in seen:
        raise SMTPInputError("DKIM headers must include From (RFC 6376 section 5.4)")
    return tuple(names)


def _expiry(expire: object) -> int | None:
    if expire is None:
        return None
    if isinstance(expire, timedelta):
        seconds = expire.total_seconds()
    elif isinstance(expire, (int, float)) and not isinstance(expire, bool):
        seconds = float(expire)
    else:
        raise SMTPInputError("DKIM expire must be seconds (int) or a timedelta")
    if not seconds >= 1:
        raise SMTPInputError("DKIM expire must be at least one second after signing")
    return int(seconds)


def header_block_end(data: bytes | bytearray, position: int = 0) -> tuple[int | None, int]:
    """For a message arriving in pieces: (where the body starts, or None while the empty line
    that ends the header block may still come; where to look again from, ``position`` next
    time). A CR at the very end is not yet a line end: an LF may follow it."""
    size = len(data)
    while True:
        match = _LINE_END.search(data, position)
        if match is None or (match.end() == size and match.end() - match.start() == 1 and data[-1] == 13):
            return None, position
        if match.start() == position:
            return match.end(), position
        position = match.end()


def split_header_block(message: bytes) -> tuple[list[bytes], int]:
    """The header fields (continuation lines joined with CRLF, no final line end) and where
    the body starts (after the empty line; the end when there is none)."""
    fields: list[bytes] = []
    position, size = 0, len(message)
    while position < size:
        match = _LINE_END.search(message, position)
        end, after = (match.start(), match.end()) if match else (size, size)
        line = message[position:end]
        if not line:
            return fields, after
        if fields and line[:1] in (b" ", b"\t"):
            fields[-1] += b"\r\n" + line
        else:
            fields.append(line)
        position = after
    return fields, size


def _field_name(field: bytes) -> str:
    # White space before the colon (obsolete syntax, "To : x") stays part of the name, so such
    # a field is not signed: verifiers disagree on whether "To " is To (dkimpy says no).
    return field.split(b":", 1)[0].lower().decode("latin-1")


def _fold(pieces: list[tuple[str, str]], first: str, reserve: int = 0) -> str:
    """Join (separator, text) pieces, breaking lines before a piece that would pass the
    width; a separator's non-blank part stays at the end of the line, then CRLF TAB. The last
    piece gets ``reserve`` more columns (room for the start of the b= value)."""
    out = [first]
    column = len(first)
    last = len(pieces) - 1
    for index, (separator, text) in enumerate(pieces):
        width = len(text) + (reserve if index == last else 0)
        # one column kept for the ";" or ":" that stays at the end of a line when it breaks
        if column + len(separator) + width > _LINE_WIDTH - 1 and column > 1:
            out.append(separator.rstrip() + _FOLD + text)
            column = 1 + len(text)
        else:
            out.append(separator + text)
            column += len(separator) + len(text)
    return "".join(out)


class BodyHash:
    """bh= over a body fed in pieces of any size (the canonicalization kernel keeps its state
    across them): ``feed(chunk)``..., then ``finish()``, the base64 value."""

    __slots__ = ("_canon", "_digest")

    def __init__(self, relaxed: bool) -> None:
        self._canon = kernels.DKIMBodyCanonicalizer(relaxed)
        self._digest = hashlib.sha256()

    def feed(self, chunk: bytes) -> None:
        self._digest.update(self._canon.feed(chunk))

    def finish(self) -> str:
        self._digest.update(self._canon.finish())
        return base64.b64encode(self._digest.digest()).decode("ascii")


class DKIMSigner:
    """Signs messages for one domain and selector with one key.

    ``sign(message)`` returns the ``DKIM-Signature`` header field (folded, CRLF-terminated)
    to put in front of the message. For several signatures (RSA and Ed25519), use several
    signers on the same message bytes and put all their fields in front.
    """

    def __init__(
        self,
        *,
        domain: str,
        selector: str,
        private_key: KeySource,
        headers: Iterable[str] | None = None,
        canonicalization: str = "relaxed/relaxed",
        oversign_from: bool = False,
        expire: int | timedelta | None = None,
    ) -> None:
        self.domain = _dns_name(domain, "domain")
        self.selector = _dns_name(selector, "selector")
        if len(self.selector) + len("._domainkey.") + len(self.domain) > 253:
            raise SMTPInputError("DKIM selector._domainkey.domain is longer than 253 characters")
        self._key = load_signing_key(private_key)
        self.algorithm = algorithm_of(self._key)
        self._relaxed_headers, self._relaxed_body = _canonicalization(canonicalization)
        self.canonicalization = "/".join(_MODES[int(flag)] for flag in
                                         (self._relaxed_headers, self._relaxed_body))
        self.headers = _header_names(headers)
        self._wanted = {name.lower(): name for name in self.headers}
        self.oversign_from = bool(oversign_from)
        self.expire = _expiry(expire)

    def __repr__(self) -> str:
        return (f"DKIMSigner(domain={self.domain!r}, selector={self.selector!r}, "
                f"algorithm={self.algorithm!r}, canonicalization={self.canonicalization!r})")

    def dns_record(self) -> str:
        """The TXT record to publish at ``<selector>._domainkey.<domain>``."""
        return dns_record(self._key)

    def body_hasher(self) -> BodyHash:
        """bh= for a body given in pieces (this signer's body canonicalization)."""
        return BodyHash(self._relaxed_body)

    def body_hash(self, body: bytes) -> str:
        """bh=: base64 of SHA-256 over the canonical body."""
        hasher = BodyHash(self._relaxed_body)
        hasher.feed(body)
        return hasher.finish()

    def sign(self, message: bytes, *, timestamp: int | None = None) -> bytes:
        """The DKIM-Signature field for ``message`` (the whole message: headers and body).
        ``timestamp`` (seconds since the epoch) is t=, now by default."""
        if not isinstance(message, (bytes, bytearray, memoryview)):
            raise SMTPInputError(f"DKIM sign() takes the message as bytes, not {type(message).__name__}")
        data = bytes(message)
        fields, body_start = split_header_block(data)
        return self.sign_fields(fields, self.body_hash(data[body_start:]), timestamp=timestamp)

    def sign_fields(self, fields: list[bytes], body_hash: str, *, timestamp: int | None = None) -> bytes:
        """The DKIM-Signature field for a message whose header fields are ``fields`` (as
        split_header_block gives them) and whose body has ``body_hash`` (bh=, from
        ``body_hasher()``): signing a message that is read once, in pieces."""
        by_name: dict[str, list[bytes]] = {}
        for field in fields:
            name = _field_name(field)
            if name in self._wanted:
                by_name.setdefault(name, []).append(field)
        if "from" not in by_name:
            raise SMTPInputError("DKIM: the message has no From header field to sign")
        # h=: every instance of each name present (bottom-up, RFC 6376 5.4.2), and From once
        # more when oversigning so that no From can be added.
        signed_names: list[str] = []
        signed_fields: list[bytes] = []
        for lower, name in self._wanted.items():
            instances = by_name.get(lower, ())
            signed_names.extend([name] * len(instances))
            signed_fields.extend(reversed(instances))
        if self.oversign_from:
            signed_names.append(self._wanted["from"])

        t = int(time.time()) if timestamp is None else int(timestamp)
        tags = [("", "v=1"), ("; ", f"a={self.algorithm}"), ("; ", f"c={self.canonicalization}"),
                ("; ", f"d={self.domain}"), ("; ", f"s={self.selector}"), ("; ", f"t={t}")]
        if self.expire is not None:
            tags.append(("; ", f"x={t + self.expire}"))
        tags.append(("; ", f"h={signed_names[0]}"))
        tags.extend((":", name) for name in signed_names[1:])
        tags.append(("; ", f"bh={body_hash}"))
        tags.append(("; ", "b="))
        unsigned = _fold(tags, "DKIM-Signature: ", reserve=_B_ROOM)

        digest = hashlib.sha256()
        for field in signed_fields:
            digest.update(kernels.dkim_canonicalize_header(field, self._relaxed_headers))
        # The signature field itself, b= empty and without its final CRLF (RFC 6376 3.7).
        digest.update(kernels.dkim_canonicalize_header(unsigned.encode("ascii"),
                                                       self._relaxed_headers)[:-2])
        if isinstance(self._key, rsa.RSAPrivateKey):
            signature = self._key.sign(digest.digest(), padding.PKCS1v15(), Prehashed(hashes.SHA256()))
        else:  # RFC 8463: Ed25519 over the SHA-256 hash
            signature = self._key.sign(digest.digest())
        return (unsigned + self._fold_b(unsigned, base64.b64encode(signature).decode("ascii"))
                + "\r\n").encode("ascii")

    @staticmethod
    def _fold_b(unsigned: str, value: str) -> str:
        """The b= value, filling the current line and then lines of the usual width (FWS
        inside b= is ignored by verifiers)."""
        column = len(unsigned) - unsigned.rfind("\n") - 1
        room = _LINE_WIDTH - column  # at least _B_ROOM (_fold reserved it)
        parts = [value[:room]]
        width = _LINE_WIDTH - 1
        parts.extend(value[i:i + width] for i in range(room, len(value), width))
        return _FOLD.join(parts)
