"""Message content on the wire: dot-stuffed for DATA, cut into BDAT chunks for CHUNKING, with
the transfer events. Content is streamed chunk by chunk so memory stays flat for big messages."""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from smtpx.engine.commands import Command, command
from smtpx.engine.envelope import Content
from smtpx.kernels import CRLFNormalizer, DotStuffer


class ContentSource:
    """Gives the content once per transaction. A one-shot iterator can be read once only, so it
    is copied while sending when a further transaction will need it (452 replies)."""

    def __init__(self, content: Content) -> None:
        self.content = content
        chunks = content.chunks
        if type(chunks) is list or type(chunks) is tuple:  # the usual: no iterator made to tell
            self.one_shot = False
        else:
            if isinstance(chunks, (bytes, bytearray, memoryview)):
                chunks = content.chunks = [bytes(chunks)]  # one chunk, not an iterable of ints
            self.one_shot = iter(chunks) is chunks
        self._spool: list[bytes] | None = None
        self._used = False

    def chunks(self, keep: bool) -> Iterable[bytes]:
        if self._spool is not None:
            return self._spool
        if not self.one_shot:
            return self.content.chunks
        if self._used:
            raise RuntimeError("one-shot content read twice")  # a bug in the engine, not the user's
        self._used = True
        if keep:
            self._spool = []
            return self._tee(iter(self.content.chunks), self._spool)
        return self.content.chunks

    @staticmethod
    def _tee(source: Iterator[bytes], copy: list[bytes]) -> Iterator[bytes]:
        for chunk in source:
            copy.append(chunk)
            yield chunk


class Progress:
    """Transfer events: bytes sent so far (as on the wire) and percent of the content consumed."""

    def __init__(self, sink: Any, size: int | None) -> None:
        self._sink = sink
        self._size = size
        self.sent = 0

    def start(self) -> None:
        self._sink.start_transfer()

    def update(self, consumed: int, wire: bytes) -> None:
        self.sent += len(wire)
        size = self._size
        if size is None:
            percent = -1
        elif size <= 0:
            percent = 100
        else:
            percent = min(100, consumed * 100 // size)
        self._sink.transfer(self.sent, percent, wire)

    def end(self) -> None:
        self._sink.end_transfer()


# Content goes out in writes of up to about this much: a small message (headers and body,
# whatever pieces it comes in) leaves in one write with its ".", so no Nagle / delayed-ACK
# stall (about 40 ms) can sit between two writes of one message; a big one in bounded writes.
WRITE_SIZE = 256 * 1024


def stuffed_pieces(chunks: Iterable[bytes], write_size: int = WRITE_SIZE) -> Iterator[tuple[int, bytes, bool]]:
    """(input bytes consumed so far, bytes to write, is the last piece) for DATA, ending with
    the '.' line. Stuffed output is gathered into pieces of at least ``write_size`` bytes
    (a chunk is never split), and the last piece carries the terminator."""
    stuffer = DotStuffer()
    consumed = 0
    held: list[bytes] = []
    held_size = 0
    held_consumed = 0
    for chunk in chunks:
        consumed += len(chunk)
        out = stuffer.feed(chunk)
        if out:
            if held_size >= write_size:
                yield held_consumed, b"".join(held), False
                held, held_size = [], 0
            held.append(out)
            held_size += len(out)
            held_consumed = consumed
    held.append(stuffer.finish())
    yield consumed, b"".join(held), True


def stuffed_whole(chunks: Iterable[bytes], write_size: int = WRITE_SIZE) -> tuple[int, bytes] | None:
    """What stuffed_pieces gives when it gives one piece, made without a generator: (input
    consumed, stuffed bytes with the '.' line) for in-memory content (a list or tuple of
    chunks) small enough to be one piece whatever stuffing adds; None otherwise."""
    if type(chunks) is not list and type(chunks) is not tuple:
        return None
    consumed = 0
    for chunk in chunks:
        consumed += len(chunk)
    if consumed * 2 + 8 >= write_size:  # stuffing at most doubles (a dot or a CR per byte)
        return None
    stuffer = DotStuffer()
    out = [stuffer.feed(chunk) for chunk in chunks]
    out.append(stuffer.finish())
    return consumed, b"".join(out)


def bdat_segments(chunks: Iterable[bytes], normalise: bool, chunk_size: int) -> Iterator[tuple[Command, int, bytes]]:
    """(BDAT command, input consumed so far, payload): pieces of chunk_size, then the rest as
    'BDAT n LAST' ('BDAT 0 LAST' when the content ended on a piece boundary)."""
    normaliser = CRLFNormalizer() if normalise else None
    chunk_size = max(1, chunk_size)
    buffer = bytearray()
    consumed = 0
    for chunk in chunks:
        consumed += len(chunk)
        buffer += normaliser.feed(chunk) if normaliser is not None else chunk
        while len(buffer) >= chunk_size:
            piece = bytes(buffer[:chunk_size])
            del buffer[:chunk_size]
            yield command(f"BDAT {len(piece)}"), consumed, piece
    if normaliser is not None:
        buffer += normaliser.finish()
    yield command(f"BDAT {len(buffer)} LAST"), consumed, bytes(buffer)
