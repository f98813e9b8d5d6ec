"""Content on the wire: dot-stuffing and line ends (FAULT 28), BDAT normalising, binary,
transfer events, and memory that stays flat for a huge stream (FAULT 31)."""
import tracemalloc

import pytest

from tests.engine.scripted import C, S, Peer, RecordingSink, ready_engine, run
from smtpx.engine import Content, EngineOptions, Envelope, EnvelopeRecipient, Read, Write

HEAD = [C(b"MAIL FROM:<a@x.example>\r\n"), S(b"250 ok\r\n"), C(b"RCPT TO:<b@y.example>\r\n"), S(b"250 ok\r\n")]
ENV = Envelope("a@x.example", [EnvelopeRecipient("b@y.example")])

AWKWARD = b".lead\nline2\rline3\r\r\nx\n.\nend"
AWKWARD_STUFFED = b"..lead\r\nline2\r\nline3\r\n\r\nx\r\n..\r\nend\r\n.\r\n"


def splits(data):
    """The same bytes cut in every place that matters (between CR and LF, before a dot...)."""
    yield [data]
    yield [data[i:i + 1] for i in range(len(data))]
    for cut in range(1, len(data)):
        yield [data[:cut], data[cut:]]


@pytest.mark.parametrize("chunks", list(splits(AWKWARD)), ids=lambda c: str(len(c)))
def test_data_sees_exactly_one_end_of_data_however_the_content_is_split(chunks):
    engine, _ = ready_engine()
    run(engine.send_mail(ENV, Content(chunks, len(AWKWARD))), [
        *HEAD, C(b"DATA\r\n"), S(b"354 go\r\n"), C(AWKWARD_STUFFED), S(b"250 ok\r\n"),
    ])


@pytest.mark.parametrize("body, wire", [
    (b"no final line end", b"no final line end\r\n.\r\n"),
    (b"ends\r\n", b"ends\r\n.\r\n"),
    (b"\r\n.\r\n", b"\r\n..\r\n.\r\n"),  # an early end-of-data in the body is stuffed
    (b"a\n.\n", b"a\r\n..\r\n.\r\n"),
    (b".\r\n", b"..\r\n.\r\n"),
])
def test_data_edge_bodies(body, wire):
    engine, _ = ready_engine()
    run(engine.send_mail(ENV, Content.from_bytes(body)), [*HEAD, C(b"DATA\r\n"), S(b"354 go\r\n"), C(wire), S(b"250 ok\r\n")])


def test_bdat_normalises_line_ends_without_stuffing():
    engine, _ = ready_engine("CHUNKING")
    body = b".lead\nbare\rcrlf\r\n"
    wire = b".lead\r\nbare\r\ncrlf\r\n"
    run(engine.send_mail(ENV, Content.from_bytes(body)), [*HEAD, C(b"BDAT %d LAST\r\n" % len(wire) + wire), S(b"250 ok\r\n")])


def test_binarymime_sends_bytes_as_they_are():
    engine, _ = ready_engine("PIPELINING", "CHUNKING", "BINARYMIME")
    body = b"MIME-Version: 1.0\r\n\r\n\x00\xff\n\r.\r\n"
    run(engine.send_mail(ENV, Content.from_bytes(body, binary=True, normalise=False)), [
        C(b"MAIL FROM:<a@x.example> BODY=BINARYMIME\r\nRCPT TO:<b@y.example>\r\nBDAT %d LAST\r\n" % len(body) + body),
        S(b"250 ok\r\n250 ok\r\n250 ok\r\n"),
    ])


def test_transfer_events_for_data_with_known_size():
    engine, sink = ready_engine()
    chunks = [b"a" * 50 + b"\r\n", b"b" * 48 + b"\r\n"]
    size = sum(map(len, chunks))
    run(engine.send_mail(ENV, Content(chunks, size)), [
        *HEAD, C(b"DATA\r\n"), S(b"354 go\r\n"), C(b"".join(chunks) + b".\r\n"), S(b"250 ok\r\n"),
    ])
    assert sink.events[0] == ("start",) and sink.events[-1] == ("end",)
    transfers = [e for e in sink.events if e[0] == "transfer"]
    # one event per write: a small message is one write, whatever chunks it came in
    assert [e[2] for e in transfers] == [100]
    assert [e[1] for e in transfers] == [105]  # bytes on the wire so far (with the '.')
    assert b"".join(e[3] for e in transfers) == b"".join(chunks) + b".\r\n"


def test_transfer_events_for_a_big_message_follow_the_writes():
    from smtpx.engine.transfer import WRITE_SIZE

    engine, sink = ready_engine()
    chunk = b"z" * 65534 + b"\r\n"
    chunks = [chunk] * 10  # 640 KiB: three writes of at least WRITE_SIZE... and the rest
    size = len(chunk) * 10
    peer = Peer([*HEAD, C(b"DATA\r\n"), S(b"354 go\r\n"), C(b"".join(chunks) + b".\r\n"), S(b"250 ok\r\n")])
    peer.drive(engine.send_mail(ENV, Content(chunks, size)))
    assert peer.done
    transfers = [e for e in sink.events if e[0] == "transfer"]
    assert [len(e[3]) for e in transfers] == [len(w) for w in peer.writes[-len(transfers):]]
    assert len(transfers) == 3 and all(len(e[3]) >= WRITE_SIZE for e in transfers[:-1])
    assert [e[2] for e in transfers] == [40, 80, 100]
    assert transfers[-1][1] == size + 3
    # the content is never traced as commands
    assert all("aaaa" not in m for _, m in sink.trail)


def test_transfer_percent_is_minus_one_when_size_unknown():
    engine, sink = ready_engine("CHUNKING", options=EngineOptions(chunk_size=4))
    run(engine.send_mail(ENV, Content(iter([b"abcdef\r\n"]), None)), [
        *HEAD, C(b"BDAT 4\r\nabcd"), S(b"250 ok\r\n"), C(b"BDAT 4\r\nef\r\n"), S(b"250 ok\r\n"),
        C(b"BDAT 0 LAST\r\n"), S(b"250 ok\r\n"),
    ])
    assert {e[2] for e in sink.events if e[0] == "transfer"} == {-1}


def test_the_source_is_read_lazily_in_bounded_writes():
    from smtpx.engine.transfer import WRITE_SIZE

    chunk = b"y" * (100 * 1024 - 2) + b"\r\n"
    engine, _ = ready_engine()
    peer = Peer([*HEAD, C(b"DATA\r\n"), S(b"354 go\r\n"), C(chunk * 20 + b".\r\n"), S(b"250 ok\r\n")])
    held_back = []

    def source():
        for n in range(20):
            written = sum(map(len, peer.writes)) - len(b"".join(peer.writes[:3]))  # content only
            held_back.append(n * len(chunk) - written)
            yield chunk

    peer.drive(engine.send_mail(ENV, Content(source(), None)))
    assert peer.done
    # never more than one write's worth (plus the chunk that completes it) is held in memory
    assert max(held_back) < WRITE_SIZE + len(chunk)
    content_writes = peer.writes[3:]
    assert len(content_writes) == 7  # 20 chunks of 100 KiB in writes of 3 chunks, the last with '.'
    assert content_writes[-1].endswith(chunk + b".\r\n")


class CountingSink(RecordingSink):
    """Keeps no content, so the measure is the engine's own."""

    def transfer(self, bytes_transferred, percent_done, text):
        self.last_transfer = bytes_transferred


def drive_discarding(operation, replies):
    """A driver that throws written bytes away, so only the engine's memory is measured."""
    replies = list(replies)
    result = None
    total = 0
    try:
        action = next(operation)
        while True:
            if isinstance(action, Write):
                total += len(action.data)
                result = None
            elif isinstance(action, Read):
                result = replies.pop(0)
            action = operation.send(result)
    except StopIteration as stop:
        return stop.value, total


@pytest.mark.parametrize("caps", [(), ("CHUNKING",)], ids=["data", "bdat"])
def test_memory_stays_flat_for_a_big_stream(caps):
    engine, _ = ready_engine(*caps, sink=CountingSink())
    chunk = (b"x" * 1000 + b"\n") * 1024  # ~1 MB with bare LFs to normalise
    count = 64

    def stream():
        for _ in range(count):
            yield chunk

    replies = [b"250 ok\r\n", b"250 ok\r\n"] + ([b"354 go\r\n"] if not caps else []) + [b"250 ok\r\n"] * (count + 2)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result, total = drive_discarding(engine.send_mail(ENV, Content(stream(), None)), replies)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert total > count * len(chunk) and engine.sink.last_transfer > count * len(chunk)
    assert peak < 8 * len(chunk), f"peak {peak} bytes for a {count * len(chunk)}-byte message"
