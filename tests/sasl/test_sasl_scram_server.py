"""SCRAM-SHA-256 and OAUTHBEARER end to end through smtpx.SMTP, against aiosmtpd with the
server side of both mechanisms written here (independently of smtpx.sasl): the server checks
our SCRAM proof and can misbehave on purpose (FAULTS 46), and OAUTHBEARER takes a token from
a provider called at each authentication, or answers with RFC 7628's JSON error.

Every misbehaviour must end in SMTPAuthError with nothing more sent: the handler records each
client answer it got after its SCRAM server-final message and every MAIL command."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from typing import Any

import pytest
from aiosmtpd.smtp import MISSING, AuthResult, auth_mechanism

import smtpx
from smtpx.enums import AuthMechanism
from tests.servers.auth import DEFAULT_REALM, AuthController, AuthHandler, AuthRecord

SALT = b"smtpx-test-salt!"


class ScramOAuthHandler(AuthHandler):
    """AuthHandler plus SCRAM-SHA-256 and OAUTHBEARER. Knobs: ``iterations`` (announced),
    ``signature``: "good", "bad" (a wrong v=) or "none" (235 straight after the proof)."""

    def __init__(self, users: dict[str, str], **kwargs: Any) -> None:
        self.iterations = kwargs.pop("iterations", 4096)
        self.signature = kwargs.pop("signature", "good")
        self.valid_tokens: dict[str, set[str]] = kwargs.pop("valid_tokens", {})
        super().__init__(users, **kwargs)
        self.after_server_first: list[Any] = []  # what the client answered to our server-first
        self.after_server_final: list[Any] = []  # ... and to our server-final
        self.mail_commands: list[str] = []

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        self.mail_commands.append(address)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    @auth_mechanism("SCRAM-SHA-256")
    async def auth_SCRAM_SHA_256(self, server: Any, args: list[str]) -> AuthResult:
        first = await self._first_message(server, args)
        if first is MISSING:
            return AuthResult(success=False, handled=True)
        match = re.fullmatch(rb"n,,n=([^,]*),r=([\x21-\x2b\x2d-\x7e]+)", first)
        if not match:
            return self._record("SCRAM-SHA-256", None, False, reason="bad client-first")
        user = match.group(1).decode().replace("=2C", ",").replace("=3D", "=")
        nonce = match.group(2).decode() + secrets.token_hex(8)
        server_first = f"r={nonce},s={base64.b64encode(SALT).decode()},i={self.iterations}"
        final = await server.challenge_auth(server_first)
        self.after_server_first.append(final)
        if final is MISSING:
            return AuthResult(success=False, handled=True)
        without_proof, _, proof_text = final.decode().rpartition(",p=")
        if without_proof != f"c=biws,r={nonce}" or user not in self.users:
            return self._record("SCRAM-SHA-256", user, False, reason="bad client-final")
        salted = hashlib.pbkdf2_hmac("sha256", self.users[user].encode(), SALT, self.iterations)
        client_key = hmac.new(salted, b"Client Key", "sha256").digest()
        auth_message = b",".join((first[3:], server_first.encode(), without_proof.encode()))
        signature = hmac.new(hashlib.sha256(client_key).digest(), auth_message, "sha256").digest()
        expected = bytes(a ^ b for a, b in zip(client_key, signature))
        if not hmac.compare_digest(base64.b64decode(proof_text), expected):
            return self._record("SCRAM-SHA-256", user, False, reason="wrong proof")
        if self.signature != "none":
            server_key = hmac.new(salted, b"Server Key", "sha256").digest()
            verifier = hmac.new(server_key, auth_message, "sha256").digest()
            if self.signature == "bad":
                verifier = bytes(32)
            answer = await server.challenge_auth(f"v={base64.b64encode(verifier).decode()}")
            self.after_server_final.append(answer)
            if answer is MISSING:
                return self._record("SCRAM-SHA-256", user, False, reason="client aborted")
        return self._record("SCRAM-SHA-256", user, True)

    @auth_mechanism("OAUTHBEARER")
    async def auth_OAUTHBEARER(self, server: Any, args: list[str]) -> AuthResult:
        message = await self._first_message(server, args)
        if message is MISSING:
            return AuthResult(success=False, handled=True)
        match = re.fullmatch(rb"n,a=([^,]*),\x01(?:host=[^\x01]*\x01)?auth=Bearer ([^\x01]+)\x01\x01", message)
        user = match.group(1).decode() if match else None
        token = match.group(2).decode() if match else ""
        if user is not None and token in self.valid_tokens.get(user, set()):
            return self._record("OAUTHBEARER", user, True, token=token)
        error = {"status": "invalid_token", "scope": "mail", "openid-configuration": "https://idp.test/.wk"}
        answer = await server.challenge_auth(json.dumps(error))
        if answer is MISSING:
            return AuthResult(success=False, handled=True)
        self.attempts.append(AuthRecord("OAUTHBEARER", user, False, {"token": token, "error_answer": answer}))
        return AuthResult(success=False, handled=False, message="535 5.7.8 token not accepted")


@pytest.fixture
def start():
    controllers = []

    def run(**options: Any) -> AuthController:
        handler = ScramOAuthHandler({"ann": "pencil"}, **options)
        controller = AuthController(handler, hostname="127.0.0.1", port=0, server_hostname=DEFAULT_REALM,
                                    authenticator=handler.authenticator, auth_require_tls=False)
        controller.start()
        controllers.append(controller)
        return controller

    yield run
    for controller in controllers:
        controller.stop()


def _smtp(controller: AuthController, **props: Any) -> smtpx.SMTP:
    smtp = smtpx.SMTP(mail_server="127.0.0.1", mail_port=controller.port, timeout=10,
                      from_="a@example.com", send_to="b@example.com", message_text="hi", **props)
    return smtp


# ------------------------------------------------------------------------------ SCRAM
def test_scram_sha_256_end_to_end(start):
    server = start()
    _smtp(server, user="ann", password="pencil", auth_mechanism=AuthMechanism.SCRAM_SHA_256).send()
    assert [(a.mechanism, a.user, a.success) for a in server.handler.attempts] == [("SCRAM-SHA-256", "ann", True)]
    assert server.handler.after_server_final == [b""]  # the empty answer to v=
    assert len(server.messages) == 1


def test_scram_wrong_password_is_a_typed_error(start):
    server = start()
    with pytest.raises(smtpx.SMTPAuthError):
        _smtp(server, user="ann", password="crayon", auth_mechanism=AuthMechanism.SCRAM_SHA_256).send()
    assert server.handler.attempts[-1].details == {"reason": "wrong proof"}
    assert server.handler.mail_commands == [] and server.messages == []


@pytest.mark.parametrize("mode", ["bad", "none"])
def test_faults_46_a_server_signature_that_does_not_match(start, mode):
    server = start(signature=mode)
    smtp = _smtp(server, user="ann", password="pencil", auth_mechanism=AuthMechanism.SCRAM_SHA_256)
    with pytest.raises(smtpx.SMTPAuthError, match="signature does not match" if mode == "bad" else "without proving"):
        smtp.send()
    # "bad": the client cancelled with "*" (aiosmtpd's MISSING) and sent no other answer.
    assert server.handler.after_server_final == ([MISSING] if mode == "bad" else [])
    assert server.handler.mail_commands == [] and server.messages == []
    assert not smtp.connected


@pytest.mark.parametrize("iterations", [4_000_000_000, 1_000_001, 1024])
def test_faults_46_an_absurd_iteration_count(start, iterations):
    server = start(iterations=iterations)
    smtp = _smtp(server, user="ann", password="pencil", auth_mechanism=AuthMechanism.SCRAM_SHA_256)
    with pytest.raises(smtpx.SMTPAuthError, match=f"{iterations} iterations"):
        smtp.send()
    assert server.handler.after_server_first == [MISSING]  # "*": no proof was sent
    assert server.handler.mail_commands == [] and server.messages == []


@pytest.mark.parametrize("mechanism", [AuthMechanism.SCRAM_SHA_256_PLUS, AuthMechanism.SCRAM_SHA_1_PLUS])
def test_plus_variants_are_refused_before_auth(start, mechanism):
    server = start()
    smtp = _smtp(server, user="ann", password="pencil", auth_mechanism=mechanism)
    with pytest.raises(smtpx.SMTPNotSupportedError, match="tls-exporter"):
        smtp.send()
    assert server.handler.attempts == [] and server.handler.mail_commands == []
    assert not smtp.connected


# ------------------------------------------------------------------------------ OAUTHBEARER
def test_oauthbearer_static_token(start):
    server = start(valid_tokens={"ann": {"t0"}})
    smtp = _smtp(server, user="ann", auth_mechanism=AuthMechanism.OAUTHBEARER, oauth_token="t0")
    smtp.config("AllowPlaintextAuth=True")
    smtp.send()
    assert [(a.mechanism, a.success) for a in server.handler.attempts] == [("OAUTHBEARER", True)]


def test_oauthbearer_refuses_plaintext_unless_allowed(start):
    server = start(valid_tokens={"ann": {"t0"}})
    with pytest.raises(smtpx.SMTPAuthError, match="unencrypted"):
        _smtp(server, user="ann", auth_mechanism=AuthMechanism.OAUTHBEARER, oauth_token="t0").send()
    assert server.handler.attempts == []


@pytest.mark.parametrize("mechanism", [AuthMechanism.OAUTHBEARER, AuthMechanism.XOAUTH2])
def test_the_token_provider_is_asked_at_each_authentication(start, mechanism):
    tokens = iter(["t1", "t2"])
    server = start(valid_tokens={"ann": {"t1", "t2"}}, tokens={"ann": "t1"})
    calls: list[str] = []

    def provider() -> str:
        calls.append(token := next(tokens))
        return token

    smtp = _smtp(server, user="ann", auth_mechanism=mechanism, token_provider=provider, oauth_token="stale")
    smtp.config("AllowPlaintextAuth=True")
    smtp.send()
    if mechanism is AuthMechanism.OAUTHBEARER:
        smtp.send()
        assert [a.details["token"] for a in server.handler.attempts] == ["t1", "t2"]
    assert calls == (["t1", "t2"] if mechanism is AuthMechanism.OAUTHBEARER else ["t1"])
    assert all(a.success for a in server.handler.attempts)


def test_oauthbearer_error_gets_0x01_then_the_final_failure(start):
    server = start(valid_tokens={"ann": {"good"}})
    smtp = _smtp(server, user="ann", auth_mechanism=AuthMechanism.OAUTHBEARER, oauth_token="expired")
    smtp.config("AllowPlaintextAuth=True")
    with pytest.raises(smtpx.SMTPAuthError) as info:
        smtp.send()
    assert "535" in str(info.value) or info.value.code == 535
    assert server.handler.attempts[-1].details == {"token": "expired", "error_answer": b"\x01"}
    assert server.handler.mail_commands == []


@pytest.mark.parametrize("bad", [lambda: 42, lambda: None])
def test_a_provider_returning_no_str_is_an_input_error(start, bad):
    server = start(valid_tokens={"ann": {"t"}})
    smtp = _smtp(server, user="ann", auth_mechanism=AuthMechanism.OAUTHBEARER, token_provider=bad)
    smtp.config("AllowPlaintextAuth=True")
    with pytest.raises(smtpx.SMTPInputError, match="token_provider"):
        smtp.send()
    assert server.handler.attempts == [] and server.handler.mail_commands == []


def test_an_async_provider_is_refused_clearly(start):
    async def provider() -> str:
        return "t"

    server = start(valid_tokens={"ann": {"t"}})
    smtp = _smtp(server, user="ann", auth_mechanism=AuthMechanism.OAUTHBEARER, token_provider=provider)
    smtp.config("AllowPlaintextAuth=True")
    with pytest.raises(smtpx.SMTPInputError, match="async"):
        smtp.send()


def test_token_provider_must_be_callable():
    with pytest.raises(smtpx.SMTPInputError, match="callable"):
        smtpx.SMTP(token_provider="not callable")


# ------------------------------------------------------------------------------ AsyncSMTP
def test_async_smtp_uses_scram_and_the_token_provider(start):
    import asyncio

    from smtpx.aio import AsyncSMTP

    server = start(valid_tokens={"ann": {"fresh"}})
    calls: list[int] = []

    def provider() -> str:
        calls.append(1)
        return "fresh"

    async def go() -> None:
        common = dict(mail_server="127.0.0.1", mail_port=server.port, timeout=10, from_="a@example.com",
                      send_to="b@example.com", message_text="hi", user="ann")
        await AsyncSMTP(password="pencil", auth_mechanism=AuthMechanism.SCRAM_SHA_256, **common).send()
        oauth = AsyncSMTP(auth_mechanism=AuthMechanism.OAUTHBEARER, token_provider=provider, **common)
        oauth.config("AllowPlaintextAuth=True")
        await oauth.send()

    asyncio.run(go())
    assert [(a.mechanism, a.success) for a in server.handler.attempts] == [("SCRAM-SHA-256", True), ("OAUTHBEARER", True)]
    assert calls == [1] and len(server.messages) == 2


def test_async_smtp_awaits_an_async_token_provider_at_each_connection(start):
    import asyncio

    from smtpx.aio import AsyncSMTP

    server = start(valid_tokens={"ann": {"token-1", "token-2"}})
    issued: list[str] = []

    async def provider() -> str:
        await asyncio.sleep(0)
        issued.append(f"token-{len(issued) + 1}")
        return issued[-1]

    async def go() -> None:
        oauth = AsyncSMTP(mail_server="127.0.0.1", mail_port=server.port, timeout=10, from_="a@example.com",
                          send_to="b@example.com", message_text="hi", user="ann",
                          auth_mechanism=AuthMechanism.OAUTHBEARER, token_provider=provider)
        oauth.config("AllowPlaintextAuth=True")
        await oauth.send()  # connects, authenticates, disconnects
        await oauth.send()  # a new connection: a fresh token

    asyncio.run(go())
    assert issued == ["token-1", "token-2"]
    assert [(a.mechanism, a.success) for a in server.handler.attempts] == [("OAUTHBEARER", True)] * 2
    assert len(server.messages) == 2
