"""DKIM on the send paths: the ``dkim`` setting's check, and the signature fields put in front
of an engine item's content (send_raw, send_message, send_batch).

For send_raw, send_message and send_batch, signing happens when the item is made, before a
connection is touched: a message the signer refuses (no From) is an SMTPInputError and
nothing is sent. send() composes on the connection (the body's encoding follows 8BITMIME), so
it signs there, before MAIL. The signature fields go out as their own chunk in front of the
message, so a message in one piece is not copied; a stream is read into memory first.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Union

from smtpx.dkim.signer import DKIMSigner
from smtpx.engine import Content, Envelope
from smtpx.errors import SMTPInputError

__all__ = ["Signers", "check_signers", "sign_item"]

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
    chunks = content.chunks
    if isinstance(chunks, (bytes, bytearray, memoryview)):
        data = bytes(chunks)
    elif isinstance(chunks, (list, tuple)) and len(chunks) == 1:
        data = bytes(chunks[0])
    else:  # several pieces, or a one-shot stream (set_message_stream): read into memory
        data = b"".join(chunks)
    if data and data[-1:] not in (b"\n", b"\r"):
        # DATA adds this line end anyway; BDAT would not, and verifiers disagree on white
        # space at the end of a last line without one (dkimpy keeps it): send it, signed.
        data += b"\r\n"
    group = (signers,) if isinstance(signers, DKIMSigner) else signers
    fields = b"".join(signer.sign(data) for signer in group)
    return envelope, replace(content, chunks=[fields, data], size=len(fields) + len(data))
