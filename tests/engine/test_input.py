"""Bad input from the user: rejected with SMTPInputError before anything is written (FAULTS 23, 25)."""
import pytest

from tests.engine.scripted import C, S, Peer, ready_engine, run
from smtpx.engine import Content, Envelope, EnvelopeRecipient
from smtpx.errors import SMTPInputError

MSG = b"Subject: t\r\n\r\nhello\r\n"
CONTROLS = ["\r", "\n", "\r\n", "\x00", "\x01", "\t", "\x1b", "\x7f"]


def nothing_written(operation, engine):
    peer = Peer([])
    with pytest.raises(SMTPInputError) as info:
        peer.drive(operation)
    assert peer.written == b""
    assert not engine.closed
    return info.value


@pytest.mark.parametrize("char", CONTROLS, ids=repr)
@pytest.mark.parametrize("where", ["sender", "recipient", "second recipient"])
def test_control_characters_in_addresses(char, where):
    engine, _ = ready_engine("PIPELINING", "SMTPUTF8")
    evil = f"x{char}RCPT TO:<evil@z.example>@y.example"
    sender = evil if where == "sender" else "a@x.example"
    rcpts = [EnvelopeRecipient(evil if where == "recipient" else "ok@y.example")]
    if where == "second recipient":
        rcpts.append(EnvelopeRecipient(evil))
    error = nothing_written(engine.send_mail(Envelope(sender, rcpts), Content.from_bytes(MSG)), engine)
    assert "control character" in str(error)


@pytest.mark.parametrize("char", CONTROLS, ids=repr)
def test_control_characters_in_raw_commands(char):
    engine, _ = ready_engine()
    nothing_written(engine.command(f"NOOP{char}RSET"), engine)


@pytest.mark.parametrize("char", CONTROLS, ids=repr)
@pytest.mark.parametrize("verb", ["verify", "expand"])
def test_control_characters_in_vrfy_expn(char, verb):
    engine, _ = ready_engine()
    nothing_written(getattr(engine, verb)(f"user{char}QUIT"), engine)


@pytest.mark.parametrize("char", CONTROLS, ids=repr)
def test_control_characters_in_esmtp_parameters(char):
    engine, _ = ready_engine("DSN")
    rcpt = EnvelopeRecipient("b@y.example", options=f"NOTIFY=SUCCESS{char}")
    nothing_written(engine.send_mail(Envelope("a@x.example", [rcpt]), Content.from_bytes(MSG)), engine)


@pytest.mark.parametrize("address", [
    "a@b@c.example", "<a@b.example>,<c@d.example>", "<a@b.example", "a@b.example>", '"unbalanced@b.example',
    "no-at-sign", "@b.example", "a@", "a..b@c.example", ".a@b.example", "a.@b.example", "a b@c.example",
    "a@-b.example", "a@b-.example", "a@b..example", "a@[1.2.3.4", "a(comment)@b.example",
    "<>",
])
def test_malformed_recipient_addresses(address):
    engine, _ = ready_engine("SMTPUTF8")
    nothing_written(engine.send_mail(Envelope("a@x.example", [EnvelopeRecipient(address)]), Content.from_bytes(MSG)), engine)


@pytest.mark.parametrize("address, wire", [
    ('"a@b"@c.example', b'<"a@b"@c.example>'),
    ('"john smith"@c.example', b'<"john smith"@c.example>'),
    ('"a\\"b"@c.example', b'<"a\\"b"@c.example>'),
    ("<user+tag@sub.c.example>", b"<user+tag@sub.c.example>"),
    ("user@[192.0.2.1]", b"<user@[192.0.2.1]>"),
    ("user@[IPv6:2001:db8::1]", b"<user@[IPv6:2001:db8::1]>"),
    ("Postmaster", b"<Postmaster>"),
    ("o'brien.x-y_z@c.example", b"<o'brien.x-y_z@c.example>"),
])
def test_valid_unusual_addresses(address, wire):
    engine, _ = ready_engine()
    run(engine.send_mail(Envelope("a@x.example", [EnvelopeRecipient(address)]), Content.from_bytes(MSG)), [
        C(b"MAIL FROM:<a@x.example>\r\n"), S(b"250 ok\r\n"), C(b"RCPT TO:" + wire + b"\r\n"), S(b"250 ok\r\n"),
        C(b"DATA\r\n"), S(b"354 go\r\n"), C(MSG + b".\r\n"), S(b"250 ok\r\n"),
    ])


def test_no_recipient():
    engine, _ = ready_engine()
    error = nothing_written(engine.send_mail(Envelope("a@x.example", []), Content.from_bytes(MSG)), engine)
    assert error.code == 165


def test_unknown_verb():
    engine, _ = ready_engine()
    nothing_written(engine.send_mail(Envelope("a@x.example", [EnvelopeRecipient("b@y.example")], "TURN"),
                                     Content.from_bytes(MSG)), engine)


def test_empty_raw_command():
    engine, _ = ready_engine()
    nothing_written(engine.command(""), engine)


def test_non_ascii_vrfy_without_smtputf8():
    from smtpx.errors import SMTPNotSupportedError

    engine, _ = ready_engine()
    peer = Peer([])
    with pytest.raises(SMTPNotSupportedError):
        peer.drive(engine.verify("jösé"))
    assert peer.written == b""
