"""A window of pipelined transactions, in one call each way (the specification of the compiled
twin smtpx._core.window).

The engine's batch lane (smtpx.engine.runner) sends many small messages on one connection.
Writing them one command and one piece of content at a time costs Python calls per message;
these kernels build a whole window's bytes in one call and decide a whole window's replies in
one call, so Python touches each message a handful of times:

- ``data_window``: with DATA, nothing may follow DATA before its 354 (RFC 2920), so a window
  is one step: the previous message's content, dot-stuffed, with its "." line, then the next
  message's MAIL / RCPT / DATA.
- ``bdat_window``: with CHUNKING, MAIL, RCPT, ``BDAT n LAST`` and the content of successive
  messages go back to back (RFC 3030), line ends made CRLF unless the content is sent as is.
- ``match_window``: which messages got exactly the replies of a delivery (every reply 2xx,
  DATA's 354); the engine decides any other message reply by reply.
- ``plain_replies``: whether a read's bytes are exactly a delivery's replies, each on one
  line, before they are parsed: the lane then writes its next Write first and parses them
  while the server works on it.

Both encoders say where each message's data ends in the buffer: a Write that fails part way
tells which ends went out (delivery unknown) and which messages were cut (not delivered).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from smtpx._pure.replies import Reply
from smtpx._pure.stuffing import CRLFNormalizer, DotStuffer

# One byte per reply in an expectation: any 2xx, or exactly 354 (DATA's go-ahead).
EXPECT_2XX = ord("2")
EXPECT_354 = ord("3")


def data_window(body: Iterable[bytes] | None, envelope: bytes) -> tuple[bytes, int]:
    """(``body`` dot-stuffed with its "." line, then ``envelope``; the offset just after the
    "." line). ``body`` None: no content in this window (the offset is 0)."""
    if body is None:
        return bytes(envelope), 0
    stuffer = DotStuffer()
    parts = [stuffer.feed(chunk) for chunk in body]
    parts.append(stuffer.finish())
    end = 0
    for part in parts:
        end += len(part)
    parts.append(envelope)
    return b"".join(parts), end


def bdat_window(envelopes: Sequence[bytes], bodies: Sequence[Iterable[bytes]],
                normalise: Sequence[bool]) -> tuple[bytes, list[int]]:
    """Each message's ``envelopes[i]`` (its MAIL and RCPT lines), ``BDAT n LAST`` and its
    content (``bodies[i]``, line ends made CRLF when ``normalise[i]``), back to back; returns
    the buffer and the offset just after each message's last byte."""
    if not len(envelopes) == len(bodies) == len(normalise):
        raise ValueError("bdat_window: envelopes, bodies and normalise differ in length")
    parts: list[bytes] = []
    ends: list[int] = []
    size = 0
    for envelope, body, crlf in zip(envelopes, bodies, normalise):
        if crlf:
            normaliser = CRLFNormalizer()
            pieces = [normaliser.feed(chunk) for chunk in body]
            pieces.append(normaliser.finish())
            content = b"".join(pieces)
        else:
            content = b"".join(body)
        head = b"BDAT %d LAST\r\n" % len(content)
        parts += (envelope, head, content)
        size += len(envelope) + len(head) + len(content)
        ends.append(size)
    return b"".join(parts), ends


def match_window(replies: Sequence[Reply], expected: Sequence[bytes]) -> list[bool]:
    """For each message, its expectation (``expected[i]``: one byte per reply, b"2" for any
    2xx, b"3" for 354, in wire order), True when its replies are exactly that. The replies are
    the window's, in order; their number must be the expectations' total."""
    total = 0
    for expectation in expected:
        total += len(expectation)
    if total != len(replies):
        raise ValueError(f"match_window: {len(replies)} replies for {total} expected")
    verdicts = []
    at = 0
    for expectation in expected:
        good = True
        for want in expectation:
            if want != EXPECT_2XX and want != EXPECT_354:
                raise ValueError(f"match_window: an expectation byte is b'2' or b'3', not {bytes([want])!r}")
            code = replies[at].code
            at += 1
            if good and not (code == 354 if want == EXPECT_354 else 200 <= code < 300):
                good = False
        verdicts.append(good)
    return verdicts


def plain_replies(data: bytes, expect: bytes, max_line: int) -> bool:
    """True when ``data`` is exactly ``len(expect)`` complete one-line replies whose codes are
    as ``expect`` says (one byte per reply, wire order: b"2" any 2xx, b"3" 354): each line is
    three digits, then CRLF or a space and text without CR or LF, then CRLF, at most
    ``max_line`` bytes before its CRLF. Such bytes are replies ReplyScanner (of that max_line)
    reads as they are; anything else (a multi-line reply, a bare LF, a partial reply, another
    code) is False, and the caller parses the bytes the general way."""
    at, size = 0, len(data)
    for want in expect:
        if want != EXPECT_2XX and want != EXPECT_354:
            raise ValueError(f"plain_replies: an expectation byte is b'2' or b'3', not {bytes([want])!r}")
        end = data.find(b"\r\n", at)
        if end < 0 or end - at < 3 or end - at > max_line:
            return False
        first, second, third = data[at], data[at + 1], data[at + 2]
        if not (0x30 <= second <= 0x39 and 0x30 <= third <= 0x39):
            return False
        if want == EXPECT_354:
            if (first, second, third) != (0x33, 0x35, 0x34):
                return False
        elif first != 0x32:
            return False
        if end - at > 3:
            if data[at + 3] != 0x20:  # "-": a multi-line reply
                return False
            text = data[at + 4:end]
            if b"\r" in text or b"\n" in text:
                return False
        at = end + 2
    return at == size
