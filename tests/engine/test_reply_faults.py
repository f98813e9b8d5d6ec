"""FAULTS.md "Server replies" (1-12) at the engine level, bytes in and bytes out."""
import pytest

from tests.engine.scripted import C, EOF, S, Peer, ready_engine, run
from smtpx.engine import Content, EngineOptions, Envelope, EnvelopeRecipient
from smtpx.errors import (
    SMTPConnectionDropped,
    SMTPNotConnectedError,
    SMTPProtocolError,
    SMTPReplyError,
    SMTPServiceClosing,
)

MSG = b"Subject: t\r\n\r\nbody\r\n"


def mail(*rcpts):
    return Envelope("a@x.example", [EnvelopeRecipient(r) for r in rcpts or ("b@y.example",)])


def one_by_one():
    """A server without PIPELINING or CHUNKING: one command, one reply."""
    return ready_engine("8BITMIME")


# -- 2. the connection closed after each command ------------------------------------------------

CLOSE_POINTS = {
    "ehlo": None,  # separate test below
    "mail": [C(b"MAIL FROM:<a@x.example>\r\n"), EOF],
    "rcpt": [C(b"MAIL FROM:<a@x.example>\r\n"), S(b"250 ok\r\n"), C(b"RCPT TO:<b@y.example>\r\n"), EOF],
    "data": [C(b"MAIL FROM:<a@x.example>\r\n"), S(b"250 ok\r\n"), C(b"RCPT TO:<b@y.example>\r\n"),
             S(b"250 ok\r\n"), C(b"DATA\r\n"), EOF],
}


@pytest.mark.parametrize("point", ["mail", "rcpt", "data"])
def test_connection_closed_after_command(point):
    engine, _ = one_by_one()
    peer = Peer(list(CLOSE_POINTS[point]))
    with pytest.raises(SMTPConnectionDropped) as info:
        peer.drive(engine.send_mail(mail(), Content.from_bytes(MSG)))
    assert info.value.code == 1120
    assert not getattr(info.value, "delivery_unknown", False)
    assert peer.done and engine.closed
    with pytest.raises(SMTPNotConnectedError):
        run(engine.noop(), [])


def test_connection_closed_after_ehlo():
    engine, _ = ready_engine()
    with pytest.raises(SMTPConnectionDropped):
        run(engine.hello("c"), [C(b"EHLO c\r\n"), EOF])
    assert engine.closed


def test_354_then_close_means_delivery_unknown():
    engine, sink = one_by_one()
    peer = Peer([C(b"MAIL FROM:<a@x.example>\r\n"), S(b"250 ok\r\n"), C(b"RCPT TO:<b@y.example>\r\n"),
                 S(b"250 ok\r\n"), C(b"DATA\r\n"), S(b"354 go\r\n"), C(MSG + b".\r\n"), EOF])
    with pytest.raises(SMTPConnectionDropped) as info:
        peer.drive(engine.send_mail(mail(), Content.from_bytes(MSG)))
    assert info.value.delivery_unknown is True
    assert "may or may not have been delivered" in info.value.description
    assert peer.done and engine.closed


# -- 3. 421 after MAIL, RCPT, DATA: no RSET, closed ----------------------------------------------

@pytest.mark.parametrize("script", [
    [C(b"MAIL FROM:<a@x.example>\r\n"), S(b"421 4.3.2 shutting down\r\n")],
    [C(b"MAIL FROM:<a@x.example>\r\n"), S(b"250 ok\r\n"), C(b"RCPT TO:<b@y.example>\r\n"),
     S(b"421 4.3.2 shutting down\r\n")],
    [C(b"MAIL FROM:<a@x.example>\r\n"), S(b"250 ok\r\n"), C(b"RCPT TO:<b@y.example>\r\n"),
     S(b"250 ok\r\n"), C(b"DATA\r\n"), S(b"421 4.3.2 shutting down\r\n")],
    [C(b"MAIL FROM:<a@x.example>\r\n"), S(b"250 ok\r\n"), C(b"RCPT TO:<b@y.example>\r\n"),
     S(b"250 ok\r\n"), C(b"DATA\r\n"), S(b"354 go\r\n"), C(MSG + b".\r\n"), S(b"421 4.3.2 shutting down\r\n")],
], ids=["mail", "rcpt", "data", "end-of-data"])
def test_421_closes_the_session_without_rset(script):
    engine, sink = one_by_one()
    peer = Peer(list(script))
    with pytest.raises(SMTPServiceClosing) as info:
        peer.drive(engine.send_mail(mail(), Content.from_bytes(MSG)))
    assert (info.value.reply_code, info.value.enhanced) == (421, "4.3.2")
    assert peer.done  # nothing written after the 421: no RSET
    assert b"RSET" not in peer.written
    assert engine.closed
    # QUIT on a closed session does nothing (the driver drops the connection)
    assert run(engine.quit(), []) is None


def test_421_in_the_middle_of_pipelined_replies_stops_reading():
    engine, _ = ready_engine("PIPELINING")
    peer = Peer([C(b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nRCPT TO:<c@y.example>\r\n"),
                 S(b"250 ok\r\n421 4.4.2 bye\r\n")])
    with pytest.raises(SMTPServiceClosing):
        peer.drive(engine.send_mail(mail("b@y.example", "c@y.example"), Content.from_bytes(MSG)))
    assert peer.done and engine.closed


# -- 6, 7. oversized replies ------------------------------------------------------------------------

def test_reply_line_of_one_megabyte_is_capped():
    engine, _ = ready_engine()
    piece = b"250-" + b"x" * (64 * 1024 - 4)
    script = [C(b"NOOP\r\n")] + [S(piece if i == 0 else b"x" * 64 * 1024) for i in range(16)] + [S(b"\r\n")]
    peer = Peer(script)
    with pytest.raises(SMTPProtocolError) as info:
        peer.drive(engine.noop())
    assert "8192" in str(info.value)
    assert len(peer.remaining()) == 16  # failed on the first read, did not buffer the megabyte
    assert engine.closed


def test_hundred_thousand_continuation_lines_are_capped():
    engine, _ = ready_engine()
    flood = b"250-more\r\n" * 100_000
    peer = Peer([C(b"NOOP\r\n"), S(flood), S(b"250 end\r\n")])
    with pytest.raises(SMTPProtocolError):
        peer.drive(engine.noop())
    assert engine.closed


def test_reply_size_cap_applies_across_reads():
    engine, _ = ready_engine(options=EngineOptions(max_reply=1000, max_lines=100_000))
    script = [C(b"NOOP\r\n")] + [S(b"250-" + b"y" * 96 + b"\r\n") for _ in range(20)]
    peer = Peer(script)
    with pytest.raises(SMTPProtocolError):
        peer.drive(engine.noop())
    assert peer.remaining()  # stopped early


# -- 8, 9. malformed codes, mixed codes ---------------------------------------------------------------

@pytest.mark.parametrize("line", [
    b"2x0 ok\r\n", b"25\r\n", b"2500 ok\r\n", b"2_5 ok\r\n", b"+25 ok\r\n", b" 25 ok\r\n",
    "２５０ ok\r\n".encode(), b"\r\n", b"250x\r\n", b"650 ok\r\n", b"050 ok\r\n",
])
def test_malformed_reply_codes_are_protocol_errors(line):
    engine, _ = ready_engine()
    with pytest.raises(SMTPProtocolError):
        run(engine.noop(), [C(b"NOOP\r\n"), S(line)])
    assert engine.closed


def test_mixed_codes_in_one_reply():
    engine, _ = ready_engine()
    with pytest.raises(SMTPProtocolError):
        run(engine.noop(), [C(b"NOOP\r\n"), S(b"250-fine\r\n550 not fine\r\n")])
    assert engine.closed


# -- 10. non-UTF-8, NUL, control bytes -------------------------------------------------------------------

def test_binary_junk_in_a_reply_is_sanitised():
    engine, sink = ready_engine()
    reply = run(engine.noop(), [C(b"NOOP\r\n"), S(b"250-\xff\xfe caf\xc3\xa9\r\n250 a\x00b\x1bc\x7f\r\n")])
    assert reply.code == 250
    trail = sink.server_lines()
    assert trail == ["250-\ufffd\ufffd caf\u00e9", "250 a?b?c?"]


def test_binary_junk_in_an_error_reply_is_sanitised():
    engine, _ = ready_engine()
    with pytest.raises(SMTPReplyError) as info:
        run(engine.rset(), [C(b"RSET\r\n"), S(b"550 \x00bad\xff\r\n")])
    assert info.value.reply_text == "?bad\ufffd"
    assert "\x00" not in str(info.value)


# -- 11. unsolicited replies ------------------------------------------------------------------------------

def test_reply_beyond_what_was_asked_is_a_protocol_error():
    engine, _ = ready_engine()
    with pytest.raises(SMTPProtocolError) as info:
        run(engine.noop(), [C(b"NOOP\r\n"), S(b"250 ok\r\n250 surprise\r\n")])
    assert "unsolicited" in str(info.value)
    assert engine.closed
    with pytest.raises(SMTPNotConnectedError):  # never matched to a next command
        run(engine.noop(), [])


def test_partial_extra_bytes_are_unsolicited_too():
    engine, _ = ready_engine()
    with pytest.raises(SMTPProtocolError):
        run(engine.noop(), [C(b"NOOP\r\n"), S(b"250 ok\r\n55")])
    assert engine.closed


def test_extra_continuation_line_after_the_reply_is_unsolicited():
    engine, _ = ready_engine()
    with pytest.raises(SMTPProtocolError):
        run(engine.noop(), [C(b"NOOP\r\n"), S(b"250 ok\r\n250-half\r\n")])


def test_unsolicited_reply_after_the_greeting():
    from tests.engine.test_greeting_hello import new_engine

    engine, _ = new_engine()
    with pytest.raises(SMTPProtocolError):
        run(engine.greeting(), [S(b"220 hi\r\n250 extra\r\n")])


def test_unsolicited_reply_after_ehlo():
    engine, _ = ready_engine()
    with pytest.raises(SMTPProtocolError):
        run(engine.hello("c"), [C(b"EHLO c\r\n"), S(b"250 mx\r\n250 sneaky\r\n")])


def test_more_pipelined_replies_than_commands():
    engine, _ = ready_engine("PIPELINING", "CHUNKING")
    peer = Peer([
        C(b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nBDAT %d LAST\r\n" % len(MSG) + MSG),
        S(b"250 ok\r\n250 ok\r\n250 queued\r\n250 one too many\r\n"),
    ])
    with pytest.raises(SMTPProtocolError):
        peer.drive(engine.send_mail(mail(), Content.from_bytes(MSG)))
    assert peer.done and engine.closed


def test_a_refused_recipient_never_shifts_the_others():
    engine, _ = ready_engine("PIPELINING", options=EngineOptions(stop_on_to_errors=False))
    peer = Peer([
        C(b"MAIL FROM:<a@x.example>\r\nRCPT TO:<r1@y.example>\r\nRCPT TO:<r2@y.example>\r\n"
          b"RCPT TO:<r3@y.example>\r\nDATA\r\n"),
        S(b"250 ok\r\n250 2.1.5 r1\r\n550 5.1.1 r2 unknown\r\n250 2.1.5 r3\r\n354 go\r\n"),
        C(MSG + b".\r\n"), S(b"250 2.0.0 queued\r\n"),
    ])
    result = peer.drive(engine.send_mail(mail("r1@y.example", "r2@y.example", "r3@y.example"), Content.from_bytes(MSG)))
    assert peer.done
    assert [(r.address, r.reply.lines[0]) for r in result.accepted] == [("r1@y.example", "2.1.5 r1"),
                                                                          ("r3@y.example", "2.1.5 r3")]
    assert result.refused_addresses == ["r2@y.example"]
    assert result.refused[0].reply.enhanced == "5.1.1"


# -- 12. enhanced code of the wrong class -----------------------------------------------------------------

def test_enhanced_code_with_the_wrong_class_is_ignored():
    engine, _ = ready_engine()
    assert run(engine.noop(), [C(b"NOOP\r\n"), S(b"250 5.1.1 odd\r\n")]).enhanced is None
    with pytest.raises(SMTPReplyError) as info:
        run(engine.rset(), [C(b"RSET\r\n"), S(b"550 2.0.0 odd\r\n")])
    assert info.value.enhanced is None and info.value.reply_code == 550


# -- 1, 5. timeouts are the driver's: it throws them in, the session is closed --------------------------

def test_timeout_waiting_for_the_greeting():
    from tests.engine.test_greeting_hello import new_engine
    from smtpx.errors import SMTPTimeoutError

    engine, _ = new_engine()
    operation = engine.greeting()
    next(operation)  # Read
    with pytest.raises(SMTPTimeoutError):
        operation.throw(SMTPTimeoutError("no greeting within 60 s"))
    assert engine.closed


def test_timeout_waiting_for_the_reply_to_the_final_dot():
    from smtpx.engine import Read, Write
    from smtpx.errors import SMTPTimeoutError

    engine, _ = one_by_one()
    operation = engine.send_mail(mail(), Content.from_bytes(MSG))
    replies = iter([b"250 ok\r\n", b"250 ok\r\n", b"354 go\r\n"])
    action = next(operation)
    written = b""
    while True:
        if isinstance(action, Write):
            written += action.data
            action = operation.send(None)
            continue
        assert isinstance(action, Read)
        reply = next(replies, None)
        if reply is None:
            break
        action = operation.send(reply)
    assert written.endswith(MSG + b".\r\n")
    with pytest.raises(SMTPTimeoutError):
        operation.throw(SMTPTimeoutError("no reply to the end of data"))
    assert engine.closed


# -- 11. data seen by the driver while idle ---------------------------------------------------------------

def test_idle_data_is_never_a_reply():
    engine, sink = ready_engine()
    with pytest.raises(SMTPProtocolError):
        engine.unsolicited(b"250 2.0.0 ok, here is a reply for your next command\r\n")
    assert engine.closed
    assert sink.server_lines() == ["250 2.0.0 ok, here is a reply for your next command"]


def test_idle_421_is_the_server_closing():
    engine, _ = ready_engine()
    with pytest.raises(SMTPServiceClosing) as info:
        engine.unsolicited(b"421 4.4.2 idle too long\r\n")
    assert info.value.enhanced == "4.4.2" and engine.closed
