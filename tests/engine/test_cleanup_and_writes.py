"""A failed transaction never leaves the server's transaction open (SendRSET only decides
when the RSET goes), refusal descriptions name the enhanced code once, and the engine writes
small content in one piece whatever chunks it arrives in."""
import pytest

from tests.engine.scripted import C, S, Peer, RecordingSink, ready_engine, run
from smtpx.engine import Content, EngineOptions, Envelope, EnvelopeRecipient
from smtpx.engine.transfer import WRITE_SIZE, stuffed_pieces
from smtpx.enums import RecipientType
from smtpx.errors import SMTPDataError, SMTPRecipientsRefused

MSG = b"Subject: t\r\n\r\nbody\r\n"


def env(*rcpts, kind=RecipientType.TO):
    return Envelope("a@x.example", [EnvelopeRecipient(r, kind) for r in rcpts])


def no_rset():
    return EngineOptions(send_rset=False)


# -- SendRSET=False: the failed transaction is reset before the next MAIL ------------------------

def test_refused_recipient_without_send_rset_resets_before_the_next_mail():
    engine, _ = ready_engine(options=no_rset())
    with pytest.raises(SMTPRecipientsRefused):
        run(engine.send_mail(env("bad@y.example"), Content.from_bytes(MSG)), [
            C(b"MAIL FROM:<a@x.example>\r\n"), S(b"250 ok\r\n"),
            C(b"RCPT TO:<bad@y.example>\r\n"), S(b"550 5.1.1 no\r\n"),
        ])  # nothing after the refusal: no RSET of its own
    run(engine.send_mail(env("b@y.example"), Content.from_bytes(MSG)), [
        C(b"RSET\r\n"), S(b"250 reset\r\n"),
        C(b"MAIL FROM:<a@x.example>\r\n"), S(b"250 ok\r\n"),
        C(b"RCPT TO:<b@y.example>\r\n"), S(b"250 ok\r\n"),
        C(b"DATA\r\n"), S(b"354 go\r\n"), C(MSG + b".\r\n"), S(b"250 queued\r\n"),
    ])
    # and only once: the session is clean again
    run(engine.send_mail(env("b@y.example"), Content.from_bytes(MSG)), [
        C(b"MAIL FROM:<a@x.example>\r\n"), S(b"250 ok\r\n"),
        C(b"RCPT TO:<b@y.example>\r\n"), S(b"250 ok\r\n"),
        C(b"DATA\r\n"), S(b"354 go\r\n"), C(MSG + b".\r\n"), S(b"250 queued\r\n"),
    ])


def test_pipelined_reset_goes_in_the_same_write_as_mail():
    engine, _ = ready_engine("PIPELINING", options=no_rset())
    with pytest.raises(SMTPDataError):
        run(engine.send_mail(env("b@y.example"), Content.from_bytes(MSG)), [
            C(b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nDATA\r\n"),
            S(b"250 ok\r\n250 ok\r\n451 4.3.0 try later\r\n"),
        ])
    peer = Peer([
        C(b"RSET\r\nMAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nDATA\r\n"),
        S(b"250 reset\r\n250 ok\r\n250 ok\r\n354 go\r\n"), C(MSG + b".\r\n"), S(b"250 queued\r\n"),
    ])
    result = peer.drive(engine.send_mail(env("b@y.example"), Content.from_bytes(MSG)))
    assert peer.done and result.reply.code == 250


def test_hello_clears_a_pending_reset():
    engine, _ = ready_engine(options=no_rset())
    with pytest.raises(SMTPRecipientsRefused):
        run(engine.send_mail(env("bad@y.example"), Content.from_bytes(MSG)), [
            C(b"MAIL FROM:<a@x.example>\r\n"), S(b"250 ok\r\n"),
            C(b"RCPT TO:<bad@y.example>\r\n"), S(b"550 5.1.1 no\r\n"),
        ])
    run(engine.hello("client.example"), [C(b"EHLO client.example\r\n"), S(b"250 mx.example\r\n")])
    run(engine.send_mail(env("b@y.example"), Content.from_bytes(MSG)), [
        C(b"MAIL FROM:<a@x.example>\r\n"), S(b"250 ok\r\n"),
        C(b"RCPT TO:<b@y.example>\r\n"), S(b"250 ok\r\n"),
        C(b"DATA\r\n"), S(b"354 go\r\n"), C(MSG + b".\r\n"), S(b"250 queued\r\n"),
    ])


def test_batch_without_send_rset_resets_before_the_next_message():
    engine, _ = ready_engine("PIPELINING", options=no_rset())
    items = [(env("bad@y.example"), Content.from_bytes(MSG)), (env("b@y.example"), Content.from_bytes(MSG))]
    peer = Peer([
        C(b"MAIL FROM:<a@x.example>\r\nRCPT TO:<bad@y.example>\r\nDATA\r\n"),
        S(b"250 ok\r\n550 5.1.1 no\r\n554 5.5.1 no valid recipients\r\n"),
        C(b"RSET\r\nMAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nDATA\r\n"),
        S(b"250 reset\r\n250 ok\r\n250 ok\r\n354 go\r\n"), C(MSG + b".\r\n"), S(b"250 queued\r\n"),
    ])
    results = peer.drive(engine.send_batch(items))
    assert peer.done
    assert isinstance(results[0], SMTPRecipientsRefused) and results[1].reply.code == 250


def test_batch_starts_with_the_reset_a_failed_send_left():
    engine, _ = ready_engine("PIPELINING", options=no_rset())
    with pytest.raises(SMTPRecipientsRefused):
        run(engine.send_mail(env("bad@y.example"), Content.from_bytes(MSG)), [
            C(b"MAIL FROM:<a@x.example>\r\nRCPT TO:<bad@y.example>\r\nDATA\r\n"),
            S(b"250 ok\r\n550 5.1.1 no\r\n554 5.5.1 no valid recipients\r\n"),
        ])
    peer = Peer([
        C(b"RSET\r\nMAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nDATA\r\n"),
        S(b"250 reset\r\n250 ok\r\n250 ok\r\n354 go\r\n"), C(MSG + b".\r\n"), S(b"250 queued\r\n"),
    ])
    results = peer.drive(engine.send_batch([(env("b@y.example"), Content.from_bytes(MSG))]))
    assert peer.done and results[0].reply.code == 250


# -- descriptions -------------------------------------------------------------------------------

@pytest.mark.parametrize("reply, shown", [
    (b"550 5.1.1 no such user\r\n", "550 5.1.1 no such user"),
    (b"550 no such user\r\n", "550 no such user"),
    (b"550-5.1.1 first\r\n550 5.1.1 second\r\n", "550 5.1.1 first\n5.1.1 second"),
])
def test_refusal_names_the_enhanced_code_once(reply, shown):
    sink = RecordingSink()
    engine, _ = ready_engine("ENHANCEDSTATUSCODES", sink=sink,
                             options=EngineOptions(stop_on_bcc_errors=False))
    with pytest.raises(SMTPRecipientsRefused) as info:
        run(engine.send_mail(env("bad@y.example", kind=RecipientType.BCC), Content.from_bytes(MSG)), [
            C(b"MAIL FROM:<a@x.example>\r\n"), S(b"250 ok\r\n"),
            C(b"RCPT TO:<bad@y.example>\r\n"), S(reply), C(b"RSET\r\n"), S(b"250 ok\r\n"),
        ])
    assert info.value.description.endswith(": " + shown)
    assert sink.errors == [(161, f"recipient bad@y.example refused: {shown}")]


# -- writes ---------------------------------------------------------------------------------------

def test_small_content_in_many_chunks_is_one_write_with_the_terminator():
    engine, _ = ready_engine("PIPELINING")
    chunks = [b"Subject: t\r\n", b"From: a@x.example\r\n", b"\r\n", b"line 1\r\n", b".dot\r\n", b"end"]
    peer = Peer([
        C(b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nDATA\r\n"),
        S(b"250 ok\r\n250 ok\r\n354 go\r\n"),
        C(b"".join(chunks).replace(b"\r\n.dot", b"\r\n..dot") + b"\r\n.\r\n"), S(b"250 queued\r\n"),
    ])
    peer.drive(engine.send_mail(env("b@y.example"), Content(chunks, sum(map(len, chunks)))))
    assert peer.done
    assert len(peer.writes) == 2  # the commands, then the whole content with its "."


def test_big_content_goes_in_bounded_writes():
    chunk = b"x" * 1000 + b"\r\n"
    chunks = [chunk] * 1000  # about 1 MB
    pieces = list(stuffed_pieces(chunks))
    assert b"".join(p for _, p, _ in pieces) == b"".join(chunks) + b".\r\n"
    assert [last for _, _, last in pieces] == [False] * (len(pieces) - 1) + [True]
    assert 4 <= len(pieces) <= 5
    assert all(WRITE_SIZE <= len(p) < WRITE_SIZE + len(chunk) for _, p, _ in pieces[:-1])
    assert pieces[-1][0] == len(chunk) * 1000
