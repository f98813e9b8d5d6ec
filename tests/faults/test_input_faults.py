"""FAULTS.md items 19, 23-28 through smtpx.SMTP: bad input is a clear typed error before
anything is written; awkward bodies reach a real server with exactly one end of data."""
from __future__ import annotations

import io

import pytest

import smtpx
from tests.servers.scripted import RawServer, ScriptedServer

from tests.faults.raw import GREET, ehlo, smtp_for

CONTROL = ["\r", "\n", "\x00", "\x01", "\x1b", "\x7f"]


def _refused_before_the_wire(server, make_smtp, **props):
    """Setting ``props`` (or sending with them) is an SMTPInputError; the server saw nothing."""
    with pytest.raises(smtpx.SMTPInputError):
        smtp = make_smtp(server, **props)
        smtp.send()
    assert server.commands == [] and server.messages == []


# ---------------------------------------------------------------------------- item 19
def test_19_endless_334_challenges_stop_after_five_rounds():
    script = [GREET, *ehlo("AUTH LOGIN"), ("expect", b"AUTH")]
    script += [step for _ in range(10) for step in (("send", b"334 VXNlcm5hbWU6\r\n"), ("expect", b""))]
    with RawServer(script) as raw:
        smtp = smtp_for(raw, user="u", password="p", auth_mechanism=smtpx.AuthMechanism.USER_PASSWORD)
        smtp.config("AllowPlaintextAuth=True")
        with pytest.raises(smtpx.SMTPError) as info:
            smtp.connect()
        assert not isinstance(info.value, smtpx.SMTPTimeoutError)
        assert not smtp.connected
    sent = bytes(raw.received).split(b"\r\n")
    assert b"MAIL" not in bytes(raw.received)
    assert sum(1 for line in sent[sent.index(next(l for l in sent if l.startswith(b"AUTH"))) + 1:]
               if line and line != b"*") <= 5  # at most five answers to 334


# ---------------------------------------------------------------------------- item 23
@pytest.mark.parametrize("char", CONTROL, ids=[repr(c) for c in CONTROL])
@pytest.mark.parametrize("prop", ["send_to", "cc", "bcc", "from_", "return_path"])
def test_23_control_characters_in_addresses_are_refused_before_the_wire(server, make_smtp, prop, char):
    _refused_before_the_wire(server, make_smtp, **{prop: f"us{char}er@example.com"})


@pytest.mark.parametrize("char", CONTROL, ids=[repr(c) for c in CONTROL])
def test_23_control_characters_in_hello_and_esmtp_parameters(server, make_smtp, char):
    smtp = make_smtp(server)
    for setting in (f"Hello=host{char}name", f"DSNEnvelopeId=env{char}id"):
        try:
            smtp.config(setting)
        except smtpx.SMTPInputError:
            continue
        with pytest.raises(smtpx.SMTPInputError):  # accepted by config: refused before connecting
            smtp.send()
        smtp.reset()
        smtp = make_smtp(server)
    assert server.commands == []


@pytest.mark.parametrize("char", CONTROL, ids=[repr(c) for c in CONTROL])
def test_23_control_characters_in_a_raw_command_write_nothing(server, make_smtp, char):
    smtp = make_smtp(server)
    smtp.connect()
    with pytest.raises(smtpx.SMTPInputError):
        smtp.send_command(f"NOOP a{char}b")
    for method in (smtp.verify, smtp.expand):
        with pytest.raises(smtpx.SMTPInputError):
            method(f"user{char}@example.com")
    assert server.verbs() == ["EHLO"] and smtp.connected


# ---------------------------------------------------------------------------- item 24
@pytest.mark.parametrize("value", ["a\r\nBcc: x@example.com", "a\nX: y", "a\rb",
                                   "=?utf-8?q?a=0D=0ABcc:_x@example.com?=", "=?utf-8?b?YQ0KQmNjOiB4?="])
def test_24_line_breaks_in_header_values_raw_or_encoded_are_refused(server, make_smtp, value):
    _refused_before_the_wire(server, make_smtp, subject=value)


def test_24_line_breaks_in_other_headers_values_are_refused(server, make_smtp):
    _refused_before_the_wire(server, make_smtp, other_headers="X-A: =?utf-8?q?1=0D=0AX-B:_2?=")


# ---------------------------------------------------------------------------- item 25
@pytest.mark.parametrize("bad", ["a@b@example.com", "<a@example.com>,<b@example.com>", '"unbalanced@example.com',
                                 "<a@example.com", "a@example.com>", "Name <a@example.com"])
def test_25_malformed_addresses_are_clear_errors_before_the_wire(server, make_smtp, bad):
    with pytest.raises(smtpx.SMTPInputError) as info:
        make_smtp(server, from_=bad).send()
    assert str(info.value)  # says what is wrong
    assert server.commands == []


@pytest.mark.parametrize("bad", ["x" * 65 + "@example.com", "a@" + "d" * 64 + ".example.com",
                                 "a@" + ".".join(["d" * 60] * 5) + ".com", "a@-example.com", "a@example-.com",
                                 "a@[300.0.0.1]", "a@[IPv6:zz::1]"])
def test_25_addresses_over_rfc_5321_limits_never_reach_the_wire(server, make_smtp, bad):
    """Found in this audit: a 600-octet domain went out in RCPT TO and the server answered
    "500 Command line too long". Fixed in addresses.py: refused before anything is sent."""
    with pytest.raises(smtpx.SMTPInputError):
        make_smtp(server, send_to=bad).send()
    assert server.commands == []


def test_25_a_quoted_local_part_with_an_at_sign_is_valid(server, make_smtp):
    make_smtp(server, send_to='"a@b"@example.com').send()
    assert server.messages[0].rcpt_tos == ['"a@b"@example.com']
    assert any(c == 'RCPT TO:<"a@b"@example.com>' for c in server.commands)


# ---------------------------------------------------------------------------- item 26
def test_26_non_ascii_address_without_smtputf8_is_refused_before_mail(make_smtp):
    with ScriptedServer(smtputf8=False) as srv:
        smtp = make_smtp(srv, send_to="jörg@example.com")
        with pytest.raises(smtpx.SMTPNotSupportedError):
            smtp.send()
        assert "MAIL" not in srv.verbs() and srv.messages == []


def test_26_non_ascii_address_with_smtputf8_is_delivered(make_smtp):
    with ScriptedServer(smtputf8=True) as srv:
        make_smtp(srv, send_to="jörg@example.com").send()
        assert any("SMTPUTF8" in c.upper() for c in srv.commands if c.startswith("MAIL"))
        assert srv.messages[0].rcpt_tos == ["jörg@example.com"]


# ---------------------------------------------------------------------------- item 27
def test_27_message_larger_than_size_is_refused_before_sending(make_smtp):
    with ScriptedServer(drop_capabilities=["SIZE"], extra_capabilities=["PIPELINING", "SIZE 2000"]) as srv:
        smtp = make_smtp(srv, message_text="x" * 70 + "\n" * 40)
        smtp.send()  # small enough
        smtp.message_text = ("y" * 70 + "\n") * 40
        with pytest.raises(smtpx.SMTPMessageTooLarge):
            smtp.send()
        assert srv.verbs().count("MAIL") == 1 and len(srv.messages) == 1


# ---------------------------------------------------------------------------- item 28
AWKWARD = "a\nb\rc\r\r\nd\n.\n.e\n..f\n.\r\n.."
AWKWARD_NORMALISED = b"a\r\nb\r\nc\r\n\r\nd\r\n.\r\n.e\r\n..f\r\n.\r\n..\r\n"


def test_28_awkward_body_text_arrives_normalised(server, make_smtp):
    smtp = make_smtp(server, message_text=AWKWARD)
    smtp.send()
    assert server.messages[0].data.split(b"\r\n\r\n", 1)[1] == AWKWARD_NORMALISED


@pytest.mark.parametrize("kind", ["message_text", "stream"])
def test_28_the_wire_has_exactly_one_end_of_data(kind):
    script = [GREET, *ehlo(), ("expect", b"MAIL"), ("send", b"250 ok\r\n"), ("expect", b"RCPT"),
              ("send", b"250 ok\r\n"), ("expect", b"DATA"), ("send", b"354 go\r\n")]
    with RawServer(script) as raw:
        smtp = smtp_for(raw, timeout=1)
        if kind == "stream":
            smtp.set_message_stream(io.BytesIO(AWKWARD.encode()))
        else:
            smtp.message_text = AWKWARD
        with pytest.raises(smtpx.SMTPError):
            smtp.send()  # the raw peer never answers the end of data
    wire = bytes(raw.received).split(b"DATA\r\n", 1)[1]
    assert wire.endswith(b"\r\n.\r\n") and wire.count(b"\r\n.\r\n") == 1
    body = wire.split(b"\r\n\r\n", 1)[1][:-3]
    unstuffed = b"\r\n".join(line[1:] if line.startswith(b".") else line for line in body.split(b"\r\n"))
    assert unstuffed == AWKWARD_NORMALISED
