"""What send_mail takes (Envelope, Content) and what it returns (SendResult).

The results and the lists they make are not tracked by the cyclic garbage collector
(smtpx._pure.untracked says why and what it costs).

Content, RecipientResult and SendResult are made for every message: their ``__init__`` is
written out (``init=False``) rather than generated, so that compiled (smtpx.compiled.HOT_PATH)
it is C, where a generated one runs as Python however the module is built.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from smtpx.enums import RecipientType
from smtpx.kernels import Reply, slot_maker, untracked


@dataclass(slots=True)
class EnvelopeRecipient:
    address: str
    kind: RecipientType = RecipientType.TO
    # RFC 3461 options: "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a@b" (or "NOTIFY SUCCESS,...").
    options: str = ""


@dataclass(slots=True)
class Envelope:
    mail_from: str  # "" or "<>" is the null reverse-path
    recipients: list[EnvelopeRecipient]
    verb: str = "MAIL"  # MAIL, or SEND / SOML / SAML for the SendToTerminal* methods


@dataclass(slots=True, init=False)
class Content:
    """The message as the server must store it (not dot-stuffed).

    ``chunks`` is iterated once per transaction; a one-shot iterator is never pipelined and is
    buffered only when a 452 reply needs a further transaction. ``size`` is its length in
    bytes, or None when unknown (progress is then -1 and BDAT goes in chunk_size pieces).
    """

    chunks: Iterable[bytes]
    size: int | None
    eight_bit: bool = False  # BODY=8BITMIME (needs the server's 8BITMIME)
    binary: bool = False  # BODY=BINARYMIME (needs BINARYMIME and CHUNKING)
    smtputf8: bool = False  # a header is not ASCII (needs SMTPUTF8)
    normalise: bool = True  # line ends become CRLF for BDAT; False sends the bytes as they are

    def __init__(self, chunks: Iterable[bytes], size: int | None, eight_bit: bool = False, binary: bool = False,
                 smtputf8: bool = False, normalise: bool = True) -> None:
        self.chunks = chunks
        self.size = size
        self.eight_bit = eight_bit
        self.binary = binary
        self.smtputf8 = smtputf8
        self.normalise = normalise

    @classmethod
    def from_bytes(cls, data: bytes, **flags: bool) -> Content:
        return cls([data], len(data), **flags)


@dataclass(slots=True, init=False)
class RecipientResult:
    address: str
    kind: RecipientType
    reply: Reply

    def __init__(self, address: str, kind: RecipientType, reply: Reply) -> None:
        self.address = address
        self.kind = kind
        self.reply = reply
        untracked(self)  # a batch keeps every result: the cyclic collector need not walk them


@dataclass(slots=True, init=False)
class SendResult:
    accepted: list[RecipientResult] = field(default_factory=list)
    refused: list[RecipientResult] = field(default_factory=list)
    reply: Reply | None = None  # the reply to the end of data (of the last transaction)

    def __init__(self, accepted: list[RecipientResult] | None = None, refused: list[RecipientResult] | None = None,
                 reply: Reply | None = None) -> None:
        self.accepted = untracked([]) if accepted is None else accepted
        self.refused = untracked([]) if refused is None else refused
        self.reply = reply
        untracked(self)

    @property
    def refused_addresses(self) -> list[str]:
        return [result.address for result in self.refused]

    def was_refused(self, address: str) -> bool:
        return any(result.address == address for result in self.refused)

    @property
    def all_accepted(self) -> bool:
        return not self.refused


# The engine makes these for every message, with every field given: filled from C without a
# Python-level __init__ call (smtpx.kernels.slot_maker: half to two thirds of a call's time), the
# values in field order. The results are untracked as their __init__s make them.
make_content = slot_maker(Content)  # (chunks, size, eight_bit, binary, smtputf8, normalise)
make_envelope = slot_maker(Envelope)  # (mail_from, recipients, verb)
make_envelope_recipient = slot_maker(EnvelopeRecipient)  # (address, kind, options)
make_recipient_result = slot_maker(RecipientResult, untrack=True)  # (address, kind, reply)
make_send_result = slot_maker(SendResult, untrack=True)  # (accepted, refused, reply)
