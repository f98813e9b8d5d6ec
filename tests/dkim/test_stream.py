"""Signing in one pass over pieces (smtpx.dkim.stream.SigningPass), as the durable queue and
set_message_stream do: for every message and every way of cutting it, the fields are the
very bytes sign() gives for the whole message (RSA PKCS#1 v1.5 and Ed25519 are deterministic),
on both kernel implementations; and sign_item on content that is not in memory keeps it
in pieces."""
from __future__ import annotations

import io

import pytest

from smtpx.dkim import DKIMSigner
from smtpx.dkim.apply import SPOOL_IN_MEMORY, sign_item
from smtpx.dkim.stream import SigningPass
from smtpx.engine import Content, Envelope, EnvelopeRecipient
from smtpx.errors import SMTPInputError
from tests.dkim.test_signer import MESSAGES, impl, key, verify  # noqa: F401  (impl: fixture)

EXTRA = {
    "bare_cr": b"From: alice@example.com\rSubject: cr\r folded\r\rbody \r\rlast\r",
    "crlf_split": b"From: alice@example.com\r\nSubject: x\r\n\r\n\r\n\r\nend\r\n\r\n",
    "headers_only_cr_end": b"From: alice@example.com\r\nSubject: x\r",
    "empty_line_first": b"\r\nbody without headers\r\n",
}
ALL = {**MESSAGES, **EXTRA}
T = 1_790_000_000


def signers():
    return [DKIMSigner(domain="example.com", selector="rsa", private_key=key("rsa1024")),
            DKIMSigner(domain="example.com", selector="ed", private_key=key("ed25519"),
                       canonicalization="simple/simple", oversign_from=True)]


def whole(message: bytes) -> bytes:
    """The message as sign_item sends it: a last line without a line end gets CRLF."""
    return message + b"\r\n" if message and message[-1:] not in (b"\n", b"\r") else message


@pytest.mark.parametrize("name", sorted(ALL))
@pytest.mark.parametrize("size", [1, 2, 3, 5, 64, 1 << 20])
def test_pieces_sign_as_the_whole(impl, name, size):
    message = ALL[name]
    group = signers()
    if name == "empty_line_first":
        with pytest.raises(SMTPInputError, match="no From"):
            signing = SigningPass(group)
            signing.feed(message)
            signing.finish(T)
        return
    signing = SigningPass(group)
    for start in range(0, len(message), size):
        signing.feed(message[start:start + size])
    fields = signing.finish(T)
    assert fields == b"".join(signer.sign(whole(message), timestamp=T) for signer in group)
    assert signing.line_end_added == (whole(message) != message)


class OneShot:
    """A one-shot iterator over pieces, recording the largest piece read."""

    def __init__(self, data: bytes, size: int) -> None:
        self._pieces = iter([data[i:i + size] for i in range(0, len(data), size)])

    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        return next(self._pieces)


ENVELOPE = Envelope("alice@example.com", [EnvelopeRecipient("bob@example.org")])


def test_a_one_shot_stream_is_signed_in_pieces_and_sent_again():
    """Bigger than SPOOL_IN_MEMORY: copied to a temporary file while it is signed, then read
    back in pieces (re-iterable, so the engine may pipeline it); never joined whole."""
    body = b"".join(b"line %d  with  spaces \r\n" % i for i in range(SPOOL_IN_MEMORY // 20))
    message = b"From: alice@example.com\r\nSubject: big\r\n\r\n" + body + b"no final line end"
    group = signers()
    _, content = sign_item(group, (ENVELOPE, Content(OneShot(message, 10_000), None)))
    first = list(content.chunks)
    assert list(content.chunks) == first  # readable again
    assert max(len(piece) for piece in first) <= 1 << 16
    sent = b"".join(first)
    assert content.size == len(sent)
    assert sent.endswith(message + b"\r\n")
    assert verify(sent, *group, index=0) and verify(sent, *group, index=1)


def test_a_re_iterable_content_is_read_twice_not_copied():
    """A queue file's content: one pass to sign, the same object sent behind the fields."""

    class Reiterable:
        passes = 0

        def __iter__(self):  # a generator: a pass counts once it reads
            Reiterable.passes += 1
            yield MESSAGES["plain"][:10]
            yield MESSAGES["plain"][10:]

    group = signers()
    source = Reiterable()
    _, content = sign_item(group, (ENVELOPE, Content(source, len(MESSAGES["plain"]))))
    sent = b"".join(content.chunks)
    assert Reiterable.passes == 2
    assert content.size == len(sent) and sent.endswith(MESSAGES["plain"])
    assert verify(sent, *group, index=0) and verify(sent, *group, index=1)


def test_a_stream_the_signer_refuses_raises():
    stream = io.BytesIO(b"Subject: no From\r\n\r\nbody\r\n")
    with pytest.raises(SMTPInputError, match="no From"):
        sign_item(signers(), (ENVELOPE, Content(iter(lambda: stream.read(4), b""), None)))
