"""send() and the SendToTerminal methods end to end against aiosmtpd: the bytes the server
stored, the commands it received, results, refusals, 421, and the transfer events."""
from __future__ import annotations

import io

import pytest

import smtpx
from smtpx.enums import RecipientType

from tests.servers.scripted import CLOSE

FIXED = dict(message_date="Fri, 1 Mar 1996 21:24:52 -0500", message_id="id1@example.com")


def test_message_arrives_byte_for_byte(server, make_smtp):
    smtp = make_smtp(server, from_="Ann <ann@example.com>", send_to="bob@example.com", subject="Hello",
                     message_text=".leading dot\nbare LF\r\nlast line", **FIXED)
    smtp.send()
    assert len(server.messages) == 1
    got = server.messages[0]
    assert got.data == (
        b"From: Ann <ann@example.com>\r\n"
        b"To: bob@example.com\r\n"
        b"Subject: Hello\r\n"
        b"Date: Fri, 1 Mar 1996 21:24:52 -0500\r\n"
        b"Message-ID: <id1@example.com>\r\n"
        b"\r\n"
        b".leading dot\r\nbare LF\r\nlast line\r\n"
    )
    assert got.mail_from == "ann@example.com" and got.rcpt_tos == ["bob@example.com"]
    # What config() reports is exactly what went on the wire.
    assert (smtp.config("MessageHeadersString") + smtp.config("TransferText")).encode() == got.data


def test_send_without_connection_connects_then_quits(server, make_smtp):
    smtp = make_smtp(server)
    result = smtp.send()
    assert server.verbs() == ["EHLO", "MAIL", "RCPT", "DATA", "QUIT"]
    assert not smtp.connected and smtp.idle
    assert [r.address for r in result.accepted] == ["rcpt@example.com"] and result.refused == []
    assert smtp.last_reply.startswith("221")


def test_send_on_an_open_connection_keeps_it(server, make_smtp):
    smtp = make_smtp(server)
    smtp.connect()
    smtp.send()
    smtp.subject = "second"
    smtp.send()
    assert smtp.connected
    assert server.verbs() == ["EHLO", "MAIL", "RCPT", "DATA", "MAIL", "RCPT", "DATA"]
    assert smtp.last_reply.startswith("250")
    assert b"Subject: second\r\n" in server.messages[1].data


def test_message_recipients_and_bcc_never_in_headers(server, make_smtp):
    smtp = make_smtp(server, send_to="to@example.com", cc="cc@example.com", bcc="hidden@example.com")
    result = smtp.send()
    got = server.messages[0]
    assert got.rcpt_tos == ["to@example.com", "cc@example.com", "hidden@example.com"]
    assert b"hidden@example.com" not in got.data
    assert b"Cc: cc@example.com\r\n" in got.data
    assert {(r.address, r.kind) for r in result.accepted} == {
        ("to@example.com", RecipientType.TO), ("cc@example.com", RecipientType.CC),
        ("hidden@example.com", RecipientType.BCC)}


def test_return_path_is_the_envelope_sender(server, make_smtp):
    smtp = make_smtp(server, from_="ann@example.com", return_path="bounces@example.com")
    smtp.send()
    assert server.messages[0].mail_from == "bounces@example.com"
    assert b"From: ann@example.com\r\n" in server.messages[0].data


def test_refused_to_fails_the_send_and_sends_no_data(server, make_smtp):
    server.reply("RCPT", "550 5.1.1 no such user", when="bad@")
    smtp = make_smtp(server, send_to="good@example.com, bad@example.com")
    with pytest.raises(smtpx.SMTPRecipientsRefused) as info:
        smtp.send()
    assert info.value.reply_code == 550
    assert "DATA" not in server.verbs() and server.messages == []
    assert smtp.idle and not smtp.connected


def test_refused_bcc_fires_on_error_and_the_rest_is_delivered(server, make_smtp):
    server.reply("RCPT", "550 5.1.1 no such user", when="ghost@")
    errors = []
    smtp = make_smtp(server, bcc="ghost@example.com", on_error=errors.append)
    result = smtp.send()
    assert len(errors) == 1 and "ghost@example.com" in errors[0].description
    assert [r.address for r in result.refused] == ["ghost@example.com"]
    assert result.refused[0].reply.code == 550
    assert server.messages[0].rcpt_tos == ["rcpt@example.com"]


def test_stop_on_bcc_errors_makes_a_refused_bcc_fail(server, make_smtp):
    server.reply("RCPT", "550 5.1.1 no such user", when="ghost@")
    smtp = make_smtp(server, bcc="ghost@example.com")
    smtp.config("StopOnBccErrors=True")
    with pytest.raises(smtpx.SMTPRecipientsRefused):
        smtp.send()
    assert server.messages == []


def test_stop_on_to_errors_off_delivers_to_the_others(server, make_smtp):
    server.reply("RCPT", "550 5.1.1 no such user", when="bad@")
    smtp = make_smtp(server, send_to="good@example.com, bad@example.com")
    smtp.config("StopOnToErrors=False")
    result = smtp.send()
    assert [r.address for r in result.refused] == ["bad@example.com"]
    assert server.messages[0].rcpt_tos == ["good@example.com"]


@pytest.mark.parametrize("command", ["MAIL", "RCPT", "DATA", "DATA_END"])
def test_421_ends_the_session_cleanly_then_the_object_sends_again(server, make_smtp, command):
    server.reply(command, "421 4.3.2 shutting down")
    smtp = make_smtp(server)
    smtp.connect()
    with pytest.raises(smtpx.SMTPServiceClosing) as info:
        smtp.send()
    assert info.value.reply_code == 421
    assert not smtp.connected and smtp.idle
    assert smtp.last_reply.startswith("421")
    assert "RSET" not in server.verbs() and "QUIT" not in server.verbs()
    # Same object, next send: a new connection, delivered.
    before = len(server.messages)
    smtp.send()
    assert len(server.messages) == before + 1
    assert not smtp.connected


def test_connection_closed_after_354_is_typed_and_the_object_stays_usable(server, make_smtp):
    server.reply("DATA_END", CLOSE)
    smtp = make_smtp(server)
    with pytest.raises(smtpx.SMTPError) as info:
        smtp.send()
    assert isinstance(info.value, (smtpx.SMTPCommunicationError, smtpx.SMTPProtocolError))
    assert not smtp.connected and smtp.idle
    smtp.send()
    assert server.verbs()[-1] == "QUIT"


def test_sender_refused(server, make_smtp):
    server.reply("MAIL", "553 5.7.1 sender not allowed")
    smtp = make_smtp(server)
    with pytest.raises(smtpx.SMTPSenderRefused) as info:
        smtp.send()
    assert (info.value.reply_code, info.value.enhanced) == (553, "5.7.1")
    # RCPT and DATA may be pipelined with MAIL; no message is ever stored.
    assert server.messages == [] and smtp.idle


@pytest.mark.parametrize(
    "props, code",
    [({"from_": ""}, 164), ({"send_to": ""}, 165)],
)
def test_missing_sender_or_recipient_fails_before_connecting(server, make_smtp, props, code):
    smtp = make_smtp(server, **props)
    with pytest.raises(smtpx.SMTPError) as info:
        smtp.send()
    assert info.value.code == code
    assert server.commands == []


def test_no_mail_server_is_163_before_anything():
    smtp = smtpx.SMTP(from_="a@example.com", send_to="b@example.com")
    with pytest.raises(smtpx.SMTPError) as info:
        smtp.send()
    assert info.value.code == 163


def test_header_injection_is_refused_before_anything_is_sent(server, make_smtp):
    smtp = make_smtp(server)
    with pytest.raises(smtpx.SMTPInputError):
        smtp.subject = "hi\r\nBcc: victim@example.com"
    with pytest.raises(smtpx.SMTPInputError):
        smtp.message_recipients.append(smtpx.MessageRecipient("evil@example.com>\r\nRCPT TO:<x@y"))
    smtp.message_recipients.append(smtpx.MessageRecipient("a@b@c"))  # malformed: refused at send
    with pytest.raises(smtpx.SMTPInputError):
        smtp.send()
    assert server.commands == []


@pytest.mark.parametrize(
    "method, verb",
    [("send_to_terminal_only", "SEND"), ("send_to_terminal_or_email", "SOML"), ("send_to_terminal_and_email", "SAML")],
)
def test_send_to_terminal_methods_use_their_verb(server, make_smtp, method, verb):
    smtp = make_smtp(server)
    getattr(smtp, method)()
    assert server.commands[1].startswith(f"{verb} FROM:<sender@example.com>")
    assert "MAIL" not in server.verbs()
    assert len(server.messages) == 1


def test_send_to_terminal_needs_allow_extensions(server, make_smtp):
    smtp = make_smtp(server, allow_extensions=False)
    with pytest.raises(smtpx.SMTPNotSupportedError):
        smtp.send_to_terminal_only()
    assert server.commands == []


def test_transfer_events_cover_the_content(server, make_smtp):
    seen = []
    smtp = make_smtp(server, message_text="x" * 5000,
                     on_start_transfer=lambda e: seen.append(("start", e.direction)),
                     on_transfer=lambda e: seen.append(("transfer", e.bytes_transferred, e.percent_done, e.text)),
                     on_end_transfer=lambda e: seen.append(("end", e.direction)))
    smtp.send()
    assert seen[0] == ("start", 0) and seen[-1] == ("end", 0)
    transfers = [s for s in seen if s[0] == "transfer"]
    assert transfers and transfers[-1][2] == 100
    counts = [t[1] for t in transfers]
    assert counts == sorted(counts)
    sent = b"".join(t[3] for t in transfers)
    assert server.messages[0].data in sent  # the events carried the message (plus the final ".")


def test_pi_trail_shows_commands_and_replies(server, make_smtp):
    trail = []
    smtp = make_smtp(server, on_pi_trail=lambda e: trail.append((e.direction, e.message)))
    smtp.send()
    assert any(d == 0 and m.startswith("MAIL FROM:<sender@example.com>") for d, m in trail)
    assert (0, "RCPT TO:<rcpt@example.com>") in trail
    assert (1, "354 End data with <CR><LF>.<CR><LF>") in trail
    assert (0, "QUIT") in trail and (1, "221 Bye") in trail


def test_raw_message_is_sent_exactly_as_given(server, make_smtp):
    raw = b"From: x@example.com\r\nSubject: raw\r\nX-Odd:  spacing kept\r\n\r\n.dot line\r\nbody\r\n"
    smtp = make_smtp(server)
    smtp.other_headers = "\r\n"  # use no computed headers: the raw message carries its own
    smtp.message = raw
    smtp.send()
    assert server.messages[0].data == raw


def test_message_stream_is_sent_and_closed_after_transfer(server, make_smtp):
    body = b"".join(b"line %d of a streamed body\r\n" % i for i in range(2000))
    stream = io.BytesIO(body)
    smtp = make_smtp(server, **FIXED)
    smtp.set_message_stream(stream)
    smtp.send()
    assert server.messages[0].data.endswith(b"\r\n\r\n" + body)
    assert stream.closed


def test_message_stream_kept_open_when_close_stream_after_transfer_is_off(server, make_smtp):
    stream = io.BytesIO(b"streamed\r\n")
    smtp = make_smtp(server)
    smtp.config("CloseStreamAfterTransfer=False")
    smtp.set_message_stream(stream)
    smtp.send()
    assert not stream.closed
    assert server.messages[0].data.endswith(b"\r\n\r\nstreamed\r\n")


# One row per message property: its effect on the message the server stored.
PROPERTY_ROWS = [
    ("subject", "Quarterly report", b"Subject: Quarterly report\r\n"),
    ("cc", "copy@example.com", b"Cc: copy@example.com\r\n"),
    ("reply_to", "replies@example.com", b"Reply-To: replies@example.com\r\n"),
    ("message_date", "Fri, 1 Mar 1996 21:24:52 -0500", b"Date: Fri, 1 Mar 1996 21:24:52 -0500\r\n"),
    ("message_id", "fixed.1@example.com", b"Message-ID: <fixed.1@example.com>\r\n"),
    ("importance", smtpx.Importance.HIGH, b"Importance: high\r\n"),
    ("priority", smtpx.Priority.URGENT, b"Priority: urgent\r\n"),
    ("sensitivity", smtpx.Sensitivity.PERSONAL, b"Sensitivity: Personal\r\n"),
    ("delivery_notification_to", "dsn@example.com", b"Return-Receipt-To: dsn@example.com\r\n"),
    ("read_receipt_to", "mdn@example.com", b"Disposition-Notification-To: mdn@example.com\r\n"),
    ("other_headers", "X-Custom: 42", b"X-Custom: 42\r\n"),
    ("message_text", "the body", b"\r\n\r\nthe body\r\n"),
]


@pytest.mark.parametrize("prop, value, expected", PROPERTY_ROWS, ids=[r[0] for r in PROPERTY_ROWS])
def test_message_property_on_the_wire(server, make_smtp, prop, value, expected):
    smtp = make_smtp(server)
    smtp.send()
    assert expected not in server.messages[0].data  # not there by default ...
    setattr(smtp, prop, value)
    smtp.send()
    assert expected in server.messages[1].data  # ... there once the property is set


def test_message_date_empty_means_no_date_header(server, make_smtp):
    smtp = make_smtp(server, message_date="")
    smtp.send()
    assert b"\r\nDate:" not in server.messages[0].data and not server.messages[0].data.startswith(b"Date:")


def test_message_headers_show_what_will_be_sent(server, make_smtp):
    smtp = make_smtp(server, subject="Preview", **FIXED)
    fields = [h.field for h in smtp.message_headers]
    assert fields[:3] == ["From", "To", "Subject"]
    preview = smtp.message_headers_string
    smtp.send()
    assert server.messages[0].data.startswith(preview.encode())


def test_reset_headers_clears_the_headers_but_keeps_the_body(server, make_smtp):
    smtp = make_smtp(server, subject="old", message_text="keep me")
    smtp.reset_headers()
    assert (smtp.from_, smtp.send_to, smtp.subject) == ("", "", "")
    assert smtp.message_text == "keep me"
    smtp.from_ = "new@example.com"
    smtp.send_to = "to@example.com"
    smtp.send()
    assert b"Subject" not in server.messages[0].data
    assert server.messages[0].data.endswith(b"keep me\r\n")


def test_message_recipients_with_types_drive_envelope_and_headers(server, make_smtp):
    smtp = make_smtp(server, send_to="")
    smtp.message_recipients = [
        smtpx.MessageRecipient("to@example.com", "To Person", recipient_type=RecipientType.TO),
        smtpx.MessageRecipient("cc@example.com", recipient_type=RecipientType.CC),
        smtpx.MessageRecipient("bcc@example.com", recipient_type=RecipientType.BCC),
    ]
    assert (smtp.send_to, smtp.cc, smtp.bcc) == ("To Person <to@example.com>", "cc@example.com", "bcc@example.com")
    smtp.send()
    got = server.messages[0]
    assert got.rcpt_tos == ["to@example.com", "cc@example.com", "bcc@example.com"]
    assert b"To: To Person <to@example.com>\r\n" in got.data and b"Cc: cc@example.com\r\n" in got.data
    assert b"bcc@example.com" not in got.data


def test_allow_empty_to_sends_to_cc_only(server, make_smtp):
    smtp = make_smtp(server, send_to="", cc="cc@example.com")
    with pytest.raises(smtpx.SMTPError) as info:
        smtp.send()
    assert info.value.code == 165 and server.commands == []
    smtp.config("AllowEmptyTo=True")
    smtp.send()
    assert server.messages[0].rcpt_tos == ["cc@example.com"]


def test_an_exception_in_a_handler_aborts_the_send_and_drops_the_connection(server, make_smtp):
    def boom(event):
        raise RuntimeError("handler failed")

    # Two To recipients: the engine waits for the RCPT replies before the content, so the
    # handler runs between the 354 and the first byte of content.
    smtp = make_smtp(server, send_to="a@example.com, b@example.com", on_start_transfer=boom)
    smtp.connect()
    with pytest.raises(RuntimeError, match="handler failed"):
        smtp.send()
    assert not smtp.connected and smtp.idle  # mid-DATA: the connection cannot be trusted any more
    assert server.messages == []
    smtp.on_start_transfer = None
    smtp.send()
    assert len(server.messages) == 1


def test_send_raw_sends_bytes_to_an_envelope_without_touching_properties(server, make_smtp):
    smtp = make_smtp(server, subject="property subject")
    raw = b"Subject: raw one\r\n\r\n.dot\r\nbody\r\n"
    smtp.connect()
    result = smtp.send_raw("Ann <ann@example.com>", ["x@example.com", "y@example.com"], raw)
    smtp.send_raw("<>", "z@example.com", raw)  # null sender (a bounce), one recipient as a str
    assert [r.address for r in result.accepted] == ["x@example.com", "y@example.com"]
    assert server.messages[0].data == raw and server.messages[1].data == raw
    assert (server.messages[0].mail_from, server.messages[1].mail_from) == ("ann@example.com", "<>")
    assert smtp.subject == "property subject" and smtp.connected
    for bad in (("a@b@c", ["x@example.com"], raw), ("a@example.com", [], raw), ("a@example.com", ["x@example.com"], "str")):
        with pytest.raises(smtpx.SMTPInputError):
            smtp.send_raw(*bad)
    assert len(server.messages) == 2


# ------------------------------------------------------------------------------ SendRSET, descriptions
@pytest.mark.parametrize("failure", ["rcpt", "data"])
def test_failed_transaction_never_blocks_the_next_one_without_send_rset(server, make_smtp, failure):
    # aiosmtpd answers a MAIL inside an open transaction with "503 nested MAIL command".
    if failure == "rcpt":
        server.reply("RCPT", "550 5.1.1 no", when="bad@")
    else:
        server.reply("DATA", "451 4.3.0 not now")
    smtp = make_smtp(server, send_to="bad@example.com")  # the scripted refusal answers once
    smtp.config("SendRSET=False")
    smtp.connect()
    with pytest.raises((smtpx.SMTPRecipientsRefused, smtpx.SMTPDataError)):
        smtp.send()
    assert server.verbs()[-1] != "RSET"  # SendRSET=False: no RSET of its own
    result = smtp.send()
    assert result.reply.code == 250 and len(server.messages) == 1
    first_mail = server.verbs().index("MAIL")
    assert server.verbs()[first_mail:].count("RSET") == 1  # once, just before the second MAIL
    assert server.verbs()[server.verbs().index("RSET") + 1] == "MAIL"


def test_failed_transaction_with_send_rset_is_reset_at_once(server, make_smtp):
    server.reply("RCPT", "550 5.1.1 no", when="bad@")
    smtp = make_smtp(server, send_to="bad@example.com")
    smtp.connect()
    with pytest.raises(smtpx.SMTPRecipientsRefused):
        smtp.send()
    assert server.verbs()[-1] == "RSET"
    smtp.send()
    assert server.verbs()[-4:] == ["RSET", "MAIL", "RCPT", "DATA"]


def test_refusals_name_the_enhanced_code_once(server, make_smtp):
    server.reply("RCPT", "550 5.1.1 no such user", when="hidden@")
    errors = []
    smtp = make_smtp(server, bcc="hidden@example.com", on_error=errors.append)
    smtp.send()
    assert [e.description for e in errors] == ["recipient hidden@example.com refused: 550 5.1.1 no such user"]
    server.reply("RCPT", "550 5.1.1 no such user", when="rcpt@")
    with pytest.raises(smtpx.SMTPRecipientsRefused) as info:
        smtp.send()
    assert info.value.description.endswith(": 550 5.1.1 no such user")
    assert "5.1.1 5.1.1" not in info.value.description


# ------------------------------------------------------------------------------ do_events()
def _greeted(raw_script_tail):
    from tests.servers.scripted import RawServer

    return RawServer([("send", b"220 raw.test ESMTP\r\n"), ("expect", b"EHLO"),
                      ("send", b"250 raw.test\r\n"), *raw_script_tail])


def _pump_until_disconnected(smtp):
    """do_events() until it notices (the server's close races with us; bounded, no timing
    assertion)."""
    import time

    for _ in range(500):
        smtp.do_events()
        if not smtp.connected:
            return
        time.sleep(0.01)


def test_do_events_notices_an_idle_timeout_421(make_smtp):
    errors, statuses = [], []
    # (the wait keeps the 421 apart from the EHLO reply: in the same read it would be a reply
    # to EHLO's turn, which the engine refuses as unsolicited during connect())
    with _greeted([("wait", 0.3), ("send", b"421 4.4.2 idle too long\r\n"), ("close", None)]) as raw:
        smtp = make_smtp(raw, on_error=errors.append, on_connection_status=statuses.append)
        smtp.connect()
        _pump_until_disconnected(smtp)
    assert not smtp.connected
    assert smtp.last_reply == "421 4.4.2 idle too long"
    assert [(e.error_code, e.description) for e in errors] == [
        (smtpx.errors.SMTPServiceClosing.default_code, "the server closed the session: 421 4.4.2 idle too long")]
    assert statuses[-1].connection_event == "Remote host disconnected"
    assert b"QUIT" not in raw.received  # the server is gone: nothing more is written


def test_do_events_notices_a_silent_close(make_smtp):
    errors = []
    with _greeted([("close", None)]) as raw:
        smtp = make_smtp(raw, on_error=errors.append)
        smtp.connect()
        _pump_until_disconnected(smtp)
    assert not smtp.connected and errors == []


def test_do_events_reports_garbage_while_idle(make_smtp):
    errors = []
    with _greeted([("wait", 0.3), ("send", b"250 nobody asked\r\n"), ("wait", 0.5)]) as raw:
        smtp = make_smtp(raw, on_error=errors.append)
        smtp.connect()
        _pump_until_disconnected(smtp)
    assert not smtp.connected
    assert len(errors) == 1 and "unsolicited" in errors[0].description


@pytest.mark.parametrize("implicit_tls", [False, True])
def test_do_events_leaves_a_quiet_connection_alone(make_smtp, tls, implicit_tls):
    from tests.servers.scripted import ScriptedServer

    ctx, ca_pem = tls
    kwargs = dict(tls_context=ctx, implicit_tls=True) if implicit_tls else {}
    with ScriptedServer(**kwargs) as srv:
        smtp = make_smtp(srv)
        if implicit_tls:
            smtp.ssl_start_mode = smtpx.SSLStartMode.IMPLICIT
            smtp.config(f"SSLServerCACerts={ca_pem}")
        smtp.connect()
        for _ in range(20):  # TLS 1.3 session tickets may arrive now: they are no reply
            smtp.do_events()
        assert smtp.connected
        smtp.send()
        assert len(srv.messages) == 1
