"""``smtpx.aio.AsyncSMTP``: the asyncio facade. Same properties, config settings, events,
message composition, SessionSettings builder and engine as ``smtpx.SMTP``; methods are
coroutines. See docs/async.md.

What is shared, not copied: everything in ``smtpx.facade.base.FacadeBase``, which both facades
inherit (properties, config(), state properties, events, option refresh, the halves of opening
and sending around the I/O, send_batch's prepare and finish halves), and below it
``session_settings``, ``compose_message`` and the engine. This class only adds what differs:
``await`` and asyncio's way of running one method at a time: coroutines calling methods on one
client concurrently take turns (an ``asyncio.Lock``, first come first served), where the sync
facade, used from a second thread, raises SMTPBusyError.
"""
from __future__ import annotations

import asyncio
import inspect
from contextlib import asynccontextmanager
from email.message import Message
from typing import Any, AsyncIterator, Iterable, Optional

from smtpx.facade.batch import BatchMessage, signed_item
from smtpx.message.compose import ComposedMessage, compose_message
from smtpx.engine import Content, Envelope, SendResult
from smtpx.enums import SSLStartMode
from smtpx.errors import SMTPBusyError, SMTPError, SMTPInputError, SMTPInterrupted, SMTPNotConnectedError
from smtpx.events import EVENT_NAMES
from smtpx.facade.base import FacadeBase
from smtpx.kernels import Reply
from smtpx.queue.files import QUEUE_WINDOW, QueueRun, queue_text
from smtpx.queue.runner import Items, Outcomes
from smtpx.message.email_message import email_message
from smtpx.message.raw import raw_message
from smtpx.validators import check_text
from smtpx.session import effective_start_mode

from smtpx.aio.handshake import NO_SESSION_REUSE
from smtpx.aio.interrupt import Interrupter, MethodRun
from smtpx.aio.queue_run import run_queue, write_in_thread
from smtpx.session.aio import AsyncSession

__all__ = ["AsyncSMTP"]


class AsyncSMTP(FacadeBase):
    """An asyncio SMTP client with smtpx.SMTP's properties, config settings and events.

    One method runs at a time: coroutines that call methods on one client concurrently (e.g.
    ``asyncio.gather(client.send_raw(...), client.send_raw(...))``) wait for their turn, in
    the order they called, and each gets its own result. (Only a call from another event loop
    while one runs raises SMTPBusyError, 166.) Many AsyncSMTP objects share one event loop.
    ``interrupt()``, from any thread, aborts the running method with SMTPInterrupted (301);
    ``disconnect()`` from another task does the same and closes the connection; cancelling the
    task aborts it with CancelledError. Either way the connection is dropped and the object
    stays usable.
    """

    _display_name = "AsyncSMTP"
    _repr_name = "smtpx.aio.AsyncSMTP"
    _session: Optional[AsyncSession]

    def __init__(self, **properties: Any) -> None:
        self._interrupter = Interrupter()
        self._operation = _AsyncOperation(self)  # ``async with self._operation:`` around every method
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
        """False while a method is running or waiting for its turn."""
        return not self._operation.running and self._operation.turns == 0

    async def _open(self) -> None:
        self._check_not_connected()
        settings = self._new_settings(resolved_token=await self._async_token())
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

    async def _async_token(self) -> str | None:
        """An ``async def`` token_provider, awaited once per connection (the engine, which runs
        AUTH, cannot await); a sync one is called at each authentication as on SMTP."""
        provider = self.token_provider
        if provider is None or not inspect.iscoroutinefunction(provider):
            return None
        token = await provider()
        if not isinstance(token, str):
            raise SMTPInputError(f"token_provider must return the OAuth token as a str, not {type(token).__name__}")
        return token

    async def _close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close(quit=True)

    def _require_session(self) -> AsyncSession:
        session: AsyncSession | None = self._live_session()  # the idle check (FAULTS 11)
        if session is None:
            raise SMTPNotConnectedError("You need to connect first.", 1117)
        return session

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[AsyncSession]:
        """The open connection, or a new one that is closed again afterwards."""
        live: AsyncSession | None = self._live_session()  # the idle check (FAULTS 11)
        if live is not None:
            self._refresh_options(live)  # config() changes apply to the next method
            yield live
            return
        await self._open()
        assert self._session is not None
        try:
            yield self._session
        except asyncio.CancelledError:
            await self._drop()  # cancelled or interrupted: no QUIT, its state is unknown
            raise
        finally:
            await self._close()

    async def _drop(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close(quit=False)

    # ============================================================================ methods
    async def connect(self) -> None:
        """Connect to mail_server, greet (EHLO/HELO), start TLS and authenticate as set."""
        async with self._operation:
            await self._open()

    async def disconnect(self) -> None:
        """QUIT (when the connection is still good) and close. Does nothing when not connected.

        While another task's method runs on this client (a send, say), disconnect() ends it:
        that method raises SMTPInterrupted (301) saying so, the connection is dropped at once
        (no QUIT: the server is in the middle of a command), and the client stays usable
        (connect() or send() again). Methods still waiting for their turn are not affected."""
        if self._operation.running:
            self._interrupter.request("Operation interrupted: disconnect() was called while this method "
                                      "ran; the connection was closed without QUIT.")
        async with self._operation:
            await self._close()

    async def reset(self) -> None:
        """Disconnect, and put every property and config setting back to its default."""
        async with self._operation:
            await self._close()
            self._init_state()

    async def send(self) -> SendResult:
        """Compose the message from the properties and send it (connecting when needed, then
        disconnecting; an open connection is kept). Returns a SendResult."""
        async with self._operation:
            return await self._send("MAIL")

    async def send_to_terminal_and_email(self) -> SendResult:
        """SAML FROM."""
        async with self._operation:
            return await self._send("SAML")

    async def send_to_terminal_only(self) -> SendResult:
        """SEND FROM."""
        async with self._operation:
            return await self._send("SEND")

    async def send_to_terminal_or_email(self) -> SendResult:
        """SOML FROM."""
        async with self._operation:
            return await self._send("SOML")

    async def _send(self, verb: str) -> SendResult:
        composed = self._check_send(verb)
        session = self._live_session() if composed is None else None
        if session is not None:  # connected (a loop of send()): no context managers, as SMTP._send
            self._refresh_options(session)
            message, (envelope, content) = self._connected_send(session, verb)
            try:
                sent: SendResult = await session.run(session.engine.send_mail(envelope, content, self._make_ahead))
            finally:
                self._sent(message)
            return sent
        async with self._connection() as session:
            with self._outgoing_message(session, verb, composed) as message:
                result: SendResult = await session.run(session.engine.send_mail(
                    *signed_item(self.dkim, (message.envelope, message.content()))))
                return result

    async def send_raw(self, mail_from: str, recipients: Iterable[str] | str, message: bytes) -> SendResult:
        """Send ``message`` (headers, empty line, body; not dot-stuffed) exactly as given to this
        envelope, without touching the message properties (as smtpx.SMTP.send_raw)."""
        async with self._operation:
            self._require_mail_server()
            return await self._send_item(raw_message(mail_from, recipients, message, "send_raw"))

    async def send_message(self, msg: Message, from_addr: str | None = None,
                           to_addrs: str | Iterable[str] | None = None, mail_options: Iterable[str] = (),
                           rcpt_options: Iterable[str] = ()) -> SendResult:
        """Send an ``email.message.EmailMessage`` with smtplib's send_message rules (as
        smtpx.SMTP.send_message): the envelope from its headers unless given, Bcc not sent."""
        async with self._operation:
            self._require_mail_server()
            return await self._send_item(email_message(msg, from_addr, to_addrs, mail_options, rcpt_options))

    async def _send_item(self, item: tuple[Envelope, Content]) -> SendResult:
        envelope, content = signed_item(self.dkim, item)  # DKIM first, before any connection
        live: AsyncSession | None = self._live_session()  # the idle check (FAULTS 11)
        if live is not None:  # a loop of sends on an open connection: no context manager
            self._refresh_options(live)
            sent: SendResult = await live.run(live.engine.send_mail(envelope, content))
            return sent
        async with self._connection() as session:
            result: SendResult = await session.run(session.engine.send_mail(envelope, content))
            return result

    async def compose(self) -> ComposedMessage:
        """The message the properties describe now, for ``send_batch`` (as smtpx.SMTP.compose)."""
        async with self._operation:
            return self._compose_now()

    async def send_batch(self, messages: Iterable[BatchMessage], *, window: int = 32) -> list[SendResult | SMTPError]:
        """Many messages on one connection, pipelined across transactions (the engine's
        send_batch), with smtpx.SMTP.send_batch's contract: each message is
        ``(mail_from, recipients, message_bytes)`` or a ComposedMessage from ``compose()``; one
        SendResult or per-message SMTPError per message, in order (errors also fire on_error);
        a session failure raises with ``.results`` and ``.unsent``."""
        async with self._operation:
            batch = self._prepare_batch(messages, window)
            with batch:
                if batch.has_items:
                    async with self._connection() as session:
                        batch.sent(await session.run(batch.operation(session.engine)))
            return self._finish_batch(batch)

    async def do_events(self) -> None:
        """As smtpx.SMTP.do_events: without waiting, check an idle open connection; when the
        server closed it or sent something nobody asked for (an idle-timeout 421), drop it
        (a reply also fires on_error). Nothing is raised. Does nothing while a method runs."""
        if not self.idle or self._session is None:
            return
        session = self._session
        error = session.check_idle()
        if not session.alive:
            await session.close(quit=False)
            self._session = None
        self._report_idle_error(error)

    async def send_command(self, command: str) -> Reply:
        """Send ``command`` as given (CR, LF and NUL refused); returns the Reply."""
        async with self._operation:
            check_text(command, "command")
            session = self._require_session()
            reply: Reply = await session.run(session.engine.command(command))
            if command.strip().upper() == "QUIT":
                await session.close(quit=False)
            return reply

    async def verify(self, email_address: str) -> Reply:
        """VRFY: returns the Reply (also in last_reply)."""
        async with self._operation:
            check_text(email_address, "email_address")
            async with self._connection() as session:
                verified: Reply = await session.run(session.engine.verify(email_address))
                return verified

    async def expand(self, email_address: str) -> list[str]:
        """EXPN: one on_expand event per address; the addresses are also returned."""
        async with self._operation:
            check_text(email_address, "email_address")
            async with self._connection() as session:
                expansion = await session.run(session.engine.expand(email_address))
            return self._report_expansion(expansion)

    # ============================================================================ interrupt, queue
    def interrupt(self) -> None:
        """From any thread (the loop's own included): abort the running method, which raises
        SMTPInterrupted (301). The connection is dropped (its state is unknown); the object
        stays usable. Does nothing when no method runs, or when the method finishes before the
        loop gets to the interrupt. Methods waiting for their turn are not affected."""
        self._interrupter.request()

    async def queue(self, queue_dir: str) -> str:
        """As smtpx.SMTP.queue: write the message the properties describe (envelope and
        content) to a new ``*.queued`` file in queue_dir, atomically, and return its path;
        ``queue("*")`` returns the queue file's text instead. The file is written in a worker
        thread (it fsyncs). Cancelled or interrupted: no file is left behind."""
        async with self._operation:
            message = compose_message(self._message_spec())  # as the sync facade: any server can take the file
            if queue_dir == "*":
                return await asyncio.get_running_loop().run_in_executor(None, queue_text, message)
            return await write_in_thread(queue_dir, message)

    async def process_queue(self, queue_dir: str) -> QueueRun:
        """As smtpx.SMTP.process_queue, the same run (smtpx.queue.runner): every ``*.queued``
        file in queue_dir over one connection, pipelined across files in windows through the
        engine's send_batch, each file committed from its own outcome, and the ``*.sending``
        files a dead run left behind recovered; the file work (claim, commit: flock, renames,
        fsync) in worker threads. A file that is refused becomes ``*.failed`` and fires
        on_error; the run goes on. A session failure parks the files whose delivery is unknown
        as ``*.failed`` and sends the rest again on a new connection when the failed window
        settled at least one file; otherwise, and when connecting fails, the run stops, raising
        the error with ``.queue_run``. Returns a QueueRun. interrupt() (SMTPInterrupted) or
        cancelling the task stops the run: the files not yet settled stay ``*.sending`` and
        the next run sends them."""
        async with self._operation:
            self._require_mail_server()
            opened = False

            async def send(items: Items) -> Outcomes:
                nonlocal opened
                session = self._session
                if session is None or not session.alive:
                    await self._drop()
                    await self._open()
                    opened = True
                    session = self._session
                    assert session is not None
                else:
                    self._refresh_options(session)
                outcomes: Outcomes = await session.run(session.engine.send_batch(items, window=QUEUE_WINDOW))
                return outcomes

            cancelled = False
            try:
                return await run_queue(queue_dir, send, keep_queue=self._config.value("KeepQueue"),
                                       on_error=self._queue_error_handler(), dkim=self.dkim)
            except asyncio.CancelledError:
                cancelled = True
                raise
            finally:
                if opened:
                    await (self._drop() if cancelled else self._close())

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


class _AsyncOperation:
    """``async with client._operation:`` around every AsyncSMTP method, one per client, made
    once (a loop of sends makes no object for it):

    - the client's turn: one method at a time, waiting callers served in call order (an
      ``asyncio.Lock`` made for the loop of the first caller and dropped when nobody holds or
      waits for it, so that one client can be used from one asyncio.run() after another; a
      call from another loop while one runs raises SMTPBusyError);
    - one absolute-timeout deadline per method;
    - interrupt()'s cancellation turned into SMTPInterrupted (a user's cancel stays a
      CancelledError), a failure logged;
    - a connection left in an unknown state (I/O error, timeout, cancellation, interrupt)
      dropped afterwards.

    The state of the method holding the turn (its MethodRun) is kept here: only one holds it."""

    __slots__ = ("_owner", "turns", "_lock", "_loop", "_run")

    def __init__(self, owner: AsyncSMTP) -> None:
        self._owner = owner
        self.turns = 0  # methods running or waiting for their turn
        self._lock: Optional[asyncio.Lock] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._run: Optional[MethodRun] = None  # the method holding the turn

    @property
    def running(self) -> bool:
        """A method holds the turn."""
        return self._run is not None

    def _turn_lock(self) -> asyncio.Lock:
        """The lock that gives the turns on this loop (counted in ``turns`` by the caller)."""
        loop = asyncio.get_running_loop()
        if self.turns == 0 or self._lock is None:
            self._lock, self._loop = asyncio.Lock(), loop
        elif self._loop is not loop:
            raise SMTPBusyError("Busy executing current method (on another event loop).", 166)
        return self._lock

    async def __aenter__(self) -> None:
        lock = self._turn_lock()
        self.turns += 1
        try:
            await lock.acquire()  # cancelled while waiting: nothing held, nothing to undo
        except BaseException:
            self.turns -= 1
            raise
        owner = self._owner
        self._run = owner._interrupter.begin()
        session = owner._session
        if session is not None and session.stream is not None:
            session.stream.begin_operation()

    async def __aexit__(self, exc_type: Any, exc: Optional[BaseException], tb: Any) -> None:
        owner, run = self._owner, self._run
        assert run is not None and self._lock is not None  # __aenter__ took the turn
        interrupted: Optional[SMTPInterrupted] = None
        try:
            try:
                # Only interrupt()'s own cancellation is converted; a user's cancel (alone or
                # as well) stays a CancelledError.
                if isinstance(exc, asyncio.CancelledError) and run.interrupted and run.take_back() == 0:
                    interrupted = SMTPInterrupted(run.reason or "Operation interrupted.", 301)
                failure = interrupted if interrupted is not None else exc
                if isinstance(failure, SMTPError):
                    owner._log.failed(failure)  # a WARNING record (docs/logging.md)
            finally:
                owner._interrupter.end(run)
                if run.interrupted:
                    run.take_back()  # a cancellation that something swallowed must not linger
                session = owner._session
                if session is not None:
                    if session.stream is not None:
                        session.stream.end_operation()
                    if run.interrupted or not session.alive:
                        await session.close(quit=False)  # no await inside: it aborts
                        owner._session = None
        finally:
            self._run = None
            self._lock.release()
            self.turns -= 1
            if self.turns == 0:
                self._lock = self._loop = None
        if interrupted is not None:
            raise interrupted from None
