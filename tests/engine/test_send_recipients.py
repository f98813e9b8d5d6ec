"""Recipient outcomes: StopOn*Errors, all refused, 452 -> further transactions (FAULTS 29, 30)."""
import pytest

from tests.engine.scripted import C, S, Peer, ready_engine, run
from smtpx.engine import Content, EngineOptions, Envelope, EnvelopeRecipient
from smtpx.enums import RecipientType
from smtpx.errors import SMTPRecipientsRefused

MSG = b"Subject: t\r\n\r\nhello\r\n"
TO, CC, BCC = RecipientType.TO, RecipientType.CC, RecipientType.BCC


def env(*pairs):
    return Envelope("a@x.example", [EnvelopeRecipient(a, k) for a, k in pairs])


def rcpt_lines(*addresses):
    return b"".join(b"RCPT TO:<%s>\r\n" % a.encode() for a in addresses)


DELIVER = [C(b"DATA\r\n"), S(b"354 go\r\n"), C(MSG + b".\r\n"), S(b"250 ok\r\n")]


@pytest.mark.parametrize("kind, options", [
    (TO, EngineOptions()), (CC, EngineOptions()), (BCC, EngineOptions(stop_on_bcc_errors=True)),
])
def test_stop_rules_fail_the_send_without_data(kind, options):
    engine, sink = ready_engine("PIPELINING", options=options)
    peer = Peer([
        C(b"MAIL FROM:<a@x.example>\r\n" + rcpt_lines("ok@y.example", "bad@y.example")),
        S(b"250 ok\r\n250 ok\r\n550 5.1.1 unknown\r\n"),
        C(b"RSET\r\n"), S(b"250 ok\r\n"),
    ])
    with pytest.raises(SMTPRecipientsRefused) as info:
        peer.drive(engine.send_mail(env(("ok@y.example", TO), ("bad@y.example", kind)), Content.from_bytes(MSG)))
    assert peer.done and b"DATA" not in peer.written
    error = info.value
    assert (error.reply_code, error.enhanced) == (550, "5.1.1")
    assert error.result.refused_addresses == ["bad@y.example"]
    assert sink.errors == []  # a stopping refusal is the exception, not an on_error


@pytest.mark.parametrize("kind, options, data_pipelined", [
    (BCC, EngineOptions(), False),  # the To recipient could still stop the send
    (TO, EngineOptions(stop_on_to_errors=False), True),  # no rule applies to anyone: DATA goes along
    (CC, EngineOptions(stop_on_cc_errors=False), False),
])
def test_refusals_that_do_not_stop_fire_error_and_deliver(kind, options, data_pipelined):
    engine, sink = ready_engine("PIPELINING", options=options)
    commands = b"MAIL FROM:<a@x.example>\r\n" + rcpt_lines("ok@y.example", "bad@y.example")
    replies = b"250 ok\r\n250 ok\r\n550 5.1.1 unknown\r\n"
    if data_pipelined:
        script = [C(commands + b"DATA\r\n"), S(replies + b"354 go\r\n"), *DELIVER[2:]]
    else:
        script = [C(commands), S(replies), *DELIVER]
    result = run(engine.send_mail(env(("ok@y.example", TO), ("bad@y.example", kind)), Content.from_bytes(MSG)), script)
    assert [r.address for r in result.accepted] == ["ok@y.example"]
    assert result.was_refused("bad@y.example") and not result.was_refused("ok@y.example")
    assert result.refused[0].kind == kind
    assert len(sink.errors) == 1 and sink.errors[0][0] == 161


@pytest.mark.parametrize("send_rset", [True, False])
def test_all_refused_sends_no_data(send_rset):
    engine, _ = ready_engine(options=EngineOptions(stop_on_to_errors=False, send_rset=send_rset))
    script = [
        C(b"MAIL FROM:<a@x.example>\r\n"), S(b"250 ok\r\n"),
        C(b"RCPT TO:<b@y.example>\r\n"), S(b"550 5.1.1 no\r\n"),
        C(b"RCPT TO:<c@y.example>\r\n"), S(b"551 5.1.6 moved\r\n"),
    ]
    if send_rset:
        script += [C(b"RSET\r\n"), S(b"250 ok\r\n")]
    peer = Peer(script)
    with pytest.raises(SMTPRecipientsRefused) as info:
        peer.drive(engine.send_mail(env(("b@y.example", TO), ("c@y.example", TO)), Content.from_bytes(MSG)))
    assert peer.done and b"DATA" not in peer.written
    assert info.value.result.refused_addresses == ["b@y.example", "c@y.example"]
    assert [r.reply.code for r in info.value.result.refused] == [550, 551]


def test_mixed_replies_without_pipelining():
    engine, _ = ready_engine(options=EngineOptions(stop_on_to_errors=False))
    addresses = [f"r{i}@y.example" for i in range(6)]
    codes = [250, 550, 251, 450, 553, 250]
    script = [C(b"MAIL FROM:<a@x.example>\r\n"), S(b"250 ok\r\n")]
    for address, code in zip(addresses, codes):
        script += [C(rcpt_lines(address)), S(b"%d reply for %s\r\n" % (code, address.encode()))]
    result = run(engine.send_mail(env(*[(a, TO) for a in addresses]), Content.from_bytes(MSG)), script + DELIVER)
    assert [r.address for r in result.accepted] == ["r0@y.example", "r2@y.example", "r5@y.example"]
    assert [(r.address, r.reply.code) for r in result.refused] == [
        ("r1@y.example", 550), ("r3@y.example", 450), ("r4@y.example", 553)]
    for r in result.accepted + result.refused:
        assert r.reply.lines == [f"reply for {r.address}"]


def test_452_defers_recipients_to_a_further_transaction():
    engine, _ = ready_engine("PIPELINING", options=EngineOptions(stop_on_to_errors=False))
    names = [f"r{i}@y.example" for i in range(5)]
    script = [
        C(b"MAIL FROM:<a@x.example>\r\n" + rcpt_lines(*names) + b"DATA\r\n"),
        S(b"250 ok\r\n250 ok\r\n250 ok\r\n452 4.5.3 too many\r\n452 4.5.3 too many\r\n452 4.5.3 too many\r\n354 go\r\n"),
        C(MSG + b".\r\n"), S(b"250 first\r\n"),
        C(b"MAIL FROM:<a@x.example>\r\n" + rcpt_lines(*names[2:4]) + b"DATA\r\n"),
        S(b"250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n"), C(MSG + b".\r\n"), S(b"250 second\r\n"),
        C(b"MAIL FROM:<a@x.example>\r\n" + rcpt_lines(names[4]) + b"DATA\r\n"),
        S(b"250 ok\r\n250 ok\r\n354 go\r\n"), C(MSG + b".\r\n"), S(b"250 third\r\n"),
    ]
    result = run(engine.send_mail(env(*[(n, TO) for n in names]), Content.from_bytes(MSG)), script)
    assert sorted(r.address for r in result.accepted) == names and result.refused == []
    assert result.reply.lines == ["third"]


def test_452_with_a_one_shot_stream_is_spooled_and_resent():
    engine, _ = ready_engine("PIPELINING")
    pieces = [b"Subject: t\r\n", b"\r\n", b"hello\r\n"]
    stream = iter(pieces)
    script = [
        C(b"MAIL FROM:<a@x.example>\r\n" + rcpt_lines("b@y.example", "c@y.example")),
        S(b"250 ok\r\n250 ok\r\n452 4.5.3 later\r\n"), *DELIVER,
        C(b"MAIL FROM:<a@x.example>\r\n" + rcpt_lines("c@y.example") + b"DATA\r\n"),  # one recipient: DATA along
        S(b"250 ok\r\n250 ok\r\n354 go\r\n"), *DELIVER[2:],
    ]
    result = run(engine.send_mail(env(("b@y.example", TO), ("c@y.example", TO)), Content(stream, None)), script)
    assert [r.address for r in result.accepted] == ["b@y.example", "c@y.example"]


def test_452_for_everyone_is_no_progress_and_refuses():
    engine, _ = ready_engine("PIPELINING", options=EngineOptions(stop_on_to_errors=False))
    peer = Peer([
        C(b"MAIL FROM:<a@x.example>\r\n" + rcpt_lines("b@y.example", "c@y.example") + b"DATA\r\n"),
        S(b"250 ok\r\n452 4.5.3 full\r\n452 4.5.3 full\r\n503 5.5.1 no recipients\r\n"),
        C(b"RSET\r\n"), S(b"250 ok\r\n"),
    ])
    with pytest.raises(SMTPRecipientsRefused) as info:
        peer.drive(engine.send_mail(env(("b@y.example", TO), ("c@y.example", TO)), Content.from_bytes(MSG)))
    assert peer.done
    assert [(r.address, r.reply.code) for r in info.value.result.refused] == [("b@y.example", 452), ("c@y.example", 452)]


def test_ten_thousand_recipients_with_a_server_that_takes_100():
    """FAULT 29: every recipient ends accepted, in 100 transactions; none lost, each reported."""
    engine, _ = ready_engine("PIPELINING")
    names = [f"user{i}@y.example" for i in range(10_000)]
    script = []
    pending = names
    first = True
    while pending:
        batch = pending if first else pending[:100]
        taken = batch[:100]
        replies = b"250 ok\r\n" + b"250 2.1.5 ok\r\n" * len(taken) + b"452 4.5.3 too many\r\n" * (len(batch) - len(taken))
        script += [C(b"MAIL FROM:<a@x.example>\r\n" + rcpt_lines(*batch)), S(replies), *DELIVER]
        pending = pending[len(taken):]
        first = False
    peer = Peer(script)
    result = peer.drive(engine.send_mail(env(*[(n, TO) for n in names]), Content.from_bytes(MSG)))
    assert peer.done
    assert [r.address for r in result.accepted] == names
    assert result.refused == []
    assert peer.written.count(b"DATA\r\n") == 100


def test_452_then_refusal_in_the_later_transaction_is_reported():
    engine, sink = ready_engine(options=EngineOptions(stop_on_to_errors=False))
    script = [
        C(b"MAIL FROM:<a@x.example>\r\n"), S(b"250 ok\r\n"),
        C(rcpt_lines("b@y.example")), S(b"250 ok\r\n"),
        C(rcpt_lines("c@y.example")), S(b"452 4.5.3 later\r\n"),
        *DELIVER,
        C(b"MAIL FROM:<a@x.example>\r\n"), S(b"250 ok\r\n"),
        C(rcpt_lines("c@y.example")), S(b"550 5.1.1 gone\r\n"),
        C(b"RSET\r\n"), S(b"250 ok\r\n"),
    ]
    result = run(engine.send_mail(env(("b@y.example", TO), ("c@y.example", TO)), Content.from_bytes(MSG)), script)
    assert [r.address for r in result.accepted] == ["b@y.example"]
    assert [(r.address, r.reply.code) for r in result.refused] == [("c@y.example", 550)]
