"""Signing a message that is read once, in pieces, for one or several signers: the header
block is collected (it is small), then every piece of the body goes through each signer's
body hash as it passes, so the body is never held whole.

``SigningPass(signers)``: ``feed(chunk)`` for every piece, then ``finish()`` gives the
DKIM-Signature fields to put in front. A message whose last line has no line end is signed
with one (``line_end_added``): the sender must send it too, as smtpx.dkim.apply does.
"""
from __future__ import annotations

from collections.abc import Sequence

from smtpx.dkim.signer import DKIMSigner, header_block_end, split_header_block

__all__ = ["SigningPass", "lacks_line_end"]


def lacks_line_end(data: bytes) -> bool:
    """The message (or its last piece) ends in a line without a line end. DATA adds one anyway;
    BDAT would not, and verifiers disagree on white space at the end of such a line (dkimpy
    keeps it): so smtpx sends it with CRLF, and signs it so."""
    return bool(data) and data[-1:] not in (b"\n", b"\r")


class SigningPass:
    __slots__ = ("_signers", "_hashes", "_head", "_scan", "_fields", "_last", "line_end_added")

    def __init__(self, signers: Sequence[DKIMSigner]) -> None:
        self._signers = signers
        self._hashes = [signer.body_hasher() for signer in signers]
        self._head = bytearray()  # the header block so far, until its empty line
        self._scan = 0  # where the next look for that empty line starts in _head
        self._fields: list[bytes] | None = None  # the header fields, once the block ended
        self._last = b""  # the last byte fed
        self.line_end_added = False

    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        self._last = chunk[-1:]
        if self._fields is None:
            self._head += chunk
            end, self._scan = header_block_end(self._head, self._scan)
            if end is None:
                return
            self._fields, _ = split_header_block(bytes(self._head[:end]))
            chunk = bytes(self._head[end:])
            self._head = bytearray()
        for hasher in self._hashes:
            hasher.feed(chunk)

    def finish(self, timestamp: int | None = None) -> bytes:
        """The DKIM-Signature fields, one per signer, in their order. SMTPInputError when a
        signer refuses the message (no From)."""
        if lacks_line_end(self._last):
            self.feed(b"\r\n")
            self.line_end_added = True
        if self._fields is None:  # no empty line: all header, no body
            self._fields, start = split_header_block(bytes(self._head))
            for hasher in self._hashes:
                hasher.feed(bytes(self._head[start:]))
            self._head = bytearray()
        fields = self._fields
        return b"".join(signer.sign_fields(fields, hasher.finish(), timestamp=timestamp)
                        for signer, hasher in zip(self._signers, self._hashes))
