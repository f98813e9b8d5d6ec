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
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence, Union

from smtpx import events as ev
from smtpx.addresses import parse_mailbox, parse_reverse_path
from smtpx.certificate import Certificate
from smtpx.compose import ComposedMessage, compose_message
from smtpx.config import ConfigStore
from smtpx.connection_properties import ConnectionProperties, check_text
from smtpx.engine import Content, Envelope, EnvelopeRecipient, SendResult
from smtpx.engine.tracing import reply_lines
from smtpx.enums import Direction
from smtpx.errors import (
    SMTPBusyError,
    SMTPConfigError,
    SMTPError,
    SMTPInputError,
    SMTPInterrupted,
    SMTPNotConnectedError,
    SMTPNotSupportedError,
    SMTPServiceClosing,
)
from smtpx.kernels import Reply
from smtpx.message_properties import MessageProperties
from smtpx.queue import QueueRun, process_queue_dir, queue_text, write_queue_file
from smtpx.session import Session
from smtpx.session_settings import session_settings

__all__ = ["SMTP"]

Handler = Optional[Callable[[Any], Any]]
# One message for send_batch: (mail_from, recipients, message bytes) as for send_raw, or a
# ComposedMessage from SMTP.compose().
BatchMessage = Union[tuple[str, Iterable[str], bytes], ComposedMessage]

# Settings that cannot change while connected (the reference's TCPClient errors).
_LOCKED_WHILE_CONNECTED = {"localport": 106, "localhost": 107, "maxlinelength": 112}

def _raw_message(mail_from: Any, recipients: Any, message: Any, what: str) -> tuple[Envelope, Content]:
    """send_raw's envelope and content: addresses parsed strictly ("Name <a@b>" or "a@b"; "<>"
    is the null sender), the message bytes as given; SMTPUTF8 / 8BITMIME as the bytes need."""
    if not isinstance(message, (bytes, bytearray, memoryview)):
        raise SMTPInputError(f"{what}: message must be bytes, not {type(message).__name__}")
    if not isinstance(mail_from, str):
        raise SMTPInputError(f"{what}: mail_from must be a string, not {type(mail_from).__name__}")
    if isinstance(recipients, str):
        recipients = [recipients]
    sender = parse_reverse_path(mail_from, f"{what} mail_from")
    rcpts = [EnvelopeRecipient(parse_mailbox(r, f"{what} recipient").addr_spec) for r in recipients]
    if not rcpts:
        raise SMTPInputError("Please specify a recipient.", 165)
    data = bytes(message)
    if data.isascii():  # the common case: one scan, no header split
        eight_bit, utf8 = False, False
    else:
        eight_bit = True
        utf8 = not data.split(b"\r\n\r\n", 1)[0].isascii()
    if not utf8:
        utf8 = not sender.isascii()
        for rcpt in rcpts:
            if not rcpt.address.isascii():
                utf8 = True
    return Envelope(sender, rcpts), Content([data], len(data), eight_bit=eight_bit, smtputf8=utf8)


def _remap_batch_error(error: SMTPError, results: list[Any], positions: Sequence[int]) -> None:
    """A session failure of the engine's batch: .results / .unsent in the caller's indexes
    (messages refused before the engine saw them keep their input error)."""
    engine_results = getattr(error, "results", None)
    if engine_results is None:  # the engine never started the batch: nothing was written
        error.results = list(results)  # type: ignore[attr-defined]
        error.unsent = list(positions)  # type: ignore[attr-defined]
        return
    merged = list(results)
    for item, outcome in enumerate(engine_results):
        merged[positions[item]] = outcome
    unsent = sorted(positions[item] for item in getattr(error, "unsent", []) if item < len(positions))
    error.results = merged  # type: ignore[attr-defined]
    error.unsent = unsent  # type: ignore[attr-defined]


class _StopQueueRun(BaseException):
    """Carries interrupt() out of a queue run, so the file being sent is left for recovery
    instead of being parked as failed."""

    def __init__(self, error: SMTPInterrupted) -> None:
        super().__init__(error)
        self.error = error


class _EventSink:
    """What the engine calls; turns each call into an on_* event of the facade."""

    def __init__(self, owner: "SMTP") -> None:
        self._owner = owner

    @property
    def pi_trail_enabled(self) -> bool:
        """The engine builds trace text only when someone listens (on_pi_trail is set)."""
        return self._owner.on_pi_trail is not None

    def pi_trail(self, direction: int, message: str) -> None:
        self._owner._trail(direction, message)

    # The transfer events come once or more per message: no event object without a handler.
    def start_transfer(self) -> None:
        handler = self._owner.on_start_transfer
        if handler is not None:
            handler(ev.StartTransferEvent(Direction.CLIENT))

    def transfer(self, bytes_transferred: int, percent_done: int, text: bytes) -> None:
        handler = self._owner.on_transfer
        if handler is not None:
            handler(ev.TransferEvent(Direction.CLIENT, bytes_transferred, percent_done, text))

    def end_transfer(self) -> None:
        handler = self._owner.on_end_transfer
        if handler is not None:
            handler(ev.EndTransferEvent(Direction.CLIENT))

    def error(self, code: int, description: str) -> None:
        self._owner._fire("on_error", ev.ErrorEvent(code, description))

    def expand(self, address: str) -> None:
        self._owner._expanded.append(address)
        self._owner._fire("on_expand", ev.ExpandEvent(address))


class _TLSHooks:
    """What the stream calls during a handshake."""

    def __init__(self, owner: "SMTP") -> None:
        self._owner = owner

    def ssl_status(self, message: str) -> None:
        self._owner._fire("on_ssl_status", ev.SSLStatusEvent(message))

    def ssl_server_authentication(self, event: ev.SSLServerAuthenticationEvent) -> bool:
        # accept arrives preset by verification (and by ssl_accept_server_cert, which the TLS
        # layer matches); the handler may change it, and its final value decides.
        self._owner._fire("on_ssl_server_authentication", event)
        return bool(event.accept)


class SMTP(MessageProperties, ConnectionProperties):
    """An SMTP client with the reference's properties, methods, events and config settings."""

    # Event handlers: set to a callable taking one smtpx.events dataclass.
    on_connection_status: Handler
    on_end_transfer: Handler
    on_error: Handler
    on_expand: Handler
    on_pi_trail: Handler
    on_ssl_server_authentication: Handler
    on_ssl_status: Handler
    on_start_transfer: Handler
    on_transfer: Handler

    def __init__(self, **properties: Any) -> None:
        self._busy = threading.Lock()
        self._interrupt_lock = threading.RLock()  # RLock: a handler fired under it may call interrupt()
        self._interrupt_flag = threading.Event()
        self._session: Session | None = None
        self._sink = _EventSink(self)
        self._hooks = _TLSHooks(self)
        for name in ev.EVENT_NAMES:
            setattr(self, name, None)
        self._init_state()
        for name, value in properties.items():
            if name in ev.EVENT_NAMES:
                setattr(self, name, value)
            elif self._is_settable(name):
                setattr(self, name, value)
            else:
                raise SMTPInputError(f"SMTP() got an unknown property {name!r}")

    def _init_state(self) -> None:
        """Every property and config setting at its default (used by __init__ and reset())."""
        self._config = ConfigStore(self)
        self._init_message_properties()
        self._init_connection_properties()
        self._ssl_server_cert: Certificate | None = None
        self._tls_info: Any = None
        self._tls_host = ""
        self._previous_tls: tuple[str, Any] | None = None
        self._last_reply = ""  # the last reply of connections before the current engine's
        self._reply_engine: Any = None  # the engine whose last_reply is the newest
        self._expanded: list[str] = []
        self._options_stale = False  # config() changed something since the options were built

    @classmethod
    def _is_settable(cls, name: str) -> bool:
        if name.startswith("_"):
            return False
        attr = getattr(cls, name, None)
        return isinstance(attr, property) and attr.fset is not None

    # ============================================================================== events
    def _fire(self, name: str, event: Any) -> None:
        handler = getattr(self, name, None)
        if handler is not None:
            handler(event)

    def _trail(self, direction: int, message: str) -> None:
        handler = self.on_pi_trail
        if handler is not None:
            handler(ev.PITrailEvent(direction, message))

    def _status(self, event: str, code: int, description: str) -> None:
        self._fire("on_connection_status", ev.ConnectionStatusEvent(event, code, description))

    # ============================================================================== plumbing
    @contextmanager
    def _operation(self) -> Iterator[None]:
        """One method at a time; clears a stale interrupt; forgets a dead connection after."""
        if not self._busy.acquire(blocking=False):
            raise SMTPBusyError("Busy executing current method.", 166)
        self._interrupt_flag.clear()
        session = self._session
        if session is not None and session.stream is not None:
            session.stream.begin_operation()  # AbsoluteTimeout: one deadline per method
        try:
            yield
        finally:
            if self._session is not None and self._session.stream is not None:
                self._session.stream.end_operation()
            with self._interrupt_lock:  # an interrupt() now comes before or after, not between
                if self._session is not None and not self._session.alive:
                    # Also a stream that a late interrupt() reached: it stays unusable.
                    self._session.close(quit=False)
                    self._session = None
                self._interrupt_flag.clear()
                self._busy.release()

    def _local_address(self) -> str | None:
        session = self._session
        address = getattr(session.stream, "local_address", None) if session is not None else None
        return str(address[0]) if isinstance(address, tuple) and address else None

    def _open(self) -> None:
        """Connect and get the session ready (greeting, hello, TLS, AUTH)."""
        if self.connected:
            raise SMTPInputError("Already connected. If you want to reconnect, close the current connection first.", 104)
        if self._tls_info is not None:
            self._previous_tls = (self._tls_host, self._tls_info)
        previous = self._previous_tls
        reuse = previous[1] if previous is not None and previous[0] == self._mail_server else None
        settings = session_settings(self, self._config, reuse)  # 163, bad settings: nothing sent
        self._options_stale = False
        self._ssl_server_cert = None  # the reference: reset every time a connection is attempted
        self._tls_info = None
        session = Session(settings, self._sink, self._hooks, self._status, self._interrupt_flag)
        self._session = session
        self._last_reply = self.last_reply  # kept while the new connection has no reply yet
        try:
            session.open()
        finally:
            self._reply_engine = session.engine
            self._capture_tls(session)
            if not session.alive:
                self._session = None

    def _capture_tls(self, session: Session) -> None:
        info = session.tls_info
        if info is not None:
            self._tls_info = info
            self._tls_host = self._mail_server
            self._ssl_server_cert = getattr(info, "server_cert", None)

    def _close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            session.close(quit=True)

    def _live_session(self) -> Session | None:
        """The open connection, after a look (without blocking) at what the server did while
        we were idle, so nothing it sent unasked is ever taken as the reply to our next command
        (FAULTS 11). A plain close or an idle-timeout 421 drops the connection (the 421 fires
        on_error) and gives None: the caller reconnects or reports "not connected". Any other
        unsolicited reply is a protocol error and is raised."""
        session = self._session
        if session is None:
            return None
        error = session.check_idle()
        if session.alive:
            return session
        self._session = None
        if error is not None:
            if not isinstance(error, SMTPServiceClosing):
                raise error
            self._fire("on_error", ev.ErrorEvent(error.code or 0, error.description))
        return None

    def _require_session(self) -> Session:
        session = self._live_session()
        if session is None:
            raise SMTPNotConnectedError("You need to connect first.", 1117)
        return session

    @contextmanager
    def _connection(self) -> Iterator[Session]:
        """The open connection, or a new one that is closed again afterwards."""
        if self._live_session() is not None:
            if self._options_stale:
                self._refresh_options(self._session)
            yield self._session
            return
        self._open()
        assert self._session is not None
        try:
            yield self._session
        finally:
            self._close()

    # Engine options a config() change may alter between methods on one connection (the others,
    # such as reply limits and TLS requirements, belong to the connection).
    _PER_METHOD_OPTIONS = ("use_pipelining", "use_chunking", "mask_sensitive", "send_rset", "stop_on_to_errors",
                           "stop_on_cc_errors", "stop_on_bcc_errors", "dsn_ret", "dsn_envid", "chunk_size",
                           "allow_plaintext_auth")

    def _refresh_options(self, session: Session) -> None:
        """config() while connected applies to the next method, not only the next connection."""
        from smtpx.session_settings import engine_options

        fresh = engine_options(self, self._config)
        options = session.engine.options
        for name in self._PER_METHOD_OPTIONS:
            setattr(options, name, getattr(fresh, name))
        self._options_stale = False

    # ============================================================================== state
    @property
    def connected(self) -> bool:
        """True while a connection to the mail server is open and usable."""
        return self._session is not None and self._session.alive

    @property
    def idle(self) -> bool:
        """False while a method is running."""
        return not self._busy.locked()

    @property
    def last_reply(self) -> str:
        """The last complete reply from the server, as sent (lines joined with CRLF; control
        characters shown as "?")."""
        engine = self._reply_engine
        reply = None if engine is None else engine.last_reply
        if reply is None:
            return self._last_reply
        return "\r\n".join(reply_lines(reply))

    @property
    def ssl_server_cert(self) -> Certificate | None:
        """The server's Certificate from the last TLS handshake (None before one)."""
        return self._ssl_server_cert


    # ============================================================================== methods
    def config(self, configuration_string: str) -> str:
        """``config("Name=Value")`` sets a setting (returns ""), ``config("Name")`` reads it."""
        if not isinstance(configuration_string, str):
            raise SMTPConfigError("config: expected a string such as 'Name=Value' or 'Name'")
        name, eq, _ = configuration_string.partition("=")
        code = _LOCKED_WHILE_CONNECTED.get(name.strip().lower())
        if eq and code is not None and self.connected:
            raise SMTPConfigError(f"You cannot change {name.strip()} at this time. A connection is in progress.", code)
        if eq:
            self._options_stale = True  # the open connection's engine options follow (see _refresh_options)
        return self._config.config(configuration_string)

    def connect(self) -> None:
        """Connect to mail_server, greet (EHLO/HELO), start TLS and authenticate as set."""
        with self._operation():
            self._open()

    def disconnect(self) -> None:
        """QUIT (when the connection is still good) and close. Does nothing when not connected."""
        with self._operation():
            self._close()

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
            if error is not None:
                self._fire("on_error", ev.ErrorEvent(error.code or 0, error.description))
        finally:
            self._busy.release()

    def expand(self, email_address: str) -> list[str]:
        """EXPN: one on_expand event per address the server returns; the addresses are also
        returned as a list."""
        with self._operation():
            check_text("email_address", email_address)
            self._expanded = []
            with self._connection() as session:
                session.run(session.engine.expand(email_address))
            return list(self._expanded)

    def interrupt(self) -> None:
        """From another thread: abort the running method (SMTPInterrupted, code 301). The
        connection is dropped; the object stays usable. Does nothing when idle."""
        with self._interrupt_lock:
            if self.idle:
                return
            self._interrupt_flag.set()
            session = self._session
            if session is not None:
                session.interrupt()

    def reset(self) -> None:
        """Disconnect, and put every property and config setting back to its default."""
        with self._operation():
            self._close()
            self._init_state()

    def send(self) -> SendResult:
        """Send the message; returns a SendResult (accepted and refused recipients)."""
        with self._operation():
            return self._send("MAIL")

    def send_to_terminal_and_email(self) -> SendResult:
        """SAML FROM: deliver to the users' terminals and mailboxes."""
        with self._operation():
            return self._send("SAML")

    def send_to_terminal_only(self) -> SendResult:
        """SEND FROM: deliver to the users' terminals only."""
        with self._operation():
            return self._send("SEND")

    def send_to_terminal_or_email(self) -> SendResult:
        """SOML FROM: deliver to the terminal when the user is there, else to the mailbox."""
        with self._operation():
            return self._send("SOML")

    def _send(self, verb: str) -> SendResult:

        if verb != "MAIL" and not self._allow_extensions:
            raise SMTPNotSupportedError(f"{verb} FROM needs allow_extensions True, as the reference says")
        if not self._mail_server:
            raise SMTPInputError("Please specify a MailServer.", 163)
        if not self.connected:
            compose_message(self, verb=verb)  # 164 / 165 / bad input: raised before connecting
        with self._connection() as session:
            # Composed now that EHLO told whether 8-bit text may go as it is.
            message = compose_message(self, server_8bitmime=session.engine.capabilities.has("8BITMIME"), verb=verb)
            try:
                return session.run(session.engine.send_mail(message.envelope, message.content()))
            finally:
                # config("MessageHeadersString") / config("TransferText"): what went on the wire.
                self._last_headers_string = message.headers_string
                self._last_transfer_text = message.transfer_text or ""
                message.close()  # CloseStreamAfterTransfer

    def send_raw(self, mail_from: str, recipients: Iterable[str], message: bytes) -> SendResult:
        """Python extra (like smtplib's sendmail): send ``message`` (headers, empty line, body;
        not dot-stuffed) exactly as given, to this envelope, without touching the message
        properties. Addresses are parsed strictly ("Name <a@b>" or "a@b"; "<>" is the null
        sender). Connects and disconnects like send(); StopOn*Errors and on_error apply."""

        with self._operation():
            if not self._mail_server:
                raise SMTPInputError("Please specify a MailServer.", 163)
            envelope, content = _raw_message(mail_from, recipients, message, "send_raw")
            with self._connection() as session:
                return session.run(session.engine.send_mail(envelope, content))

    def compose(self) -> ComposedMessage:
        """Python extra: the message the properties describe now (envelope, headers, body), as
        a ComposedMessage for ``send_batch``; later property changes do not touch it. While
        connected, the body's encoding follows the server's 8BITMIME; otherwise it takes the
        form any server accepts. Bad input raises here (nothing is sent)."""
        with self._operation():
            session = self._session
            eight = session.engine.capabilities.has("8BITMIME") if session is not None and session.alive else None
            return compose_message(self, server_8bitmime=eight)

    def send_batch(self, messages: Iterable[BatchMessage], *, window: int = 32) -> list[SendResult | SMTPError]:
        """Python extra, the bulk path: send many messages over one connection, pipelined
        across transactions when the server offers PIPELINING (smtpx.engine's send_batch).
        Each message is ``(mail_from, recipients, message_bytes)`` as for send_raw, or a
        ComposedMessage from ``compose()``.

        Returns one entry per message, in order: its SendResult, or the SMTPError that send_raw
        would have raised for it (refused sender or recipients, refused data, bad input, too
        large...). Those are returned, not raised, and each fires on_error. A session failure
        (421, connection lost, timeout, interrupt) raises, with ``.results`` (per message: the
        outcome when known, ``None`` when certainly not delivered, SMTPConnectionDropped with
        ``delivery_unknown`` when its end of data went out without a reply) and ``.unsent`` (the
        indexes that are safe to send again). Connects and disconnects like send()."""
        with self._operation():
            if not self._mail_server:
                raise SMTPInputError("Please specify a MailServer.", 163)
            if isinstance(window, bool) or not isinstance(window, int) or window < 1:
                raise SMTPInputError(f"send_batch: window must be a whole number >= 1, not {window!r}")
            if isinstance(messages, (str, bytes, ComposedMessage)) or (
                    isinstance(messages, tuple) and len(messages) == 3 and isinstance(messages[0], str)):
                raise SMTPInputError("send_batch takes a list of messages, not one message")
            results: list[SendResult | SMTPError | None] = []
            items: list[tuple[Envelope, Content]] = []
            positions: list[int] = []  # index in `messages` of each engine item
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
                    with self._connection() as session:
                        try:
                            outcomes = session.run(session.engine.send_batch(items, window=window))
                        except SMTPError as error:
                            _remap_batch_error(error, results, positions)
                            raise
                    for position, outcome in zip(positions, outcomes):
                        results[position] = outcome
            finally:
                for message in composed:
                    message.close()  # CloseStreamAfterTransfer
            for outcome in results:
                if isinstance(outcome, SMTPError):
                    self._fire("on_error", ev.ErrorEvent(outcome.code, outcome.description))
            return results  # type: ignore[return-value]

    @staticmethod
    def _batch_item(message: Any, index: int, composed: list[ComposedMessage]) -> tuple[Envelope, Content]:
        if isinstance(message, ComposedMessage):
            composed.append(message)
            return message.envelope, message.content()
        if isinstance(message, tuple) and len(message) == 3:
            return _raw_message(*message, f"send_batch message {index}")
        raise SMTPInputError(f"send_batch message {index}: expected (mail_from, recipients, message_bytes) "
                             f"or a ComposedMessage, not {type(message).__name__}")

    def send_command(self, command: str) -> Reply:
        """Send ``command`` as given (CR, LF and NUL refused); sets last_reply; returns the Reply."""
        with self._operation():
            check_text("command", command)
            session = self._require_session()
            reply = session.run(session.engine.command(command))
            if command.strip().upper() == "QUIT":
                session.close(quit=False)  # the server ends the session after QUIT
            return reply

    def verify(self, email_address: str) -> Reply:
        """VRFY: ask the server to verify an address; returns the Reply (also in last_reply)."""
        with self._operation():
            check_text("email_address", email_address)
            with self._connection() as session:
                return session.run(session.engine.verify(email_address))

    def queue(self, queue_dir: str) -> str:
        """Write the message (envelope and content) to a new ``*.queued`` file in queue_dir and
        return its path; ``queue("*")`` returns the queue file's text instead."""

        with self._operation():
            message = compose_message(self)
            if queue_dir == "*":
                return queue_text(message)
            return write_queue_file(queue_dir, message)

    def process_queue(self, queue_dir: str) -> QueueRun:
        """Send every ``*.queued`` file in queue_dir over one connection, and recover the
        ``*.sending`` files a dead run left behind (see smtpx.queue for the guarantees). A file
        that fails becomes ``*.failed`` and fires on_error; the run goes on. Returns a QueueRun
        (sent, failed, recovered). interrupt() stops the run: the file being sent stays
        ``*.sending`` and the next run sends it."""

        with self._operation():
            if not self._mail_server:
                raise SMTPInputError("Please specify a MailServer.", 163)
            opened = False
            if self._session is not None and self._session.alive and self._options_stale:
                self._refresh_options(self._session)

            def send_one(envelope: Any, content: Any) -> Any:
                nonlocal opened
                try:
                    if self._session is None or not self._session.alive:
                        self._session = None
                        self._open()
                        opened = True
                    session = self._session
                    assert session is not None
                    return session.run(session.engine.send_mail(envelope, content))
                except SMTPInterrupted as exc:
                    raise _StopQueueRun(exc) from exc

            def failed(name: str, exc: BaseException) -> None:
                code = getattr(exc, "code", 161)
                description = getattr(exc, "description", str(exc))
                self._fire("on_error", ev.ErrorEvent(code, f"{name}: {description}"))

            try:
                return process_queue_dir(queue_dir, send_one, keep_queue=self._config.value("KeepQueue"),
                                         on_error=failed)
            except _StopQueueRun as stop:
                raise stop.error from None
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

    def __repr__(self) -> str:
        state = "connected" if self.connected else "not connected"
        return f"<smtpx.SMTP {self._mail_server or '(no server)'}:{self._mail_port} {state}>"
