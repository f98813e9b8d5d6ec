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

import dataclasses
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator, Optional

from smtpx import events as ev
from smtpx.addresses import parse_mailbox, parse_reverse_path
from smtpx.certificate import Certificate
from smtpx.compose import compose_message
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
)
from smtpx.kernels import Reply
from smtpx.message_properties import MessageProperties
from smtpx.queue import QueueRun, process_queue_dir, queue_text, write_queue_file
from smtpx.session import Session
from smtpx.session_settings import session_settings

__all__ = ["SMTP"]

Handler = Optional[Callable[[Any], Any]]

# Settings that cannot change while connected (the reference's TCPClient errors).
_LOCKED_WHILE_CONNECTED = {"localport": 106, "localhost": 107, "maxlinelength": 112}

_ONE_WRITE_LIMIT = 1 << 20


def _one_piece(message: Any) -> Any:
    """The content as one chunk when it is in memory and not large. Headers and body as two
    writes cost a Nagle + delayed-ACK stall (about 40 ms) per message unless TcpNoDelay is on;
    one write does not."""
    content = message.content()
    if message.stream is None and content.size is not None and content.size <= _ONE_WRITE_LIMIT:
        content = dataclasses.replace(content, chunks=(b"".join(content.chunks),))
    return content


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

    def pi_trail(self, direction: int, message: str) -> None:
        self._owner._trail(direction, message)

    def start_transfer(self) -> None:
        self._owner._fire("on_start_transfer", ev.StartTransferEvent(Direction.CLIENT))

    def transfer(self, bytes_transferred: int, percent_done: int, text: bytes) -> None:
        self._owner._fire("on_transfer", ev.TransferEvent(Direction.CLIENT, bytes_transferred, percent_done, text))

    def end_transfer(self) -> None:
        self._owner._fire("on_end_transfer", ev.EndTransferEvent(Direction.CLIENT))

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

    def _require_session(self) -> Session:
        if self._session is None or not self._session.alive:
            raise SMTPNotConnectedError("You need to connect first.", 1117)
        return self._session

    @contextmanager
    def _connection(self) -> Iterator[Session]:
        """The open connection, or a new one that is closed again afterwards."""
        if self._session is not None and self._session.alive:
            yield self._session
            return
        self._open()
        assert self._session is not None
        try:
            yield self._session
        finally:
            self._close()

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
        once. When the transport can tell (a stream with ``peer_closed()``), a connection the
        server closed while idle is dropped here; otherwise the next method notices it."""
        if not self._busy.acquire(blocking=False):
            return  # called from an event handler, or while a method runs: nothing to do
        try:
            session = self._session
            poll = None if session is None or not session.alive else getattr(session.stream, "peer_closed", None)
            if poll is not None and poll():
                session.close(quit=False)  # type: ignore[union-attr]
                self._session = None
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
                return session.run(session.engine.send_mail(message.envelope, _one_piece(message)))
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
            if not isinstance(message, (bytes, bytearray, memoryview)):
                raise SMTPInputError(f"send_raw: message must be bytes, not {type(message).__name__}")
            if isinstance(recipients, str):
                recipients = [recipients]
            sender = parse_reverse_path(mail_from, "send_raw mail_from")
            rcpts = [EnvelopeRecipient(parse_mailbox(r, "send_raw recipient").addr_spec) for r in recipients]
            if not rcpts:
                raise SMTPInputError("Please specify a recipient.", 165)
            data = bytes(message)
            head = data.split(b"\r\n\r\n", 1)[0]
            addresses_ascii = sender.isascii() and all(r.address.isascii() for r in rcpts)
            content = Content.from_bytes(data, eight_bit=not data.isascii(),
                                         smtputf8=not (addresses_ascii and head.isascii()))
            with self._connection() as session:
                return session.run(session.engine.send_mail(Envelope(sender, rcpts), content))

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
