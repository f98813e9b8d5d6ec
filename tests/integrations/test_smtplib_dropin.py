"""smtpx.smtplib, the drop-in for the standard library's smtplib.

Each "program" below is ordinary smtplib code written as a function of the module: it is run
once with the standard ``smtplib`` and once with ``smtpx.smtplib`` against the same real
server, and what the server received (envelope and message bytes), what the program got back
(refused dicts, replies) and the exceptions raised are compared. The aiosmtpd scripted server
(tests/servers/scripted.py) stores every message and plays the odd replies; the real Postfix
(tests/servers/postfix.py) does STARTTLS, AUTH and implicit TLS, and its deliveries are read
back from the mailbox.
"""
from __future__ import annotations

import email.policy
import smtplib as std_smtplib
import ssl
import time
import uuid
from email.message import EmailMessage
from types import ModuleType
from typing import Any, Callable

import pytest

import smtpx.smtplib as smtpx_smtplib
from smtpx.errors import SMTPInputError
from tests.servers.scripted import CLOSE, RawServer, Received
from tests.servers.postfix import split_mbox

BOTH = (std_smtplib, smtpx_smtplib)


def both_ways(server: Any, program: Callable[[ModuleType], Any]) -> list[tuple[Any, list[Received]]]:
    """Run ``program`` with each module against ``server``; [(its result or exception, the
    messages the server stored)] for stdlib then smtpx."""
    runs = []
    for module in BOTH:
        server.messages.clear()
        try:
            outcome: Any = program(module)
        except Exception as exc:  # compared by the test
            outcome = exc
        runs.append((outcome, list(server.messages)))
    return runs


def envelope_and_bytes(messages: list[Received]) -> list[tuple[str, list[str], list[str], list[str], bytes]]:
    """What the server stored; MAIL parameters compared without case (smtplib sends "size=",
    smtpx "SIZE=")."""
    return [(m.mail_from, m.rcpt_tos, [o.upper() for o in m.mail_options], m.rcpt_options, m.data)
            for m in messages]


def body(n: int) -> bytes:
    return (f"From: a@example.test\r\nTo: b@example.test\r\nSubject: n{n}\r\n\r\n"
            f"line one\r\n.leading dot\r\n\r\nend {n}\r\n").encode()


# ============================================================================ scripted server
def test_plain_sendmail_loop_over_one_connection(server):
    def program(smtplib: ModuleType) -> list[dict]:
        s = smtplib.SMTP(server.host, server.port, local_hostname="client.test")
        refused = [s.sendmail("a@example.test", ["b@example.test", "c@example.test"], body(n)) for n in range(5)]
        s.quit()
        return refused

    (std, std_msgs), (ours, our_msgs) = both_ways(server, program)
    assert std == ours == [{}] * 5
    assert len(our_msgs) == 5
    assert envelope_and_bytes(our_msgs) == envelope_and_bytes(std_msgs)


def test_one_connection_one_ehlo(server):
    """The EHLO smtpx sends while connecting is the one sendmail's ehlo_or_helo_if_needed
    uses: the server sees one EHLO, as from smtplib."""
    for module in BOTH:
        server.commands.clear()
        s = module.SMTP(server.host, server.port, local_hostname="client.test")
        s.sendmail("a@example.test", "b@example.test", body(0))
        s.sendmail("a@example.test", "b@example.test", body(1))
        s.quit()
        verbs = server.verbs()
        assert verbs.count("EHLO") == 1, (module.__name__, verbs)
        assert [c for c in server.commands if c.startswith("EHLO")] == ["EHLO client.test"]
        assert verbs[-1] == "QUIT"


def test_str_message_line_ends_and_leading_dots(server):
    """A str message with bare LF and bare CR, a leading dot and no final line end: the same
    bytes stored both ways (smtplib's _fix_eols; smtpx's own line-end rule)."""
    text = "Subject: eols\n\nbare lf\nbare cr\rcrlf\r\n.dot line\n..two dots\nno final eol"

    def program(smtplib: ModuleType) -> dict:
        with smtplib.SMTP(server.host, server.port) as s:
            return s.sendmail("a@example.test", "b@example.test", text)

    (std, std_msgs), (ours, our_msgs) = both_ways(server, program)
    assert std == ours == {}
    assert envelope_and_bytes(our_msgs) == envelope_and_bytes(std_msgs)
    assert our_msgs[0].data.count(b"\r\n") == 8 and b"\n" not in our_msgs[0].data.replace(b"\r\n", b"")


def test_send_message_with_attachment_and_bcc(server):
    def program(smtplib: ModuleType) -> dict:
        with smtplib.SMTP(server.host, server.port) as s:
            s.ehlo()
            return s.send_message(report_message("scripted"))

    (std, std_msgs), (ours, our_msgs) = both_ways(server, program)
    assert std == ours == {}
    assert envelope_and_bytes(our_msgs) == envelope_and_bytes(std_msgs)
    assert our_msgs[0].rcpt_tos == ["to@example.test", "hidden@example.test", "cc@example.test"]  # smtplib: To, Bcc, Cc
    assert b"hidden@" not in our_msgs[0].data


def test_refused_recipient_gives_the_same_dict(server):
    def program(smtplib: ModuleType) -> dict:
        server.reply("RCPT", "550 5.1.1 <nobody@example.test>: no such user", when="nobody", times=1)
        with smtplib.SMTP(server.host, server.port) as s:
            return s.sendmail("a@example.test", ["b@example.test", "Nobody <nobody@example.test>",
                                                 "c@example.test"], body(1))

    (std, std_msgs), (ours, our_msgs) = both_ways(server, program)
    assert std == {"Nobody <nobody@example.test>": (550, b"5.1.1 <nobody@example.test>: no such user")}
    assert ours == std
    assert envelope_and_bytes(our_msgs) == envelope_and_bytes(std_msgs)
    assert our_msgs[0].rcpt_tos == ["b@example.test", "c@example.test"]


def test_all_recipients_refused(server):
    def program(smtplib: ModuleType) -> Any:
        server.reply("RCPT", "550 5.1.1 no such user", times=2)
        with smtplib.SMTP(server.host, server.port) as s:
            try:
                s.sendmail("a@example.test", ["x@example.test", "y@example.test"], body(2))
            except std_smtplib.SMTPRecipientsRefused as exc:
                after = s.noop()  # the connection is still usable
                return type(exc), exc.recipients, exc.args, after

    (std, std_msgs), (ours, our_msgs) = both_ways(server, program)
    assert std[0] is std_smtplib.SMTPRecipientsRefused and ours[0] is std_smtplib.SMTPRecipientsRefused
    assert std[1] == {"x@example.test": (550, b"5.1.1 no such user"), "y@example.test": (550, b"5.1.1 no such user")}
    assert ours[1:] == std[1:]
    assert std_msgs == our_msgs == []


def test_sender_refused(server):
    def program(smtplib: ModuleType) -> Any:
        server.reply("MAIL", "553 5.7.1 sender not allowed", times=1)
        with smtplib.SMTP(server.host, server.port) as s:
            try:
                s.sendmail("bad@example.test", ["b@example.test"], body(3))
            except std_smtplib.SMTPSenderRefused as exc:
                return type(exc), exc.smtp_code, exc.smtp_error, exc.sender, exc.args, s.noop()[0]

    (std, std_msgs), (ours, our_msgs) = both_ways(server, program)
    assert std == (std_smtplib.SMTPSenderRefused, 553, b"5.7.1 sender not allowed", "bad@example.test",
                   (553, b"5.7.1 sender not allowed", "bad@example.test"), 250)
    assert ours == std
    assert std_msgs == our_msgs == []


def test_data_refused(server):
    def program(smtplib: ModuleType) -> Any:
        server.reply("DATA_END", "554 5.6.0 content rejected", times=1)
        with smtplib.SMTP(server.host, server.port) as s:
            try:
                s.sendmail("a@example.test", ["b@example.test"], body(4))
            except std_smtplib.SMTPDataError as exc:
                return type(exc), exc.args

    (std, _), (ours, _) = both_ways(server, program)
    assert std == ours == (std_smtplib.SMTPDataError, (554, b"5.6.0 content rejected"))


def test_server_disconnect(server):
    def program(smtplib: ModuleType) -> Any:
        server.reply("MAIL", CLOSE, times=1)
        s = smtplib.SMTP(server.host, server.port)
        try:
            s.sendmail("a@example.test", ["b@example.test"], body(5))
        except std_smtplib.SMTPServerDisconnected as exc:
            caught: Any = exc
        try:
            s.noop()
        except std_smtplib.SMTPServerDisconnected as exc:
            return isinstance(caught, std_smtplib.SMTPServerDisconnected), type(exc)
        finally:
            s.close()

    (std, std_msgs), (ours, our_msgs) = both_ways(server, program)
    assert std == (True, std_smtplib.SMTPServerDisconnected)
    assert ours[0] is True and issubclass(ours[1], std_smtplib.SMTPServerDisconnected)
    assert std_msgs == our_msgs == []


def test_not_connected(server):
    for module in BOTH:
        s = module.SMTP()
        with pytest.raises(std_smtplib.SMTPServerDisconnected):
            s.noop()
        with pytest.raises(std_smtplib.SMTPServerDisconnected):
            s.sendmail("a@example.test", "b@example.test", body(0))


def test_with_statement_and_replies(server):
    def program(smtplib: ModuleType) -> Any:
        with smtplib.SMTP() as s:
            greeting = s.connect(server.host, server.port)
            ehlo = s.ehlo("client.test")
            noop, rset = s.noop(), s.rset()
            refused = s.sendmail("a@example.test", "b@example.test", body(6))
        return greeting[0], greeting[1].split(b" ")[0], ehlo, noop, rset, refused

    (std, std_msgs), (ours, our_msgs) = both_ways(server, program)
    assert std[0] == 220 and std[2][0] == 250
    assert ours == std
    assert envelope_and_bytes(our_msgs) == envelope_and_bytes(std_msgs)
    assert server.verbs()[-1] == "QUIT"  # __exit__ sent QUIT


def test_has_extn_and_esmtp_features(server):
    server.extra_capabilities.append("AUTH=LOGIN")  # the old form smtplib also reads

    def program(smtplib: ModuleType) -> Any:
        with smtplib.SMTP(server.host, server.port) as s:
            before = (s.has_extn("pipelining"), s.does_esmtp)
            s.ehlo()
            return (before, s.has_extn("PIPELINING"), s.has_extn("8bitmime"), s.has_extn("starttls"),
                    s.does_esmtp, s.esmtp_features, s.ehlo_resp)

    (std, _), (ours, _) = both_ways(server, program)
    assert std[0] == (False, False) and std[1:4] == (True, True, False)
    assert "auth" in std[5] and "pipelining" in std[5]
    assert ours == std


def test_helo(server):
    def program(smtplib: ModuleType) -> Any:
        with smtplib.SMTP(server.host, server.port) as s:
            code, _ = s.helo("client.test")
            return code, s.sendmail("a@example.test", "b@example.test", body(7))

    (std, std_msgs), (ours, our_msgs) = both_ways(server, program)
    assert std == ours == (250, {})
    assert envelope_and_bytes(our_msgs) == envelope_and_bytes(std_msgs)
    assert "HELO client.test" in server.commands


def test_login_over_plaintext_is_refused_without_tls(server):
    """The one deliberate difference: smtplib sends PLAIN/LOGIN passwords in clear; smtpx
    refuses before anything is written (an SMTPAuthenticationError) unless allowed."""
    server.users["u"] = "p"
    server.drop_capabilities.append("AUTH")  # offer PLAIN and LOGIN only (no CRAM-MD5)
    server.extra_capabilities.append("AUTH PLAIN LOGIN")
    with std_smtplib.SMTP(server.host, server.port) as s:
        assert s.login("u", "p")[0] == 235
    server.commands.clear()
    with smtpx_smtplib.SMTP(server.host, server.port) as s:
        with pytest.raises(std_smtplib.SMTPAuthenticationError, match="in clear"):
            s.login("u", "p")
    assert not any(c.startswith("AUTH") for c in server.commands)
    with smtpx_smtplib.SMTP(server.host, server.port, config={"AllowPlaintextAuth": True}) as s:
        assert s.login("u", "p")[0] == 235
        with pytest.raises(std_smtplib.SMTPNotSupportedError):
            s.starttls()  # not offered


def test_wrong_password(server):
    server.users["u"] = "p"
    for module in BOTH:
        with module.SMTP(server.host, server.port, config={"AllowPlaintextAuth": True}) if module is smtpx_smtplib \
                else module.SMTP(server.host, server.port) as s:
            with pytest.raises(std_smtplib.SMTPAuthenticationError) as caught:
                s.login("u", "wrong")
            assert caught.value.smtp_code == 535


def test_debuglevel_traces_to_stderr(server, capsys):
    with smtpx_smtplib.SMTP(server.host, server.port) as s:
        s.set_debuglevel(1)
        s.noop()
    err = capsys.readouterr().err
    assert "send: 'NOOP'" in err and "reply: '250" in err


def test_bad_input_is_refused_before_anything_is_sent(server):
    with smtpx_smtplib.SMTP(server.host, server.port) as s:
        server.commands.clear()
        with pytest.raises(SMTPInputError):
            s.sendmail("a@example.test", ["b@example.test"], "caf\u00e9")  # str must be ASCII
        with pytest.raises(ValueError):
            s.sendmail("a@example.test", ["not an address"], body(0))
        message = EmailMessage()
        message["From"] = "a@example.test"
        with pytest.raises(SMTPInputError):
            s.send_message(message)  # no recipient
        assert s.noop()[0] == 250
    assert server.messages == []
    assert not any(c.startswith(("MAIL", "RCPT", "DATA")) for c in server.commands)


def test_lmtp_is_not_available():
    with pytest.raises(NotImplementedError, match="LMTP"):
        smtpx_smtplib.LMTP("127.0.0.1")


def test_module_surface():
    for name in ("SMTPException", "SMTPServerDisconnected", "SMTPResponseException", "SMTPSenderRefused",
                 "SMTPRecipientsRefused", "SMTPDataError", "SMTPConnectError", "SMTPHeloError",
                 "SMTPAuthenticationError", "SMTPNotSupportedError"):
        assert getattr(smtpx_smtplib, name) is getattr(std_smtplib, name)
    assert (smtpx_smtplib.SMTP_PORT, smtpx_smtplib.SMTP_SSL_PORT) == (25, 465)


def test_greeting_refused():
    """A 554 greeting (aiosmtpd cannot send one: a byte-level peer plays it, answering QUIT as
    RFC 5321 3.1 asks of such a server). smtpx sends that QUIT; smtplib just closes."""
    for module in BOTH:
        with RawServer([("send", b"554 5.3.2 no service\r\n"), ("expect", b"QUIT"),
                        ("send", b"221 2.0.0 bye\r\n")]) as raw:
            with pytest.raises(std_smtplib.SMTPConnectError) as caught:
                module.SMTP("127.0.0.1", raw.port)
        assert caught.value.args == (554, b"5.3.2 no service")
        assert (bytes(raw.received) == b"QUIT\r\n") == (module is smtpx_smtplib)


# ============================================================================ Postfix
def report_message(mark: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Reports <reports@example.test>"
    message["To"] = "to@example.test"
    message["Cc"] = "cc@example.test"
    message["Bcc"] = "hidden@example.test"
    message["Subject"] = f"Report {mark} caf\u00e9"
    message["Date"] = "Mon, 04 May 2026 10:00:00 +0000"
    message["Message-ID"] = f"<{mark}@example.test>"
    message.set_content(f"Hello {mark}\n.dot line\n")
    message.add_attachment(bytes(range(256)) * 20, maintype="application", subtype="octet-stream",
                           filename="data.bin")
    message.set_boundary(f"frontier-{mark}")  # else a random one each time it is written
    return message


_TRACE_HEADERS = ("return-path:", "x-original-to:", "delivered-to:", "received:")


def without_trace(delivered: str) -> str:
    """A delivered message without the headers Postfix adds on the way (they must differ)."""
    head, _, rest = delivered.partition("\n\n")
    kept: list[str] = []
    skipping = False
    for line in head.split("\n"):
        if line[:1] in (" ", "\t"):
            if not skipping:
                kept.append(line)
            continue
        skipping = line.lower().startswith(_TRACE_HEADERS)
        if not skipping:
            kept.append(line)
    return "\n".join(kept) + "\n\n" + rest


def delivered_to(postfix: Any, recipient: str) -> str:
    postfix.wait_for_delivery(recipient)
    found = [m for m in split_mbox(postfix.mailbox_text()) if f"X-Original-To: {recipient}" in m]
    assert len(found) == 1, found
    return without_trace(found[0])


@pytest.mark.postfix
def test_starttls_login_send_message_postfix(postfix):
    mark = "m" + uuid.uuid4().hex[:10]
    context = ssl.create_default_context(cadata=postfix.ca_pem)

    def program(smtplib: ModuleType, recipient: str) -> Any:
        s = smtplib.SMTP(postfix.host, postfix.smtp_port, local_hostname="client.test", timeout=20)
        s.ehlo()
        tls = s.starttls(context=context)
        s.ehlo()
        auth = s.login(postfix.user, postfix.password)
        refused = s.send_message(report_message(mark), to_addrs=[recipient])
        quit_reply = s.quit()
        return tls[0], auth[0], refused, quit_reply[0]

    delivered = []
    for module in BOTH:
        recipient = f"{mark}-{module.__name__.replace('.', '-')}@example.test"
        assert program(module, recipient) == (220, 235, {}, 221)
        delivered.append(delivered_to(postfix, recipient))
    assert delivered[0] == delivered[1]
    parsed = email.message_from_string(delivered[1], policy=email.policy.default)
    assert parsed["Subject"] == f"Report {mark} caf\u00e9" and "Bcc" not in parsed
    attachment = next(parsed.iter_attachments())
    assert attachment.get_content() == bytes(range(256)) * 20


@pytest.mark.postfix
def test_smtp_ssl_postfix(postfix):
    mark = "m" + uuid.uuid4().hex[:10]
    context = ssl.create_default_context(cadata=postfix.ca_pem)

    def program(smtplib: ModuleType, recipient: str) -> Any:
        with smtplib.SMTP_SSL(postfix.host, postfix.smtps_port, context=context, timeout=20) as s:
            s.login(postfix.user, postfix.password)
            return s.sendmail("sender@example.test", [recipient, "reject@example.test"], body_for(mark))

    delivered = []
    refused = []
    for module in BOTH:
        recipient = f"{mark}-{module.__name__.replace('.', '-')}@example.test"
        refused.append(program(module, recipient))
        delivered.append(delivered_to(postfix, recipient))
    assert refused[0] == refused[1] and list(refused[0]) == ["reject@example.test"]
    assert refused[0]["reject@example.test"][0] == 554
    assert delivered[0] == delivered[1]


def body_for(mark: str) -> bytes:
    return (f"From: sender@example.test\r\nTo: list@example.test\r\nSubject: ssl {mark}\r\n"
            f"Date: Mon, 04 May 2026 10:00:00 +0000\r\nMessage-ID: <{mark}@example.test>\r\n\r\n"
            f"implicit TLS {mark}\r\n.dot\r\n").encode()


# ============================================================================ the facade's steps
# smtpx.SMTP's Python extras the drop-in is built on, tested on their own.
from tests.servers.scripted_fixtures import tls  # noqa: E402,F401  (fixture: server context, CA PEM)
from tests.servers.scripted import ScriptedServer  # noqa: E402

import smtpx  # noqa: E402
from smtpx.errors import SMTPAuthError, SMTPNotConnectedError  # noqa: E402


def test_facade_greeting_and_hello(server):
    client = smtpx.SMTP(mail_server=server.host, mail_port=server.port, config={"Hello": "one.test"})
    assert client.server_greeting is None and client.hello_reply is None
    with pytest.raises(SMTPNotConnectedError):
        client.hello()
    client.connect()
    assert client.server_greeting is not None and client.server_greeting.code == 220
    assert client.hello_reply is not None and client.hello_reply.code == 250
    assert "PIPELINING" in client.hello_reply.lines
    again = client.hello("two.test")
    assert again.code == 250 and client.hello_reply is again
    helo = client.hello(helo=True)
    assert helo.code == 250 and len(helo.lines) == 1
    client.send_raw("a@example.test", ["b@example.test"], body(0))
    client.disconnect(quit=False)
    assert client.server_greeting is None and not client.connected
    assert [c for c in server.commands if c.startswith(("EHLO", "HELO"))] == [
        "EHLO one.test", "EHLO two.test", "HELO one.test"]
    assert "QUIT" not in server.verbs()


def test_facade_starttls_then_authenticate(tls):
    server_context, ca_pem = tls
    with ScriptedServer(tls_context=server_context, users={"u": "p"}) as srv:
        client = smtpx.SMTP(mail_server=srv.host, mail_port=srv.port, config={"SSLServerCACerts": ca_pem})
        client.connect()
        assert client.hello_reply is not None and "STARTTLS" in client.hello_reply.lines
        client.user, client.password, client.auth_mechanism = "u", "wrong", smtpx.AuthMechanism.SASL_PLAIN
        with pytest.raises(SMTPAuthError, match="in clear"):
            client.authenticate()  # PLAIN before TLS: refused, nothing sent
        assert client.connected and not any(c.startswith("AUTH") for c in srv.commands)
        reply = client.starttls()
        assert reply.code == 220 and client.ssl_server_cert is not None
        assert client.hello_reply is not None and "STARTTLS" not in client.hello_reply.lines
        assert srv.verbs()[-2:] == ["STARTTLS", "EHLO"]
        with pytest.raises(SMTPAuthError):
            client.authenticate()  # wrong password: refused, the connection stays
        client.password = "p"
        assert client.authenticate().code == 235
        client.send_raw("a@example.test", ["b@example.test"], body(1))
        client.disconnect()
        assert srv.auth_log[-1] == ("PLAIN", "u") and len(srv.messages) == 1


def test_facade_send_raw_options(server):
    client = smtpx.SMTP(mail_server=server.host, mail_port=server.port)
    client.connect()
    client.send_raw("a@example.test", ["b@example.test"], body(2), mail_options=["SMTPUTF8"])
    assert "SMTPUTF8" in server.messages[-1].mail_options
    server.commands.clear()
    with pytest.raises(SMTPInputError, match="RET=HDRS"):
        client.send_raw("a@example.test", ["b@example.test"], body(3), mail_options=["RET=HDRS"])
    with pytest.raises(SMTPInputError):
        client.send_raw("a@example.test", ["b@example.test"], body(3), rcpt_options=["NOTIFY=NEVER\r\nRSET"])
    with pytest.raises(SMTPInputError):
        client.send_raw("a@example.test", ["b@example.test"], body(3), mail_options="SMTPUTF8")  # one str
    assert not any(c.startswith(("MAIL", "RCPT")) for c in server.commands)
    client.disconnect()


def test_421_to_a_command_then_sendmail(server):
    """docmd returns a 421 (the server then closes); the next sendmail raises
    SMTPServerDisconnected in both, and smtpx opens no new connection behind it."""
    for module in BOTH:
        server.reply("NOOP", "421 4.4.2 idle too long", times=1)
        s = module.SMTP(server.host, server.port)
        assert s.noop() == (421, b"4.4.2 idle too long")
        server.commands.clear()
        with pytest.raises(std_smtplib.SMTPServerDisconnected):
            s.sendmail("a@example.test", ["b@example.test"], body(8))
        s.close()
        assert server.commands == [] and server.messages == [], module.__name__


def test_close_while_idle_then_sendmail():
    """The server closes the idle connection: SMTPServerDisconnected in both, no new connection."""
    script = [("send", b"220 raw.test ready\r\n"), ("expect", b"EHLO"),
              ("send", b"250-raw.test\r\n250 8BITMIME\r\n"), ("close", None)]
    for module in BOTH:
        with RawServer(list(script)) as raw:
            s = module.SMTP("127.0.0.1", raw.port, timeout=10)  # a new connection would wait in the backlog
            s.ehlo()
            with pytest.raises(std_smtplib.SMTPServerDisconnected):
                s.sendmail("a@example.test", ["b@example.test"], body(9))
            s.close()
        assert raw.errors == [], (module.__name__, raw.errors)


def test_a_close_just_after_the_idle_look_opens_no_new_connection(monkeypatch):
    """The server's close reaches the client after sendmail looked at the idle connection (its
    do_events) and before send_raw's own look: the drop-in still raises
    SMTPServerDisconnected and opens no connection of its own (which would lack the program's
    STARTTLS and login). The look is made to miss the close, so the race always happens."""
    script = [("send", b"220 raw.test ready\r\n"), ("expect", b"EHLO"),
              ("send", b"250-raw.test\r\n250 8BITMIME\r\n"), ("close", None)]
    with RawServer(list(script)) as raw:
        s = smtpx_smtplib.SMTP("127.0.0.1", raw.port, timeout=10)
        s.ehlo()
        time.sleep(0.2)  # the close has arrived by now
        monkeypatch.setattr(s._client, "do_events", lambda: None)  # ... but this look misses it
        opened = []
        monkeypatch.setattr(s._client, "_open", lambda: opened.append(True))
        with pytest.raises(std_smtplib.SMTPServerDisconnected):
            s.sendmail("a@example.test", ["b@example.test"], body(9))
        assert opened == []
        s.close()
    assert raw.errors == [], raw.errors
