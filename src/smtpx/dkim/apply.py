"""DKIM on the send paths: the ``dkim`` setting's check, and the signature fields put in front
of an engine item's content (send_raw, send_message, send_batch).

For send_raw, send_message and send_batch, signing happens when the item is made, before a
connection is touched: a message the signer refuses (no From) is an SMTPInputError and
nothing is sent. send() composes on the connection (the body's encoding follows 8BITMIME), so
it signs there, before MAIL. The durable queue signs each window of files as it sends it
(``sign_claimed``), so t= and x= count from the send, not from the queueing.

The signature fields go out as their own chunk in front of the message, so a message in one
piece is not copied. A message that is not in memory is read once to sign it, in pieces
(smtpx.dkim.stream): a queue file is then read again to be sent; a one-shot stream
(set_message_stream) is copied, as it is read, to a temporary file (in memory up to
``SPOOL_IN_MEMORY`` bytes), which is then sent.
"""
from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from typing import IO, TYPE_CHECKING, Any, Union

from smtpx.dkim.signer import DKIMSigner
from smtpx.dkim.stream import SigningPass, lacks_line_end
from smtpx.engine import Content, Envelope
from smtpx.errors import SMTPError, SMTPInputError

if TYPE_CHECKING:
    from smtpx.queue.files import ClaimedFile, QueueClaims

__all__ = ["Signers", "check_signers", "sign_item", "sign_claimed", "SPOOL_IN_MEMORY"]

SPOOL_IN_MEMORY = 1 << 20  # a signed one-shot stream up to this size is kept in memory, on disk beyond
_READ = 1 << 16

# One signer, several (each adds its own DKIM-Signature: RSA and Ed25519 together), or none.
Signers = Union[DKIMSigner, Sequence[DKIMSigner], None]


def check_signers(value: Any, what: str) -> DKIMSigner | tuple[DKIMSigner, ...] | None:
    """The ``dkim`` setting: None, a DKIMSigner, or a list / tuple of them (kept as a tuple)."""
    if value is None or isinstance(value, DKIMSigner):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(item, DKIMSigner) for item in value):
        return tuple(value) or None
    raise SMTPInputError(f"{what} must be a smtpx.dkim.DKIMSigner, a list of them, or None, "
                         f"not {type(value).__name__}")


def sign_item(signers: Signers, item: tuple[Envelope, Content]) -> tuple[Envelope, Content]:
    """``item`` with the DKIM-Signature fields of every signer in front (unchanged for None)."""
    if signers is None:
        return item
    envelope, content = item
    group = (signers,) if isinstance(signers, DKIMSigner) else tuple(signers)
    chunks = content.chunks
    if isinstance(chunks, (bytes, bytearray, memoryview)):
        data = bytes(chunks)
    elif isinstance(chunks, (list, tuple)):
        data = bytes(chunks[0]) if len(chunks) == 1 else b"".join(chunks)
    elif iter(chunks) is not chunks:  # re-iterable, not in memory (a queue file): read twice
        return envelope, _signed_pass(group, content, chunks, None)
    else:  # a one-shot stream: copied as it is signed, then sent from the copy
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)
        return envelope, _signed_pass(group, content, chunks, spool)
    if lacks_line_end(data):
        data += b"\r\n"
    fields = b"".join(signer.sign(data) for signer in group)
    return envelope, replace(content, chunks=[fields, data], size=len(fields) + len(data))


def _signed_pass(group: Sequence[DKIMSigner], content: Content, chunks: Iterable[bytes],
                 spool: IO[bytes] | None) -> Content:
    """The content signed in one pass over ``chunks``; sent again from ``chunks`` (spool None)
    or from ``spool``, a copy written during the pass."""
    signing = SigningPass(group)
    size = 0
    for chunk in chunks:
        signing.feed(chunk)
        size += len(chunk)
        if spool is not None:
            spool.write(chunk)
    fields = signing.finish()
    tail = b"\r\n" if signing.line_end_added else b""
    body: Iterable[bytes] = chunks if spool is None else _Spooled(spool)
    return replace(content, chunks=_Framed(fields, body, tail), size=len(fields) + size + len(tail))


class _Spooled:
    """A spooled copy of a stream, re-iterable (each pass reads it from the start)."""

    __slots__ = ("_file",)

    def __init__(self, spooled: IO[bytes]) -> None:
        self._file = spooled

    def __iter__(self) -> Iterator[bytes]:
        self._file.seek(0)
        return iter(lambda: self._file.read(_READ), b"")


class _Framed:
    """The signature fields, the message's pieces, and the line end added to its last line:
    re-iterable when the message's pieces are, so the engine may pipeline it."""

    __slots__ = ("_fields", "_body", "_tail")

    def __init__(self, fields: bytes, body: Iterable[bytes], tail: bytes) -> None:
        self._fields, self._body, self._tail = fields, body, tail

    def __iter__(self) -> Iterator[bytes]:
        yield self._fields
        yield from self._body
        if self._tail:
            yield self._tail


def sign_claimed(signers: Signers, claims: QueueClaims, files: list[ClaimedFile]
                 ) -> tuple[list[ClaimedFile], list[tuple[Envelope, Content]]]:
    """A window of durable-queue files, each signed as it is about to be sent (t= and x=
    count from now): the files to send and their items. A file the signer refuses (no From),
    or that cannot be read again, is committed ``*.failed`` here, never sent."""
    kept: list[ClaimedFile] = []
    items: list[tuple[Envelope, Content]] = []
    refused: list[tuple[ClaimedFile, BaseException | None]] = []
    for entry in files:
        try:
            items.append(sign_item(signers, (entry.envelope, entry.content)))
        except (SMTPError, OSError) as error:
            refused.append((entry, error))
        else:
            kept.append(entry)
    if refused:
        claims.commit_many(refused)
    return kept, items
