"""send_mail's ``meanwhile``: the caller's work for the server's turn after the end of data.
It runs once, when the end of data has gone out and its reply is the next thing read, on every
path a message can take (DATA pipelined, BDAT, one command at a time), and never when no end
of data went out."""
import pytest

from tests.engine.scripted import C, S, Peer, ScriptMismatch, ready_engine
from smtpx.engine import Content, EngineOptions, Envelope, EnvelopeRecipient
from smtpx.errors import SMTPDataError, SMTPRecipientsRefused

MSG = b"Subject: t\r\n\r\nhello\r\n"
ENVELOPE = b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\n"


def env():
    return Envelope("a@x.example", [EnvelopeRecipient("b@y.example")])


class Witness:
    """A meanwhile that records what the peer had seen when it ran."""

    def __init__(self, peer: Peer) -> None:
        self.peer = peer
        self.calls: list[tuple[bytes, object]] = []

    def __call__(self) -> None:
        self.calls.append((bytes(self.peer.written), self.peer._head()))


def drive(capabilities, script, options=None):
    engine, _ = ready_engine(*capabilities, options=options)
    peer = Peer(list(script))
    witness = Witness(peer)
    try:
        result = peer.drive(engine.send_mail(env(), Content.from_bytes(MSG), meanwhile=witness))
    except ScriptMismatch:
        raise
    except Exception as error:  # the SMTP error: the tests check what ran before it
        result = error
    return result, witness, peer


FINAL = S(b"250 2.0.0 queued\r\n")


@pytest.mark.parametrize("capabilities, script", [
    pytest.param(("PIPELINING",), [C(ENVELOPE + b"DATA\r\n"), S(b"250 ok\r\n250 ok\r\n354 go\r\n"),
                                   C(MSG + b".\r\n"), FINAL], id="pipelined DATA"),
    pytest.param((), [C(b"MAIL FROM:<a@x.example>\r\n"), S(b"250 ok\r\n"), C(b"RCPT TO:<b@y.example>\r\n"),
                      S(b"250 ok\r\n"), C(b"DATA\r\n"), S(b"354 go\r\n"), C(MSG + b".\r\n"), FINAL],
                 id="one command at a time"),
    pytest.param(("PIPELINING", "CHUNKING"), [C(ENVELOPE + b"BDAT %d LAST\r\n" % len(MSG) + MSG),
                                               S(b"250 ok\r\n250 ok\r\n250 2.0.0 queued\r\n")], id="BDAT"),
])
def test_meanwhile_runs_once_after_the_end_of_data_went_out_and_before_its_reply(capabilities, script):
    final = script[-1]
    result, witness, peer = drive(capabilities, script)
    assert peer.done and result.all_accepted
    assert len(witness.calls) == 1
    written, next_step = witness.calls[0]
    assert written == peer.written  # everything was written before it ran ...
    assert written.endswith(MSG + b".\r\n") or written.endswith(b"LAST\r\n" + MSG)
    assert next_step is final  # ... and the reply to the end of data was not read yet


def test_meanwhile_also_runs_when_the_end_of_data_is_refused():
    result, witness, peer = drive(("PIPELINING",), [
        C(ENVELOPE + b"DATA\r\n"), S(b"250 ok\r\n250 ok\r\n354 go\r\n"), C(MSG + b".\r\n"),
        S(b"554 5.7.1 rejected\r\n"),
    ])
    assert isinstance(result, SMTPDataError) and peer.done
    assert len(witness.calls) == 1


@pytest.mark.parametrize("capabilities, script", [
    pytest.param(("PIPELINING",), [C(ENVELOPE + b"DATA\r\n"), S(b"250 ok\r\n550 5.1.1 no such user\r\n554 no valid recipients\r\n"),
                                   C(b"RSET\r\n"), S(b"250 ok\r\n")],
                 id="the recipient refused, DATA pipelined"),
    pytest.param(("PIPELINING",), [C(ENVELOPE + b"DATA\r\n"), S(b"250 ok\r\n250 ok\r\n451 4.3.0 try later\r\n"),
                                   C(b"RSET\r\n"), S(b"250 ok\r\n")],
                 id="DATA refused"),
    pytest.param((), [C(b"MAIL FROM:<a@x.example>\r\n"), S(b"250 ok\r\n"), C(b"RCPT TO:<b@y.example>\r\n"),
                      S(b"550 5.1.1 no such user\r\n"), C(b"RSET\r\n"), S(b"250 ok\r\n")],
                 id="the recipient refused, one command at a time"),
])
def test_meanwhile_never_runs_when_no_end_of_data_went_out(capabilities, script):
    result, witness, peer = drive(capabilities, script)
    assert isinstance(result, (SMTPRecipientsRefused, SMTPDataError)), result
    assert peer.done and witness.calls == []


def test_without_meanwhile_nothing_changes_on_the_wire():
    engine, _ = ready_engine("PIPELINING", options=EngineOptions())
    peer = Peer([C(ENVELOPE + b"DATA\r\n"), S(b"250 ok\r\n250 ok\r\n354 go\r\n"), C(MSG + b".\r\n"), FINAL])
    result = peer.drive(engine.send_mail(env(), Content.from_bytes(MSG)))
    assert peer.done and result.all_accepted
