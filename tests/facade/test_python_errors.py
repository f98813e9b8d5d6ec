"""Errors that fit Python (issue 8, point 5), through smtpx.SMTP against real sockets: code that
catches the standard exceptions, or smtplib's, keeps working; every error pickles; the TLS
errors say what happened (a plaintext port, injected bytes)."""
from __future__ import annotations

import errno
import inspect
import pickle
import smtplib
import socket
import ssl

import pytest

import smtpx
import smtpx.errors as errors_module
from smtpx.enums import SSLStartMode
from tests.servers.plaintext import GreetsAfterClientHello, InjectsAfterClientHello
from tests.servers.scripted import RawServer
from tests.servers.sockets import free_port


def _smtp(host: str, port: int, **props) -> smtpx.SMTP:
    props.setdefault("from_", "sender@example.com")
    props.setdefault("send_to", "rcpt@example.com")
    props.setdefault("timeout", 5)
    return smtpx.SMTP(mail_server=host, mail_port=port, **props)


# ------------------------------------------------------------------------------ standard classes
def test_connection_refused_is_a_connection_error_and_an_os_error(server):
    smtp = _smtp("127.0.0.1", free_port())
    with pytest.raises(ConnectionError) as info:
        smtp.send()
    error = info.value
    assert isinstance(error, OSError) and isinstance(error, smtpx.SMTPConnectError)
    assert error.code == 10061 and error.errno == errno.ECONNREFUSED
    assert str(error).startswith("[10061] ")
    # The object stays usable.
    smtp.mail_port = server.port
    smtp.send()
    assert len(server.messages) == 1


def test_a_connect_timeout_is_a_timeout_error():
    # A listener whose accept queue is full: the kernel drops the next SYN, so connect() waits.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    filler = socket.create_connection(listener.getsockname(), timeout=5)
    try:
        smtp = _smtp("127.0.0.1", listener.getsockname()[1], timeout=1)
        with pytest.raises(TimeoutError) as info:
            smtp.send()
    finally:
        filler.close()
        listener.close()
    assert isinstance(info.value, smtpx.SMTPConnectTimeoutError)
    assert isinstance(info.value, ConnectionError) and isinstance(info.value, smtpx.SMTPConnectError)
    assert info.value.code == 10060


def test_a_server_that_never_answers_is_a_timeout_error():
    with RawServer([("wait", 4)]) as raw:  # accepts, then says nothing
        smtp = _smtp(raw.host, raw.port, timeout=1)
        with pytest.raises(TimeoutError) as info:
            smtp.send()
    assert isinstance(info.value, smtpx.SMTPTimeoutError) and info.value.code == 301
    assert not isinstance(info.value, smtpx.SMTPCommunicationError)  # not re-wrapped as an I/O error
    assert not smtp.connected and smtp.idle


def test_a_timeout_during_the_tls_handshake_stays_a_timeout(tls):
    # The server answers STARTTLS with 220, then never speaks TLS.
    script = [("send", b"220 raw.test ESMTP\r\n"), ("expect", b"EHLO"),
              ("send", b"250-raw.test\r\n250 STARTTLS\r\n"), ("expect", b"STARTTLS"),
              ("send", b"220 go ahead\r\n"), ("wait", 4)]
    with RawServer(script) as raw:
        smtp = _smtp(raw.host, raw.port, timeout=1, ssl_start_mode=SSLStartMode.EXPLICIT)
        with pytest.raises(TimeoutError) as info:
            smtp.send()
    assert type(info.value) is smtpx.SMTPTimeoutError and info.value.code == 301
    assert info.value.__cause__ is not info.value


def test_a_refused_recipient_is_an_smtplib_exception(make_smtp, server):
    server.reply("RCPT", "550 5.1.1 no such user")
    smtp = make_smtp(server)
    with pytest.raises(smtplib.SMTPException) as info:
        smtp.send()
    error = info.value
    assert isinstance(error, smtpx.SMTPRecipientsRefused) and isinstance(error, smtplib.SMTPRecipientsRefused)
    assert isinstance(error, smtplib.SMTPResponseException)
    assert error.code == 161 and error.reply_code == 550
    assert error.smtp_code == 550 and error.smtp_error == b"5.1.1 no such user"
    assert error.recipients == {"rcpt@example.com": (550, b"5.1.1 no such user")}
    assert server.messages == []


def test_smtplib_style_handlers_catch_sender_and_data_refusals(make_smtp, server):
    server.reply("MAIL", "553 5.7.1 sender rejected")
    smtp = make_smtp(server)
    with pytest.raises(smtplib.SMTPResponseException) as info:
        smtp.send()
    assert isinstance(info.value, smtpx.SMTPSenderRefused)
    assert (info.value.smtp_code, info.value.smtp_error) == (553, b"5.7.1 sender rejected")

    server.reply("DATA_END", "554 5.6.0 content rejected")
    with pytest.raises(smtplib.SMTPDataError) as data_info:
        smtp.send()
    assert isinstance(data_info.value, smtpx.SMTPDataError) and data_info.value.smtp_code == 554
    assert data_info.value.smtp_error == b"5.6.0 content rejected"


def test_a_server_that_drops_the_connection_is_smtplib_disconnected():
    script = [("send", b"220 raw.test ESMTP\r\n"), ("expect", b"EHLO"), ("close", None)]
    with RawServer(script) as raw:
        smtp = _smtp(raw.host, raw.port)
        with pytest.raises(smtplib.SMTPServerDisconnected) as info:
            smtp.send()
    assert isinstance(info.value, smtpx.SMTPConnectionDropped) and isinstance(info.value, ConnectionError)
    assert info.value.code == 1120


def test_sending_while_not_connected_is_smtplib_disconnected(make_smtp, server):
    smtp = make_smtp(server)
    with pytest.raises(smtplib.SMTPServerDisconnected) as info:
        smtp.send_command("NOOP")
    assert isinstance(info.value, smtpx.SMTPNotConnectedError) and info.value.code == 1117


def test_bad_input_is_a_value_error(make_smtp, server):
    smtp = make_smtp(server)
    with pytest.raises(ValueError) as info:
        smtp.send_to = "a@b@c"
    assert isinstance(info.value, smtpx.SMTPInputError) and info.value.code == 10022
    with pytest.raises(ValueError):
        smtp.send_raw("sender@example.com", ["x@y@z"], b"Subject: hi\r\n\r\nbody\r\n")
    with pytest.raises(ValueError):
        smtp.config("NoSuchSetting=1")
    with pytest.raises(ValueError):
        smtp.send_command("NOOP\r\nRSET")
    assert server.commands == []


def test_a_certificate_the_caller_gives_that_cannot_be_used_is_a_value_error(tmp_path):
    missing = str(tmp_path / "missing.pem")
    with pytest.raises(ValueError) as info:
        smtpx.Certificate(store_type=smtpx.CertStoreType.PEM_KEY_FILE, store=missing, subject="*")
    assert isinstance(info.value, smtpx.SMTPCertificateStoreError) and isinstance(info.value, smtpx.SMTPTLSError)
    assert info.value.code == 271
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"not a certificate at all")
    with pytest.raises(ValueError):
        smtpx.Certificate(store_type=smtpx.CertStoreType.AUTO, store=str(garbage), subject="*")


# ------------------------------------------------------------------------------ pickling
def _error_classes() -> list[type]:
    return [cls for _, cls in inspect.getmembers(errors_module, inspect.isclass)
            if issubclass(cls, smtpx.SMTPError)]


@pytest.mark.parametrize("cls", _error_classes(), ids=lambda cls: cls.__name__)
def test_every_error_class_pickles_to_the_same_type_message_and_code(cls):
    error = cls("something went wrong", 4242, reply_code=550, enhanced="5.1.1", reply_text="5.1.1 no",
                custom=["kept", 1])
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is cls
    assert str(copy) == str(error) == "[4242] something went wrong"
    assert copy.args == error.args == ("[4242] something went wrong",)
    assert (copy.code, copy.description) == (4242, "something went wrong")
    assert (copy.reply_code, copy.enhanced, copy.reply_text) == (550, "5.1.1", "5.1.1 no")
    assert copy.custom == ["kept", 1]
    assert pickle.loads(pickle.dumps(cls("plain"))).code == cls.default_code


def test_errors_from_real_sessions_pickle(make_smtp, server):
    server.reply("RCPT", "550 5.1.1 no such user")
    with pytest.raises(smtpx.SMTPRecipientsRefused) as refused:
        make_smtp(server).send()
    with pytest.raises(smtpx.SMTPConnectError) as connect:
        _smtp("127.0.0.1", free_port()).send()
    for error in (refused.value, connect.value):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and str(copy) == str(error) and copy.code == error.code
    assert pickle.loads(pickle.dumps(refused.value)).recipients == refused.value.recipients
    assert pickle.loads(pickle.dumps(connect.value)).errno == errno.ECONNREFUSED


# ------------------------------------------------------------------------------ TLS: say what happened
def test_implicit_tls_against_a_plaintext_port_says_so(make_smtp, server):
    smtp = make_smtp(server, ssl_start_mode=SSLStartMode.IMPLICIT)
    with pytest.raises(smtpx.SMTPTLSError) as info:
        smtp.send()
    text = str(info.value)
    assert "did not answer in TLS" in text and "plaintext SMTP port" in text
    assert "ssl_start_mode=SSLStartMode.EXPLICIT" in text and "587" in text
    assert "no TLS version in common" not in text
    assert server.messages == [] and not smtp.connected


def test_implicit_tls_against_a_plaintext_port_says_so_when_the_handshake_fails():
    with GreetsAfterClientHello() as srv:
        smtp = _smtp(srv.host, srv.port, ssl_start_mode=SSLStartMode.IMPLICIT)
        with pytest.raises(smtpx.SMTPTLSError) as info:
            smtp.send()
    assert srv.first_bytes[:1] == b"\x16"  # the handshake really started: a TLS handshake record
    text = str(info.value)
    assert "did not answer in TLS" in text and "plaintext SMTP port" in text
    assert "ssl_start_mode=SSLStartMode.EXPLICIT" in text
    assert isinstance(info.value.__cause__, ssl.SSLError)


def _injecting_server(script_after_220):
    """STARTTLS answered with 220, then ``script_after_220`` (raw steps)."""
    return RawServer([("send", b"220 raw.test ESMTP\r\n"), ("expect", b"EHLO"),
                      ("send", b"250-raw.test\r\n250 STARTTLS\r\n"), ("expect", b"STARTTLS"),
                      *script_after_220])


def test_injection_after_the_starttls_220_says_injection():
    # The injected bytes come in the same segment as the 220: the engine sees them.
    with _injecting_server([("send", b"220 go ahead\r\n250 injected\r\n")]) as raw:
        smtp = _smtp(raw.host, raw.port, ssl_start_mode=SSLStartMode.EXPLICIT)
        with pytest.raises(smtpx.SMTPTLSError) as info:
            smtp.send()
    assert "injection" in str(info.value)
    assert bytes(raw.received).split(b"STARTTLS\r\n", 1)[1] == b""


def test_injection_met_inside_the_tls_handshake_says_injection_not_a_version_mismatch():
    with InjectsAfterClientHello() as srv:
        smtp = _smtp(srv.host, srv.port, ssl_start_mode=SSLStartMode.EXPLICIT, user="u", password="p")
        with pytest.raises(smtpx.SMTPTLSError) as info:
            smtp.send()
    assert srv.hello[:1] == b"\x16"
    text = str(info.value)
    assert "injection" in text and "STARTTLS" in text
    assert "version in common" not in text and "plaintext SMTP port" not in text
    assert not smtp.connected
