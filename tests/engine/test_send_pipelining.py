"""send_mail command flow: PIPELINING batching, one-at-a-time servers, DATA vs BDAT."""
import pytest

from tests.engine.scripted import C, S, Peer, ready_engine, run
from smtpx.engine import Content, EngineOptions, Envelope, EnvelopeRecipient
from smtpx.enums import RecipientType
from smtpx.errors import SMTPDataError, SMTPRecipientsRefused, SMTPSenderRefused

MSG = b"Subject: t\r\n\r\nhello\r\n"
NO_STOP = EngineOptions(stop_on_to_errors=False, stop_on_cc_errors=False)


def env(*rcpts, sender="a@x.example", verb="MAIL"):
    return Envelope(sender, [r if isinstance(r, EnvelopeRecipient) else EnvelopeRecipient(r) for r in rcpts], verb)


def test_one_recipient_pipelines_mail_rcpt_data_in_one_write():
    engine, sink = ready_engine("PIPELINING")
    peer = Peer([
        C(b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nDATA\r\n"),
        S(b"250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go\r\n"),
        C(MSG + b".\r\n"), S(b"250 2.0.0 queued as X\r\n"),
    ])
    result = peer.drive(engine.send_mail(env("b@y.example"), Content.from_bytes(MSG)))
    assert peer.done
    assert peer.writes[0] == b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nDATA\r\n"
    assert result.reply.lines == ["2.0.0 queued as X"] and result.reply.enhanced == "2.0.0"
    assert [r.address for r in result.accepted] == ["b@y.example"] and result.all_accepted
    assert sink.client_lines() == ["MAIL FROM:<a@x.example>", "RCPT TO:<b@y.example>", "DATA"]
    assert sink.server_lines() == ["250 2.1.0 ok", "250 2.1.5 ok", "354 go", "250 2.0.0 queued as X"]


def test_stop_rules_with_several_recipients_wait_for_rcpt_replies_before_data():
    engine, _ = ready_engine("PIPELINING")
    peer = Peer([
        C(b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nRCPT TO:<c@y.example>\r\n"),
        S(b"250 ok\r\n250 ok\r\n250 ok\r\n"),
        C(b"DATA\r\n"), S(b"354 go\r\n"), C(MSG + b".\r\n"), S(b"250 ok\r\n"),
    ])
    result = peer.drive(engine.send_mail(env("b@y.example", "c@y.example"), Content.from_bytes(MSG)))
    assert peer.done and len(result.accepted) == 2
    assert peer.writes[0].count(b"\r\n") == 3


def test_without_stop_rules_data_is_pipelined_with_several_recipients():
    engine, _ = ready_engine("PIPELINING", options=NO_STOP)
    run(engine.send_mail(env("b@y.example", "c@y.example"), Content.from_bytes(MSG)), [
        C(b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nRCPT TO:<c@y.example>\r\nDATA\r\n"),
        S(b"250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n"), C(MSG + b".\r\n"), S(b"250 ok\r\n"),
    ])


def test_only_bcc_refusal_possible_keeps_pipelining():
    # Bcc refusals do not stop the send by default, so DATA may go with the RCPTs.
    engine, sink = ready_engine("PIPELINING", options=NO_STOP)
    rcpts = [EnvelopeRecipient("b@y.example", RecipientType.BCC), EnvelopeRecipient("c@y.example", RecipientType.BCC)]
    result = run(engine.send_mail(env(*rcpts), Content.from_bytes(MSG)), [
        C(b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nRCPT TO:<c@y.example>\r\nDATA\r\n"),
        S(b"250 ok\r\n550 5.1.1 no such user\r\n250 ok\r\n354 go\r\n"), C(MSG + b".\r\n"), S(b"250 ok\r\n"),
    ])
    assert result.refused_addresses == ["b@y.example"]
    assert len(sink.errors) == 1 and "b@y.example" in sink.errors[0][1] and "5.1.1" in sink.errors[0][1]


def test_without_pipelining_one_command_at_a_time():
    engine, _ = ready_engine("8BITMIME")
    result = run(engine.send_mail(env("b@y.example", "c@y.example"), Content.from_bytes(MSG)), [
        C(b"MAIL FROM:<a@x.example>\r\n"), S(b"250 ok\r\n"),
        C(b"RCPT TO:<b@y.example>\r\n"), S(b"250 ok\r\n"),
        C(b"RCPT TO:<c@y.example>\r\n"), S(b"250 ok\r\n"),
        C(b"DATA\r\n"), S(b"354 go\r\n"), C(MSG + b".\r\n"), S(b"250 ok\r\n"),
    ])
    assert len(result.accepted) == 2


def test_pipelining_switched_off_by_option():
    engine, _ = ready_engine("PIPELINING", options=EngineOptions(use_pipelining=False))
    run(engine.send_mail(env("b@y.example"), Content.from_bytes(MSG)), [
        C(b"MAIL FROM:<a@x.example>\r\n"), S(b"250 ok\r\n"), C(b"RCPT TO:<b@y.example>\r\n"), S(b"250 ok\r\n"),
        C(b"DATA\r\n"), S(b"354 go\r\n"), C(MSG + b".\r\n"), S(b"250 ok\r\n"),
    ])


def test_chunking_one_recipient_sends_everything_in_one_write():
    engine, _ = ready_engine("PIPELINING", "CHUNKING")
    peer = Peer([
        C(b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nBDAT %d LAST\r\n" % len(MSG) + MSG),
        S(b"250 ok\r\n250 ok\r\n250 2.0.0 queued\r\n"),
    ])
    result = peer.drive(engine.send_mail(env("b@y.example"), Content.from_bytes(MSG)))
    assert peer.done and len(peer.writes) == 1
    assert result.reply.lines == ["2.0.0 queued"]


def test_chunking_with_stop_rules_waits_for_rcpt_replies():
    engine, _ = ready_engine("PIPELINING", "CHUNKING")
    run(engine.send_mail(env("b@y.example", "c@y.example"), Content.from_bytes(MSG)), [
        C(b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nRCPT TO:<c@y.example>\r\n"),
        S(b"250 ok\r\n250 ok\r\n250 ok\r\n"),
        C(b"BDAT %d LAST\r\n" % len(MSG) + MSG), S(b"250 ok\r\n"),
    ])


def test_chunking_switched_off_uses_data():
    engine, _ = ready_engine("PIPELINING", "CHUNKING", options=EngineOptions(use_chunking=False))
    run(engine.send_mail(env("b@y.example"), Content.from_bytes(MSG)), [
        C(b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nDATA\r\n"),
        S(b"250 ok\r\n250 ok\r\n354 go\r\n"), C(MSG + b".\r\n"), S(b"250 ok\r\n"),
    ])


def test_chunking_without_pipelining_waits_for_each_reply():
    engine, _ = ready_engine("CHUNKING", options=EngineOptions(chunk_size=10))
    run(engine.send_mail(env("b@y.example"), Content([MSG], None)), [
        C(b"MAIL FROM:<a@x.example>\r\n"), S(b"250 ok\r\n"), C(b"RCPT TO:<b@y.example>\r\n"), S(b"250 ok\r\n"),
        C(b"BDAT 10\r\n" + MSG[:10]), S(b"250 ok\r\n"),
        C(b"BDAT 10\r\n" + MSG[10:20]), S(b"250 ok\r\n"),
        C(b"BDAT %d LAST\r\n" % len(MSG[20:]) + MSG[20:]), S(b"250 done\r\n"),
    ])


def test_chunks_of_unknown_size_end_with_bdat_0_last():
    engine, _ = ready_engine("PIPELINING", "CHUNKING", options=EngineOptions(chunk_size=8))
    body = b"12345678abcdefgh"  # exactly two pieces, CRLF-free so normalising changes nothing
    run(engine.send_mail(env("b@y.example"), Content([body[:5], body[5:]], None, normalise=False, binary=False)), [
        C(b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nBDAT 8\r\n12345678"),
        C(b"BDAT 8\r\nabcdefgh"), C(b"BDAT 0 LAST\r\n"),
        S(b"250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 done\r\n"),
    ])


def test_pipelined_bdat_chunk_refused():
    engine, _ = ready_engine("PIPELINING", "CHUNKING")
    with pytest.raises(SMTPDataError) as info:
        run(engine.send_mail(env("b@y.example"), Content.from_bytes(MSG)), [
            C(b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nBDAT %d LAST\r\n" % len(MSG) + MSG),
            S(b"250 ok\r\n250 ok\r\n552 5.3.4 too big\r\n"),
        ])
    assert (info.value.reply_code, info.value.enhanced) == (552, "5.3.4")


def test_mail_refused_pipelined_reads_every_reply():
    engine, _ = ready_engine("PIPELINING")
    with pytest.raises(SMTPSenderRefused) as info:
        run(engine.send_mail(env("b@y.example"), Content.from_bytes(MSG)), [
            C(b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nDATA\r\n"),
            S(b"550 5.7.1 sender rejected\r\n503 5.5.1 need MAIL\r\n503 5.5.1 need RCPT\r\n"),
        ])
    assert (info.value.reply_code, info.value.enhanced) == (550, "5.7.1")
    assert not engine.closed
    assert run(engine.noop(), [C(b"NOOP\r\n"), S(b"250 ok\r\n")]).code == 250  # still in step


def test_mail_refused_one_at_a_time_stops_at_once():
    engine, _ = ready_engine()
    with pytest.raises(SMTPSenderRefused):
        run(engine.send_mail(env("b@y.example"), Content.from_bytes(MSG)),
            [C(b"MAIL FROM:<a@x.example>\r\n"), S(b"553 5.1.8 bad sender\r\n")])


def test_pipelined_data_accepted_although_the_only_recipient_was_refused():
    engine, _ = ready_engine("PIPELINING")
    with pytest.raises(SMTPRecipientsRefused) as info:
        run(engine.send_mail(env("b@y.example"), Content.from_bytes(MSG)), [
            C(b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nDATA\r\n"),
            S(b"250 ok\r\n550 5.1.1 unknown\r\n354 go anyway\r\n"),
            C(b".\r\n"), S(b"554 5.5.1 no valid recipients\r\n"),
            C(b"RSET\r\n"), S(b"250 ok\r\n"),
        ])
    assert info.value.result.refused_addresses == ["b@y.example"]


def test_data_refused_resets():
    engine, _ = ready_engine()
    with pytest.raises(SMTPDataError) as info:
        run(engine.send_mail(env("b@y.example"), Content.from_bytes(MSG)), [
            C(b"MAIL FROM:<a@x.example>\r\n"), S(b"250 ok\r\n"), C(b"RCPT TO:<b@y.example>\r\n"), S(b"250 ok\r\n"),
            C(b"DATA\r\n"), S(b"554 5.5.1 no\r\n"), C(b"RSET\r\n"), S(b"250 ok\r\n"),
        ])
    assert info.value.reply_code == 554


def test_end_of_data_refused():
    engine, _ = ready_engine()
    with pytest.raises(SMTPDataError) as info:
        run(engine.send_mail(env("b@y.example"), Content.from_bytes(MSG)), [
            C(b"MAIL FROM:<a@x.example>\r\n"), S(b"250 ok\r\n"), C(b"RCPT TO:<b@y.example>\r\n"), S(b"250 ok\r\n"),
            C(b"DATA\r\n"), S(b"354 go\r\n"), C(MSG + b".\r\n"), S(b"554 5.7.1 spam\r\n"),
        ])
    assert (info.value.reply_code, info.value.enhanced) == (554, "5.7.1")
    assert [r.address for r in info.value.result.accepted] == []  # nothing was delivered


@pytest.mark.parametrize("verb", ["SEND", "SOML", "SAML", "send"])
def test_send_to_terminal_verbs(verb):
    engine, _ = ready_engine()
    run(engine.send_mail(env("b@y.example", verb=verb), Content.from_bytes(MSG)), [
        C(b"%s FROM:<a@x.example>\r\n" % verb.upper().encode()), S(b"250 ok\r\n"),
        C(b"RCPT TO:<b@y.example>\r\n"), S(b"250 ok\r\n"),
        C(b"DATA\r\n"), S(b"354 go\r\n"), C(MSG + b".\r\n"), S(b"250 ok\r\n"),
    ])


@pytest.mark.parametrize("sender", ["", "<>"])
def test_null_reverse_path(sender):
    engine, _ = ready_engine("PIPELINING")
    run(engine.send_mail(env("b@y.example", sender=sender), Content.from_bytes(MSG)), [
        C(b"MAIL FROM:<>\r\nRCPT TO:<b@y.example>\r\nDATA\r\n"), S(b"250 ok\r\n250 ok\r\n354 go\r\n"),
        C(MSG + b".\r\n"), S(b"250 ok\r\n"),
    ])


def test_two_messages_on_one_session():
    engine, _ = ready_engine("PIPELINING")
    for _ in range(2):
        run(engine.send_mail(env("b@y.example"), Content.from_bytes(MSG)), [
            C(b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nDATA\r\n"),
            S(b"250 ok\r\n250 ok\r\n354 go\r\n"), C(MSG + b".\r\n"), S(b"250 ok\r\n"),
        ])


def test_pipelined_bdat_with_the_only_recipient_refused():
    engine, _ = ready_engine("PIPELINING", "CHUNKING")
    with pytest.raises(SMTPRecipientsRefused) as info:
        run(engine.send_mail(env("b@y.example"), Content.from_bytes(MSG)), [
            C(b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nBDAT %d LAST\r\n" % len(MSG) + MSG),
            S(b"250 ok\r\n550 5.1.1 unknown\r\n554 5.5.1 no valid recipients\r\n"),
            C(b"RSET\r\n"), S(b"250 ok\r\n"),
        ])
    assert info.value.result.refused_addresses == ["b@y.example"] and info.value.reply_code == 550


def test_pipelined_bdat_then_close_means_delivery_unknown():
    from tests.engine.scripted import EOF
    from smtpx.errors import SMTPConnectionDropped

    engine, _ = ready_engine("PIPELINING", "CHUNKING")
    with pytest.raises(SMTPConnectionDropped) as info:
        run(engine.send_mail(env("b@y.example"), Content.from_bytes(MSG)), [
            C(b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nBDAT %d LAST\r\n" % len(MSG) + MSG),
            S(b"250 ok\r\n250 ok\r\n"), EOF,
        ])
    assert info.value.delivery_unknown is True and engine.closed


def test_pipelined_bdat_with_the_sender_refused():
    engine, _ = ready_engine("PIPELINING", "CHUNKING")
    with pytest.raises(SMTPSenderRefused):
        run(engine.send_mail(env("b@y.example"), Content.from_bytes(MSG)), [
            C(b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nBDAT %d LAST\r\n" % len(MSG) + MSG),
            S(b"550 5.7.1 no\r\n503 5.5.1 MAIL first\r\n503 5.5.1 MAIL first\r\n"),
        ])
    assert not engine.closed


def test_small_one_shot_stream_still_goes_in_one_write_with_bdat():
    engine, _ = ready_engine("PIPELINING", "CHUNKING")
    peer = Peer([
        C(b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nBDAT %d LAST\r\n" % len(MSG) + MSG),
        S(b"250 ok\r\n250 ok\r\n250 ok\r\n"),
    ])
    peer.drive(engine.send_mail(env("b@y.example"), Content(iter([MSG[:5], MSG[5:]]), len(MSG))))
    assert peer.done and len(peer.writes) == 1


def test_one_shot_stream_of_unknown_size_waits_for_rcpt_replies():
    engine, _ = ready_engine("PIPELINING", "CHUNKING")
    run(engine.send_mail(env("b@y.example"), Content(iter([MSG]), None)), [
        C(b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\n"), S(b"250 ok\r\n250 ok\r\n"),
        C(b"BDAT %d LAST\r\n" % len(MSG) + MSG), S(b"250 ok\r\n"),
    ])


def test_small_one_shot_stream_sent_early_is_resent_after_452():
    engine, _ = ready_engine("PIPELINING", "CHUNKING", options=NO_STOP)
    bdat = b"BDAT %d LAST\r\n" % len(MSG) + MSG
    result = run(engine.send_mail(env("b@y.example", "c@y.example"), Content(iter([MSG]), len(MSG))), [
        C(b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nRCPT TO:<c@y.example>\r\n" + bdat),
        S(b"250 ok\r\n250 ok\r\n452 4.5.3 later\r\n250 ok\r\n"),
        C(b"MAIL FROM:<a@x.example>\r\nRCPT TO:<c@y.example>\r\n" + bdat),
        S(b"250 ok\r\n250 ok\r\n250 ok\r\n"),
    ])
    assert [r.address for r in result.accepted] == ["b@y.example", "c@y.example"]


def test_eof_before_an_early_bdat_reply_after_bdat_last_is_delivery_unknown():
    # chunks sent after the RCPT replies, all pipelined: once BDAT LAST is out, any lost reply
    # leaves the delivery unknown
    from tests.engine.scripted import EOF
    from smtpx.errors import SMTPConnectionDropped

    engine, _ = ready_engine("PIPELINING", "CHUNKING", options=EngineOptions(chunk_size=10))
    with pytest.raises(SMTPConnectionDropped) as info:
        run(engine.send_mail(env("b@y.example", "c@y.example"), Content([MSG], None)), [
            C(b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nRCPT TO:<c@y.example>\r\n"),
            S(b"250 ok\r\n250 ok\r\n250 ok\r\n"),
            C(b"BDAT 10\r\n" + MSG[:10]), C(b"BDAT 10\r\n" + MSG[10:20]),
            C(b"BDAT %d LAST\r\n" % len(MSG[20:]) + MSG[20:]), EOF,
        ])
    assert info.value.delivery_unknown is True
