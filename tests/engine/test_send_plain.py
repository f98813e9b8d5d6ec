"""send_mail when nobody listens to pi_trail: replies whose bytes are exactly a delivery's
(Channel.plain_read, smtpx.kernels.plain_replies) let the content go before they are parsed.
Every script gives what the traced run gives (the same bytes written, the same result or
error); only a plain read takes the early way."""
import pytest

from tests.engine.scripted import EOF, C, Peer, RecordingSink, S, ScriptMismatch, ready_engine
from tests.engine.test_batch import describe
from smtpx.engine import Content, EngineOptions, Envelope, EnvelopeRecipient

MSG = b"Subject: t\r\n\r\nhello\r\n"
ONE = b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nDATA\r\n"
TWO = b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nRCPT TO:<c@y.example>\r\nDATA\r\n"
NO_STOP = EngineOptions(stop_on_to_errors=False, stop_on_cc_errors=False)

SCRIPTS = {
    "a delivery": ([C(ONE), S(b"250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go\r\n"), C(MSG + b".\r\n"),
                    S(b"250 2.0.0 queued\r\n")], True),
    "two recipients": ([C(TWO), S(b"250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n"), C(MSG + b".\r\n"),
                        S(b"250 queued\r\n")], True),
    "replies split across reads": ([C(ONE), S(b"250 ok\r\n25"), S(b"0 ok\r\n354 go\r\n"), C(MSG + b".\r\n"),
                                    S(b"250 queued\r\n")], False),
    "a multi-line 354": ([C(ONE), S(b"250 ok\r\n250 ok\r\n354-go\r\n354 on\r\n"), C(MSG + b".\r\n"),
                          S(b"250 queued\r\n")], False),
    "a refused recipient": ([C(TWO), S(b"250 ok\r\n550 5.1.1 no\r\n250 ok\r\n354 go\r\n"), C(MSG + b".\r\n"),
                             S(b"250 queued\r\n")], False),
    "every recipient refused": ([C(ONE), S(b"250 ok\r\n550 5.1.1 no\r\n554 no valid recipients\r\n"),
                                 C(b"RSET\r\n"), S(b"250 ok\r\n")], False),
    "DATA refused": ([C(ONE), S(b"250 ok\r\n250 ok\r\n451 try later\r\n"), C(b"RSET\r\n"), S(b"250 ok\r\n")], False),
    "the end of data refused": ([C(ONE), S(b"250 ok\r\n250 ok\r\n354 go\r\n"), C(MSG + b".\r\n"),
                                 S(b"554 5.7.1 rejected\r\n")], True),
    "the server closes after the envelope": ([C(ONE), EOF], False),
    "the server closes after the content": ([C(ONE), S(b"250 ok\r\n250 ok\r\n354 go\r\n"), C(MSG + b".\r\n"), EOF],
                                            True),
    "a 421 instead of the 354": ([C(ONE), S(b"250 ok\r\n250 ok\r\n421 closing\r\n")], False),
}


def run_script(script, quiet: bool):
    sink = RecordingSink()
    if quiet:
        sink.pi_trail_enabled = False
    engine, _ = ready_engine("PIPELINING", options=NO_STOP, sink=sink)
    recipients = ["b@y.example", "c@y.example"] if C(TWO) in script else ["b@y.example"]
    peer = Peer(list(script))
    try:
        outcome = peer.drive(engine.send_mail(Envelope("a@x.example", [EnvelopeRecipient(r) for r in recipients]),
                                              Content.from_bytes(MSG)))
    except ScriptMismatch:
        raise
    except Exception as error:
        outcome = error
    assert peer.done, peer.remaining()
    return describe(outcome), bytes(peer.written), engine.last_reply


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_quiet_send_mail_gives_what_the_traced_one_gives(name, monkeypatch):
    from smtpx.engine import channel

    script, plain = SCRIPTS[name]
    traced = run_script(script, quiet=False)
    real, verdicts = channel.plain_replies, []

    def spy(data, expect, max_line):
        verdicts.append(real(data, expect, max_line))
        return verdicts[-1]

    monkeypatch.setattr(channel, "plain_replies", spy)
    assert run_script(script, quiet=True) == traced
    assert (True in verdicts) is plain  # the early way only for a delivery's plain replies



@pytest.mark.parametrize("quiet", [False, True], ids=["traced", "quiet"])
@pytest.mark.parametrize("fail_at", range(4))
def test_an_error_thrown_into_any_action_closes_the_session(fail_at, quiet):
    """send_mail's DATA path yields its Writes and Reads to the driver itself (no channel
    generator between): an error the driver throws into any of them (a broken connection, a
    timeout, an interrupt) still ends the session, and a failed content Write says whether
    the end of data may have gone out (delivery unknown) or not."""
    from smtpx.engine.actions import Read, Write
    from smtpx.errors import SMTPConnectionDropped

    for went_all in ((False, True) if fail_at == 2 else (False,)):
        sink = RecordingSink()
        sink.pi_trail_enabled = not quiet
        engine, _ = ready_engine("PIPELINING", options=NO_STOP, sink=sink)
        replies = iter([b"250 ok\r\n250 ok\r\n354 go\r\n", b"250 queued\r\n"])
        operation = engine.send_mail(Envelope("a@x.example", [EnvelopeRecipient("b@y.example")]),
                                     Content.from_bytes(MSG))
        action = next(operation)
        for _ in range(fail_at):
            action = operation.send(next(replies) if isinstance(action, Read) else None)
        assert isinstance(action, Write if fail_at % 2 == 0 else Read)
        cut = SMTPConnectionDropped("the connection broke")
        if went_all:
            cut.bytes_written = len(action.data)  # (as a driver says how much went out)
        with pytest.raises(SMTPConnectionDropped) as info:
            operation.throw(cut)
        assert engine.closed
        if went_all or fail_at == 3:  # the content and "." all went out
            assert info.value is not cut and info.value.delivery_unknown is True
        else:
            assert info.value is cut
