"""The server side in tests/servers/auth.py, driven by a tiny raw-socket SMTP client that
uses the smtpx.sasl mechanisms (the smtpx facade is not used here)."""
from __future__ import annotations

import base64
import socket
import ssl

import pytest
import trustme

from tests.servers.auth import make_auth_controller, running_auth_server
from smtpx.errors import SMTPAuthError
from smtpx.sasl import create_mechanism

USERS = {"user": "pass", "jürgen": "grüße", "CORP\\alice": "wonder land"}


class RawClient:
    """Just enough SMTP to exercise AUTH: one command, one reply, no pipelining."""

    def __init__(self, port: int, implicit_tls: ssl.SSLContext | None = None) -> None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        if implicit_tls is not None:
            sock = implicit_tls.wrap_socket(sock, server_hostname="localhost")
        self._use(sock)
        code, _ = self.reply()
        assert code == 220

    def _use(self, sock: socket.socket) -> None:
        self.sock = sock
        self.file = sock.makefile("rb")

    def reply(self) -> tuple[int, list[str]]:
        lines = []
        while True:
            raw = self.file.readline()
            assert raw.endswith(b"\r\n"), f"connection closed or bad line: {raw!r}"
            lines.append(raw[4:-2].decode("utf-8"))
            if raw[3:4] == b" ":
                return int(raw[:3]), lines

    def send(self, line: str) -> None:
        self.sock.sendall(line.encode("utf-8") + b"\r\n")

    def cmd(self, line: str) -> tuple[int, list[str]]:
        self.send(line)
        return self.reply()

    def ehlo(self) -> list[str]:
        code, lines = self.cmd("EHLO client.test")
        assert code == 250
        return lines[1:]

    def starttls(self, context: ssl.SSLContext) -> None:
        code, _ = self.cmd("STARTTLS")
        assert code == 220
        self._use(context.wrap_socket(self.sock, server_hostname="localhost"))

    def auth(self, mech) -> tuple[int, list[str]]:
        initial = mech.initial_response()
        line = f"AUTH {mech.name}"
        if initial is not None:
            line += " " + (base64.b64encode(initial).decode() or "=")
        code, lines = self.cmd(line)
        rounds = 0
        while code == 334:
            rounds += 1
            assert rounds <= 5, "more than 5 challenge rounds"
            try:
                answer = mech.respond(base64.b64decode(lines[0]))
            except SMTPAuthError:
                self.cmd("*")  # cancel (RFC 4954) before giving up
                raise
            code, lines = self.cmd(base64.b64encode(answer).decode())
        if code == 235:
            mech.verify_success(b"")
        return code, lines

    def send_mail(self, sender: str, rcpt: str, body: bytes) -> None:
        assert self.cmd(f"MAIL FROM:<{sender}>")[0] == 250
        assert self.cmd(f"RCPT TO:<{rcpt}>")[0] == 250
        assert self.cmd("DATA")[0] == 354
        self.sock.sendall(body + b"\r\n.\r\n")
        assert self.reply()[0] == 250

    def close(self) -> None:
        try:
            self.cmd("QUIT")
        finally:
            self.file.close()
            self.sock.close()


@pytest.fixture(scope="module")
def server():
    with running_auth_server(users=USERS) as controller:
        yield controller


@pytest.fixture
def client(server):
    server.handler.attempts.clear()
    server.handler.messages.clear()
    c = RawClient(server.port)
    yield c
    c.close()


ALL = [0, 1, 2, 4, 5, 7]


def test_ehlo_offers_every_mechanism(client):
    auth_line = next(line for line in client.ehlo() if line.startswith("AUTH "))
    assert set(auth_line.split()[1:]) == {"LOGIN", "PLAIN", "CRAM-MD5", "DIGEST-MD5", "XOAUTH2", "NTLM"}


@pytest.mark.parametrize("mechanism", ALL)
@pytest.mark.parametrize("user", ["user", "jürgen"])
def test_each_mechanism_authenticates_and_mail_is_recorded(server, client, mechanism, user):
    client.ehlo()
    mech = create_mechanism(mechanism, user, USERS[user], USERS[user], hostname="localhost")
    code, _ = client.auth(mech)
    assert code == 235
    assert mech.complete
    record = server.handler.attempts[-1]
    assert (record.mechanism, record.user, record.success) == (mech.name, user, True)
    client.send_mail("from@example.org", "to@example.org", b"Subject: hi\r\n\r\nbody")
    [message] = server.messages
    assert message.mail_from == "from@example.org" and message.rcpt_tos == ["to@example.org"]
    assert message.auth_user == user
    assert message.content.endswith(b"Subject: hi\r\n\r\nbody\r\n")


@pytest.mark.parametrize("mechanism", ALL)
def test_wrong_secret_is_refused(server, client, mechanism):
    client.ehlo()
    mech = create_mechanism(mechanism, "user", "wrong", "wrong", hostname="localhost")
    code, _ = client.auth(mech)
    assert code == 535
    assert server.handler.attempts[-1].success is False
    # and the session is still usable, not authenticated
    assert client.cmd("NOOP")[0] == 250


def test_unknown_user_is_refused(server, client):
    client.ehlo()
    for mechanism in (1, 4, 5):
        assert client.auth(create_mechanism(mechanism, "nobody", "pass", hostname="localhost"))[0] == 535


def test_plain_authzid_reaches_the_server(server, client):
    client.ehlo()
    assert client.auth(create_mechanism(4, "user", "pass", "boss"))[0] == 235


def test_digest_md5_details_seen_by_the_server(server, client):
    client.ehlo()
    assert client.auth(create_mechanism(5, "user", "pass", "boss", hostname="mail.example.org"))[0] == 235
    details = server.handler.attempts[-1].details
    assert details == {"digest_uri": "smtp/mail.example.org", "realm": "auth.smtpx.test", "authzid": "boss"}


def test_ntlm_v1_and_v2_as_seen_by_the_server(server, client):
    client.ehlo()
    assert client.auth(create_mechanism(2, "user", "pass", hostname="localhost", use_ntlm_v2=False))[0] == 235
    assert server.handler.attempts[-1].details["nt_response_length"] == 24
    assert client.cmd("RSET")[0] == 250
    second = RawClient(server.port)
    try:
        second.ehlo()
        assert second.auth(create_mechanism(2, "CORP\\alice", "wonder land", hostname="localhost"))[0] == 235
        record = server.handler.attempts[-1]
        assert record.user == "CORP\\alice" and record.details["nt_response_length"] > 24
    finally:
        second.close()


def test_xoauth2_error_round_trip(server, client):
    client.ehlo()
    mech = create_mechanism(7, "user", "", "expired-token")
    code, lines = client.auth(mech)
    assert code == 535
    assert mech.server_error["status"] == "401"
    record = server.handler.attempts[-1]
    assert record.details == {"well_formed": True, "error_answer": b""}


def test_second_auth_in_one_session_is_refused(client):
    client.ehlo()
    assert client.auth(create_mechanism(1, "user", "pass"))[0] == 235
    assert client.auth(create_mechanism(1, "user", "pass"))[0] == 503


@pytest.mark.parametrize("mode, error", [("bad", "rspauth is wrong"), ("none", "did not prove")])
def test_digest_md5_client_catches_a_server_that_does_not_know_the_password(mode, error):
    with running_auth_server(users=USERS, digest_rspauth=mode) as server:
        client = RawClient(server.port)
        try:
            client.ehlo()
            with pytest.raises(SMTPAuthError, match=error):
                client.auth(create_mechanism(5, "user", "pass", hostname="localhost"))
            # the server records the attempt after its 501; a NOOP round trip orders the two
            assert client.cmd("NOOP")[0] == 250
            if mode == "bad":
                assert server.handler.attempts[-1].details["reason"] == "client aborted"
        finally:
            client.close()


def test_digest_md5_expected_host_check():
    with running_auth_server(users=USERS, digest_expected_host="mx.example.org") as server:
        client = RawClient(server.port)
        try:
            client.ehlo()
            assert client.auth(create_mechanism(5, "user", "pass", hostname="other.example.org"))[0] == 535
            assert server.handler.attempts[-1].details["reason"] == "digest-uri host mismatch"
            assert client.auth(create_mechanism(5, "user", "pass", hostname="mx.example.org"))[0] == 235
        finally:
            client.close()


# -- port 0, concurrent servers, TLS ---------------------------------------------------------


def test_two_servers_on_free_ports_with_their_own_ntlm_users():
    first = make_auth_controller(users={"one": "1111"})
    second = make_auth_controller(users={"two": "2222"})
    try:
        assert first.port and second.port and first.port != second.port
        for controller, user, password, other in ((first, "one", "1111", "two"), (second, "two", "2222", "one")):
            client = RawClient(controller.port)
            try:
                client.ehlo()
                assert client.auth(create_mechanism(2, other, "x", hostname="h"))[0] == 535
                assert client.auth(create_mechanism(2, user, password, hostname="h"))[0] == 235
            finally:
                client.close()
    finally:
        first.stop()
        second.stop()


@pytest.fixture(scope="module")
def tls_contexts():
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    return server_context, client_context


def test_auth_requires_tls_until_starttls(tls_contexts):
    server_context, client_context = tls_contexts
    with running_auth_server(users=USERS, tls_context=server_context, auth_require_tls=True) as server:
        client = RawClient(server.port)
        try:
            capabilities = client.ehlo()
            assert "STARTTLS" in capabilities
            assert not any(line.startswith("AUTH") for line in capabilities)
            assert client.cmd("AUTH PLAIN AHVzZXIAcGFzcw==")[0] == 538
            client.starttls(client_context)
            assert any(line.startswith("AUTH") for line in client.ehlo())
            assert client.auth(create_mechanism(4, "user", "pass"))[0] == 235
            client.send_mail("a@example.org", "b@example.org", b"\r\nover TLS")
            assert server.messages[-1].content.endswith(b"over TLS\r\n")
        finally:
            client.close()


def test_implicit_tls_server(tls_contexts):
    server_context, client_context = tls_contexts
    with running_auth_server(users=USERS, implicit_tls_context=server_context) as server:
        client = RawClient(server.port, implicit_tls=client_context)
        try:
            assert client.sock.version() is not None
            client.ehlo()
            assert client.auth(create_mechanism(5, "user", "pass", hostname="localhost"))[0] == 235
        finally:
            client.close()


def test_require_starttls_refuses_mail_before_tls(tls_contexts):
    server_context, _ = tls_contexts
    with running_auth_server(users=USERS, tls_context=server_context, require_starttls=True) as server:
        client = RawClient(server.port)
        try:
            client.ehlo()
            assert client.cmd("MAIL FROM:<a@example.org>")[0] == 530
        finally:
            client.close()
