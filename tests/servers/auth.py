"""Server side of the SASL mechanisms, for end-to-end tests against aiosmtpd.

aiosmtpd has LOGIN and PLAIN built in; this adds CRAM-MD5, DIGEST-MD5, XOAUTH2 and NTLM as
``auth_<MECH>(server, args)`` handler methods (aiosmtpd treats every handler attribute named
auth_* as a mechanism, so no other attribute may start with "auth_"). The server-side computations are written here
independently of smtpx.sasl, so a shared mistake cannot make both sides agree.

    controller = make_auth_controller(users={"user": "pass"})
    ... connect to controller.hostname, controller.port ...
    controller.handler.messages      # [ReceivedMessage(mail_from, rcpt_tos, content, ...)]
    controller.handler.attempts      # [AuthRecord(mechanism, user, success, details)]
    controller.stop()

or ``with running_auth_server(...) as controller:``.

NTLM uses pyspnego's acceptor, which reads the accounts from the file named by the environment
variable NTLM_USER_FILE ("DOMAIN:USER:PASSWORD" lines). The variable is process-wide, so every
acceptor call runs under one lock with the variable pointing at this server's file.
"""
from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import ssl
import struct
import tempfile
import threading
from dataclasses import dataclass, field
from typing import Any, Iterator

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, AuthResult, LoginPassword, auth_mechanism

DEFAULT_REALM = "auth.smtpx.test"


@dataclass
class ReceivedMessage:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    mail_options: list[str] = field(default_factory=list)
    rcpt_options: list[str] = field(default_factory=list)
    auth_user: str | None = None


@dataclass
class AuthRecord:
    mechanism: str
    user: str | None
    success: bool
    details: dict[str, Any] = field(default_factory=dict)


# -- NTLM user file and the process-wide environment variable pyspnego reads -----------------

_NTLM_ENV_LOCK = threading.Lock()


@contextlib.contextmanager
def _ntlm_user_file(path: str) -> Iterator[None]:
    with _NTLM_ENV_LOCK:
        old = os.environ.get("NTLM_USER_FILE")
        os.environ["NTLM_USER_FILE"] = path
        try:
            yield
        finally:
            if old is None:
                os.environ.pop("NTLM_USER_FILE", None)
            else:
                os.environ["NTLM_USER_FILE"] = old


def _write_ntlm_user_file(users: dict[str, str]) -> str:
    fd, path = tempfile.mkstemp(prefix="smtpx-ntlm-", suffix=".txt")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        for name, password in users.items():
            domain, _, user = name.rpartition("\\")
            if ":" in user or ":" in password or ":" in domain:
                continue  # the file format cannot hold a colon; such users cannot use NTLM here
            fh.write(f"{domain}:{user}:{password}\n")
    return path


# -- DIGEST-MD5 helpers (server side, RFC 2831) ------------------------------------------------

_DIRECTIVE = re.compile(r'\s*([A-Za-z0-9-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,]*)\s*(?:,|$)')


def _parse_digest_response(text: str) -> dict[str, str] | None:
    """Directives of a digest-response; None when it is malformed or repeats a directive."""
    out: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        match = _DIRECTIVE.match(text, pos)
        if not match or match.end() == pos:
            return None
        name, value = match.group(1).lower(), match.group(2).strip()
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        if name in out:
            return None
        out[name] = value
        pos = match.end()
    return out


def _digest_bytes(value: str) -> bytes:
    """RFC 2831 with charset=utf-8: ISO 8859-1 when the text fits, UTF-8 otherwise."""
    try:
        return value.encode("iso-8859-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


def _digest_kd(ha1: str, nonce: str, nc: str, cnonce: str, qop: str, a2: str) -> str:
    ha2 = hashlib.md5(a2.encode("utf-8")).hexdigest()
    return hashlib.md5(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}".encode("utf-8")).hexdigest()


def _same(a: str, b: str) -> bool:
    """Constant-time comparison that also works for non-ASCII text."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


# -- the handler -------------------------------------------------------------------------------


class AuthHandler:
    """aiosmtpd handler: records every message, checks LOGIN/PLAIN through ``authenticator``
    and implements CRAM-MD5, DIGEST-MD5, XOAUTH2 and NTLM.

    Knobs for fault tests:
    - ``digest_rspauth``: "good" (default), "bad" (a wrong rspauth), "none" (no rspauth 334).
    - ``digest_expected_host``: when set, the digest-uri must be exactly ``smtp/<host>``.
    - ``tokens``: XOAUTH2 tokens by user (default: the user's password is the token).
    """

    def __init__(
        self,
        users: dict[str, str],
        *,
        tokens: dict[str, str] | None = None,
        realm: str = DEFAULT_REALM,
        digest_rspauth: str = "good",
        digest_expected_host: str | None = None,
    ) -> None:
        self.users = dict(users)
        self.tokens = dict(tokens) if tokens is not None else dict(users)
        self.realm = realm
        self.digest_rspauth = digest_rspauth
        self.digest_expected_host = digest_expected_host
        self.messages: list[ReceivedMessage] = []
        self.attempts: list[AuthRecord] = []
        self.ntlm_user_file = _write_ntlm_user_file(self.users)

    def close(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.ntlm_user_file)

    # -- message recording

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        auth_user = session.auth_data if isinstance(session.auth_data, str) else None
        if isinstance(session.auth_data, LoginPassword):
            auth_user = session.auth_data.login.decode("utf-8", "replace")
        self.messages.append(
            ReceivedMessage(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                content=bytes(envelope.original_content or envelope.content or b""),
                mail_options=list(envelope.mail_options),
                rcpt_options=list(envelope.rcpt_options),
                auth_user=auth_user,
            )
        )
        return "250 2.0.0 OK"

    def _record(self, mechanism: str, user: str | None, success: bool, **details: Any) -> AuthResult:
        self.attempts.append(AuthRecord(mechanism, user, success, details))
        if success:
            return AuthResult(success=True, auth_data=user)
        return AuthResult(success=False, handled=False)

    # -- LOGIN and PLAIN (aiosmtpd's built-in mechanisms call this)

    def authenticator(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        login = auth_data.login.decode("utf-8", "replace")
        password = auth_data.password.decode("utf-8", "replace")
        ok = login in self.users and _same(self.users[login], password)
        self.attempts.append(AuthRecord(mechanism, login, ok))
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    # -- shared: the client's first message, from the AUTH line or from an empty 334

    @staticmethod
    async def _first_message(server: Any, args: list[str]) -> Any:
        if len(args) > 1:
            if args[1] == "=":
                return b""
            try:
                return base64.b64decode(args[1], validate=True)
            except ValueError:
                await server.push("501 5.5.2 Can't decode base64")
                return MISSING
        return await server.challenge_auth("")

    # -- CRAM-MD5 (RFC 2195)

    @auth_mechanism("CRAM-MD5")
    async def auth_CRAM_MD5(self, server: Any, args: list[str]) -> AuthResult:
        if len(args) > 1:
            await server.push("501 5.5.2 CRAM-MD5 takes no initial response")
            return AuthResult(success=False, handled=True)
        challenge = f"<{secrets.randbelow(10**9)}.{secrets.token_hex(4)}@{server.hostname}>".encode()
        answer = await server.challenge_auth(challenge)
        if answer is MISSING:
            return AuthResult(success=False, handled=True)
        user_b, sep, digest = answer.rpartition(b" ")
        user = user_b.decode("utf-8", "replace")
        if not sep or user not in self.users:
            return self._record("CRAM-MD5", user or None, False)
        expected = hmac.new(self.users[user].encode("utf-8"), challenge, hashlib.md5).hexdigest().encode()
        return self._record("CRAM-MD5", user, hmac.compare_digest(expected, digest))

    # -- DIGEST-MD5 (RFC 2831, qop=auth)

    @auth_mechanism("DIGEST-MD5")
    async def auth_DIGEST_MD5(self, server: Any, args: list[str]) -> AuthResult:
        if len(args) > 1:
            await server.push("501 5.5.2 DIGEST-MD5 takes no initial response")
            return AuthResult(success=False, handled=True)
        nonce = base64.b64encode(os.urandom(15)).decode("ascii")
        challenge = f'realm="{self.realm}",nonce="{nonce}",qop="auth",charset=utf-8,algorithm=md5-sess'
        answer = await server.challenge_auth(challenge)
        if answer is MISSING:
            return AuthResult(success=False, handled=True)
        fields = _parse_digest_response(answer.decode("utf-8", "replace"))
        if fields is None:
            return self._record("DIGEST-MD5", None, False, reason="malformed response")
        user = fields.get("username", "")
        details = {"digest_uri": fields.get("digest-uri"), "realm": fields.get("realm"),
                   "authzid": fields.get("authzid")}
        problem = None
        if user not in self.users:
            problem = "unknown user"
        elif fields.get("nonce") != nonce:
            problem = "nonce mismatch"
        elif fields.get("nc") != "00000001" or fields.get("qop", "auth") != "auth":
            problem = "bad nc or qop"
        elif fields.get("realm", "") not in (self.realm, ""):
            problem = "bad realm"
        elif not (fields.get("digest-uri") or "").startswith("smtp/"):
            problem = "digest-uri is not for smtp"
        elif self.digest_expected_host is not None and fields["digest-uri"] != f"smtp/{self.digest_expected_host}":
            problem = "digest-uri host mismatch"
        elif "cnonce" not in fields or "response" not in fields:
            problem = "missing cnonce or response"
        if problem:
            return self._record("DIGEST-MD5", user or None, False, reason=problem, **details)

        inner = hashlib.md5(
            _digest_bytes(user) + b":" + _digest_bytes(fields.get("realm", ""))
            + b":" + _digest_bytes(self.users[user])
        ).digest()
        a1 = inner + f":{nonce}:{fields['cnonce']}".encode("utf-8")
        if fields.get("authzid"):
            a1 += b":" + fields["authzid"].encode("utf-8")
        ha1 = hashlib.md5(a1).hexdigest()
        uri = fields["digest-uri"]
        expected = _digest_kd(ha1, nonce, "00000001", fields["cnonce"], "auth", f"AUTHENTICATE:{uri}")
        if not _same(expected, fields["response"].lower()):
            return self._record("DIGEST-MD5", user, False, reason="wrong response", **details)

        rspauth = _digest_kd(ha1, nonce, "00000001", fields["cnonce"], "auth", f":{uri}")
        if self.digest_rspauth == "bad":
            rspauth = hashlib.md5(rspauth.encode()).hexdigest()
        if self.digest_rspauth != "none":
            final = await server.challenge_auth(f"rspauth={rspauth}")
            if final is MISSING:  # the client aborted (e.g. it rejected our rspauth)
                self.attempts.append(AuthRecord("DIGEST-MD5", user, False, {"reason": "client aborted", **details}))
                return AuthResult(success=False, handled=True)
            if final != b"":
                return self._record("DIGEST-MD5", user, False, reason="non-empty final response", **details)
        return self._record("DIGEST-MD5", user, True, **details)

    # -- XOAUTH2

    @auth_mechanism("XOAUTH2")
    async def auth_XOAUTH2(self, server: Any, args: list[str]) -> AuthResult:
        message = await self._first_message(server, args)
        if message is MISSING:
            return AuthResult(success=False, handled=True)
        match = re.fullmatch(rb"user=([^\x01]*)\x01auth=Bearer ([^\x01]+)\x01\x01", message)
        user = match.group(1).decode("utf-8", "replace") if match else None
        token = match.group(2).decode("utf-8", "replace") if match else ""
        if match and user in self.tokens and _same(self.tokens[user], token):
            return self._record("XOAUTH2", user, True)
        # Like the big providers: a JSON error in a 334, an empty client answer, then 535.
        error = {"status": "401", "schemes": "bearer", "scope": "https://mail.smtpx.test/"}
        answer = await server.challenge_auth(json.dumps(error))
        if answer is MISSING:
            return AuthResult(success=False, handled=True)
        self.attempts.append(
            AuthRecord("XOAUTH2", user, False, {"well_formed": bool(match), "error_answer": answer})
        )
        return AuthResult(success=False, handled=False, message="535 5.7.8 Username and Password not accepted")

    # -- NTLM (pyspnego acceptor)

    @auth_mechanism("NTLM")
    async def auth_NTLM(self, server: Any, args: list[str]) -> AuthResult:
        import spnego  # only this mechanism needs it

        negotiate = await self._first_message(server, args)
        if negotiate is MISSING:
            return AuthResult(success=False, handled=True)
        try:
            with _ntlm_user_file(self.ntlm_user_file):
                acceptor = spnego.server(protocol="ntlm", options=spnego.NegotiateOptions.use_ntlm)
                challenge = acceptor.step(negotiate)
        except Exception as exc:  # a malformed negotiate message
            return self._record("NTLM", None, False, reason=f"negotiate: {exc}")
        authenticate = await server.challenge_auth(challenge or b"")
        if authenticate is MISSING:
            return AuthResult(success=False, handled=True)
        nt_len = struct.unpack_from("<H", authenticate, 20)[0] if len(authenticate) >= 22 else None
        try:
            with _ntlm_user_file(self.ntlm_user_file):
                acceptor.step(authenticate)
        except Exception as exc:  # wrong password, unknown user, malformed message
            return self._record("NTLM", None, False, reason=str(exc), nt_response_length=nt_len)
        return self._record(
            "NTLM", acceptor.client_principal, acceptor.complete, nt_response_length=nt_len
        )


# -- the controller ---------------------------------------------------------------------------


class AuthController(Controller):
    """aiosmtpd Controller that may listen on port 0 and learns the port it got."""

    handler: AuthHandler

    def _trigger_server(self) -> None:
        if self.port == 0 and self.server is not None:
            self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()

    def stop(self, no_assert: bool = False) -> None:
        try:
            super().stop(no_assert=no_assert)
        finally:
            self.handler.close()

    @property
    def messages(self) -> list[ReceivedMessage]:
        return self.handler.messages


def make_auth_controller(
    port: int = 0,
    users: dict[str, str] | None = None,
    tls_context: ssl.SSLContext | None = None,
    require_starttls: bool = False,
    auth_require_tls: bool = False,
    *,
    implicit_tls_context: ssl.SSLContext | None = None,
    **handler_options: Any,
) -> AuthController:
    """Start an aiosmtpd server on 127.0.0.1 (a free port when ``port`` is 0) that offers
    LOGIN, PLAIN, CRAM-MD5, DIGEST-MD5, XOAUTH2 and NTLM and records every message.

    ``tls_context`` enables STARTTLS; ``implicit_tls_context`` makes it a port-465 style
    server. ``handler_options`` go to AuthHandler (tokens, realm, digest_rspauth, ...).
    The caller must call ``stop()``."""
    handler = AuthHandler(users if users is not None else {"user": "pass"}, **handler_options)
    controller = AuthController(
        handler,
        hostname="127.0.0.1",
        port=port,
        ssl_context=implicit_tls_context,
        server_hostname=DEFAULT_REALM,
        tls_context=tls_context,
        require_starttls=require_starttls,
        auth_require_tls=auth_require_tls,
        authenticator=handler.authenticator,
    )
    try:
        controller.start()
    except BaseException:
        handler.close()
        raise
    return controller


@contextlib.contextmanager
def running_auth_server(**options: Any) -> Iterator[AuthController]:
    """``make_auth_controller(**options)`` that is stopped when the block ends."""
    controller = make_auth_controller(**options)
    try:
        yield controller
    finally:
        controller.stop()
