"""Each config setting of the class reference, through smtpx.SMTP against real local servers:
its effect on the wire (what the server received, the socket it saw, the handshake it made)
or, for values that are reports, its value; settings that cannot apply here raise the
documented SMTPNotSupportedError when a connection is made, and nothing is sent.

Settings whose behaviour test lives elsewhere are listed in ELSEWHERE with the test that
asserts it; test_every_reference_setting_has_a_behaviour_test keeps the two lists complete.
docs/faults.md (second section) has the full mapping."""
from __future__ import annotations

import ast
import base64
import email.header
import io
import os
import pathlib
import re
import socket
import ssl
import sys

import pytest

import smtpx
from smtpx.enums import AuthMechanism, SSLStartMode

from tests.servers.scripted import RawServer, ScriptedServer
from tests.servers.fake_proxies import http_script, read_socks5_credentials, read_socks5_greeting
from tests.servers.sockets import ScriptedPeer, free_port

from tests.facade.reference import CONFIG_SETTINGS, MISSING, REPOSITORY, snake

# The setting names (lower case) that the tests of this module passed to SMTP.config() in this
# run, set or read: test_every_reference_setting_has_a_behaviour_test checks them.
CONFIG_USED: set[str] = set()
# The test functions of this module that ran in this process (pytest-xdist spreads a run over
# processes; scripts/test-workers.sh keeps each module's tests on one, in order: --dist loadfile).
RAN_HERE: set[str] = set()


@pytest.fixture(autouse=True)
def _record_config_use(request, monkeypatch):
    """Records each setting name that test code of this module gives to SMTP.config() (not
    calls made inside smtpx), and which tests ran in this process."""
    RAN_HERE.add(request.node.originalname)
    real = smtpx.SMTP.config

    def config(self, configuration_string="", *args, **kwargs):
        if sys._getframe(1).f_code.co_filename == __file__ and isinstance(configuration_string, str):
            CONFIG_USED.add(configuration_string.split("=", 1)[0].strip().lower())
        return real(self, configuration_string, *args, **kwargs)

    monkeypatch.setattr(smtpx.SMTP, "config", config)


def _head_and_body(data: bytes) -> tuple[bytes, bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    return head + b"\r\n", body


def _client_socket(smtp: smtpx.SMTP) -> socket.socket:
    """The connected client socket (a dup of its descriptor): socket options have no other
    public view. The caller closes it."""
    return socket.socket(fileno=os.dup(smtp._session.stream._fd))


# ============================================================================ message settings
def test_allow_empty_to(server, make_smtp):
    smtp = make_smtp(server, send_to="", cc="cc@example.com")
    with pytest.raises(smtpx.SMTPInputError) as info:
        smtp.send()
    assert info.value.code == 165 and server.commands == []
    smtp.config("AllowEmptyTo=True")
    smtp.send()
    assert server.messages[0].rcpt_tos == ["cc@example.com"]
    head, _ = _head_and_body(server.messages[0].data)
    assert b"\r\nTo:" not in b"\r\n" + head and b"Cc: cc@example.com\r\n" in head


def test_charset_encodes_headers_and_body(server, make_smtp):
    smtp = make_smtp(server, subject="Grüße aus Köln", message_text="Grüße\n")
    smtp.config("Charset=iso-8859-1")
    smtp.send()
    head, body = _head_and_body(server.messages[0].data)
    subject = re.search(rb"Subject: (.*(?:\r\n[ \t].*)*)\r\n", head).group(1).decode()
    assert "=?iso-8859-1?" in subject.lower()
    decoded = "".join(part.decode(cs or "ascii") if isinstance(part, bytes) else part
                      for part, cs in email.header.decode_header(subject.replace("\r\n", "")))
    assert decoded == "Grüße aus Köln"
    assert b"charset=iso-8859-1" in head.lower() or b'charset="iso-8859-1"' in head.lower()
    assert "Grüße".encode("iso-8859-1") in body or b"Gr=FC=DFe" in body


def test_charset_with_7bit_output_still_names_the_charset(server, make_smtp):
    """ISO-2022-JP text is 7-bit on the wire, but it is not US-ASCII: the reader needs the
    Content-Type charset to decode it (bug fixed in compose.py)."""
    smtp = make_smtp(server, subject="日本語", message_text="日本語のテスト\n")
    smtp.config("Charset=iso-2022-jp")
    smtp.send()
    head, body = _head_and_body(server.messages[0].data)
    assert b'Content-Type: text/plain; charset="iso-2022-jp"\r\n' in head
    assert b"MIME-Version: 1.0\r\n" in head
    assert body.decode("iso-2022-jp") == "日本語のテスト\r\n"


LONG_SUBJECT = " ".join(f"word{i}" for i in range(40))


def test_max_header_length_and_fold_headers(server, make_smtp):
    smtp = make_smtp(server, subject=LONG_SUBJECT)
    smtp.config("MaxHeaderLength=40")
    smtp.send()
    head, _ = _head_and_body(server.messages[0].data)
    subject_lines = head.split(b"Subject: ", 1)[1].split(b"\r\n")
    folded = [subject_lines[0]] + [line for line in subject_lines[1:] if line[:1] in (b" ", b"\t")]
    assert len(folded) > 3
    assert all(len(line) <= 40 for line in folded)
    assert b" ".join(part.strip() for part in folded).decode() == LONG_SUBJECT

    smtp.config("FoldHeaders=False")
    smtp.send()
    head, _ = _head_and_body(server.messages[1].data)
    assert f"Subject: {LONG_SUBJECT}\r\n".encode() in head  # one line


@pytest.mark.parametrize("algorithm, digits", [("MD5", 32), ("SHA1", 40), ("SHA256", 64)])
def test_message_id_algorithm_shapes_the_message_id(server, make_smtp, algorithm, digits):
    smtp = make_smtp(server, message_id="*")
    smtp.config(f"MessageIdAlgorithm={algorithm.lower()}")
    smtp.send()
    smtp.send()
    ids = [re.search(rb"Message-ID: <([^>]*)>", m.data).group(1).decode() for m in server.messages]
    for mid in ids:
        assert re.fullmatch(rf"[0-9a-f]{{{digits}}}@example\.com", mid), mid
    assert ids[0] != ids[1]


def test_message_headers_string_and_transfer_text_are_what_went_on_the_wire(server, make_smtp):
    smtp = make_smtp(server, subject="Grüße", message_text="é\n" + "x" * 1200 + "\n.dot\n")
    smtp.send()
    head, body = _head_and_body(server.messages[0].data)
    assert smtp.config("MessageHeadersString").encode() == head + b"\r\n"
    assert smtp.config("TransferText").encode() == body


def test_other_headers_and_return_path_settings(server, make_smtp):
    smtp = make_smtp(server)
    smtp.config("OtherHeaders=X-Mailer: smtpx test\r\nX-Second: 2")
    smtp.config("ReturnPath=bounces@example.org")
    smtp.send()
    head, _ = _head_and_body(server.messages[0].data)
    assert head.endswith(b"X-Mailer: smtpx test\r\nX-Second: 2\r\n")  # after the computed headers
    assert server.messages[0].mail_from == "bounces@example.org"
    assert b"From: Sender <sender@example.com>\r\n" in head


def test_hello_names_the_client(server, make_smtp):
    smtp = make_smtp(server)
    smtp.config("Hello=client.example.net")
    smtp.send()
    assert server.commands[0] == "EHLO client.example.net"


def test_send_rset(make_smtp):
    """A failed transaction (MAIL accepted, every recipient refused): SendRSET True resets it at
    once; False leaves it until the next transaction, which starts with RSET (docs/config.md)."""
    with ScriptedServer(extra_capabilities=["ENHANCEDSTATUSCODES"]) as server:  # no PIPELINING
        _send_rset(server, make_smtp)


def _send_rset(server, make_smtp):
    server.reply("RCPT", "550 5.1.1 no such user", when="bad@", times=None)
    smtp = make_smtp(server, send_to="bad@example.com")
    smtp.connect()
    with pytest.raises(smtpx.SMTPRecipientsRefused):
        smtp.send()
    assert server.verbs() == ["EHLO", "MAIL", "RCPT", "RSET"]
    smtp.config("SendRSET=False")  # on the open connection: applies to the next send
    with pytest.raises(smtpx.SMTPRecipientsRefused):
        smtp.send()
    assert server.verbs()[4:] == ["MAIL", "RCPT"]  # no RSET yet
    smtp.send_to = ""  # the reference: setting SendTo adds; clear first
    smtp.send_to = "good@example.com"
    smtp.send()
    assert server.verbs()[6:] == ["RSET", "MAIL", "RCPT", "DATA"]
    assert len(server.messages) == 1
    smtp.disconnect()


@pytest.mark.parametrize("setting, prop", [("StopOnToErrors", "send_to"), ("StopOnCcErrors", "cc"),
                                           ("StopOnBccErrors", "bcc")])
def test_stop_on_errors_per_kind(server, make_smtp, setting, prop):
    server.reply("RCPT", "550 5.1.1 no such user", when="bad@", times=None)
    props = {"send_to": "good@example.com", prop: ("good@example.com, " if prop == "send_to" else "") + "bad@example.com"}
    errors = []
    smtp = make_smtp(server, on_error=errors.append, **props)
    smtp.config(f"{setting}=True")
    with pytest.raises(smtpx.SMTPRecipientsRefused):
        smtp.send()
    assert server.messages == [] and "DATA" not in server.verbs()
    smtp.config(f"{setting}=False")
    result = smtp.send()
    assert server.messages[0].rcpt_tos == ["good@example.com"]
    assert result.refused_addresses == ["bad@example.com"] and any("bad@" in e.description for e in errors)


def test_keep_queue(server, make_smtp, tmp_path):
    smtp = make_smtp(server)
    smtp.queue(str(tmp_path))
    smtp.process_queue(str(tmp_path))
    assert os.listdir(tmp_path) == []
    smtp.queue(str(tmp_path))
    smtp.config("KeepQueue=True")
    run = smtp.process_queue(str(tmp_path))
    assert [n.rsplit(".", 1)[1] for n in os.listdir(tmp_path)] == ["sent"] == [s.rsplit(".", 1)[1] for s in run.sent]
    with open(tmp_path / os.listdir(tmp_path)[0], "rb") as kept:
        assert server.messages[1].data in kept.read()  # the whole message is kept


@pytest.mark.parametrize("close", [True, False])
def test_close_stream_after_transfer(server, make_smtp, close):
    stream = io.BytesIO(b"streamed body\r\n")
    smtp = make_smtp(server)
    smtp.config(f"CloseStreamAfterTransfer={close}")
    smtp.set_message_stream(stream)
    smtp.send()
    assert stream.closed is close
    assert server.messages[0].data.endswith(b"\r\n\r\nstreamed body\r\n")


@pytest.mark.parametrize("mask", [True, False])
def test_mask_sensitive_data_in_the_trace(server, make_smtp, mask):
    server.users["ann"] = "s3cret-pw"
    trail = []
    smtp = make_smtp(server, user="ann", password="s3cret-pw", auth_mechanism=AuthMechanism.SASL_PLAIN,
                     on_pi_trail=lambda e: trail.append(e.message))
    smtp.config("AllowPlaintextAuth=True")
    smtp.config(f"MaskSensitiveData={mask}")
    smtp.connect()
    smtp.disconnect()
    assert server.auth_log == [("PLAIN", "ann")]
    blob = base64.b64encode(b"\x00ann\x00s3cret-pw").decode()
    text = "\n".join(trail)
    assert any(line.startswith("AUTH PLAIN") for line in trail)
    assert (blob in text) is (not mask)


def test_a_setting_changed_while_connected_applies_to_the_next_send(server, make_smtp):
    """config() while connected must not be ignored silently: StopOnToErrors=False set on an
    open connection has to let the next send() deliver to the accepted recipients."""
    server.reply("RCPT", "550 5.1.1 no such user", when="bad@", times=None)
    smtp = make_smtp(server, send_to="good@example.com, bad@example.com")
    smtp.connect()
    smtp.config("StopOnToErrors=False")
    result = smtp.send()
    assert result.refused_addresses == ["bad@example.com"]
    assert server.messages[0].rcpt_tos == ["good@example.com"]


# ============================================================================ header properties
def test_header_properties_reach_the_wire_byte_for_byte(server, make_smtp):
    """Properties with no other facade wire test: ReplyTo, Importance, Priority, Sensitivity,
    DeliveryNotificationTo (Return-Receipt-To), ReadReceiptTo (Disposition-Notification-To)."""
    smtp = make_smtp(server, from_="Ann <ann@example.com>", send_to="bob@example.com", subject="props",
                     message_date="Fri, 1 Mar 1996 21:24:52 -0500", message_id="id1@example.com",
                     reply_to="Help <help@example.com>", importance=smtpx.Importance.HIGH,
                     priority=smtpx.Priority.URGENT, sensitivity=smtpx.Sensitivity.COMPANY_CONFIDENTIAL,
                     delivery_notification_to="ops@example.com", read_receipt_to="Ann <ann@example.com>",
                     message_text="body")
    smtp.send()
    assert server.messages[0].data == (
        b"From: Ann <ann@example.com>\r\n"
        b"To: bob@example.com\r\n"
        b"Subject: props\r\n"
        b"Date: Fri, 1 Mar 1996 21:24:52 -0500\r\n"
        b"Message-ID: <id1@example.com>\r\n"
        b"Reply-To: Help <help@example.com>\r\n"
        b"Importance: high\r\n"
        b"Priority: urgent\r\n"
        b"Sensitivity: Company-Confidential\r\n"
        b"Return-Receipt-To: ops@example.com\r\n"
        b"Disposition-Notification-To: Ann <ann@example.com>\r\n"
        b"\r\n"
        b"body\r\n"
    )
    assert server.messages[0].mail_from == "ann@example.com"  # receipts change no envelope


# ============================================================================ AUTH settings
def test_authorization_identity_reaches_the_server():
    from tests.servers.auth import running_auth_server

    with running_auth_server(users={"user": "pass"}) as srv:
        smtp = smtpx.SMTP(mail_server="127.0.0.1", mail_port=srv.port, user="user", password="pass",
                          auth_mechanism=AuthMechanism.SASL_DIGEST_MD5, timeout=10)
        smtp.config("AuthorizationIdentity=boss")
        smtp.connect()
        smtp.disconnect()
        record = srv.handler.attempts[-1]
    assert record.success and record.details.get("authzid") == "boss"


@pytest.mark.parametrize("v2", [True, False])
def test_use_ntlm_v2(v2):
    from tests.servers.auth import running_auth_server

    with running_auth_server(users={"user": "pass"}) as srv:
        smtp = smtpx.SMTP(mail_server="127.0.0.1", mail_port=srv.port, user="user", password="pass",
                          auth_mechanism=AuthMechanism.NTLM, timeout=10)
        smtp.config(f"UseNTLMv2={v2}")
        smtp.connect()
        smtp.disconnect()
        record = srv.handler.attempts[-1]
    assert record.success
    assert (record.details["nt_response_length"] > 24) is v2  # NTLMv1 responses are 24 bytes


# ============================================================================ socket settings
def test_socket_options_reach_the_socket(server, make_smtp):
    smtp = make_smtp(server)
    for setting in ("TCPKeepAlive=True", "KeepAliveTime=7000", "KeepAliveInterval=3000", "TcpNoDelay=True",
                    "Linger=True", "LingerTime=3", "InBufferSize=65536", "OutBufferSize=131072"):
        smtp.config(setting)
    smtp.connect()
    sock = _client_socket(smtp)
    try:
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 7
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 3
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        onoff, seconds = __import__("struct").unpack("ii", sock.getsockopt(socket.SOL_SOCKET, socket.SO_LINGER, 8))
        assert (onoff, seconds) == (1, 3)
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) >= 65536  # Linux doubles it
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) >= 131072
    finally:
        sock.close()
    smtp.send()
    assert len(server.messages) == 1


def test_socket_option_defaults(server, make_smtp):
    smtp = make_smtp(server)
    smtp.connect()
    sock = _client_socket(smtp)
    try:
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 0
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
    finally:
        sock.close()


def test_local_port_is_the_port_the_server_sees(server, make_smtp):
    port = free_port()
    smtp = make_smtp(server)
    smtp.config(f"LocalPort={port}")
    smtp.config("LocalHost=127.0.0.1")
    smtp.connect()
    sock = _client_socket(smtp)
    try:
        assert sock.getsockname() == ("127.0.0.1", port)
    finally:
        sock.close()
    smtp.disconnect()


def test_max_line_length_caps_a_reply_line():
    greeting = b"220 " + b"g" * 400 + b"\r\n"
    script = [("send", greeting), ("expect", b"EHLO"), ("send", b"250 ok\r\n"), ("expect", b"QUIT"),
              ("send", b"221 bye\r\n")]
    with RawServer(script) as raw:
        smtp = smtpx.SMTP(mail_server=raw.host, mail_port=raw.port, timeout=5)
        smtp.connect()  # the default cap (MaxReplyLineLength, 8192) takes it
        smtp.disconnect()
    with RawServer(script) as raw:
        smtp = smtpx.SMTP(mail_server=raw.host, mail_port=raw.port, timeout=5)
        smtp.config("MaxLineLength=256")
        with pytest.raises(smtpx.SMTPProtocolError):
            smtp.connect()
    assert b"EHLO" not in bytes(raw.received)


def test_max_transfer_rate_reaches_the_stream_and_the_message_arrives_intact(server, make_smtp):
    body = ("z" * 70 + "\n") * 300  # ~21 KB at 200 KB/s: throttled, still quick
    smtp = make_smtp(server, message_text=body)
    smtp.config("MaxTransferRate=200000")
    smtp.connect()
    assert smtp._session.stream.max_transfer_rate == 200000  # no timing assertions in tests
    smtp.send()
    assert server.messages[0].data.endswith(body.replace("\n", "\r\n").encode())


def test_use_ipv6_only_refuses_an_ipv4_server(server, make_smtp):
    smtp = make_smtp(server)
    smtp.config("UseIPv6=1")
    with pytest.raises(smtpx.SMTPError):
        smtp.connect()
    assert server.commands == []
    smtp.config("UseIPv6=2")  # IPv6 first, then IPv4
    smtp.send()
    assert len(server.messages) == 1


# ============================================================================ firewall settings
class Socks5Recorder:
    """A SOCKS5 proxy script that asks for username/password (RFC 1929), records what it
    gets and refuses, so the SMTP server behind it is never reached."""

    def __init__(self) -> None:
        self.greeting = b""
        self.auth = b""

    def __call__(self, peer: ScriptedPeer, conn: socket.socket) -> None:
        self.greeting = read_socks5_greeting(peer, conn)
        conn.sendall(b"\x05\x02")
        self.auth = read_socks5_credentials(peer, conn)
        conn.sendall(b"\x01\x01")  # authentication failed


def test_firewall_settings_route_through_the_proxy_with_its_credentials(server, make_smtp):
    recorder = Socks5Recorder()
    with ScriptedPeer(recorder) as proxy:
        smtp = make_smtp(server)
        smtp.config("FirewallType=3")
        smtp.config("FirewallHost=127.0.0.1")
        smtp.config(f"FirewallPort={proxy.port}")
        smtp.config("FirewallUser=proxyuser")
        smtp.config("FirewallPassword=proxypass")
        with pytest.raises(smtpx.SMTPFirewallError) as info:
            smtp.connect()
        assert info.value.code == 118
    assert recorder.greeting[:1] == b"\x05" and 2 in recorder.greeting[2:]
    assert recorder.auth == b"\x01\x09proxyuser\x09proxypass"
    assert server.commands == []  # nothing went around the proxy


def test_proxy_exceptions_list_bypasses_the_firewall(server, make_smtp):
    smtp = make_smtp(server)
    smtp.config("FirewallType=3")
    smtp.config("FirewallHost=127.0.0.1")
    smtp.config(f"FirewallPort={free_port()}")  # nothing listens there
    with pytest.raises(smtpx.SMTPError):
        smtp.send()
    smtp.config("ProxyExceptionsList=mx.example.org;127.0.0.1")
    smtp.send()
    assert len(server.messages) == 1


def test_firewall_auto_detect_uses_the_environment(server, make_smtp, monkeypatch):
    for name in ("all_proxy", "ALL_PROXY", "socks_proxy", "SOCKS_PROXY", "https_proxy", "HTTPS_PROXY",
                 "http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("all_proxy", f"socks5://127.0.0.1:{free_port()}")  # a proxy that is not there
    smtp = make_smtp(server)
    smtp.send()  # FirewallAutoDetect off: the environment is not read
    smtp.config("FirewallAutoDetect=True")
    with pytest.raises(smtpx.SMTPError):
        smtp.send()
    assert len(server.messages) == 1


def test_firewall_data_goes_with_the_http_connect_request_only(server):
    with ScriptedPeer(http_script(b"HTTP/1.1 403 Forbidden\r\n\r\n")) as proxy:
        smtp = smtpx.SMTP(mail_server="127.0.0.1", mail_port=server.port, from_="a@example.com",
                          send_to="b@example.com", timeout=5)
        for setting in ("FirewallType=1", "FirewallHost=127.0.0.1", f"FirewallPort={proxy.port}",
                        "FirewallData=X-Tenant: blue"):
            smtp.config(setting)
        with pytest.raises(smtpx.SMTPFirewallError):
            smtp.connect()
    request = bytes(proxy.received)
    assert request.startswith(b"CONNECT 127.0.0.1:") and b"\r\nX-Tenant: blue\r\n" in request
    smtp.config("FirewallType=3")  # SOCKS has no place for it: refused before connecting
    with pytest.raises(smtpx.SMTPInputError):
        smtp.connect()
    assert server.commands == []


# ============================================================================ TLS settings
def _tls_smtp(srv, make_smtp, ca_pem, **props):
    smtp = make_smtp(srv, ssl_start_mode=SSLStartMode.IMPLICIT, **props)
    smtp.config("SSLServerCACerts=" + ca_pem)
    return smtp


def test_ssl_server_ca_certs_decides_trust(tls, make_smtp):
    ctx, ca_pem = tls
    with ScriptedServer(tls_context=ctx, implicit_tls=True) as srv:
        smtp = make_smtp(srv, ssl_start_mode=SSLStartMode.IMPLICIT)
        with pytest.raises(smtpx.SMTPCertificateError):  # the test CA is not in the system store
            smtp.send()
        smtp.config("SSLServerCACerts=" + ca_pem)
        smtp.send()
        assert len(srv.messages) == 1


def test_ssl_ca_certs_completes_the_client_certificate_chain(ca, tls, make_smtp):
    """A client certificate issued by an intermediate CA, given without its chain, to a server
    that trusts only the root: SSLCACerts sends the intermediate with it."""
    intermediate = ca.create_child_ca()
    client = intermediate.issue_cert("client@example.com")
    leaf_only = client.private_key_pem.bytes() + client.cert_chain_pems[0].bytes()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    ca.configure_trust(server_ctx)  # the root only
    with ScriptedServer(tls_context=server_ctx, implicit_tls=True) as srv:
        smtp = _tls_smtp(srv, make_smtp, tls[1], ssl_cert=smtpx.Certificate(smtpx.CertStoreType.PEM_KEY_BLOB, leaf_only))
        with pytest.raises(smtpx.SMTPError):  # the server cannot build the chain: refused
            smtp.send()
        assert srv.messages == []
        smtp.config("SSLCACerts=" + intermediate.cert_pem.bytes().decode())
        smtp.send()
        assert len(srv.messages) == 1


def test_ssl_negotiated_values_after_a_tls_1_2_handshake(tls, make_smtp):
    ctx, ca_pem = tls
    with ScriptedServer(tls_context=ctx, implicit_tls=True) as srv:
        smtp = _tls_smtp(srv, make_smtp, ca_pem)
        smtp.config("SSLEnabledProtocols=3072")
        smtp.config("SSLEnabledCipherSuites=TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256")
        smtp.connect()
        values = {name: smtp.config(name) for name in (
            "SSLNegotiatedVersion", "SSLNegotiatedCipherSuite", "SSLNegotiatedCipher", "SSLNegotiatedCipherStrength",
            "SSLNegotiatedKeyExchange", "SSLNegotiatedKeyExchangeStrength")}
        smtp.disconnect()
    assert values["SSLNegotiatedVersion"] == "TLSv1.2"
    assert values["SSLNegotiatedCipherSuite"] == "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
    assert "AES" in values["SSLNegotiatedCipher"].upper() and "128" in values["SSLNegotiatedCipher"]
    assert values["SSLNegotiatedCipherStrength"] == "128"
    assert "ECDH" in values["SSLNegotiatedKeyExchange"].upper()
    assert int(values["SSLNegotiatedKeyExchangeStrength"]) > 0


def test_ssl_cipher_strength_above_what_the_suite_offers_refuses(tls, make_smtp):
    ctx, ca_pem = tls
    with ScriptedServer(tls_context=ctx, implicit_tls=True) as srv:
        smtp = _tls_smtp(srv, make_smtp, ca_pem)
        smtp.config("SSLEnabledProtocols=3072")
        smtp.config("SSLEnabledCipherSuites=TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256")
        smtp.config("SSLCipherStrength=256")
        with pytest.raises(smtpx.SMTPError):
            smtp.connect()
        assert srv.commands == []
        smtp.config("SSLCipherStrength=128")
        smtp.connect()
        smtp.disconnect()


def test_ssl_key_log_file_is_written(tls, make_smtp, tmp_path):
    ctx, ca_pem = tls
    log = tmp_path / "keys.log"
    with ScriptedServer(tls_context=ctx, implicit_tls=True) as srv:
        smtp = _tls_smtp(srv, make_smtp, ca_pem)
        smtp.config(f"SSLKeyLogFile={log}")
        smtp.send()
    text = log.read_text()
    assert re.search(r"^(CLIENT_HANDSHAKE_TRAFFIC_SECRET|CLIENT_RANDOM) [0-9a-f]+ [0-9a-f]+$", text, re.M)


def test_log_ssl_packets_reports_handshake_messages(tls, make_smtp):
    ctx, ca_pem = tls
    counts = {}
    for on in (False, True):
        messages = []
        with ScriptedServer(tls_context=ctx, implicit_tls=True) as srv:
            smtp = _tls_smtp(srv, make_smtp, ca_pem, on_ssl_status=lambda e: messages.append(e.message))
            smtp.config(f"LogSSLPackets={on}")
            smtp.connect()
            smtp.disconnect()
        counts[on] = messages
    assert len(counts[True]) > len(counts[False])
    assert any("hello" in m.lower() for m in counts[True])


def test_ssl_include_cert_chain_puts_the_chain_in_the_event(ca, make_smtp):
    inter = ca.create_child_ca()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    inter.issue_cert("127.0.0.1").configure_cert(ctx)
    ca_pem = ca.cert_pem.bytes().decode()
    with ScriptedServer(tls_context=ctx, implicit_tls=True) as srv:
        counts = []
        for include in (False, True):
            events = []
            smtp = _tls_smtp(srv, make_smtp, ca_pem, on_ssl_server_authentication=events.append)
            smtp.config(f"SSLIncludeCertChain={include}")
            smtp.connect()
            smtp.disconnect()
            counts.append(events[0].cert_encoded.count(b"BEGIN CERTIFICATE") if len(events) == 1 else len(events))
    assert counts[0] == 1 and counts[1] >= 2


def test_ssl_enable_renegotiation_reaches_the_context(tls, make_smtp):
    ctx, ca_pem = tls
    with ScriptedServer(tls_context=ctx, implicit_tls=True) as srv:
        flags = []
        for on in (True, False):
            smtp = _tls_smtp(srv, make_smtp, ca_pem)
            smtp.config(f"SSLEnableRenegotiation={on}")
            smtp.connect()
            flags.append(bool(smtp._session.stream._sock.context.options & ssl.OP_NO_RENEGOTIATION))
            smtp.disconnect()
    assert flags == [False, True]


# ============================================================================ reports
def test_build_info_and_license_info_values():
    smtp = smtpx.SMTP()
    build = smtp.config("BuildInfo")
    assert smtpx.__version__ in build and ("compiled" in build.lower() or "pure" in build.lower())
    assert "MIT" in smtp.config("LicenseInfo")


# ============================================================================ cannot apply here
CANNOT_APPLY = {
    "FirewallListener": "True", "SSLCheckCRL": "1", "SSLCheckOCSP": "2", "SSLClientCACerts": "x",
    "SSLContextProtocol": "TLSv1.2", "SSLTrustManagerFactoryAlgorithm": "PKIX",
    "TLS12SignatureAlgorithms": "sha256-rsa", "TLS12SupportedGroups": "ecdhe_secp256r1",
    "TLS13KeyShareGroups": "ecdhe_x25519", "TLS13SignatureAlgorithms": "ed25519",
    "TLS13SupportedGroups": "ecdhe_x25519", "GUIAvailable": "False",
    "UseDaemonThreads": "True", "UseInternalSecurityAPI": "True",
}


@pytest.mark.parametrize("name", sorted(CANNOT_APPLY))
def test_settings_that_cannot_apply_refuse_to_connect_and_send_nothing(server, make_smtp, name):
    smtp = make_smtp(server)
    smtp.config(f"{name}={CANNOT_APPLY[name]}")
    assert smtp.config(name) != ""  # accepted and stored
    with pytest.raises(smtpx.SMTPNotSupportedError) as info:
        smtp.send()
    assert name in str(info.value)
    assert server.commands == []
    smtp.reset()  # back to the default: usable again
    smtp = make_smtp(server)
    smtp.send()
    assert len(server.messages) == 1


# ============================================================================ the list
ELSEWHERE = {
    "ConnectionTimeout": "tests/faults/test_connect_faults.py::test_38_connect_timeout_is_10060_and_connection_timeout_config_bounds_it",
    "LocalHost": "tests/facade/test_connection.py::test_local_host_binds_and_shows_the_address_in_use",
    "ReuseSSLSession": "tests/facade/test_tls_auth.py::test_reuse_ssl_session_resumes_the_previous_session",
    "SSLEnabledCipherSuites": "tests/facade/test_tls_auth.py::test_tls_config_reaches_the_handshake",
    "SSLEnabledProtocols": "tests/facade/test_tls_auth.py::test_tls_config_reaches_the_handshake",
    "AbsoluteTimeout": "tests/facade/test_connection.py::test_absolute_timeout_config_bounds_the_whole_method",
}

HERE = {
    "AllowEmptyTo", "AuthorizationIdentity", "Charset", "FoldHeaders", "Hello", "KeepQueue", "MaxHeaderLength",
    "MessageHeadersString", "MessageIdAlgorithm", "OtherHeaders", "ReturnPath", "SendRSET", "StopOnBccErrors",
    "StopOnCcErrors", "StopOnToErrors", "TransferText", "CloseStreamAfterTransfer", "FirewallAutoDetect",
    "FirewallHost", "FirewallPassword", "FirewallPort", "FirewallType", "FirewallUser", "KeepAliveInterval",
    "KeepAliveTime", "Linger", "LingerTime", "LocalPort", "MaxLineLength", "MaxTransferRate",
    "ProxyExceptionsList", "FirewallData", "TCPKeepAlive", "TcpNoDelay", "UseIPv6", "UseNTLMv2", "LogSSLPackets",
    "SSLCipherStrength", "SSLEnableRenegotiation", "SSLIncludeCertChain", "SSLKeyLogFile",
    "SSLNegotiatedCipher", "SSLNegotiatedCipherStrength", "SSLNegotiatedCipherSuite", "SSLNegotiatedKeyExchange",
    "SSLNegotiatedKeyExchangeStrength", "SSLNegotiatedVersion", "SSLServerCACerts", "SSLCACerts", "InBufferSize",
    "OutBufferSize", "BuildInfo", "LicenseInfo", "MaskSensitiveData", *CANNOT_APPLY,
}


def _uses_setting(path: pathlib.Path, test: str, name: str) -> bool:
    """Whether the code (not a comment) of test function ``test`` in ``path`` passes ``name``
    to a config() call ("Name=...", f"Name=...", "Name") or uses its property."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef) and node.name == test:
            for call in ast.walk(node):
                if isinstance(call, ast.Attribute) and call.attr == snake(name):
                    return True
                if not (isinstance(call, ast.Call) and call.args and getattr(call.func, "attr", None) == "config"):
                    continue
                first = call.args[0]
                if isinstance(first, ast.JoinedStr) and first.values:
                    first = first.values[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str) and \
                        first.value.split("=", 1)[0].strip().lower() == name.lower():
                    return True
    return False


def test_every_reference_setting_has_a_behaviour_test():
    assert not MISSING, MISSING
    names = CONFIG_SETTINGS
    assert len(names) == 74 and names[0] == "AllowEmptyTo" and names[-1] == "UseInternalSecurityAPI"
    missing = [n for n in names if n not in HERE and n not in ELSEWHERE]
    assert missing == []
    for name, node in ELSEWHERE.items():  # the test named there exists and uses the setting in its code
        path, test = node.split("::")
        assert _uses_setting(REPOSITORY / path, test, name), f"{node} does not use {name}"
    # Each setting listed HERE was given to config() by a test of this module in this run. That
    # needs the module's other tests to have run in this process (they come first): a run of
    # part of the module, or one that spread it over processes, cannot tell.
    defined = {n for n, f in globals().items() if n.startswith("test_") and callable(f)}
    defined.discard("test_every_reference_setting_has_a_behaviour_test")
    if not defined <= RAN_HERE:
        pytest.skip(f"{len(defined - RAN_HERE)} test functions of this module did not run before this one "
                    "in this process: which settings its tests use is known only when all of them do")
    assert sorted(n for n in HERE if n.lower() not in CONFIG_USED) == []
