"""smtpx through Python's logging (docs/logging.md), against real servers: the trace at DEBUG
(the on_pi_trail text, credentials masked), connections, TLS and AUTH at INFO, refused
recipients and per-message errors at WARNING, a child logger per connection, and silence when
the application configures nothing."""
from __future__ import annotations

import base64
import logging
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import smtpx
from smtpx.aio import AsyncSMTP
from smtpx.enums import AuthMechanism, SSLStartMode

from tests.aio.helpers import arun
from tests.servers.scripted import ScriptedServer

MESSAGE = b"Subject: logging\r\n\r\nhello\r\n"
MARKS = {0: "C:", 1: "S:", 2: "*"}
ROOT = Path(__file__).resolve().parents[2]


class Records(logging.Handler):
    """Every record under the ``smtpx`` logger, kept as is."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def at(self, level: int) -> list[logging.LogRecord]:
        return [r for r in self.records if r.levelno == level]

    def messages(self, level: int) -> list[str]:
        return [r.getMessage() for r in self.at(level)]

    def everything(self) -> str:
        """Every record's text and every attribute it carries (what any formatter could show)."""
        return "\n".join(f"{r.getMessage()} {r.__dict__!r}" for r in self.records)


@pytest.fixture
def logs():
    """A handler on ``smtpx`` at the given level (DEBUG unless the test lowers it)."""
    logger = logging.getLogger("smtpx")
    handler = Records()
    saved = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved)


def client(srv, **props) -> smtpx.SMTP:
    return smtpx.SMTP(mail_server=srv.host, mail_port=srv.port, **props)


def test_the_smtpx_logger_has_a_null_handler():
    assert any(isinstance(h, logging.NullHandler) for h in logging.getLogger("smtpx").handlers)


def test_the_trace_is_at_debug_in_order_and_is_the_pi_trail_text(server, logs):
    trail: list[str] = []
    smtp = client(server, on_pi_trail=lambda e: trail.append(f"{MARKS[e.direction]} {e.message}"))
    smtp.connect()
    smtp.send_raw("a@example.com", ["b@example.com"], MESSAGE)
    smtp.disconnect()
    traced = logs.messages(logging.DEBUG)
    assert traced == trail  # one source: the same lines, in the same order
    assert traced[0].startswith("S: 220 ")
    assert traced[1].startswith("C: EHLO ")
    assert "C: MAIL FROM:<a@example.com>" in "\n".join(traced)
    client_lines = [i for i, line in enumerate(traced) if line.startswith("C: ")]
    server_lines = [i for i, line in enumerate(traced) if line.startswith("S: ")]
    assert client_lines and server_lines
    assert traced[-2:] == ["C: QUIT", "S: 221 Bye"]
    directions = {r.smtpx_direction for r in logs.at(logging.DEBUG)}
    assert directions == {0, 1}


def test_debug_logging_alone_turns_the_trace_on_and_off(server, logs):
    smtp = client(server)  # no on_pi_trail handler
    logging.getLogger("smtpx").setLevel(logging.INFO)
    smtp.connect()
    assert smtp._sink.pi_trail_enabled is False  # the fast path: no trace text is built
    smtp.send_raw("a@example.com", ["b@example.com"], MESSAGE)
    assert logs.at(logging.DEBUG) == []
    logging.getLogger("smtpx").setLevel(logging.DEBUG)  # on the open connection, at once
    assert smtp._sink.pi_trail_enabled is True
    smtp.send_raw("a@example.com", ["b@example.com"], MESSAGE)
    smtp.disconnect()
    assert "C: RCPT TO:<b@example.com>" in logs.messages(logging.DEBUG)
    assert "C: QUIT" in logs.messages(logging.DEBUG)


def test_connect_and_disconnect_at_info_with_server_port_and_family(server, logs):
    smtp = client(server)
    smtp.connect()
    smtp.disconnect()
    info = logs.at(logging.INFO)
    texts = [r.getMessage() for r in info]
    assert texts[0] == f"connecting to 127.0.0.1:{server.port} (TLS: none)"
    assert texts[1] == f"Connected to 127.0.0.1:{server.port} (IPv4)"
    assert info[1].smtpx_family == "IPv4"
    assert texts[-1] == "disconnected"
    for record in logs.records:
        assert record.smtpx_server == "127.0.0.1" and record.smtpx_port == server.port


def test_each_connection_has_its_own_child_logger(server, logs):
    first, second = client(server), client(server)
    first.connect()
    second.connect()
    first.disconnect()
    second.disconnect()
    first.connect()  # a new connection of the same object: a new child
    first.disconnect()
    names = [r.name for r in logs.records]
    assert all(re.fullmatch(r"smtpx\.connection\.\d+", name) for name in names)
    distinct = list(dict.fromkeys(names))
    assert len(distinct) == 3
    numbers = {r.name: r.smtpx_connection for r in logs.records}
    assert all(name.endswith(f".{number}") for name, number in numbers.items())
    # Not kept by logging's manager: a process opening many connections keeps no logger each.
    assert not any(name in logging.root.manager.loggerDict for name in distinct)


@pytest.mark.parametrize("mechanism, name", [(AuthMechanism.SASL_PLAIN, "PLAIN"),
                                             (AuthMechanism.USER_PASSWORD, "LOGIN")])
def test_auth_is_at_info_and_no_record_holds_a_secret(server, logs, mechanism, name):
    server.users["ann"] = "s3cret"
    smtp = client(server, user="ann", password="s3cret", auth_mechanism=mechanism)
    smtp.config("AllowPlaintextAuth=True")
    smtp.connect()
    smtp.send_raw("a@example.com", ["b@example.com"], MESSAGE)
    smtp.disconnect()
    assert server.auth_log == [(name, "ann")]
    accepted = [r for r in logs.at(logging.INFO) if r.getMessage() == f"AUTH {name} accepted"]
    assert len(accepted) == 1 and accepted[0].smtpx_auth == name
    assert f"C: AUTH {name}" in "\n".join(logs.messages(logging.DEBUG))  # the exchange is traced...
    text = logs.everything()
    for secret in ("s3cret", base64.b64encode(b"\0ann\0s3cret").decode(), base64.b64encode(b"s3cret").decode()):
        assert secret not in text  # ...masked, at every level


def test_a_refused_auth_is_a_warning_without_the_secret(server, logs):
    server.users["ann"] = "right"
    smtp = client(server, user="ann", password="wr0ng-pass", auth_mechanism=AuthMechanism.SASL_PLAIN)
    smtp.config("AllowPlaintextAuth=True")
    with pytest.raises(smtpx.SMTPAuthError):
        smtp.connect()
    warnings = logs.messages(logging.WARNING)
    assert len(warnings) == 1 and warnings[0].startswith("SMTPAuthError: AUTH PLAIN failed: 535")
    text = logs.everything()
    assert "wr0ng-pass" not in text and base64.b64encode(b"\0ann\0wr0ng-pass").decode() not in text
    assert not any("accepted" in m for m in logs.messages(logging.INFO))


def test_tls_result_at_info(tls, logs):
    ctx, ca_pem = tls
    with ScriptedServer(tls_context=ctx, require_starttls=True, users={"ann": "s3cret"}) as srv:
        smtp = client(srv, ssl_start_mode=SSLStartMode.EXPLICIT, user="ann", password="s3cret",
                      auth_mechanism=AuthMechanism.SASL_PLAIN)
        smtp.config("SSLServerCACerts=" + ca_pem)
        smtp.connect()
        smtp.disconnect()
    info = logs.at(logging.INFO)
    texts = [r.getMessage() for r in info]
    assert texts[0].endswith("(TLS: explicit)")
    tls_records = [r for r in info if r.getMessage().startswith("TLS established: ")]
    assert len(tls_records) == 1
    record = tls_records[0]
    assert record.smtpx_tls_version.startswith("TLSv1.") and record.smtpx_tls_cipher
    assert record.smtpx_tls_verify == "OK"
    assert f"{record.smtpx_tls_version}, {record.smtpx_tls_cipher}" in record.getMessage()
    assert "server certificate OK (accepted by verification)" in record.getMessage()
    # TLS, then AUTH over it; the handshake's progress is at DEBUG.
    assert texts.index(record.getMessage()) < texts.index("AUTH PLAIN accepted")
    assert any(m.startswith("TLS: Starting TLS handshake") for m in logs.messages(logging.DEBUG))
    assert "s3cret" not in logs.everything()


def test_a_rejected_certificate_is_a_warning(tls, logs):
    ctx, _ = tls
    with ScriptedServer(tls_context=ctx, require_starttls=True) as srv:
        smtp = client(srv, ssl_start_mode=SSLStartMode.EXPLICIT)  # the test CA is not trusted
        with pytest.raises(smtpx.SMTPCertificateError):
            smtp.connect()
    warnings = logs.messages(logging.WARNING)
    assert len(warnings) == 1 and warnings[0].startswith("SMTPCertificateError: the server certificate was not accepted")


def test_a_refused_recipient_is_a_warning(server, logs):
    server.reply("RCPT", "550 5.1.1 no such user", when="bad")
    smtp = client(server)
    with pytest.raises(smtpx.SMTPRecipientsRefused):  # StopOnToErrors (the default): raised...
        smtp.send_raw("a@example.com", ["bad@example.com", "good@example.com"], MESSAGE)
    warnings = logs.at(logging.WARNING)
    assert len(warnings) == 1  # ...and logged once, naming the recipient
    assert "refused: bad@example.com (550 5.1.1 no such user)" in warnings[0].getMessage()
    assert warnings[0].smtpx_code == 161


def test_a_refused_recipient_of_a_message_that_goes_out_is_a_warning(server, logs):
    server.reply("RCPT", "550 5.1.1 no such user", when="bad")
    errors = []
    smtp = client(server, on_error=errors.append)
    smtp.config("StopOnToErrors=False")
    result = smtp.send_raw("a@example.com", ["bad@example.com", "good@example.com"], MESSAGE)
    assert result.refused_addresses == ["bad@example.com"]
    warnings = logs.messages(logging.WARNING)
    assert warnings == [errors[0].description]  # the on_error event, as a record
    assert warnings[0].startswith("recipient bad@example.com refused: 550 5.1.1")


def test_per_message_errors_of_a_batch_are_warnings(server, logs):
    server.reply("RCPT", "550 5.1.1 no such user", when="bad")
    smtp = client(server)
    results = smtp.send_batch([("a@example.com", ["good@example.com"], MESSAGE),
                               ("a@example.com", ["bad@example.com"], MESSAGE)])
    assert isinstance(results[1], smtpx.SMTPError)
    warnings = logs.messages(logging.WARNING)
    assert len(warnings) == 1
    assert warnings[0].startswith("message not sent: ") and "bad@example.com (550 5.1.1" in warnings[0]


def test_nothing_below_the_configured_level(server, logs):
    logging.getLogger("smtpx").setLevel(logging.WARNING)
    server.reply("RCPT", "550 5.1.1 no such user", when="bad")
    smtp = client(server)
    smtp.connect()
    with pytest.raises(smtpx.SMTPRecipientsRefused):
        smtp.send_raw("a@example.com", ["bad@example.com"], MESSAGE)
    smtp.disconnect()
    assert [r.levelno for r in logs.records] == [logging.WARNING]


def test_silent_when_the_application_configures_no_logging(server):
    """A program that configures nothing sends a message (one recipient refused: a WARNING
    record) and writes nothing to stderr: logging's last-resort handler never prints."""
    server.reply("RCPT", "550 5.1.1 no such user", when="bad")
    program = textwrap.dedent(f"""
        import smtpx
        smtp = smtpx.SMTP(mail_server="127.0.0.1", mail_port={server.port})
        smtp.config("StopOnToErrors=False")
        smtp.send_raw("a@example.com", ["bad@example.com", "good@example.com"], b"Subject: x\\r\\n\\r\\nhi\\r\\n")
        try:
            smtp.send_raw("a@example.com", ["bad2@example.com"], b"Subject: x\\r\\n\\r\\nhi\\r\\n")
        except smtpx.SMTPError:
            pass
        print("sent")
    """)
    server.reply("RCPT", "550 5.1.1 no such user", when="bad2")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "sent\n"
    assert done.stderr == ""
    assert len(server.messages) == 1


def test_async_client_logs_the_same(server, logs):
    server.reply("RCPT", "550 5.1.1 no such user", when="bad")

    async def go():
        smtp = AsyncSMTP(mail_server=server.host, mail_port=server.port, timeout=20)
        await smtp.connect()
        await smtp.send_raw("a@example.com", ["b@example.com"], MESSAGE)
        with pytest.raises(smtpx.SMTPRecipientsRefused):
            await smtp.send_raw("a@example.com", ["bad@example.com"], MESSAGE)
        await smtp.disconnect()

    arun(go)
    names = {r.name for r in logs.records}
    assert len(names) == 1 and re.fullmatch(r"smtpx\.connection\.\d+", names.pop())
    info = logs.messages(logging.INFO)
    assert info[0].startswith("connecting to 127.0.0.1:") and info[1].endswith("(IPv4)") and info[-1] == "disconnected"
    traced = logs.messages(logging.DEBUG)
    assert traced[0].startswith("S: 220 ") and traced[-2:] == ["C: QUIT", "S: 221 Bye"]
    assert "C: RCPT TO:<b@example.com>" in traced
    warnings = logs.messages(logging.WARNING)
    assert len(warnings) == 1 and "refused: bad@example.com (550 5.1.1" in warnings[0]


def test_pool_connections_log_under_the_pool(server, logs):
    with smtpx.SMTPPool(2, mail_server=server.host, mail_port=server.port) as pool:
        results = pool.send_batch([("a@example.com", [f"r{i}@example.com"], MESSAGE) for i in range(6)])
    assert all(isinstance(r, smtpx.SendResult) for r in results)
    names = {r.name for r in logs.records}
    assert names and all(re.fullmatch(r"smtpx\.pool\.\d+\.\d+", name) for name in names)
    assert len({name.rsplit(".", 1)[0] for name in names}) == 1  # one pool
    assert any(m.startswith("connecting to ") for m in logs.messages(logging.INFO))


@pytest.mark.parametrize("description, family", [
    ("Connected to 192.0.2.7:25", "IPv4"),
    ("Connected to [2001:db8::7]:587", "IPv6"),
    ("Connected to mail.example.com:25 through SOCKS5 firewall 192.0.2.1:1080", ""),  # the proxy resolved it
    ("Connected to SOCKS5 firewall at 192.0.2.1:1080", ""),
])
def test_the_address_family_of_a_connected_record(description, family):
    from smtpx.facade.logs import _address_family

    assert _address_family(description) == family
