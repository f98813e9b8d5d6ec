"""The class reference's lists, item by item, each checked by running it.

The reference is read from ``<repository>/../shared/spec/`` (tests/facade/reference.py); when
it is missing, test_the_reference_lists_were_read fails: the run never passes on 0 cases.

Every property and method of the reference has a check in CHECKS: a function that uses that
item on a live smtpx.SMTP against a real local server (aiosmtpd, or a raw socket peer, on
127.0.0.1) and asserts what it did: what the server received, what was raised or returned.
A reference item without a check fails its case ("no check runs ..."), and so does an item
whose check fails; a check for a name the reference does not have fails too. Every event
fires, with its dataclass and its content, in a real TLS session."""
from __future__ import annotations

import io
import os
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Callable

import pytest
import trustme

import smtpx
from smtpx import events as ev
from smtpx.enums import AuthMechanism, FirewallType, RecipientType, SSLStartMode

from tests.facade.reference import EVENTS, METHODS, MISSING, PROPERTIES, SPEC, snake
from tests.servers.scripted import RawServer, ScriptedServer
from tests.servers.fake_proxies import socks5_relay
from tests.servers.sockets import ScriptedPeer


def test_the_reference_lists_were_read():
    assert not MISSING, MISSING
    assert (len(PROPERTIES), len(METHODS), len(EVENTS)) == (38, 17, 9), SPEC


# ================================================================================ the checks
@dataclass
class Live:
    """What a check works with: ``server`` (a fresh ScriptedServer, started on first use),
    ``make`` (make_smtp: an SMTP pointed at a server, From and To set), the session's test
    CA (``ca``, ``tls`` = (server SSLContext for 127.0.0.1, CA PEM)) and ``tmp_path``."""

    request: pytest.FixtureRequest
    make: Callable[..., smtpx.SMTP]
    ca: trustme.CA
    tls: tuple
    tmp_path: object

    @property
    def server(self) -> ScriptedServer:
        return self.request.getfixturevalue("server")

    def trusting(self, srv, **props) -> smtpx.SMTP:
        smtp = self.make(srv, **props)
        smtp.config("SSLServerCACerts=" + self.tls[1])
        return smtp


CHECKS: dict[str, Callable[[Live], None]] = {}


def check(*attrs: str):
    def register(fn):
        for attr in attrs:
            assert attr not in CHECKS, attr
            CHECKS[attr] = fn
        return fn
    return register


def _head(data: bytes) -> bytes:
    return data.split(b"\r\n\r\n", 1)[0] + b"\r\n"


# One row per header property: set it, send, find its header (absent before it was set).
HEADER_ROWS = {
    "subject": ("Quarterly report", b"Subject: Quarterly report\r\n"),
    "reply_to": ("replies@example.com", b"Reply-To: replies@example.com\r\n"),
    "message_date": ("Fri, 1 Mar 1996 21:24:52 -0500", b"Date: Fri, 1 Mar 1996 21:24:52 -0500\r\n"),
    "message_id": ("fixed.1@example.com", b"Message-ID: <fixed.1@example.com>\r\n"),
    "importance": (smtpx.Importance.HIGH, b"Importance: high\r\n"),
    "priority": (smtpx.Priority.URGENT, b"Priority: urgent\r\n"),
    "sensitivity": (smtpx.Sensitivity.PERSONAL, b"Sensitivity: Personal\r\n"),
    "delivery_notification_to": ("dsn@example.com", b"Return-Receipt-To: dsn@example.com\r\n"),
    "read_receipt_to": ("mdn@example.com", b"Disposition-Notification-To: mdn@example.com\r\n"),
    "other_headers": ("X-Custom: 42", b"X-Custom: 42\r\n"),
}


def _header_check(attr: str) -> Callable[[Live], None]:
    value, expected = HEADER_ROWS[attr]

    def run(live: Live) -> None:
        smtp = live.make(live.server)
        smtp.send()
        setattr(smtp, attr, value)
        assert getattr(smtp, attr) == value
        smtp.send()
        first, second = (_head(m.data) for m in live.server.messages)
        assert expected not in first and expected in second
    return run


for _attr in HEADER_ROWS:
    check(_attr)(_header_check(_attr))


# ------------------------------------------------------------------ envelope and recipients
@check("from_")
def _from(live):
    smtp = live.make(live.server, from_="Ann <ann@example.com>")
    smtp.send()
    got = live.server.messages[0]
    assert got.mail_from == "ann@example.com" and b"From: Ann <ann@example.com>\r\n" in _head(got.data)


@check("send_to")
def _send_to(live):
    smtp = live.make(live.server, send_to="Bob <bob@example.com>, carol@example.com")
    smtp.send()
    got = live.server.messages[0]
    assert got.rcpt_tos == ["bob@example.com", "carol@example.com"]
    assert b"To: Bob <bob@example.com>, carol@example.com\r\n" in _head(got.data)


@check("cc")
def _cc(live):
    smtp = live.make(live.server, cc="copy@example.com")
    smtp.send()
    got = live.server.messages[0]
    assert sorted(got.rcpt_tos) == ["copy@example.com", "rcpt@example.com"] and b"Cc: copy@example.com\r\n" in got.data


@check("bcc")
def _bcc(live):
    smtp = live.make(live.server, bcc="hidden@example.com")
    smtp.send()
    got = live.server.messages[0]
    assert sorted(got.rcpt_tos) == ["hidden@example.com", "rcpt@example.com"] and b"hidden" not in got.data


@check("message_recipients")
def _message_recipients(live):
    smtp = live.make(live.server, send_to="")
    smtp.message_recipients = [
        smtpx.MessageRecipient("to@example.com", "To Person", recipient_type=RecipientType.TO),
        smtpx.MessageRecipient("bcc@example.com", recipient_type=RecipientType.BCC),
    ]
    assert [r.address for r in smtp.message_recipients] == ["to@example.com", "bcc@example.com"]
    smtp.send()
    got = live.server.messages[0]
    assert got.rcpt_tos == ["to@example.com", "bcc@example.com"]
    assert b"To: To Person <to@example.com>\r\n" in got.data and b"bcc@" not in got.data


@check("return_path")
def _return_path(live):
    smtp = live.make(live.server, from_="ann@example.com", return_path="bounces@example.com")
    smtp.send()
    assert live.server.messages[0].mail_from == "bounces@example.com"


# ------------------------------------------------------------------------------- the body
@check("message_text")
def _message_text(live):
    smtp = live.make(live.server, message_text="first line\n.dot line")
    smtp.send()
    assert live.server.messages[0].data.endswith(b"\r\n\r\nfirst line\r\n.dot line\r\n")


@check("message")
def _message(live):
    smtp = live.make(live.server, message_text="not this")
    smtp.message = b"raw \xe9 bytes\r\n"
    smtp.send()
    assert live.server.messages[0].data.endswith(b"\r\n\r\nraw \xe9 bytes\r\n")


@check("message_headers")
def _message_headers(live):
    smtp = live.make(live.server, subject="Preview")
    headers = smtp.message_headers
    assert [h.field for h in headers][:3] == ["From", "To", "Subject"]
    smtp.message_date = next(h.value for h in headers if h.field == "Date")
    smtp.message_id = next(h.value for h in headers if h.field == "Message-ID").strip("<>")
    smtp.send()
    assert _head(live.server.messages[0].data) == b"".join(f"{h.field}: {h.value}\r\n".encode() for h in headers)


@check("message_headers_string")
def _message_headers_string(live):
    smtp = live.make(live.server, subject="Preview", message_date="Fri, 1 Mar 1996 21:24:52 -0500",
                     message_id="fixed.2@example.com")
    preview = smtp.message_headers_string
    smtp.send()
    assert preview.endswith("\r\n\r\n") and live.server.messages[0].data.startswith(preview.encode())


# ------------------------------------------------------------------------------ connection
@check("connected")
def _connected(live):
    smtp = live.make(live.server)
    assert smtp.connected is False
    smtp.connect()
    assert smtp.connected is True
    smtp.disconnect()
    assert smtp.connected is False and live.server.verbs() == ["EHLO", "QUIT"]


@check("idle")
def _idle(live):
    during = []
    smtp = live.make(live.server)
    smtp.on_transfer = lambda e: during.append(smtp.idle)
    assert smtp.idle is True
    smtp.send()
    assert during and not any(during) and smtp.idle is True


@check("allow_extensions")
def _allow_extensions(live):
    smtp = live.make(live.server, allow_extensions=False)
    smtp.send()
    assert live.server.verbs()[0] == "HELO"


@check("mail_server")
def _mail_server(live):
    smtp = smtpx.SMTP(mail_port=live.server.port, from_="a@example.com", send_to="b@example.com")
    with pytest.raises(smtpx.SMTPError) as info:
        smtp.send()
    assert info.value.code == 163 and live.server.commands == []
    smtp.mail_server = "127.0.0.1"
    smtp.send()
    assert len(live.server.messages) == 1


@check("mail_port")
def _mail_port(live):
    smtp = smtpx.SMTP(mail_server="127.0.0.1", from_="a@example.com", send_to="b@example.com")
    assert smtp.mail_port == 25
    smtp.mail_port = live.server.port
    smtp.send()
    assert len(live.server.messages) == 1


@check("local_host")
def _local_host(live):
    smtp = live.make(live.server, local_host="192.0.2.55")  # TEST-NET-1: never ours, cannot bind
    with pytest.raises(smtpx.SMTPError):
        smtp.connect()
    assert live.server.commands == []
    smtp.local_host = "127.0.0.1"
    smtp.connect()
    assert smtp.local_host == "127.0.0.1" and live.server.verbs() == ["EHLO"]


@check("timeout")
def _timeout(live):
    with RawServer([("expect", b"NEVER")]) as raw:  # accepts, never greets
        smtp = smtpx.SMTP(mail_server=raw.host, mail_port=raw.port)
        smtp.timeout = 1
        with pytest.raises(smtpx.SMTPTimeoutError):
            smtp.connect()
        assert not smtp.connected and smtp.timeout == 1


@check("last_reply")
def _last_reply(live):
    live.server.reply("NOOP", "250 2.0.0 scripted noop")
    smtp = live.make(live.server)
    smtp.connect()
    smtp.send_command("NOOP")
    assert smtp.last_reply == "250 2.0.0 scripted noop"


@check("firewall")
def _firewall(live):
    destinations: list[tuple[str, int]] = []
    with ScriptedPeer(socks5_relay(destinations)) as relay:
        smtp = live.make(live.server)
        smtp.firewall = smtpx.Firewall(firewall_type=FirewallType.SOCKS5, host="127.0.0.1", port=relay.port)
        assert smtp.firewall.port == relay.port
        smtp.send()
    assert destinations == [("127.0.0.1", live.server.port)]  # the way in was the proxy
    assert len(live.server.messages) == 1


# ----------------------------------------------------------------------------- TLS
@check("ssl_start_mode")
def _ssl_start_mode(live):
    with ScriptedServer(tls_context=live.tls[0]) as srv:
        smtp = live.trusting(srv)
        smtp.ssl_start_mode = SSLStartMode.EXPLICIT
        smtp.send()
        assert srv.verbs()[:3] == ["EHLO", "STARTTLS", "EHLO"] and len(srv.messages) == 1


@check("ssl_enabled")
def _ssl_enabled(live):
    with ScriptedServer(tls_context=live.tls[0], implicit_tls=True) as srv:
        smtp = live.trusting(srv)
        assert smtp.ssl_enabled is False
        smtp.ssl_enabled = True  # on a port other than 25 and 587: TLS from the first byte
        smtp.send()
        assert len(srv.messages) == 1 and smtp.config("SSLNegotiatedVersion").startswith("TLS")


@check("ssl_provider")
def _ssl_provider(live):
    with ScriptedServer(tls_context=live.tls[0], implicit_tls=True) as srv:
        smtp = live.trusting(srv, ssl_start_mode=SSLStartMode.IMPLICIT)
        smtp.ssl_provider = smtpx.SSLProvider.INTERNAL
        assert smtp.ssl_provider == smtpx.SSLProvider.INTERNAL
        smtp.send()
        assert len(srv.messages) == 1
    with pytest.raises(smtpx.SMTPInputError):
        smtp.ssl_provider = 9


@check("ssl_server_cert")
def _ssl_server_cert(live):
    leaf = live.ca.issue_cert("127.0.0.1")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(ctx)
    with ScriptedServer(tls_context=ctx, implicit_tls=True) as srv:
        smtp = live.trusting(srv, ssl_start_mode=SSLStartMode.IMPLICIT)
        assert smtp.ssl_server_cert is None
        smtp.connect()
        expected = smtpx.Certificate(leaf.cert_chain_pems[0].bytes())
        assert smtp.ssl_server_cert.fingerprint_sha256 == expected.fingerprint_sha256


@check("ssl_accept_server_cert")
def _ssl_accept_server_cert(live):
    stranger = trustme.CA().issue_cert("127.0.0.1")  # from a CA nobody trusts
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    stranger.configure_cert(ctx)
    with ScriptedServer(tls_context=ctx, implicit_tls=True) as srv:
        smtp = live.trusting(srv, ssl_start_mode=SSLStartMode.IMPLICIT)
        with pytest.raises(smtpx.SMTPCertificateError):
            smtp.send()
        smtp.ssl_accept_server_cert = smtpx.Certificate(stranger.cert_chain_pems[0].bytes())
        smtp.send()
        assert len(srv.messages) == 1


@check("ssl_cert")
def _ssl_cert(live):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    live.ca.issue_cert("127.0.0.1").configure_cert(ctx)
    ctx.verify_mode = ssl.CERT_REQUIRED
    live.ca.configure_trust(ctx)
    client = live.ca.issue_cert("client@example.com")
    with ScriptedServer(tls_context=ctx) as srv:
        smtp = live.trusting(srv, ssl_start_mode=SSLStartMode.EXPLICIT)
        with pytest.raises(smtpx.SMTPError):  # no client certificate: the server refuses
            smtp.send()
        smtp.ssl_cert = smtpx.Certificate(smtpx.CertStoreType.PEM_KEY_BLOB, client.private_key_and_cert_chain_pem.bytes())
        smtp.send()
        assert len(srv.messages) == 1


# ------------------------------------------------------------------------------ AUTH
@check("auth_mechanism", "user", "password")
def _auth(live):
    live.server.users["ann"] = "s3cret"
    smtp = live.make(live.server)
    smtp.send()  # no user: no AUTH
    smtp.user, smtp.password = "ann", "wrong"
    smtp.auth_mechanism = AuthMechanism.CRAM_MD5  # needs no plaintext allowance
    with pytest.raises(smtpx.SMTPAuthError):
        smtp.send()
    smtp.password = "s3cret"
    smtp.send()
    assert live.server.auth_log == [("CRAM-MD5", None), ("CRAM-MD5", "ann")]
    assert live.server.verbs().count("AUTH") == 2 and len(live.server.messages) == 2


# ============================================================================== methods
@check("send")
def _send(live):
    smtp = live.make(live.server)
    result = smtp.send()
    assert [r.address for r in result.accepted] == ["rcpt@example.com"]
    assert live.server.verbs() == ["EHLO", "MAIL", "RCPT", "DATA", "QUIT"] and len(live.server.messages) == 1


@check("connect")
def _connect(live):
    smtp = live.make(live.server)
    smtp.connect()
    assert smtp.connected and live.server.verbs() == ["EHLO"]


@check("disconnect")
def _disconnect(live):
    smtp = live.make(live.server)
    smtp.connect()
    smtp.disconnect()
    assert not smtp.connected and live.server.verbs() == ["EHLO", "QUIT"]


@check("config")
def _config(live):
    smtp = live.make(live.server)
    assert smtp.config("Hello=client.example") == ""
    assert smtp.config("Hello") == "client.example"
    smtp.connect()
    assert live.server.commands[0] == "EHLO client.example"


@check("do_events")
def _do_events(live):
    script = [("send", b"220 raw\r\n"), ("expect", b"EHLO"), ("send", b"250 raw\r\n"), ("wait", 0.2), ("close", None)]
    with RawServer(script) as raw:
        smtp = smtpx.SMTP(mail_server=raw.host, mail_port=raw.port, timeout=5)
        smtp.connect()
        for _ in range(500):  # the peer closes an idle connection: do_events notices
            smtp.do_events()
            if not smtp.connected:
                break
            time.sleep(0.01)
        assert not smtp.connected


@check("expand")
def _expand(live):
    live.server.expansions["team"] = ["a@example.com", "b@example.com"]
    smtp = live.make(live.server)
    assert smtp.expand("team") == ["a@example.com", "b@example.com"]
    assert "EXPN team" in live.server.commands


@check("verify")
def _verify(live):
    smtp = live.make(live.server)
    assert smtp.verify("someone@example.com").code == 250
    assert "VRFY someone@example.com" in live.server.commands


@check("send_command")
def _send_command(live):
    smtp = live.make(live.server)
    smtp.connect()
    reply = smtp.send_command("NOOP")
    assert reply.code == 250 and live.server.commands[-1] == "NOOP"


@check("interrupt")
def _interrupt(live):
    script = [("send", b"220 raw\r\n"), ("expect", b"EHLO"), ("send", b"250 raw\r\n"), ("expect", b"NOOP")]
    with RawServer(script) as raw:  # never answers NOOP
        smtp = smtpx.SMTP(mail_server=raw.host, mail_port=raw.port, timeout=30)
        smtp.connect()
        smtp.on_pi_trail = lambda e: (threading.Thread(target=smtp.interrupt).start()
                                      if e.direction == 0 and e.message == "NOOP" else None)
        with pytest.raises(smtpx.SMTPInterrupted) as info:
            smtp.send_command("NOOP")
        assert info.value.code == 301 and not smtp.connected and smtp.idle


@check("reset")
def _reset(live):
    smtp = live.make(live.server, subject="before")
    smtp.config("Hello=client.example")
    smtp.connect()
    smtp.reset()
    assert not smtp.connected and live.server.verbs() == ["EHLO", "QUIT"]
    assert (smtp.subject, smtp.from_, smtp.mail_server) == ("", "", "")
    assert smtp.config("Hello") != "client.example"


@check("reset_headers")
def _reset_headers(live):
    smtp = live.make(live.server, subject="old", message_text="keep me")
    smtp.reset_headers()
    assert (smtp.from_, smtp.send_to, smtp.subject) == ("", "", "")
    smtp.from_, smtp.send_to = "new@example.com", "to@example.com"
    smtp.send()
    data = live.server.messages[0].data
    assert b"Subject" not in data and data.endswith(b"\r\n\r\nkeep me\r\n")


@check("set_message_stream")
def _set_message_stream(live):
    body = b"".join(b"streamed line %d\r\n" % i for i in range(500))
    stream = io.BytesIO(body)
    smtp = live.make(live.server, message_text="not this")
    smtp.set_message_stream(stream)
    smtp.send()
    assert live.server.messages[0].data.endswith(b"\r\n\r\n" + body)


@check("queue")
def _queue(live):
    smtp = live.make(live.server, subject="queued")
    path = smtp.queue(str(live.tmp_path))
    assert os.path.dirname(path) == str(live.tmp_path) and os.path.exists(path)
    assert live.server.commands == []  # queueing sends nothing
    smtp.subject = "changed after queueing"
    smtp.process_queue(str(live.tmp_path))
    assert b"Subject: queued\r\n" in live.server.messages[0].data


@check("process_queue")
def _process_queue(live):
    smtp = live.make(live.server)
    for subject in ("one", "two"):
        smtp.subject = subject
        smtp.queue(str(live.tmp_path))
    run = smtp.process_queue(str(live.tmp_path))
    assert len(run.sent) == 2 and not run.failed and os.listdir(live.tmp_path) == []
    assert sorted(_head(m.data).split(b"Subject: ")[1].split(b"\r\n")[0] for m in live.server.messages) == [b"one", b"two"]


def _terminal_check(attr: str, verb: str) -> Callable[[Live], None]:
    def run(live: Live) -> None:
        smtp = live.make(live.server)
        getattr(smtp, attr)()
        assert live.server.commands[1].startswith(f"{verb} FROM:<sender@example.com>")
        assert "MAIL" not in live.server.verbs() and len(live.server.messages) == 1
    return run


for _attr, _verb in [("send_to_terminal_only", "SEND"), ("send_to_terminal_or_email", "SOML"),
                     ("send_to_terminal_and_email", "SAML")]:
    check(_attr)(_terminal_check(_attr, _verb))


# ================================================================================ the cases
@pytest.fixture
def live(request, make_smtp, ca, tls, tmp_path) -> Live:
    return Live(request, make_smtp, ca, tls, tmp_path)


@pytest.mark.parametrize("name", PROPERTIES)
def test_property_exists_and_works(name, live):
    attr = snake(name)
    assert isinstance(getattr(smtpx.SMTP, attr, None), property), f"SMTP.{attr} is missing"
    assert attr in CHECKS, f"no check runs SMTP.{attr}: add one to CHECKS in {__name__}"
    CHECKS[attr](live)


@pytest.mark.parametrize("name", METHODS)
def test_method_exists_and_works(name, live):
    attr = snake(name)
    assert callable(getattr(smtpx.SMTP, attr, None)), f"SMTP.{attr}() is missing"
    assert attr in CHECKS, f"no check runs SMTP.{attr}(): add one to CHECKS in {__name__}"
    CHECKS[attr](live)


def test_every_check_is_for_a_reference_item():
    assert not MISSING, MISSING
    assert sorted(set(CHECKS) - {snake(n) for n in PROPERTIES + METHODS}) == []


def _tls_session(tls, make_smtp, handlers):
    ctx, ca_pem = tls
    with ScriptedServer(tls_context=ctx) as srv:
        srv.reply("RCPT", "550 5.1.1 no such user", when="ghost@")
        srv.expansions["team"] = ["a@example.com", "b@example.com"]
        smtp = make_smtp(srv, ssl_start_mode=SSLStartMode.EXPLICIT, bcc="ghost@example.com", **handlers)
        smtp.config("SSLServerCACerts=" + ca_pem)
        smtp.connect()
        smtp.send()
        smtp.expand("team")
        smtp.disconnect()


EVENT_CHECKS = {
    "ConnectionStatus": (ev.ConnectionStatusEvent,
                         lambda es: [e.connection_event for e in es] == [
                             "Remote host connection complete", "SSL handshake complete", "Remote host disconnected"]),
    "EndTransfer": (ev.EndTransferEvent, lambda es: len(es) == 1 and es[0].direction == 0),
    "Error": (ev.ErrorEvent, lambda es: len(es) == 1 and "ghost@example.com" in es[0].description and es[0].error_code),
    "Expand": (ev.ExpandEvent, lambda es: [e.address for e in es] == ["a@example.com", "b@example.com"]),
    "PITrail": (ev.PITrailEvent, lambda es: {e.direction for e in es} == {0, 1}
                and any(e.message == "STARTTLS" for e in es)),
    "SSLServerAuthentication": (ev.SSLServerAuthenticationEvent,
                                lambda es: len(es) == 1 and es[0].accept and es[0].cert_subject != ""),
    "SSLStatus": (ev.SSLStatusEvent, lambda es: len(es) >= 1 and all(e.message for e in es)),
    "StartTransfer": (ev.StartTransferEvent, lambda es: len(es) == 1 and es[0].direction == 0),
    "Transfer": (ev.TransferEvent, lambda es: es and es[-1].percent_done == 100 and es[-1].bytes_transferred > 0),
}


@pytest.mark.parametrize("name", EVENTS)
def test_event_fires_with_its_dataclass(name, tls, make_smtp):
    attr = "on_" + snake(name)
    assert attr in ev.EVENT_NAMES and hasattr(smtpx.SMTP(), attr)
    assert name in EVENT_CHECKS, f"no check for the {name} event: add one to EVENT_CHECKS"
    kind, check_events = EVENT_CHECKS[name]
    fired = []
    _tls_session(tls, make_smtp, {attr: fired.append})
    assert fired and all(isinstance(e, kind) for e in fired)
    assert check_events(fired), fired
