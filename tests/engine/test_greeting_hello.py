"""Greeting, EHLO / HELO fallback and capability parsing (FAULTS 1, 2)."""
import pytest

from tests.engine.scripted import C, EOF, S, Peer, RecordingSink, ehlo_reply, run
from smtpx.engine import Engine, EngineOptions, State
from smtpx.errors import (
    SMTPConnectionDropped,
    SMTPInputError,
    SMTPProtocolError,
    SMTPReplyError,
    SMTPServiceClosing,
)


def new_engine(**options):
    sink = RecordingSink()
    return Engine(EngineOptions(**options), sink), sink


def test_greeting_220():
    engine, sink = new_engine()
    reply = run(engine.greeting(), [S(b"220-mx.example ESMTP\r\n220 welcome\r\n")])
    assert (reply.code, reply.lines) == (220, ["mx.example ESMTP", "welcome"])
    assert engine.state is State.GREETED
    assert sink.server_lines() == ["220-mx.example ESMTP", "220 welcome"]
    assert engine.last_reply is reply


def test_greeting_554_is_a_reply_error_and_allows_quit():
    engine, _ = new_engine()
    with pytest.raises(SMTPReplyError) as info:
        run(engine.greeting(), [S(b"554 5.7.1 no service for you\r\n")])
    assert (info.value.reply_code, info.value.enhanced) == (554, "5.7.1")
    assert "no service for you" in info.value.reply_text
    assert not engine.closed
    assert run(engine.quit(), [C(b"QUIT\r\n"), S(b"221 bye\r\n")]).code == 221
    assert engine.closed


def test_greeting_421_closes():
    engine, _ = new_engine()
    with pytest.raises(SMTPServiceClosing):
        run(engine.greeting(), [S(b"421 4.3.2 busy\r\n")])
    assert engine.closed


@pytest.mark.parametrize("greeting", [b"120 wait\r\n", b"100 hello\r\n"])
def test_1xx_greeting_is_a_protocol_error(greeting):
    engine, _ = new_engine()
    with pytest.raises(SMTPProtocolError):
        run(engine.greeting(), [S(greeting)])
    assert engine.closed


def test_250_greeting_is_a_protocol_error():
    engine, _ = new_engine()
    with pytest.raises(SMTPProtocolError):
        run(engine.greeting(), [S(b"250 hi\r\n")])
    assert engine.closed


def test_eof_before_greeting():
    engine, _ = new_engine()
    with pytest.raises(SMTPConnectionDropped) as info:
        run(engine.greeting(), [S(b"220-mx"), EOF])
    assert info.value.code == 1120
    assert engine.closed


def test_greeting_split_across_reads():
    engine, _ = new_engine()
    reply = run(engine.greeting(), [S(b"22"), S(b"0 mx.exa"), S(b"mple\r"), S(b"\n")])
    assert reply.lines == ["mx.example"]


def greeted(**options):
    engine, sink = new_engine(**options)
    run(engine.greeting(), [S(b"220 mx\r\n")])
    sink.trail.clear()
    return engine, sink


def test_ehlo_parses_capabilities():
    engine, sink = greeted()
    reply = run(engine.hello("client.example"), [
        C(b"EHLO client.example\r\n"),
        S(ehlo_reply("PIPELINING", "SIZE 35882577", "8BITMIME", "AUTH PLAIN LOGIN", "AUTH=CRAM-MD5",
                     "STARTTLS", "CHUNKING", "BINARYMIME", "SMTPUTF8", "DSN", "ENHANCEDSTATUSCODES",
                     "REQUIRETLS", "x-custom a b")),
    ])
    caps = engine.capabilities
    assert reply.code == 250 and engine.state is State.READY
    for name in ("PIPELINING", "8BITMIME", "STARTTLS", "CHUNKING", "BINARYMIME", "SMTPUTF8", "DSN",
                 "ENHANCEDSTATUSCODES", "REQUIRETLS", "pipelining", "X-CUSTOM"):
        assert caps.has(name), name
    assert not caps.has("VRFY")
    assert caps.size_limit == 35882577
    assert caps.auth_mechanisms == {"PLAIN", "LOGIN", "CRAM-MD5"}
    assert caps.raw["X-CUSTOM"] == "a b"
    assert caps.server_name == "mx.example"
    assert sink.client_lines() == ["EHLO client.example"]
    assert sink.server_lines()[0] == "250-mx.example" and sink.server_lines()[-1] == "250 x-custom a b"


@pytest.mark.parametrize("size_line, limit", [("SIZE", None), ("SIZE 0", None), ("SIZE 1000", 1000),
                                              ("SIZE abc", None), ("SIZE -5", None)])
def test_size_values(size_line, limit):
    engine, _ = greeted()
    run(engine.hello("c"), [C(b"EHLO c\r\n"), S(ehlo_reply(size_line))])
    assert engine.capabilities.has("SIZE") and engine.capabilities.size_limit == limit


@pytest.mark.parametrize("code", [500, 502, 504, 550])
def test_ehlo_5xx_falls_back_to_helo(code):
    engine, sink = greeted()
    reply = run(engine.hello("c.example"), [
        C(b"EHLO c.example\r\n"), S(b"%d what\r\n" % code),
        C(b"HELO c.example\r\n"), S(b"250 mx hello\r\n"),
    ])
    assert reply.code == 250 and engine.state is State.READY
    assert engine.capabilities.raw == {}
    assert sink.client_lines() == ["EHLO c.example", "HELO c.example"]


def test_ehlo_4xx_is_an_error_without_fallback():
    engine, _ = greeted()
    peer = Peer([C(b"EHLO c\r\n"), S(b"451 4.3.0 later\r\n")])
    with pytest.raises(SMTPReplyError) as info:
        peer.drive(engine.hello("c"))
    assert info.value.reply_code == 451 and info.value.enhanced == "4.3.0"
    assert peer.written == b"EHLO c\r\n"


def test_allow_extensions_off_sends_helo_directly():
    engine, _ = greeted(allow_extensions=False)
    run(engine.hello("c"), [C(b"HELO c\r\n"), S(b"250 ok\r\n")])
    assert engine.capabilities.raw == {}


def test_helo_refused():
    engine, _ = greeted(allow_extensions=False)
    with pytest.raises(SMTPReplyError) as info:
        run(engine.hello("c"), [C(b"HELO c\r\n"), S(b"501 5.5.4 bad name\r\n")])
    assert info.value.reply_code == 501


@pytest.mark.parametrize("name", ["a\r\nMAIL FROM:<x@y>", "a\nb", "a\x00", "a\x1b", "a\x7f", "two words", ""])
def test_bad_hello_name_writes_nothing(name):
    engine, _ = greeted()
    peer = Peer([])
    with pytest.raises(SMTPInputError):
        peer.drive(engine.hello(name))
    assert peer.written == b""
    assert not engine.closed


def test_second_ehlo_replaces_capabilities():
    engine, _ = greeted()
    run(engine.hello("c"), [C(b"EHLO c\r\n"), S(ehlo_reply("PIPELINING"))])
    run(engine.hello("c"), [C(b"EHLO c\r\n"), S(ehlo_reply("CHUNKING"))])
    assert engine.capabilities.has("CHUNKING") and not engine.capabilities.has("PIPELINING")
