"""``smtpx.SMTP``: the facade. It holds the properties, fires the events and runs methods; the
protocol lives in the engine, the connection in the Session, the message in compose.

Rules this class keeps (see docs/internals.md and the class reference):

- One method at a time: a second call while one runs (from another thread, or from inside an
  event handler) raises SMTPBusyError (166). ``interrupt()`` from another thread aborts the
  running method with SMTPInterrupted (301); the connection is dropped, the object stays usable.
- ``connected``, ``idle`` and ``last_reply`` always say what is true: any error that leaves
  the connection in an unknown state (421, I/O error, timeout, interrupt) drops it.
- ``send()`` connects when needed and then disconnects; with an open connection it keeps it.
- Events: ``smtp.on_<event> = handler``; each handler gets one smtpx.events dataclass.
- Constructor keyword arguments set any property or event handler; ``with SMTP(...) as s:``
  connects on enter and disconnects on exit.
"""
from __future__ import annotations

import threading
from email.message import Message
from contextlib import contextmanager
from typing import Any, Generator, Iterable, Iterator

from smtpx.facade.batch import BatchMessage, signed_item
from smtpx.message.compose import ComposedMessage, compose_message
from smtpx.engine import Content, Envelope, SendResult
from smtpx.errors import (
    SMTPBusyError,
    SMTPError,
    SMTPInputError,
    SMTPNotConnectedError,
    SMTPServiceClosing,
)
from smtpx.facade.base import FacadeBase
from smtpx.facade.session_settings import _mechanism, tls_settings
from smtpx.kernels import Reply
from smtpx.queue.files import QUEUE_WINDOW, QueueRun, queue_text, write_queue_file
from smtpx.queue.runner import Items, Outcomes, queue_run, run_here
from smtpx.message.email_message import PreparedMessage, email_message
from smtpx.message.raw import raw_message
from smtpx.validators import check_text
from smtpx.session.core import as_call
from smtpx.session.settings import local_name
from smtpx.session.sync import InterruptFlag, Session, blocking_read, drive
from smtpx.transport.stream import SyncStream

__all__ = ["SMTP"]


class SMTP(FacadeBase):
    """An SMTP client with the reference's properties, methods, events and config settings."""

    _display_name = "SMTP"
    _repr_name = "smtpx.SMTP"
    _session: Session | None
    # send_raw and send_message open a connection of their own when none is open, as send()
    # does. smtpx.smtplib turns it off for its client: smtplib never reconnects, and a new
    # connection would lack the program's STARTTLS and login.
    _connects_to_send = True

    def __init__(self, **properties: Any) -> None:
        self._busy = threading.Lock()
        self._interrupt_lock = threading.RLock()  # RLock: a handler fired under it may call interrupt()
        self._interrupt_flag = InterruptFlag()
        self._operation = _Operation(self)
        super().__init__(**properties)

    # ============================================================================== plumbing
    # Every method runs inside ``with self._operation:`` (_Operation, below: one per SMTP).

    def _open(self) -> None:
        """Connect and get the session ready (greeting, hello, TLS, AUTH)."""
        self._check_not_connected()
        if self._tls_info is not None:
            self._previous_tls = (self._tls_host, self._tls_info)
        previous = self._previous_tls
        reuse = previous[1] if previous is not None and previous[0] == self.mail_server else None
        settings = self._new_settings(reuse)
        self._ssl_server_cert = None  # the reference: reset every time a connection is attempted
        self._tls_info = None
        session = Session(settings, self._sink, self._hooks, self._status, self._interrupt_flag)
        self._attach(session)
        try:
            session.open()
        finally:
            self._opened(session)

    def _close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            session.close(quit=True)

    def _require_session(self) -> Session:
        session: Session | None = self._live_session()
        if session is None:
            raise SMTPNotConnectedError("You need to connect first.", 1117)
        return session

    @contextmanager
    def _connection(self) -> Iterator[Session]:
        """The open connection, or a new one that is closed again afterwards."""
        live = self._live_session()
        if live is not None:
            self._refresh_options(live)  # config() changes apply to the next method
            yield live
            return
        self._open()
        assert self._session is not None
        try:
            yield self._session
        finally:
            self._close()

    # ============================================================================== state
    @property
    def idle(self) -> bool:
        """False while a method is running."""
        return not self._busy.locked()

    # ============================================================================== methods
    def connect(self) -> None:
        """Connect to mail_server, greet (EHLO/HELO), start TLS and authenticate as set."""
        with self._operation:
            self._open()

    def disconnect(self, *, quit: bool = True) -> None:
        """QUIT (when the connection is still good) and close. Does nothing when not connected.
        Python extra: ``quit=False`` closes without QUIT (smtplib's ``close()``)."""
        with self._operation:
            if quit:
                self._close()
                return
            session, self._session = self._session, None
            if session is not None:
                session.close(quit=False)

    def do_events(self) -> None:
        """Events fire synchronously in smtpx, so there is never a backlog: this returns at
        once. It also checks, without blocking, an idle open connection: when the server has
        closed it, or sent a reply nobody asked for (an idle-timeout 421), the connection is
        dropped (on_connection_status "Remote host disconnected"; ``connected`` becomes False;
        a 421 stays in last_reply) and a reply fires on_error. Nothing is raised."""
        if not self._busy.acquire(blocking=False):
            return  # called from an event handler, or while a method runs: nothing to do
        try:
            session = self._session
            if session is None:
                return
            error = session.check_idle()
            if not session.alive:
                self._session = None
            self._report_idle_error(error)
        finally:
            self._busy.release()

    def expand(self, email_address: str) -> list[str]:
        """EXPN: one on_expand event per address the server returns; the addresses are also
        returned as a list."""
        with self._operation:
            check_text(email_address, "email_address")
            with self._connection() as session:
                expansion = session.run(session.engine.expand(email_address))
            return self._report_expansion(expansion)

    def interrupt(self) -> None:
        """From another thread: abort the running method (SMTPInterrupted, code 301). The
        connection is dropped; the object stays usable. Does nothing when idle."""
        with self._interrupt_lock:
            if self.idle:
                return
            self._interrupt_flag.raised = True
            session = self._session
            if session is not None:
                session.interrupt()

    def reset(self) -> None:
        """Disconnect, and put every property and config setting back to its default."""
        with self._operation:
            self._close()
            self._init_state()

    def send(self) -> SendResult:
        """Send the message; returns a SendResult (accepted and refused recipients)."""
        with self._operation:
            return self._send("MAIL")

    def send_to_terminal_and_email(self) -> SendResult:
        """SAML FROM: deliver to the users' terminals and mailboxes."""
        with self._operation:
            return self._send("SAML")

    def send_to_terminal_only(self) -> SendResult:
        """SEND FROM: deliver to the users' terminals only."""
        with self._operation:
            return self._send("SEND")

    def send_to_terminal_or_email(self) -> SendResult:
        """SOML FROM: deliver to the terminal when the user is there, else to the mailbox."""
        with self._operation:
            return self._send("SOML")

    def _send(self, verb: str) -> SendResult:
        composed = self._check_send(verb)
        session = self._live_session() if composed is None else None
        if session is not None:  # connected (the common case of a loop of send()): no context managers
            self._refresh_options(session)
            message, (envelope, content) = self._connected_send(session, verb)
            try:
                sent: SendResult = session.run(session.engine.send_mail(envelope, content, self._make_ahead))
            finally:
                self._sent(message)
            return sent
        with self._connection() as session, self._outgoing_message(session, verb, composed) as message:
            result: SendResult = session.run(session.engine.send_mail(
                *signed_item(self.dkim, (message.envelope, message.content()))))
            return result

    def send_raw(self, mail_from: str, recipients: Iterable[str], message: bytes, *,
                 mail_options: Iterable[str] = (), rcpt_options: Iterable[str] = ()) -> SendResult:
        """Python extra (like smtplib's sendmail): send ``message`` (headers, empty line, body;
        not dot-stuffed) exactly as given, to this envelope, without touching the message
        properties. Addresses are parsed strictly ("Name <a@b>" or "a@b"; "<>" is the null
        sender). ``mail_options`` may ask for SMTPUTF8 and BODY=8BITMIME (smtpx sets SIZE and
        BODY itself; other MAIL parameters are refused); ``rcpt_options`` (e.g.
        ``NOTIFY=SUCCESS,FAILURE``) go on every RCPT, as send_message's. Connects and
        disconnects like send(); StopOn*Errors and on_error apply."""

        with self._operation:
            self._require_mail_server()
            if not mail_options and not rcpt_options:
                return self._send_item(raw_message(mail_from, recipients, message, "send_raw"))
            return self._send_item(_with_options(mail_from, recipients, message, mail_options, rcpt_options))

    def send_message(self, msg: Message, from_addr: str | None = None, to_addrs: str | Iterable[str] | None = None,
                     mail_options: Iterable[str] = (), rcpt_options: Iterable[str] = ()) -> SendResult:
        """Python extra, smtplib's ``send_message``: send an ``email.message.EmailMessage``
        (or ``Message``). The envelope comes from Sender/From and To/Cc/Bcc (or the one
        Resent-* block), unless ``from_addr`` / ``to_addrs`` are given; Bcc and Resent-Bcc are
        not sent; line ends are CRLF whatever the message's policy; SMTPUTF8 is asked for when
        an address needs it. ``rcpt_options`` go on every RCPT. Returns a SendResult (per
        recipient); bad input raises SMTPInputError before anything is written
        (docs/email-message.md). Connects and disconnects like send()."""
        with self._operation:
            self._require_mail_server()
            return self._send_item(email_message(msg, from_addr, to_addrs, mail_options, rcpt_options))

    def _send_item(self, item: tuple[Envelope, Content]) -> SendResult:
        """send_raw / send_message: one engine send_mail on the open connection (no context
        manager on this, the hot path of a loop of sends), or on a new one closed after. DKIM
        signing (the dkim property) happens first, before any connection."""
        envelope, content = signed_item(self.dkim, item)
        live = self._live_session()
        if live is not None:
            self._refresh_options(live)
            sent: SendResult = live.run(live.engine.send_mail(envelope, content))
            return sent
        if not self._connects_to_send:
            raise SMTPNotConnectedError("Connection unexpectedly closed", 1117)
        with self._connection() as session:
            result: SendResult = session.run(session.engine.send_mail(envelope, content))
            return result

    def compose(self) -> ComposedMessage:
        """Python extra: the message the properties describe now (envelope, headers, body), as
        a ComposedMessage for ``send_batch``; later property changes do not touch it. While
        connected, the body's encoding follows the server's 8BITMIME; otherwise it takes the
        form any server accepts. Bad input raises here (nothing is sent)."""
        with self._operation:
            return self._compose_now()

    def send_batch(self, messages: Iterable[BatchMessage], *, window: int = 32) -> list[SendResult | SMTPError]:
        """Python extra, the bulk path: send many messages over one connection, pipelined
        across transactions when the server offers PIPELINING (smtpx.engine's send_batch).
        Each message is ``(mail_from, recipients, message_bytes)`` as for send_raw, an
        ``email.message.EmailMessage`` as for send_message, or a ComposedMessage from
        ``compose()``.

        Returns one entry per message, in order: its SendResult, or the SMTPError that send_raw
        would have raised for it (refused sender or recipients, refused data, bad input, too
        large...). Those are returned, not raised, and each fires on_error. A session failure
        (421, connection lost, timeout, interrupt) raises, with ``.results`` (per message: the
        outcome when known, ``None`` when certainly not delivered, SMTPConnectionDropped with
        ``delivery_unknown`` when its end of data went out without a reply) and ``.unsent`` (the
        indexes that are safe to send again; the messages never reached are checked only when
        sent, so they are None there too). Connects and disconnects like send()."""
        return drive(self._batch_steps(messages, window), blocking_read)

    def _batch_steps(self, messages: Iterable[BatchMessage], window: int
                     ) -> Generator[SyncStream, bytes, list[SendResult | SMTPError]]:
        """send_batch as steps that yield the stream they wait on (Session.stream_steps):
        send_batch drives them with blocking reads, SMTPPool with many connections' at once
        (smtpx.session.multiplex). Everything else happens in here, as for any method."""
        with self._operation:
            batch = self._prepare_batch(messages, window)
            with batch:
                if batch.has_items:
                    with self._connection() as session:
                        batch.sent((yield from session.stream_steps(batch.operation(session.engine))))
            return self._finish_batch(batch)

    def send_command(self, command: str) -> Reply:
        """Send ``command`` as given (CR, LF and NUL refused); sets last_reply; returns the Reply."""
        with self._operation:
            check_text(command, "command")
            session = self._require_session()
            reply: Reply = session.run(session.engine.command(command))
            if command.strip().upper() == "QUIT":
                session.close(quit=False)  # the server ends the session after QUIT
            return reply

    # ---------------------------------------------------------------- steps on an open connection
    # Python extras for smtplib's step-by-step style (smtpx.smtplib): each runs one step on the
    # connection connect() opened, and raises SMTPNotConnectedError without one.
    def hello(self, name: str = "", *, helo: bool = False) -> Reply:
        """EHLO again on the open connection (HELO with ``helo=True``, or when allow_extensions
        is False, or when the server refuses EHLO with 5xx); ``name`` defaults to the Hello
        setting or this host's name. What the server offers is renewed (``hello_reply``)."""
        with self._operation:
            check_text(name, "name")
            session = self._require_session()
            options = session.engine.options
            extensions = options.allow_extensions
            options.allow_extensions = extensions and not helo
            try:
                reply: Reply = session.run(session.engine.hello(name or self._hello_name(session)))
            finally:
                options.allow_extensions = extensions
            session.hello_reply = reply
            return reply

    def starttls(self) -> Reply:
        """STARTTLS on a connection opened without TLS, the handshake with this object's TLS
        settings (ssl_context, SSLServerCACerts, ...), then EHLO again as RFC 3207 requires
        (its reply in ``hello_reply``). Returns the server's reply to STARTTLS (220). A server
        that does not offer STARTTLS, refuses it or fails the handshake raises SMTPTLSError and
        the connection is dropped (nothing more is sent in plaintext)."""
        with self._operation:
            session = self._require_session()
            self._refresh_options(session)
            session.prepare_starttls(tls_settings(self, self._config))
            try:
                return session.run(self._upgrade(session, self._hello_name(session)))
            finally:
                self._capture_tls(session)

    @staticmethod
    def _upgrade(session: Session, name: str) -> Generator[Any, Any, Reply]:
        engine = session.engine
        yield from engine.starttls()
        reply = engine.last_reply  # the 220 (starttls() returns nothing)
        session.hello_reply = yield from engine.hello(name)
        assert reply is not None
        return reply

    def authenticate(self) -> Reply:
        """AUTH on the open connection with user, password and auth_mechanism (as connect()
        does when user is set); the rules of smtpx.engine.auth apply (the mechanism must be
        offered; PLAIN and LOGIN only over TLS unless AllowPlaintextAuth). Returns the 235
        reply; a refusal raises SMTPAuthError and keeps the connection."""
        with self._operation:
            session = self._require_session()
            self._refresh_options(session)
            factory = _mechanism(self, self._config)
            if factory is None:
                raise SMTPInputError("authenticate() needs user and password to be set")
            engine = session.engine
            mechanism = factory(engine.capabilities.auth_mechanisms, engine.tls_active)
            reply: Reply = session.run(session.engine.authenticate(mechanism))
            self._log.authenticated(mechanism.name)
            return reply

    def _hello_name(self, session: Session) -> str:
        name: str = self._config.value("Hello")
        return name or local_name(session.stream.local_address if session.stream is not None else None)

    def verify(self, email_address: str) -> Reply:
        """VRFY: ask the server to verify an address; returns the Reply (also in last_reply)."""
        with self._operation:
            check_text(email_address, "email_address")
            with self._connection() as session:
                verified: Reply = session.run(session.engine.verify(email_address))
                return verified

    def queue(self, queue_dir: str) -> str:
        """Write the message (envelope and content) to a new ``*.queued`` file in queue_dir and
        return its path; ``queue("*")`` returns the queue file's text instead."""

        with self._operation:
            message = compose_message(self._message_spec())
            if queue_dir == "*":
                return queue_text(message)
            return write_queue_file(queue_dir, message)

    def process_queue(self, queue_dir: str) -> QueueRun:
        """Send every ``*.queued`` file in queue_dir over one connection, pipelined across files
        (windows of QUEUE_WINDOW files through the engine's send_batch), and recover the
        ``*.sending`` files a dead run left behind (docs/queue.md has the guarantees). Each file
        is committed from its own final reply; one that is refused becomes ``*.failed`` and
        fires on_error, and the run goes on. Returns a QueueRun (sent, failed, recovered).

        A session failure (421, connection lost, timeout) commits what is known, parks the
        files whose delivery is unknown as ``*.failed``, and sends the rest again on a new
        connection when the failed window settled at least one file; otherwise (and on
        interrupt(), and when connecting fails) the run stops: the error is raised with
        ``.queue_run``, and the files not yet sent stay ``*.sending`` for the next run.
        The run is smtpx.queue.runner's, as for AsyncSMTP; here its file work is done as is."""

        with self._operation:
            self._require_mail_server()
            opened = False

            def send(items: Items) -> Outcomes:
                nonlocal opened
                session = self._live_session()
                if session is None:
                    self._open()
                    opened = True
                    session = self._session
                    assert session is not None
                else:
                    self._refresh_options(session)
                outcomes: Outcomes = session.run(session.engine.send_batch(items, window=QUEUE_WINDOW))
                return outcomes

            try:
                return drive(queue_run(queue_dir, send, run_here, keep_queue=self._config.value("KeepQueue"),
                                       on_error=self._queue_error_handler(), dkim=self.dkim), as_call)
            finally:
                if opened:
                    self._close()

    # ============================================================================== with
    def __enter__(self) -> "SMTP":
        self.connect()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            self.disconnect()
        except SMTPError:
            if exc_type is None:
                raise


def _with_options(mail_from: str, recipients: Iterable[str], message: bytes, mail_options: Iterable[str],
                  rcpt_options: Iterable[str]) -> tuple[Envelope, Content]:
    """send_raw's engine item with smtplib-style options (PreparedMessage's rules)."""
    mail_opts, rcpt_opts = _option_list(mail_options, "mail_options"), _option_list(rcpt_options, "rcpt_options")
    if isinstance(recipients, str):
        recipients = [recipients]
    smtputf8 = any(option.upper() == "SMTPUTF8" for option in mail_opts)
    prepared = PreparedMessage(mail_from, tuple(recipients), message, smtputf8, mail_opts, rcpt_opts)
    return prepared.engine_item("send_raw")


def _option_list(options: Iterable[str], what: str) -> tuple[str, ...]:
    if isinstance(options, (str, bytes)):
        raise SMTPInputError(f"send_raw: {what} must be a list of strings, not one {type(options).__name__}")
    items = tuple(options)
    for option in items:
        check_text(option, f"send_raw: {what}")
    return items


class _Operation:
    """``with smtp._operation:`` around every method: one method at a time (another one, from
    a handler or a thread, raises SMTPBusyError), a stale interrupt cleared, one
    AbsoluteTimeout deadline per method, a failure logged, and a connection that died during
    the method forgotten after it. One per SMTP, made once: methods never nest, and a loop of
    sends makes no object for this."""

    __slots__ = ("_owner",)

    def __init__(self, owner: SMTP) -> None:
        self._owner = owner

    def __enter__(self) -> None:
        owner = self._owner
        if not owner._busy.acquire(False):  # not blocking (a keyword costs a dict per call)
            raise SMTPBusyError("Busy executing current method.", 166)
        flag = owner._interrupt_flag
        if flag.raised:  # a stale interrupt
            flag.raised = False
        session = owner._session
        stream = session.stream if session is not None else None
        if stream is not None:
            stream.begin_operation()  # AbsoluteTimeout: one deadline per method

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        owner = self._owner
        session = owner._session  # (interrupt() does not change it: read once)
        try:
            if exc is not None:
                owner._log.failed(exc)  # a WARNING record (docs/logging.md)
            stream = session.stream if session is not None else None
            if stream is not None:
                stream.end_operation()
        finally:
            with owner._interrupt_lock:  # an interrupt() now comes before or after, not between
                try:
                    if session is not None and not session.alive:
                        # Also a stream that a late interrupt() reached: it stays unusable.
                        session.close(quit=False)
                        owner._session = None
                finally:
                    flag = owner._interrupt_flag
                    if flag.raised:
                        flag.raised = False
                    owner._busy.release()
