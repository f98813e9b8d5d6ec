"""verify, expand, send_command/last_reply, config, reset, queue/process_queue through the facade."""
from __future__ import annotations

import email
import email.policy
import os
import ssl
import time
import types

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import smtpx
from smtpx.dkim import DKIMSigner
from smtpx.facade.config import SETTINGS
from smtpx.enums import AuthMechanism, SSLStartMode


def test_verify_sends_vrfy_and_returns_the_reply(server, make_smtp):
    smtp = make_smtp(server)
    reply = smtp.verify("someone@example.com")
    assert reply.code == 250 and reply.lines == ["<someone@example.com>"]
    assert smtp.last_reply == "221 Bye"  # it connected for VRFY, then quit: the last reply is QUIT's
    assert server.verbs() == ["EHLO", "VRFY", "QUIT"]  # connected for it, then closed again
    assert server.commands[1] == "VRFY someone@example.com"


def test_verify_refused_is_typed_and_sets_last_reply(server, make_smtp):
    server.reply("VRFY", "550 5.1.1 unknown")
    smtp = make_smtp(server)
    smtp.connect()
    with pytest.raises(smtpx.SMTPReplyError) as info:
        smtp.verify("nobody@example.com")
    assert info.value.reply_code == 550
    assert smtp.last_reply == "550 5.1.1 unknown"
    assert smtp.connected  # a refusal leaves the session usable


def test_expand_fires_one_event_per_address(server, make_smtp):
    server.expansions["staff"] = ["Ann <ann@example.com>", "bob@example.com", "Cy <cy@example.com>"]
    seen = []
    smtp = make_smtp(server, on_expand=lambda e: seen.append(e.address))
    result = smtp.expand("staff")
    assert seen == ["Ann <ann@example.com>", "bob@example.com", "Cy <cy@example.com>"]
    assert result == seen
    assert server.commands[1] == "EXPN staff"


def test_verify_and_expand_refuse_control_characters(server, make_smtp):
    smtp = make_smtp(server)
    for call in (smtp.verify, smtp.expand):
        with pytest.raises(smtpx.SMTPInputError):
            call("a@example.com\r\nDATA")
    assert server.commands == []


def test_send_command_sets_last_reply(server, make_smtp):
    smtp = make_smtp(server)
    smtp.connect()
    reply = smtp.send_command("NOOP")
    assert (reply.code, smtp.last_reply) == (250, "250 OK")
    reply = smtp.send_command("XFOO bar")
    assert reply.code == 500 and smtp.last_reply == '500 Error: command "XFOO" not recognized'
    assert server.commands[-2:] == ["NOOP", "XFOO bar"]
    server.reply("XMULTI", "250-first\r\n250-second\r\n250 third")
    smtp.send_command("XMULTI")
    assert smtp.last_reply == "250-first\r\n250-second\r\n250 third"


def test_send_command_needs_a_connection_1117(make_smtp, server):
    smtp = make_smtp(server)
    with pytest.raises(smtpx.SMTPNotConnectedError) as info:
        smtp.send_command("NOOP")
    assert info.value.code == 1117
    assert server.commands == []


def test_send_command_refuses_line_breaks(server, make_smtp):
    smtp = make_smtp(server)
    smtp.connect()
    with pytest.raises(smtpx.SMTPInputError):
        smtp.send_command("NOOP\r\nRCPT TO:<x@example.com>")
    assert server.verbs() == ["EHLO"]
    assert smtp.connected


def test_send_command_421_drops_the_connection(server, make_smtp):
    server.reply("NOOP", "421 4.4.2 idle too long")
    smtp = make_smtp(server)
    smtp.connect()
    with pytest.raises(smtpx.SMTPServiceClosing):
        smtp.send_command("NOOP")
    assert not smtp.connected and smtp.last_reply.startswith("421")


def test_config_is_case_insensitive_and_validates(server, make_smtp):
    smtp = make_smtp(server)
    assert smtp.config("sendrset") == "True"
    assert smtp.config("SendRSET=false") == ""
    assert smtp.config("SENDRSET") == "False"
    with pytest.raises(smtpx.SMTPConfigError):
        smtp.config("MaxHeaderLength=many")
    with pytest.raises(smtpx.SMTPConfigError):
        smtp.config("NoSuchSetting")


def test_config_aliases_follow_their_properties():
    smtp = smtpx.SMTP()
    smtp.return_path = "bounce@example.com"
    assert smtp.config("ReturnPath") == "bounce@example.com"
    smtp.config("OtherHeaders=X-A: 1")
    assert smtp.other_headers == "X-A: 1"
    smtp.config("LocalHost=127.0.0.1")
    assert smtp.local_host == "127.0.0.1"


def test_config_settings_that_cannot_apply_refuse_to_connect(server, make_smtp):
    smtp = make_smtp(server)
    smtp.config("SSLCheckOCSP=2")
    with pytest.raises((smtpx.SMTPNotSupportedError, NotImplementedError)):
        smtp.connect()
    assert server.commands == []


def test_hello_and_send_rset_reach_the_wire(server, make_smtp):
    server.reply("RCPT", "550 5.1.1 no", when="bad@", times=None)
    smtp = make_smtp(server, send_to="bad@example.com")
    smtp.config("Hello=me.example")
    smtp.connect()
    with pytest.raises(smtpx.SMTPRecipientsRefused):
        smtp.send()
    assert server.commands[0] == "EHLO me.example"
    assert server.verbs()[-1] == "RSET"
    smtp.disconnect()
    smtp.config("SendRSET=False")
    with pytest.raises(smtpx.SMTPRecipientsRefused):
        smtp.send()
    second = server.verbs()[server.verbs().index("QUIT") + 1:]
    assert second[:3] == ["EHLO", "MAIL", "RCPT"] and "RSET" not in second


# ------------------------------------------------------------------------------ reset()
# Every settable property: a non-default value, and reset() must bring back the default.
RESET_ROWS = [
    ("allow_extensions", False), ("auth_mechanism", AuthMechanism.CRAM_MD5), ("bcc", "b@example.com"),
    ("cc", "c@example.com"), ("delivery_notification_to", "d@example.com"),
    ("firewall", smtpx.Firewall(firewall_type=smtpx.FirewallType.SOCKS5, host="proxy")),
    ("dkim", DKIMSigner(domain="example.com", selector="s", private_key=Ed25519PrivateKey.generate())),
    ("from_", "f@example.com"), ("importance", smtpx.Importance.LOW), ("local_host", "127.0.0.1"),
    ("mail_port", 2525), ("mail_server", "mx.example"), ("message", b"raw"), ("message_date", ""),
    ("message_id", "x@y"), ("message_text", "text"), ("other_headers", "X-A: 1"), ("password", "pw"),
    ("priority", smtpx.Priority.URGENT), ("read_receipt_to", "r@example.com"), ("reply_to", "rt@example.com"),
    ("return_path", "rp@example.com"), ("send_to", "t@example.com"), ("sensitivity", smtpx.Sensitivity.PRIVATE),
    ("ssl_enabled", True), ("ssl_provider", smtpx.SSLProvider.PLATFORM), ("ssl_start_mode", SSLStartMode.IMPLICIT),
    ("subject", "s"), ("timeout", 5), ("user", "u"), ("ssl_context", ssl.create_default_context()),
    ("oauth_token", "tok"), ("token_provider", str),
]


def _value(smtp, prop):
    value = getattr(smtp, prop)
    return value if not isinstance(value, smtpx.Firewall) else (value.firewall_type, value.host, value.port)


@pytest.mark.parametrize("prop, value", RESET_ROWS, ids=[r[0] for r in RESET_ROWS])
def test_reset_puts_each_property_back_to_its_default(prop, value):
    fresh = smtpx.SMTP()
    default = _value(fresh, prop)
    smtp = smtpx.SMTP()
    setattr(smtp, prop, value)
    assert _value(smtp, prop) != default  # the row really changes something
    smtp.reset()
    assert _value(smtp, prop) == default


def test_reset_covers_every_settable_property():
    settable = {name for name in dir(smtpx.SMTP) if smtpx.SMTP._is_settable(name)}
    covered = {row[0] for row in RESET_ROWS} | {"message_recipients", "ssl_cert", "ssl_accept_server_cert"}
    assert settable <= covered, settable - covered


def test_reset_puts_config_back_and_disconnects(server, make_smtp):
    smtp = make_smtp(server)
    changed = []
    for setting in SETTINGS:
        if setting.applies == "yes" and setting.kind == "bool":
            smtp.config(f"{setting.name}={not setting.default}")
            changed.append(setting)
    smtp.config("MaxHeaderLength=100")
    smtp.mail_server, smtp.mail_port = server.host, server.port
    smtp.config("AbsoluteTimeout=False")
    smtp.config("CloseStreamAfterTransfer=True")
    smtp.connect()
    smtp.reset()
    assert not smtp.connected and server.verbs()[-1] == "QUIT"
    for setting in changed:
        assert smtp.config(setting.name) == ("True" if setting.default else "False")
    assert smtp.config("MaxHeaderLength") == "80"
    assert smtp.mail_server == "" and smtp.last_reply == ""


def test_reset_keeps_event_handlers():
    handler = lambda e: None  # noqa: E731
    smtp = smtpx.SMTP(on_pi_trail=handler)
    smtp.reset()
    assert smtp.on_pi_trail is handler


# ------------------------------------------------------------------------------ queue
def test_queue_then_process_queue_end_to_end(server, make_smtp, tmp_path):
    smtp = make_smtp(server, subject="queued one", message_text=".dot\r\nbody")
    path = smtp.queue(str(tmp_path))
    assert path.endswith(".queued") and os.path.exists(path)
    smtp.subject = "queued two"
    smtp.queue(str(tmp_path))
    assert server.commands == []  # queueing sends nothing
    run = smtp.process_queue(str(tmp_path))
    assert len(run.sent) == 2 and not run.failed
    assert os.listdir(tmp_path) == []
    assert server.verbs().count("EHLO") == 1  # one connection for the whole run
    subjects = sorted(m.data.split(b"Subject: ")[1].split(b"\r\n")[0] for m in server.messages)
    assert subjects == [b"queued one", b"queued two"]
    assert server.messages[0].data.endswith(b"\r\n\r\n.dot\r\nbody\r\n")
    assert not smtp.connected


def test_keep_queue_renames_to_sent(server, make_smtp, tmp_path):
    smtp = make_smtp(server)
    smtp.queue(str(tmp_path))
    smtp.config("KeepQueue=True")
    smtp.process_queue(str(tmp_path))
    assert [n.rsplit(".", 1)[1] for n in os.listdir(tmp_path)] == ["sent"]


def test_failed_and_corrupt_files_become_failed_and_fire_on_error(server, make_smtp, tmp_path):
    server.reply("RCPT", "550 5.1.1 no such user", when="bad@")
    errors = []
    smtp = make_smtp(server, send_to="bad@example.com", on_error=errors.append)
    smtp.queue(str(tmp_path))
    (tmp_path / "zz-corrupt.queued").write_bytes(b"SMTPXQ 1\n{not json")
    smtp.send_to = ""
    smtp.send_to = "good@example.com"
    smtp.queue(str(tmp_path))
    run = smtp.process_queue(str(tmp_path))
    assert len(run.sent) == 1 and len(run.failed) == 2
    assert sorted(n.rsplit(".", 1)[1] for n in os.listdir(tmp_path)) == ["failed", "failed"]
    assert len(errors) == 2
    assert [m.rcpt_tos for m in server.messages] == [["good@example.com"]]


def test_queue_star_returns_the_text(make_smtp, server):
    smtp = make_smtp(server, subject="as text")
    text = smtp.queue("*")
    assert "Subject: as text\r\n" in text and text.startswith("SMTPXQ 1\n")


def test_queue_into_a_missing_folder_is_a_clear_error(make_smtp, server, tmp_path):
    smtp = make_smtp(server)
    with pytest.raises(smtpx.SMTPError):
        smtp.queue(str(tmp_path / "missing"))
    with pytest.raises(smtpx.SMTPError):
        smtp.process_queue(str(tmp_path / "missing"))
    assert server.commands == []


def test_interrupt_stops_a_queue_run_and_the_file_is_recovered_next_time(server, make_smtp, tmp_path):
    import threading

    from tests.servers.scripted import RawServer

    smtp = make_smtp(server, subject="survives an interrupt")
    smtp.queue(str(tmp_path))
    # A peer that takes the transaction but never answers DATA.
    script = [("send", b"220 raw\r\n"), ("expect", b"EHLO"), ("send", b"250 raw\r\n"), ("expect", b"MAIL"),
              ("send", b"250 ok\r\n"), ("expect", b"RCPT"), ("send", b"250 ok\r\n"), ("expect", b"DATA")]
    with RawServer(script) as raw:
        smtp.mail_port = raw.port

        def interrupt_at_data(event):
            if event.direction == 0 and event.message == "DATA":
                threading.Timer(0.2, smtp.interrupt).start()

        smtp.on_pi_trail = interrupt_at_data
        with pytest.raises(smtpx.SMTPInterrupted) as info:
            smtp.process_queue(str(tmp_path))
        assert info.value.code == 301
    assert [n.rsplit(".", 1)[1] for n in os.listdir(tmp_path)] == ["sending"]  # left for recovery, not failed
    assert smtp.idle and not smtp.connected
    smtp.on_pi_trail = None
    smtp.mail_port = server.port
    run = smtp.process_queue(str(tmp_path))
    assert len(run.recovered) == 1 and len(run.sent) == 1
    assert os.listdir(tmp_path) == []
    assert b"Subject: survives an interrupt\r\n" in server.messages[0].data


def test_send_command_quit_ends_the_session(server, make_smtp):
    smtp = make_smtp(server)
    smtp.connect()
    reply = smtp.send_command("QUIT")
    assert reply.code == 221 and smtp.last_reply == "221 Bye"
    assert not smtp.connected
    smtp.send()  # and the object connects again for the next send
    assert len(server.messages) == 1


def test_a_mail_merge_sends_each_message_to_its_own_recipients(server, make_smtp):
    """A loop of send() that clears and sets the recipients between sends (the kept message is
    made again for each recipient: smtpx.message.compose._Template): every message reaches
    the server with its own RCPT, To and Message-ID, and the same body."""
    smtp = make_smtp(server, subject="merge", message_text="the same body\n")
    names = ["Ann <ann@example.com>", "Bob <bob@example.com>", "Jürgen <j@example.com>"]
    with smtp:
        for index, name in enumerate(names):
            smtp.message_recipients.clear()  # (setting send_to or cc adds, as the reference says)
            smtp.send_to = name
            if index:
                smtp.cc = f"copy{index}@example.com"
            smtp.send()
    assert [m.rcpt_tos for m in server.messages] == [["ann@example.com"], ["bob@example.com", "copy1@example.com"],
                                                     ["j@example.com", "copy2@example.com"]]
    parsed = [email.message_from_bytes(m.data, policy=email.policy.default) for m in server.messages]
    assert [str(p["To"]) for p in parsed] == names
    assert [p["Cc"] for p in parsed] == [None, "copy1@example.com", "copy2@example.com"]
    assert len({p["Message-ID"] for p in parsed}) == 3
    assert {p.get_content() for p in parsed} == {"the same body\r\n"}  # (as sent: CRLF)


def test_a_loop_of_send_makes_the_next_message_while_the_server_answers(server, make_smtp, monkeypatch):
    """A connected send() makes the message the next send() wants while the server answers its
    end of data (the engine's ``meanwhile``, compose.message_ahead): the next send() sends that
    very message when the properties did not change, and composes anew when they did."""
    from smtpx.message import compose

    clock = types.SimpleNamespace(time=lambda: 1_800_000_000.5, localtime=time.localtime)
    monkeypatch.setattr(compose, "time", clock)  # one second throughout: a made-ahead Date stays fit
    smtp = make_smtp(server, subject="first", message_text="the body\n")
    with smtp:
        smtp.send()
        made = smtp._ahead
        assert made is not None
        smtp.send()
        assert smtp._ahead is not None and smtp._ahead is not made
        smtp.subject = "changed"
        smtp.send()
    parsed = [email.message_from_bytes(m.data, policy=email.policy.default) for m in server.messages]
    ids = [p["Message-ID"] for p in parsed]
    assert len(set(ids)) == 3
    made_id = email.message_from_bytes(b"".join(made.message.iter_bytes()), policy=email.policy.default)["Message-ID"]
    assert ids[1] == made_id  # the second send sent the message made during the first
    assert [p["Subject"] for p in parsed] == ["first", "first", "changed"]
    assert {p.get_content() for p in parsed} == {"the body\r\n"}


def test_a_mail_merge_makes_no_message_ahead_that_it_would_throw_away(server, make_smtp):
    """A mail merge sets the next recipient before each send(), so a message made ahead for
    the last one's properties would never be sent: once a send() finds the properties changed
    since the one before, none is made, until two send()s in a row send the same."""
    smtp = make_smtp(server, subject="merge", message_text="the body\n")
    made = []
    with smtp:
        for address in ["a@example.com", "b@example.com", "c@example.com"]:
            smtp.message_recipients.clear()
            smtp.send_to = address
            smtp.send()
            made.append(smtp._ahead is not None)
        smtp.send()  # the same properties as the last send(): making one pays again
        made.append(smtp._ahead is not None)
        smtp.send()
        made.append(smtp._ahead is not None)
    assert made == [True, False, False, True, True]
    assert [m.rcpt_tos for m in server.messages] == [["a@example.com"], ["b@example.com"], ["c@example.com"],
                                                     ["c@example.com"], ["c@example.com"]]
