"""VRFY, EXPN, NOOP, RSET, QUIT, raw commands and the state table."""
import pytest

from tests.engine.scripted import C, EOF, S, Peer, RecordingSink, ready_engine, run
from smtpx.engine import TRANSITIONS, Content, Engine, EngineOptions, Envelope, EnvelopeRecipient, State
from smtpx.errors import SMTPBusyError, SMTPInputError, SMTPNotConnectedError, SMTPReplyError, SMTPServiceClosing


def test_vrfy():
    engine, sink = ready_engine()
    reply = run(engine.verify("john"), [C(b"VRFY john\r\n"), S(b"250 2.1.5 John <john@y.example>\r\n")])
    assert reply.lines == ["2.1.5 John <john@y.example>"]
    assert sink.client_lines() == ["VRFY john"]


def test_vrfy_252_is_not_an_error():
    engine, _ = ready_engine()
    assert run(engine.verify("john"), [C(b"VRFY john\r\n"), S(b"252 2.5.2 cannot verify\r\n")]).code == 252


def test_vrfy_refused():
    engine, _ = ready_engine()
    with pytest.raises(SMTPReplyError) as info:
        run(engine.verify("nobody"), [C(b"VRFY nobody\r\n"), S(b"550 5.1.1 unknown\r\n")])
    assert (info.value.reply_code, info.value.enhanced) == (550, "5.1.1")


def test_vrfy_non_ascii_with_smtputf8():
    engine, _ = ready_engine("SMTPUTF8")
    run(engine.verify("jösé"), [C("VRFY jösé SMTPUTF8\r\n".encode()), S(b"250 ok\r\n")])


def test_expn_returns_one_address_per_line():
    engine, _ = ready_engine()
    expansion = run(engine.expand("staff"), [C(b"EXPN staff\r\n"), S(
        b"250-Jon Postel <postel@isi.example>\r\n250-<fred@x.example>\r\n250 Sam <sam@y.example>\r\n")])
    assert expansion.addresses == ["Jon Postel <postel@isi.example>", "<fred@x.example>", "Sam <sam@y.example>"]
    assert len(expansion.reply.lines) == 3


def test_expn_refused_returns_nothing():
    engine, sink = ready_engine()
    with pytest.raises(SMTPReplyError):
        run(engine.expand("staff"), [C(b"EXPN staff\r\n"), S(b"502 5.5.1 not here\r\n")])
    assert sink.events == [] and sink.errors == []  # the sink hears no expansion either way


def test_noop_and_rset():
    engine, sink = ready_engine()
    assert run(engine.noop(), [C(b"NOOP\r\n"), S(b"250 2.0.0 ok\r\n")]).enhanced == "2.0.0"
    assert run(engine.rset(), [C(b"RSET\r\n"), S(b"250 ok\r\n")]).code == 250
    assert sink.client_lines() == ["NOOP", "RSET"]


def test_raw_command_returns_any_reply():
    engine, sink = ready_engine()
    assert run(engine.command("HELP"), [C(b"HELP\r\n"), S(b"214-help\r\n214 end\r\n")]).lines == ["help", "end"]
    assert run(engine.command("XFOO bar"), [C(b"XFOO bar\r\n"), S(b"502 5.5.2 what\r\n")]).code == 502
    assert not engine.closed
    assert sink.client_lines() == ["HELP", "XFOO bar"]
    assert engine.last_reply.code == 502


def test_raw_command_421_closes():
    engine, _ = ready_engine()
    with pytest.raises(SMTPServiceClosing):
        run(engine.command("XFOO"), [C(b"XFOO\r\n"), S(b"421 bye\r\n")])
    assert engine.closed


def test_quit():
    engine, _ = ready_engine()
    reply = run(engine.quit(), [C(b"QUIT\r\n"), S(b"221 2.0.0 bye\r\n")])
    assert reply.code == 221 and engine.closed and engine.state is State.CLOSED
    with pytest.raises(SMTPNotConnectedError):
        run(engine.noop(), [])


def test_quit_tolerates_a_server_that_just_closes():
    engine, _ = ready_engine()
    assert run(engine.quit(), [C(b"QUIT\r\n"), EOF]) is None
    assert engine.closed


def test_operations_in_the_wrong_state_write_nothing():
    engine = Engine(EngineOptions(), RecordingSink())
    for operation in (engine.hello("c"), engine.noop(), engine.send_mail(
            Envelope("a@b.example", [EnvelopeRecipient("c@d.example")]), Content.from_bytes(b"x"))):
        peer = Peer([])
        with pytest.raises(SMTPInputError):
            peer.drive(operation)
        assert peer.written == b""
    run(engine.greeting(), [S(b"220 hi\r\n")])
    with pytest.raises(SMTPInputError):  # a greeting only once
        run(engine.greeting(), [])
    with pytest.raises(SMTPInputError):  # mail before EHLO
        run(engine.send_mail(Envelope("a@b.example", [EnvelopeRecipient("c@d.example")]), Content.from_bytes(b"x")), [])


def test_one_operation_at_a_time():
    engine, _ = ready_engine()
    first = engine.noop()
    next(first)
    with pytest.raises(SMTPBusyError):
        next(engine.rset())
    assert first.send(None) is not None  # the first goes on: Read
    with pytest.raises(StopIteration):
        first.send(b"250 ok\r\n")
    run(engine.rset(), [C(b"RSET\r\n"), S(b"250 ok\r\n")])


def test_abandoned_operation_closes_the_session():
    engine, _ = ready_engine()
    operation = engine.noop()
    next(operation)
    operation.close()  # the driver gave up mid-way: where the stream is, nobody knows
    assert engine.closed


def test_transition_table_covers_every_operation():
    for name in ("greeting", "hello", "starttls", "authenticate", "send_mail", "command", "verify", "expand",
                 "noop", "rset", "quit"):
        assert name in TRANSITIONS and hasattr(Engine, name)


def test_sink_without_listener_gets_no_trace_but_errors_still_carry_the_reply():
    sink = RecordingSink()
    sink.pi_trail_enabled = False
    engine, _ = ready_engine(sink=sink)
    with pytest.raises(SMTPReplyError) as info:
        run(engine.rset(), [C(b"RSET\r\n"), S(b"550 5.0.0 no\r\n")])
    assert sink.trail == [] and info.value.reply_text == "5.0.0 no"
    assert engine.last_reply.code == 550
