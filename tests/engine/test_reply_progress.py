"""Read.reply (FAULTS.md item 39): each Read the engine yields says how much of the reply it waits
for has already arrived, so that a driver can bound one whole reply (MaxReplyTime) from its
first byte although the engine has no clock."""
from __future__ import annotations

from smtpx.engine import Content, Engine, EngineOptions, Envelope, EnvelopeRecipient, Read, Write
from smtpx.engine.actions import REPLY_BEGUN_EARLIER, REPLY_BEGUN_IN_LAST_READ, REPLY_NOT_BEGUN

from tests.engine.scripted import ready_engine

NOT_BEGUN, IN_LAST, EARLIER = REPLY_NOT_BEGUN, REPLY_BEGUN_IN_LAST_READ, REPLY_BEGUN_EARLIER


def reads_of(operation, chunks: list[bytes]) -> list[int]:
    """Drive ``operation``, answering its Reads with ``chunks`` in order (writes are accepted);
    the ``reply`` of every Read it yielded."""
    progress: list[int] = []
    pending = list(chunks)
    result = None
    try:
        action = next(operation)
        while True:
            if isinstance(action, Read):
                progress.append(action.reply)
                result = pending.pop(0)
            else:
                assert isinstance(action, Write)
                result = None
            action = operation.send(result)
    except StopIteration:
        pass
    assert pending == [], "the operation ended before reading every chunk"
    return progress


def test_read_defaults_to_not_begun():
    assert Read().reply == NOT_BEGUN


def test_a_reply_in_one_piece_is_one_read_not_begun():
    assert reads_of(Engine(EngineOptions()).greeting(), [b"220 mx ESMTP\r\n"]) == [NOT_BEGUN]


def test_a_reply_trickled_in_pieces_began_then_goes_on():
    chunks = [b"2", b"20-", b"mx\r", b"\n", b"220-more\r\n", b"220 done\r\n"]
    assert reads_of(Engine(EngineOptions()).greeting(), chunks) == [
        NOT_BEGUN,  # nothing yet
        IN_LAST,  # "2": the reply began with the bytes just read
        EARLIER, EARLIER, EARLIER, EARLIER,  # its first line, then its continuation lines
    ]


def test_a_reply_that_begins_where_the_previous_one_ended_began_in_that_read():
    # Pipelined replies: the read that completes MAIL's reply also holds the start of RCPT's,
    # whose deadline must count from that read, not from the start of MAIL's reply.
    engine, _ = ready_engine("PIPELINING")
    envelope = Envelope("a@x.example", [EnvelopeRecipient("b@y.example")])
    chunks = [b"25", b"0 ok\r\n25", b"0 ok\r\n354 go\r\n", b"250 stored\r\n"]
    progress = reads_of(engine.send_mail(envelope, Content.from_bytes(b"Subject: s\r\n\r\nbody\r\n")), chunks)
    assert progress == [
        NOT_BEGUN,  # MAIL's reply
        IN_LAST,  # "25" of MAIL's reply
        IN_LAST,  # MAIL's reply complete, "25" of RCPT's: a new reply began in that read
        NOT_BEGUN,  # the reply to "." after the content
    ]

