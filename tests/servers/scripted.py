"""Real SMTP peers for the facade tests, on 127.0.0.1 only.

- ``ScriptedServer``: an aiosmtpd server (its own thread and loop) that records every command
  line it receives and every message's bytes exactly as stored, and can be told to answer
  chosen commands with chosen replies (``"421 ..."`` also closes the connection; ``CLOSE``
  drops it without a reply). ``"DATA_END"`` scripts the reply to the final ".".
- ``RawServer``: a loopback socket server (servers/sockets.py) playing a byte-level script to
  one connection, for faults that aiosmtpd cannot produce (bytes with no line end, garbage
  codes, a close mid-reply...).
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import socket
import sys
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Callable

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as AioSMTP, AuthResult, LoginPassword

from tests.servers.sockets import LoopbackServer, drain

CLOSE = "CLOSE"  # scripted "reply": drop the connection without answering
STALL = "STALL"  # scripted "reply": answer nothing more on this connection, and keep it open
STALL_SECONDS = 30  # how long a stalled connection's handler sleeps (the server's stop ends it)
SLOW = "SLOW"  # scripted "reply": the usual answer, SLOW_SECONDS late
SLOW_SECONDS = 0.5


@dataclass
class Received:
    """One message as the server stored it (dot-unstuffed, bytes exactly as received)."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    mail_options: list[str]
    rcpt_options: list[str]


@dataclass
class _Rule:
    reply: str
    when: str | None  # substring the argument must contain (case-insensitive)
    times: int | None  # None = every time


class _Handler:
    def __init__(self, server: "ScriptedServer") -> None:
        self.server = server

    async def handle_EHLO(self, smtp, session, envelope, hostname, responses):  # noqa: N802
        extra = [f"250-{cap}" for cap in self.server.extra_capabilities]
        drop = {c.upper() for c in self.server.drop_capabilities}
        kept = [r for r in responses[:-1] if r[4:].split(" ")[0].upper() not in drop]
        session.host_name = hostname
        return kept + extra + [responses[-1]]

    async def handle_VRFY(self, smtp, session, envelope, address):  # noqa: N802
        return f"250 <{address}>"

    async def handle_DATA(self, smtp, session, envelope):  # noqa: N802
        self.server._store(envelope)
        reply = self.server._scripted("DATA_END", "")
        if reply == CLOSE:
            smtp.transport.close()
            return "250 never seen"
        if reply == STALL:
            await asyncio.sleep(STALL_SECONDS)
            smtp.transport.close()
            return "250 never seen"
        if reply == SLOW:
            await asyncio.sleep(SLOW_SECONDS)
            reply = None
        if reply is not None:
            if reply.startswith("421"):
                smtp.loop.call_soon(smtp.transport.close)
            return reply
        return "250 2.0.0 OK queued"


class _ScriptedSMTP(AioSMTP):
    """aiosmtpd's server with every command routed through the script first."""

    def __init__(self, handler: _Handler, **kwargs) -> None:
        super().__init__(handler, **kwargs)
        self._script_owner = handler.server
        base = dict(self._smtp_methods)
        base.setdefault("SEND", self._mail_like)
        base.setdefault("SOML", self._mail_like)
        base.setdefault("SAML", self._mail_like)
        base["EXPN"] = self._expn
        self._smtp_methods = _ScriptedMethods(self, base)

    async def auth_CRAM__MD5(self, _, args):  # noqa: N802 - aiosmtpd finds mechanisms by this name
        """CRAM-MD5 (RFC 2195), which aiosmtpd lacks: the server side, for the tests."""
        challenge = f"<{secrets.randbelow(10**9)}.{int(time.time())}@scripted.test>".encode()
        answer = await self.challenge_auth(challenge)
        owner = self._script_owner
        user, _, digest = (answer.decode("ascii", "replace") if isinstance(answer, bytes) else "").partition(" ")
        secret = owner.users.get(user)
        ok = secret is not None and hmac.compare_digest(
            digest, hmac.new(secret.encode(), challenge, hashlib.md5).hexdigest())
        owner.auth_log.append(("CRAM-MD5", user if ok else None))
        return AuthResult(success=ok, handled=False)

    async def auth_XOAUTH2(self, _, args):  # noqa: N802
        """XOAUTH2 (Google's), which aiosmtpd lacks: users maps the user to the bearer token."""
        owner = self._script_owner
        if len(args) > 1:
            blob = args[1]
        else:
            answer = await self.challenge_auth("")
            blob = answer.decode("ascii", "replace") if isinstance(answer, bytes) else ""
        try:
            fields = dict(p.split("=", 1) for p in base64.b64decode(blob).decode().split("\x01") if "=" in p)
        except (ValueError, UnicodeDecodeError):
            fields = {}
        user, auth = fields.get("user", ""), fields.get("auth", "")
        ok = user in owner.users and auth == f"Bearer {owner.users[user]}"
        owner.auth_log.append(("XOAUTH2", user if ok else None))
        return AuthResult(success=ok, handled=False)

    def _getparams(self, params):
        """MAIL parameters: aiosmtpd refuses (555) any it does not know; a parameter named like
        an extension this server was told to offer (extra_capabilities, e.g. REQUIRETLS) is
        accepted here, and kept in the stored message's mail_options."""
        result = super()._getparams(params)
        if result is not None:
            offered = {cap.split(" ")[0].upper() for cap in self._script_owner.extra_capabilities}
            for key in [k for k in result if k.upper() in offered]:
                del result[key]
        return result

    async def _mail_like(self, arg):
        await self._smtp_methods.base["MAIL"](arg)

    async def _expn(self, arg):
        members = self._script_owner.expansions.get((arg or "").strip(), None)
        if not members:
            await self.push("550 5.1.1 no such list")
            return
        lines = [f"250-{m}" for m in members[:-1]] + [f"250 {members[-1]}"]
        for line in lines:
            await self.push(line)


class _ScriptedMethods:
    """Stands in for aiosmtpd's command table: ``get(command)`` always gives a callable."""

    def __init__(self, smtp: _ScriptedSMTP, base: dict) -> None:
        self.smtp = smtp
        self.base = base

    def get(self, command: str, default=None):
        async def run(arg):
            owner = self.smtp._script_owner
            owner.commands.append(command if arg is None else f"{command} {arg}")
            reply = owner._scripted(command, arg or "")
            if reply == CLOSE:
                self.smtp.transport.close()
                return
            if reply == STALL:
                await asyncio.sleep(STALL_SECONDS)
                self.smtp.transport.close()
                return
            if reply is not None:
                for line in reply.split("\r\n"):
                    await self.smtp.push(line)
                if reply.startswith("421"):
                    self.smtp.transport.close()
                return
            method = self.base.get(command)
            if method is None:
                await self.smtp.push(f'500 Error: command "{command}" not recognized')
                return
            await method(arg)

        return run

    def __contains__(self, command: str) -> bool:
        return True

    def keys(self):
        return self.base.keys()


class _Controller(Controller):
    def __init__(self, server: "ScriptedServer", **kwargs) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        super().__init__(_Handler(server), hostname="127.0.0.1", port=self._sock.getsockname()[1], **kwargs)
        self._server_owner = server

    def factory(self):
        return _ScriptedSMTP(self.handler, **self.SMTP_kwargs)

    def _create_server(self):
        return self.loop.create_server(self._factory_invoker, sock=self._sock, ssl=self.ssl_context,
                                       **tls_server_options(self.ssl_context))


def tls_server_options(ssl_context) -> dict:
    """aiosmtpd's start-up probe leaves its TLS connection without a close_notify; since Python
    3.12, Server.wait_closed() (in Controller.stop) waits for that connection's TLS shutdown,
    30 s by default. A short shutdown timeout keeps stop() prompt (3.11+ has the option)."""
    if ssl_context is not None and sys.version_info >= (3, 11):
        return {"ssl_shutdown_timeout": 1.0}
    return {}


def _authenticator(server: "ScriptedServer"):
    def check(smtp, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and server.users.get(auth_data.login.decode()) == auth_data.password.decode()
        )
        server.auth_log.append((mechanism, auth_data.login.decode() if ok else None))
        return AuthResult(success=ok, handled=False)

    return check


class ScriptedServer:
    """Start with ``with ScriptedServer() as srv:``; ``srv.port`` is the listening port."""

    def __init__(
        self,
        *,
        tls_context: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
        users: dict[str, str] | None = None,
        require_starttls: bool = False,
        extra_capabilities: list[str] | None = None,
        drop_capabilities: list[str] | None = None,
        smtputf8: bool = True,
    ) -> None:
        self.commands: list[str] = []
        self.messages: list[Received] = []
        self.auth_log: list[tuple[str, str | None]] = []
        self.users = users or {}
        self.expansions: dict[str, list[str]] = {}
        self.extra_capabilities = list(extra_capabilities or ["PIPELINING", "ENHANCEDSTATUSCODES"])
        self.drop_capabilities = list(drop_capabilities or [])
        self._rules: dict[str, list[_Rule]] = {}
        self._lock = threading.Lock()
        kwargs: dict = dict(
            enable_SMTPUTF8=smtputf8,
            decode_data=False,
            auth_require_tls=False,
            authenticator=_authenticator(self),
            server_hostname="scripted.test",
        )
        if implicit_tls:
            kwargs["ssl_context"] = tls_context
        elif tls_context is not None:
            kwargs["tls_context"] = tls_context
            kwargs["require_starttls"] = require_starttls
        self._controller = _Controller(self, **kwargs)
        self.port = self._controller.port
        self.host = "127.0.0.1"

    # script ---------------------------------------------------------------------------
    def reply(self, command: str, reply: str, *, when: str | None = None, times: int | None = 1) -> None:
        """Answer ``command`` (e.g. "RCPT", "DATA", "DATA_END") with ``reply``; lines joined
        by CRLF give a multi-line reply. ``when`` restricts to arguments containing it."""
        with self._lock:
            self._rules.setdefault(command.upper(), []).append(_Rule(reply, when, times))

    def _scripted(self, command: str, arg: str) -> str | None:
        with self._lock:
            for rule in self._rules.get(command.upper(), []):
                if rule.when is not None and rule.when.lower() not in arg.lower():
                    continue
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times <= 0:
                        self._rules[command.upper()].remove(rule)
                return rule.reply
        return None

    def _store(self, envelope) -> None:
        self.messages.append(
            Received(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                bytes(envelope.original_content),
                list(envelope.mail_options),
                list(envelope.rcpt_options),
            )
        )

    def verbs(self) -> list[str]:
        """The command words received, in order (EHLO, MAIL, RCPT, ...)."""
        return [c.split(" ", 1)[0] for c in self.commands]

    # lifetime -------------------------------------------------------------------------
    def __enter__(self) -> "ScriptedServer":
        self._controller.start()
        self.commands.clear()  # the controller's own start-up probe sends nothing, but be sure
        return self

    def __exit__(self, *exc) -> None:
        self._controller.stop()


# ---------------------------------------------------------------------------------------
# Raw byte-level peer
# ---------------------------------------------------------------------------------------

Step = tuple[str, object]  # ("send", bytes) | ("expect", prefix bytes) | ("wait", seconds) | ("close", None)


class RawServer(LoopbackServer):
    """Plays ``script`` to one connection: send bytes, read one line and check its prefix
    (a mismatch goes to ``errors``), wait (cut short when the server closes), or close. When
    the script runs out, it keeps reading until the client closes. Everything received is
    kept in ``received`` (raw bytes)."""

    def __init__(self, script: list[Step]) -> None:
        self.script = script
        self.received = bytearray()
        super().__init__(max_connections=1)

    def handle(self, conn: socket.socket) -> None:
        try:
            if not self._play(conn):
                return
        except OSError as exc:  # the client went away mid-script: the tests see it here
            self.errors.append(repr(exc))
            return
        conn.settimeout(5)
        drain(conn, self.received)  # the script ran out: keep what else arrives

    def _play(self, conn: socket.socket) -> bool:
        """Play the script; False when it ended the connection (or the client did)."""
        pending = b""
        for action, arg in self.script:
            if action == "send":
                conn.sendall(arg)  # type: ignore[arg-type]
            elif action == "expect":
                while b"\n" not in pending:
                    chunk = conn.recv(65536)
                    if not chunk:
                        self.errors.append(f"EOF while expecting {arg!r}")
                        return False
                    self.received += chunk
                    pending += chunk
                line, pending = pending.split(b"\n", 1)
                if not line.upper().startswith(arg):  # type: ignore[arg-type]
                    self.errors.append(f"expected {arg!r}, got {line!r}")
            elif action == "wait":
                self.stopping.wait(arg)  # type: ignore[arg-type]
            elif action == "close":
                return False
        return True


def tls_pair(ca, hostname: str = "127.0.0.1") -> tuple[ssl.SSLContext, str]:
    """A server SSLContext for ``hostname`` issued by the trustme ``ca``, and the CA's PEM text."""
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(hostname).configure_cert(server_ctx)
    return server_ctx, ca.cert_pem.bytes().decode()


def run_in_thread(fn: Callable[[], object]) -> threading.Thread:
    thread = threading.Thread(target=fn, daemon=True)
    thread.start()
    return thread
