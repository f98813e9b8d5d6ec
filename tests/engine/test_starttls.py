"""STARTTLS at the engine level: FAULTS 13, 14, 15, 16, 18."""
import pytest

from tests.engine.scripted import C, EOF, S, TLS, Peer, ehlo_reply, ready_engine, run
from smtpx.engine import Content, EngineOptions, Envelope, EnvelopeRecipient, State
from smtpx.errors import SMTPConnectionDropped, SMTPInputError, SMTPNotConnectedError, SMTPTLSError

REQUIRED = EngineOptions(tls_required=True)


def test_starttls_then_ehlo_again_with_fresh_capabilities():
    engine, sink = ready_engine("STARTTLS", "AUTH PLAIN", "SIZE 10")
    run(engine.starttls(), [C(b"STARTTLS\r\n"), S(b"220 2.0.0 go ahead\r\n"), TLS])
    assert engine.tls_active
    assert engine.state is State.GREETED
    # 18: what was learnt in plaintext is forgotten
    assert engine.capabilities.raw == {} and engine.capabilities.auth_mechanisms == set()
    assert engine.capabilities.size_limit is None
    run(engine.hello("c"), [C(b"EHLO c\r\n"), S(ehlo_reply("AUTH LOGIN", "SIZE 99"))])
    assert engine.capabilities.auth_mechanisms == {"LOGIN"} and engine.capabilities.size_limit == 99
    assert engine.state is State.READY
    assert sink.client_lines() == ["STARTTLS", "EHLO c"]


def test_mail_needs_a_new_ehlo_after_starttls():
    engine, _ = ready_engine("STARTTLS")
    run(engine.starttls(), [C(b"STARTTLS\r\n"), S(b"220 go\r\n"), TLS])
    peer = Peer([])
    with pytest.raises(SMTPInputError):
        peer.drive(engine.send_mail(Envelope("a@b.c", [EnvelopeRecipient("d@e.f")]), Content.from_bytes(b"x\r\n")))
    assert peer.written == b""


@pytest.mark.parametrize("code", [b"454 4.7.0 TLS not available", b"500 5.5.1 unknown command", b"501 syntax"])
def test_starttls_refused_when_required_sends_nothing_else(code):
    engine, _ = ready_engine("STARTTLS", options=REQUIRED)
    peer = Peer([C(b"STARTTLS\r\n"), S(code + b"\r\n")])
    with pytest.raises(SMTPTLSError) as info:
        peer.drive(engine.starttls())
    assert info.value.reply_code == int(code[:3])
    assert peer.done and peer.written == b"STARTTLS\r\n"
    assert engine.closed and not engine.tls_active
    # nothing else goes out in plaintext, not even QUIT
    assert run(engine.quit(), []) is None
    with pytest.raises(SMTPNotConnectedError):
        run(engine.send_mail(Envelope("a@b.c", [EnvelopeRecipient("d@e.f")]), Content.from_bytes(b"x\r\n")), [])


def test_starttls_refused_when_not_required_keeps_the_plaintext_session():
    engine, _ = ready_engine("STARTTLS")
    with pytest.raises(SMTPTLSError):
        run(engine.starttls(), [C(b"STARTTLS\r\n"), S(b"454 4.7.0 no\r\n")])
    assert not engine.closed and not engine.tls_active
    assert run(engine.noop(), [C(b"NOOP\r\n"), S(b"250 ok\r\n")]).code == 250


def test_starttls_missing_when_required_fails_before_writing():
    engine, _ = ready_engine("AUTH PLAIN", options=REQUIRED)  # stripped by a man in the middle
    peer = Peer([])
    with pytest.raises(SMTPTLSError):
        peer.drive(engine.starttls())
    assert peer.written == b"" and engine.closed


@pytest.mark.parametrize("operation", ["authenticate", "send_mail", "noop", "verify", "command"])
def test_tls_required_blocks_everything_in_plaintext(operation):
    engine, _ = ready_engine("AUTH PLAIN", "STARTTLS", options=REQUIRED)
    calls = {
        "authenticate": lambda: engine.authenticate(object()),
        "send_mail": lambda: engine.send_mail(Envelope("a@b.c", [EnvelopeRecipient("d@e.f")]), Content.from_bytes(b"x")),
        "noop": engine.noop,
        "verify": lambda: engine.verify("x"),
        "command": lambda: engine.command("HELP"),
    }
    peer = Peer([])
    with pytest.raises(SMTPTLSError):
        peer.drive(calls[operation]())
    assert peer.written == b"" and engine.closed


def test_tls_required_is_satisfied_by_implicit_tls():
    engine, _ = ready_engine(options=REQUIRED, tls_active=True)
    assert run(engine.noop(), [C(b"NOOP\r\n"), S(b"250 ok\r\n")]).code == 250


@pytest.mark.parametrize("after_220", [b"250 injected\r\n", b"250-inj", b"x"])
def test_bytes_after_the_220_in_the_same_read(after_220):
    engine, _ = ready_engine("STARTTLS")
    peer = Peer([C(b"STARTTLS\r\n"), S(b"220 go ahead\r\n" + after_220)])
    with pytest.raises(SMTPTLSError) as info:
        peer.drive(engine.starttls())
    assert "injection" in str(info.value)
    assert peer.done and engine.closed and not engine.tls_active


def test_bytes_after_the_220_in_the_scanner_from_a_split_read():
    engine, _ = ready_engine("STARTTLS")
    peer = Peer([C(b"STARTTLS\r\n"), S(b"220 go"), S(b" ahead\r\n250 PIPELINING\r\n")])
    with pytest.raises(SMTPTLSError):
        peer.drive(engine.starttls())
    assert peer.done and engine.closed


def test_connection_drops_right_after_the_220():
    engine, _ = ready_engine("STARTTLS")
    peer = Peer([C(b"STARTTLS\r\n"), EOF])
    with pytest.raises(SMTPConnectionDropped):
        peer.drive(engine.starttls())
    assert engine.closed


def test_handshake_failure_thrown_in_by_the_driver_closes():
    engine, _ = ready_engine("STARTTLS")
    gen = engine.starttls()
    assert gen.send(None).data == b"STARTTLS\r\n"
    gen.send(None)  # -> Read
    action = gen.send(b"220 go\r\n")
    assert type(action).__name__ == "StartTLS"
    with pytest.raises(ConnectionResetError):
        gen.throw(ConnectionResetError("handshake: peer reset"))
    assert engine.closed and not engine.tls_active


def test_starttls_twice_is_refused():
    engine, _ = ready_engine("STARTTLS", tls_active=True)
    peer = Peer([])
    with pytest.raises(SMTPTLSError):
        peer.drive(engine.starttls())
    assert peer.written == b""


def test_old_partial_bytes_do_not_survive_the_handshake():
    # A fresh scanner after TLS: the first reply over TLS parses on its own.
    engine, _ = ready_engine("STARTTLS")
    run(engine.starttls(), [C(b"STARTTLS\r\n"), S(b"220 go\r\n"), TLS])
    run(engine.hello("c"), [C(b"EHLO c\r\n"), S(b"250 mx\r\n")])
    assert engine.state is State.READY
