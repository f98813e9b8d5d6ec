"""``smtpx.aio.AsyncSMTP``: the asyncio facade. Same properties, config settings, events,
message composition, SessionSettings builder and engine as ``smtpx.SMTP``; methods are
coroutines. See docs/async.md.

What is shared, not copied: the MessageProperties and ConnectionProperties mixins, ConfigStore,
``session_settings`` (properties + config -> SessionSettings), ``compose_message``, the engine,
the sync facade's event sink and TLS hooks, and the sync facade's own implementations of
``config()``, ``last_reply``, ``ssl_server_cert``, ``connected`` and of its event helpers
(borrowed below, so both classes behave the same by construction).
"""
from __future__ import annotations

import inspect
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Iterable, Optional

from smtpx import events as ev
from smtpx.compose import ComposedMessage, compose_message
from smtpx.connection_properties import ConnectionProperties, check_text
from smtpx.engine import Content, Envelope, SendResult
from smtpx.errors import SMTPBusyError, SMTPError, SMTPInputError, SMTPNotConnectedError, SMTPNotSupportedError
from smtpx.enums import SSLStartMode
from smtpx.events import EVENT_NAMES
from smtpx.kernels import Reply
from smtpx.message_properties import MessageProperties
from smtpx.session import effective_start_mode
from smtpx.session_settings import session_settings
from smtpx.smtp import SMTP, BatchMessage, _EventSink, _raw_message, _remap_batch_error, _TLSHooks

from .session import AsyncSession

__all__ = ["AsyncSMTP"]


class AsyncSMTP(MessageProperties, ConnectionProperties):
    """An asyncio SMTP client with smtpx.SMTP's properties, config settings and events.

    Use one AsyncSMTP per task (one method at a time: a second call while one runs raises
    SMTPBusyError, 166). Many AsyncSMTP objects share one event loop. Cancel the task to
    abort a method: the connection is dropped and the object stays usable.
    """

    # ------------------------------------------------------------- shared with smtpx.SMTP
    # The sync facade's implementations, used as they are: they only touch the state both
    # classes keep (_config, _session.alive/.engine/.stream, _reply_engine, _tls_info, ...).
    _init_state = SMTP._init_state
    _is_settable = SMTP.__dict__["_is_settable"]
    _fire = SMTP._fire
    _trail = SMTP._trail
    _status = SMTP._status
    _capture_tls = SMTP._capture_tls
    _local_address = SMTP._local_address
    _refresh_options = SMTP._refresh_options
    _PER_METHOD_OPTIONS = SMTP._PER_METHOD_OPTIONS
    _batch_item = SMTP.__dict__["_batch_item"]
    config = SMTP.config
    connected = SMTP.__dict__["connected"]
    last_reply = SMTP.__dict__["last_reply"]
    ssl_server_cert = SMTP.__dict__["ssl_server_cert"]

    on_connection_status: Any
    on_end_transfer: Any
    on_error: Any
    on_expand: Any
    on_pi_trail: Any
    on_ssl_server_authentication: Any
    on_ssl_status: Any
    on_start_transfer: Any
    on_transfer: Any

    def __init__(self, **properties: Any) -> None:
        self._running = False
        self._session: Optional[AsyncSession] = None
        self._sink = _EventSink(self)  # type: ignore[arg-type]
        self._hooks = _TLSHooks(self)  # type: ignore[arg-type]
        for name in EVENT_NAMES:
            setattr(self, name, None)
        self._init_state()
        for name, value in properties.items():
            if name in EVENT_NAMES or self._is_settable(name):
                setattr(self, name, value)
            else:
                raise SMTPInputError(f"AsyncSMTP() got an unknown property {name!r}")

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
        if self.connected:
            raise SMTPInputError("Already connected. If you want to reconnect, close the current connection first.", 104)
        settings = session_settings(self, self._config)  # 163, bad settings: nothing sent
        if self._config.value("ReuseSSLSession") and \
                effective_start_mode(settings.start_mode, settings.port) != SSLStartMode.NONE:
            raise NotImplementedError(
                "ReuseSSLSession is not available with AsyncSMTP: asyncio's start_tls takes no TLS "
                "session to resume; turn ReuseSSLSession off or use smtpx.SMTP")
        self._ssl_server_cert = None
        self._tls_info = None
        session = AsyncSession(settings, self._sink, self._hooks, self._status)
        self._session = session
        self._last_reply = self.last_reply
        try:
            await session.open()
        finally:
            self._reply_engine = session.engine
            self._capture_tls(session)  # type: ignore[arg-type]
            if not session.alive:
                self._session = None

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
        if verb != "MAIL" and not self._allow_extensions:
            raise SMTPNotSupportedError(f"{verb} FROM needs allow_extensions True, as the reference says")
        if not self._mail_server:
            raise SMTPInputError("Please specify a MailServer.", 163)
        if not self.connected:
            compose_message(self, verb=verb)  # 164 / 165 / bad input: raised before connecting
        async with self._connection() as session:
            message = compose_message(self, server_8bitmime=session.engine.capabilities.has("8BITMIME"), verb=verb)
            try:
                return await session.run(session.engine.send_mail(message.envelope, message.content()))
            finally:
                self._last_headers_string = message.headers_string
                self._last_transfer_text = message.transfer_text or ""
                message.close()

    async def send_raw(self, mail_from: str, recipients: Iterable[str] | str, message: bytes) -> SendResult:
        """Send ``message`` (headers, empty line, body; not dot-stuffed) exactly as given to this
        envelope, without touching the message properties (as smtpx.SMTP.send_raw)."""
        async with self._operation():
            if not self._mail_server:
                raise SMTPInputError("Please specify a MailServer.", 163)
            envelope, content = _raw_message(mail_from, recipients, message, "send_raw")
            async with self._connection() as session:
                return await session.run(session.engine.send_mail(envelope, content))

    async def compose(self) -> ComposedMessage:
        """The message the properties describe now, for ``send_batch`` (as smtpx.SMTP.compose)."""
        async with self._operation():
            session = self._session
            eight = session.engine.capabilities.has("8BITMIME") if session is not None and session.alive else None
            return compose_message(self, server_8bitmime=eight)

    async def send_batch(self, messages: Iterable[BatchMessage], *, window: int = 32) -> list[SendResult | SMTPError]:
        """Many messages on one connection, pipelined across transactions (the engine's
        send_batch), with smtpx.SMTP.send_batch's contract: each message is
        ``(mail_from, recipients, message_bytes)`` or a ComposedMessage from ``compose()``; one
        SendResult or per-message SMTPError per message, in order (errors also fire on_error);
        a session failure raises with ``.results`` and ``.unsent``."""
        async with self._operation():
            if not self._mail_server:
                raise SMTPInputError("Please specify a MailServer.", 163)
            if isinstance(window, bool) or not isinstance(window, int) or window < 1:
                raise SMTPInputError(f"send_batch: window must be a whole number >= 1, not {window!r}")
            if isinstance(messages, (str, bytes, ComposedMessage)) or (
                    isinstance(messages, tuple) and len(messages) == 3 and isinstance(messages[0], str)):
                raise SMTPInputError("send_batch takes a list of messages, not one message")
            results: list[Any] = []
            items: list[tuple[Envelope, Content]] = []
            positions: list[int] = []
            composed: list[ComposedMessage] = []
            for index, message in enumerate(messages):
                results.append(None)
                try:
                    items.append(self._batch_item(message, index, composed))
                    positions.append(index)
                except SMTPInputError as error:
                    results[index] = error
            try:
                if items:
                    async with self._connection() as session:
                        try:
                            outcomes = await session.run(session.engine.send_batch(items, window=window))
                        except SMTPError as error:
                            _remap_batch_error(error, results, positions)
                            raise
                    for position, outcome in zip(positions, outcomes):
                        results[position] = outcome
            finally:
                for composed_message in composed:
                    composed_message.close()
            for outcome in results:
                if isinstance(outcome, SMTPError):
                    self._fire("on_error", ev.ErrorEvent(outcome.code, outcome.description))
            return results

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
        if error is not None:
            self._fire("on_error", ev.ErrorEvent(error.code or 0, error.description))

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

    def __repr__(self) -> str:
        state = "connected" if self.connected else "not connected"
        return f"<smtpx.aio.AsyncSMTP {self._mail_server or '(no server)'}:{self._mail_port} {state}>"
