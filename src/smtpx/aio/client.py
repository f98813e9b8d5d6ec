"""``smtpx.aio.AsyncSMTP``: the asyncio facade. Same properties, config settings, events,
message composition, SessionSettings builder and engine as ``smtpx.SMTP``; methods are
coroutines. See docs/async.md.

What is shared, not copied: everything in ``smtpx.facade_base.FacadeBase``, which both facades
inherit (properties, config(), state properties, events, option refresh, the halves of opening
and sending around the I/O, send_batch's prepare and finish halves), and below it
``session_settings``, ``compose_message`` and the engine. This class only adds what differs:
``await`` and asyncio's way of running one method at a time.
"""
from __future__ import annotations

import inspect
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Iterable, Optional

from smtpx.batch import BatchMessage
from smtpx.compose import ComposedMessage
from smtpx.connection_properties import check_text
from smtpx.engine import SendResult
from smtpx.enums import SSLStartMode
from smtpx.errors import SMTPBusyError, SMTPError, SMTPInputError, SMTPNotConnectedError
from smtpx.events import EVENT_NAMES
from smtpx.facade_base import FacadeBase
from smtpx.kernels import Reply
from smtpx.raw_message import raw_message
from smtpx.session import effective_start_mode

from .handshake import NO_SESSION_REUSE
from .session import AsyncSession

__all__ = ["AsyncSMTP"]


class AsyncSMTP(FacadeBase):
    """An asyncio SMTP client with smtpx.SMTP's properties, config settings and events.

    Use one AsyncSMTP per task (one method at a time: a second call while one runs raises
    SMTPBusyError, 166). Many AsyncSMTP objects share one event loop. Cancel the task to
    abort a method: the connection is dropped and the object stays usable.
    """

    _display_name = "AsyncSMTP"
    _repr_name = "smtpx.aio.AsyncSMTP"
    _session: Optional[AsyncSession]

    def __init__(self, **properties: Any) -> None:
        self._running = False
        super().__init__(**properties)

    def __setattr__(self, name: str, value: Any) -> None:
        # Events fire synchronously from the engine: a coroutine handler would never run.
        if name in EVENT_NAMES and inspect.iscoroutinefunction(value):
            raise SMTPInputError(f"{name} must be a plain function, not a coroutine function: "
                                 "events fire synchronously (schedule a task from the handler if needed)")
        super().__setattr__(name, value)

    # ============================================================================ plumbing
    @property
    def idle(self) -> bool:
        """False while a method is running."""
        return not self._running

    @asynccontextmanager
    async def _operation(self) -> AsyncIterator[None]:
        """One method at a time; one absolute-timeout deadline per method; a connection left
        in an unknown state (I/O error, timeout, cancellation) is dropped afterwards."""
        if self._running:
            raise SMTPBusyError("Busy executing current method.", 166)
        self._running = True
        session = self._session
        if session is not None and session.stream is not None:
            session.stream.begin_operation()
        try:
            yield
        finally:
            try:
                session = self._session
                if session is not None:
                    if session.stream is not None:
                        session.stream.end_operation()
                    if not session.alive:
                        await session.close(quit=False)
                        self._session = None
            finally:
                self._running = False

    async def _open(self) -> None:
        self._check_not_connected()
        settings = self._new_settings()
        if self._config.value("ReuseSSLSession") and \
                effective_start_mode(settings.start_mode, settings.port) != SSLStartMode.NONE:
            raise NotImplementedError(NO_SESSION_REUSE)
        self._ssl_server_cert = None
        self._tls_info = None
        session = AsyncSession(settings, self._sink, self._hooks, self._status)
        self._attach(session)
        try:
            await session.open()
        finally:
            self._opened(session)

    async def _close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close(quit=True)

    def _require_session(self) -> AsyncSession:
        if self._session is None or not self._session.alive:
            raise SMTPNotConnectedError("You need to connect first.", 1117)
        return self._session

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[AsyncSession]:
        """The open connection, or a new one that is closed again afterwards."""
        if self._session is not None and self._session.alive:
            self._refresh_options(self._session)  # config() changes apply to the next method
            yield self._session
            return
        await self._open()
        assert self._session is not None
        try:
            yield self._session
        finally:
            await self._close()

    # ============================================================================ methods
    async def connect(self) -> None:
        """Connect to mail_server, greet (EHLO/HELO), start TLS and authenticate as set."""
        async with self._operation():
            await self._open()

    async def disconnect(self) -> None:
        """QUIT (when the connection is still good) and close. Does nothing when not connected."""
        async with self._operation():
            await self._close()

    async def reset(self) -> None:
        """Disconnect, and put every property and config setting back to its default."""
        async with self._operation():
            await self._close()
            self._init_state()

    async def send(self) -> SendResult:
        """Compose the message from the properties and send it (connecting when needed, then
        disconnecting; an open connection is kept). Returns a SendResult."""
        async with self._operation():
            return await self._send("MAIL")

    async def send_to_terminal_and_email(self) -> SendResult:
        """SAML FROM."""
        async with self._operation():
            return await self._send("SAML")

    async def send_to_terminal_only(self) -> SendResult:
        """SEND FROM."""
        async with self._operation():
            return await self._send("SEND")

    async def send_to_terminal_or_email(self) -> SendResult:
        """SOML FROM."""
        async with self._operation():
            return await self._send("SOML")

    async def _send(self, verb: str) -> SendResult:
        self._check_send(verb)
        async with self._connection() as session:
            with self._outgoing_message(session, verb) as message:
                return await session.run(session.engine.send_mail(message.envelope, message.content()))

    async def send_raw(self, mail_from: str, recipients: Iterable[str] | str, message: bytes) -> SendResult:
        """Send ``message`` (headers, empty line, body; not dot-stuffed) exactly as given to this
        envelope, without touching the message properties (as smtpx.SMTP.send_raw)."""
        async with self._operation():
            self._require_mail_server()
            envelope, content = raw_message(mail_from, recipients, message, "send_raw")
            async with self._connection() as session:
                return await session.run(session.engine.send_mail(envelope, content))

    async def compose(self) -> ComposedMessage:
        """The message the properties describe now, for ``send_batch`` (as smtpx.SMTP.compose)."""
        async with self._operation():
            return self._compose_now()

    async def send_batch(self, messages: Iterable[BatchMessage], *, window: int = 32) -> list[SendResult | SMTPError]:
        """Many messages on one connection, pipelined across transactions (the engine's
        send_batch), with smtpx.SMTP.send_batch's contract: each message is
        ``(mail_from, recipients, message_bytes)`` or a ComposedMessage from ``compose()``; one
        SendResult or per-message SMTPError per message, in order (errors also fire on_error);
        a session failure raises with ``.results`` and ``.unsent``."""
        async with self._operation():
            batch = self._prepare_batch(messages, window)
            with batch:
                if batch.items:
                    async with self._connection() as session:
                        await session.run(batch.send(session.engine))
            return self._finish_batch(batch)

    async def do_events(self) -> None:
        """As smtpx.SMTP.do_events: without waiting, check an idle open connection; when the
        server closed it or sent something nobody asked for (an idle-timeout 421), drop it
        (a reply also fires on_error). Nothing is raised. Does nothing while a method runs."""
        if self._running or self._session is None:
            return
        session = self._session
        error = session.check_idle()
        if not session.alive:
            await session.close(quit=False)
            self._session = None
        self._report_idle_error(error)

    async def send_command(self, command: str) -> Reply:
        """Send ``command`` as given (CR, LF and NUL refused); returns the Reply."""
        async with self._operation():
            check_text("command", command)
            session = self._require_session()
            reply = await session.run(session.engine.command(command))
            if command.strip().upper() == "QUIT":
                await session.close(quit=False)
            return reply

    async def verify(self, email_address: str) -> Reply:
        """VRFY: returns the Reply (also in last_reply)."""
        async with self._operation():
            check_text("email_address", email_address)
            async with self._connection() as session:
                return await session.run(session.engine.verify(email_address))

    async def expand(self, email_address: str) -> list[str]:
        """EXPN: one on_expand event per address; the addresses are also returned."""
        async with self._operation():
            check_text("email_address", email_address)
            self._expanded = []
            async with self._connection() as session:
                await session.run(session.engine.expand(email_address))
            return list(self._expanded)

    # ============================================================================ not (yet) here
    def interrupt(self) -> None:
        raise NotImplementedError("AsyncSMTP has no interrupt(): cancel the task running the method "
                                  "(the connection is dropped, the object stays usable)")

    async def process_queue(self, queue_dir: str) -> Any:
        raise NotImplementedError("AsyncSMTP.process_queue is not implemented yet; use smtpx.SMTP.process_queue")

    async def queue(self, queue_dir: str) -> str:
        raise NotImplementedError("AsyncSMTP.queue is not implemented yet; use smtpx.SMTP.queue")

    # ============================================================================ async with
    async def __aenter__(self) -> "AsyncSMTP":
        await self.connect()
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            await self.disconnect()
        except SMTPError:
            if exc_type is None:
                raise
