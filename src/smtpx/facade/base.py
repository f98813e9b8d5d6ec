"""``FacadeBase``: what smtpx.SMTP and smtpx.aio.AsyncSMTP share, written once.

The two facades differ only in how they run a method (a thread lock and a blocking Session, or
a flag and an AsyncSession) and in ``await``. Everything else lives here: construction and
reset, the event helpers, config() and the state properties (connected, last_reply,
ssl_server_cert), engine options that follow config() between methods, the halves of opening a
connection and of sending around the I/O, and send_batch's prepare and finish halves.

The properties come from the table in smtpx.facade.properties (``Properties``, the base
class). A subclass provides ``_session`` (None or an object with ``alive``, ``engine``,
``stream`` and ``tls_info``), sets ``_display_name`` / ``_repr_name``, and calls
``super().__init__``.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional

from smtpx import events as ev
from smtpx.facade.batch import Batch, BatchMessage, signed_item
from smtpx.tls.certificate import Certificate
from smtpx.message.compose import Ahead, ComposedMessage, compose_message, message_ahead
from smtpx.engine import Content, Envelope, Expansion, SendResult
from smtpx.engine.tracing import reply_lines
from smtpx.errors import SMTPConfigError, SMTPError, SMTPInputError, SMTPNotSupportedError, SMTPServiceClosing
from smtpx.facade.event_sink import EventSink, FacadeTLSHooks
from smtpx.facade.logs import CONNECTIONS, ConnectionLog
from smtpx.facade.properties import Properties
from smtpx.kernels import Reply
from smtpx.session import SessionSettings
from smtpx.facade.session_settings import engine_options, session_settings

__all__ = ["FacadeBase", "Handler"]

Handler = Optional[Callable[[Any], Any]]

# Settings that cannot change while connected (the reference's TCPClient errors).
_LOCKED_WHILE_CONNECTED = {"localport": 106, "localhost": 107, "maxlinelength": 112}

# Engine options a config() change may alter between methods on one connection (the others,
# such as reply limits and TLS requirements, belong to the connection).
_PER_METHOD_OPTIONS = ("use_pipelining", "use_chunking", "mask_sensitive", "send_rset", "stop_on_to_errors",
                       "stop_on_cc_errors", "stop_on_bcc_errors", "dsn_ret", "dsn_envid", "require_tls_delivery",
                       "chunk_size", "allow_plaintext_auth")


class FacadeBase(Properties):
    """The state, events, settings and bookkeeping both SMTP facades share."""

    _display_name = "SMTP"  # in "SMTP() got an unknown property ..."
    _repr_name = "smtpx.SMTP"
    _session: Any
    # The parent of this object's connection loggers (docs/logging.md); a pool sets its own.
    _log_parent: logging.Logger = CONNECTIONS

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

    def __init__(self, *, config: Mapping[str, Any] | Iterable[str] | None = None, **properties: Any) -> None:
        """Properties (and event handlers) as keywords; ``config`` holds config settings, as a
        mapping ``{"SSLServerCACerts": "/etc/company-ca.pem"}`` or strings ``"Name=Value"``,
        applied after the properties and before anything connects."""
        self._session = None
        self._log = ConnectionLog(self._log_parent, "", 0, 0)  # until the first connection
        self._sink = EventSink(self)
        self._hooks = FacadeTLSHooks(self)
        for name in ev.EVENT_NAMES:
            setattr(self, name, None)
        self._init_state()
        for name, value in properties.items():
            if name in ev.EVENT_NAMES or self._is_settable(name):
                setattr(self, name, value)
            else:
                raise SMTPInputError(f"{self._display_name}() got an unknown property {name!r}")
        if config is not None:
            self._apply_config(config)

    def _apply_config(self, config: Mapping[str, Any] | Iterable[str]) -> None:
        if isinstance(config, str):
            raise SMTPConfigError("config= takes a mapping of settings or a list of 'Name=Value' strings, not one string")
        if isinstance(config, Mapping):
            for name, value in config.items():
                self._config.set(name, value)
            return
        for item in config:
            if not isinstance(item, str) or "=" not in item:
                raise SMTPConfigError(f"config= items must be 'Name=Value' strings, not {item!r}")
            self._config.config(item)

    def _init_state(self) -> None:
        """Every property and config setting at its default (used by __init__ and reset())."""
        self._init_properties()
        self._ssl_server_cert: Certificate | None = None
        self._tls_info: Any = None
        self._tls_host = ""
        self._previous_tls: tuple[str, Any] | None = None
        self._last_reply = ""  # the last reply of connections before the current engine's
        self._reply_engine: Any = None  # the engine whose last_reply is the newest
        self._options_version = -1  # the config version the open connection's options follow
        self._ahead: Ahead | None = None  # the next send()'s message, made ahead (_make_ahead)
        # Whether making it pays: the last connected send() sent the spec the one before sent
        # (a loop of send()); a mail merge changes the spec before every send(), which would
        # throw each made-ahead message away. The first send() assumes it pays.
        self._ahead_pays = True
        self._spec_sent: Any = None  # the spec the last connected send() sent

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

    def _report_expansion(self, expansion: Expansion) -> list[str]:
        """expand(): one on_expand event per address the engine's Expansion lists; the list."""
        for address in expansion.addresses:
            self._fire("on_expand", ev.ExpandEvent(address))
        return list(expansion.addresses)

    def _trail(self, direction: int, message: str) -> None:
        handler = self.on_pi_trail
        if handler is not None:
            handler(ev.PITrailEvent(direction, message))
        self._log.trace(direction, message)  # the same masked text, at DEBUG

    def _status(self, event: str, code: int, description: str) -> None:
        self._fire("on_connection_status", ev.ConnectionStatusEvent(event, code, description))
        self._log.status(event, description, self._session)

    def _report_error(self, code: int, description: str) -> None:
        """on_error, and its WARNING record."""
        self._fire("on_error", ev.ErrorEvent(code, description))
        self._log.error(code, description)

    def _report_idle_error(self, error: SMTPError | None) -> None:
        """on_error for what the server sent unasked while the connection was idle."""
        if error is not None:
            self._report_error(error.code or 0, error.description)

    def _live_session(self) -> Any:
        """The open connection, after a look (without blocking) at what the server did while
        we were idle, so nothing it sent unasked is ever taken as the reply to our next command
        (FAULTS 11); SMTP and AsyncSMTP alike. A plain close or an idle-timeout 421 drops the
        connection (the 421 fires on_error) and gives None: the caller reconnects or reports
        "not connected". Any other unsolicited reply is a protocol error and is raised."""
        session = self._session
        if session is None:
            return None
        error = session.check_idle()
        if session.alive:
            return session
        self._session = None
        if error is not None and not isinstance(error, SMTPServiceClosing):
            raise error
        self._report_idle_error(error)
        return None

    # ============================================================================== state
    @property
    def connected(self) -> bool:
        """True while a connection to the mail server is open and usable."""
        return self._session is not None and self._session.alive

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

    @property
    def server_greeting(self) -> Reply | None:
        """Python extra: the server's greeting (its 220 Reply) on the open connection; None
        when not connected."""
        session = self._session
        greeting: Reply | None = session.greeting if session is not None and session.alive else None
        return greeting

    @property
    def hello_reply(self) -> Reply | None:
        """Python extra: the Reply to the last EHLO (or HELO) on the open connection, the one
        what the server offers comes from (after STARTTLS: the EHLO sent over TLS); None when
        not connected."""
        session = self._session
        reply: Reply | None = session.hello_reply if session is not None and session.alive else None
        return reply

    def _local_address(self) -> str | None:
        session = self._session
        address = getattr(session.stream, "local_address", None) if session is not None else None
        return str(address[0]) if isinstance(address, tuple) and address else None

    def _local_port(self) -> int | None:
        """The local port of the live connection (None when not connected): the reference
        shows it in LocalPort after connecting (config reads it)."""
        session = self._session if self.connected else None
        address = getattr(getattr(session, "stream", None), "local_address", None)
        if isinstance(address, tuple) and len(address) > 1 and address[1]:
            return int(address[1])
        return None

    # ============================================================================== config
    def config(self, configuration_string: str) -> str:
        """``config("Name=Value")`` sets a setting (returns ""), ``config("Name")`` reads it."""
        if not isinstance(configuration_string, str):
            raise SMTPConfigError("config: expected a string such as 'Name=Value' or 'Name'")
        name, eq, _ = configuration_string.partition("=")
        code = _LOCKED_WHILE_CONNECTED.get(name.strip().lower())
        if eq and code is not None and self.connected:
            raise SMTPConfigError(f"You cannot change {name.strip()} at this time. A connection is in progress.", code)
        return self._config.config(configuration_string)

    def _refresh_options(self, session: Any) -> None:
        """config() while connected applies to the next method, not only the next connection.
        The options are rebuilt only when the settings changed since they were built."""
        version = self._config.version
        if version == self._options_version:
            return
        fresh = engine_options(self, self._config)
        options = session.engine.options
        for name in _PER_METHOD_OPTIONS:
            setattr(options, name, getattr(fresh, name))
        self._options_version = version

    # ============================================================================== opening
    def _check_not_connected(self) -> None:
        if self.connected:
            raise SMTPInputError("Already connected. If you want to reconnect, close the current connection first.", 104)

    def _new_settings(self, previous_tls: Any = None, resolved_token: str | None = None) -> SessionSettings:
        """A new connection's settings (163, bad settings: raised, nothing sent)."""
        settings = session_settings(self, self._config, previous_tls, resolved_token)
        self._options_version = self._config.version
        return settings

    def _attach(self, session: Any) -> None:
        """``session`` is the one being opened (the reference resets ssl_server_cert on every
        connection attempt)."""
        self._session = session
        self._last_reply = self.last_reply  # kept while the new connection has no reply yet
        settings = session.settings  # a new logger for the new connection (docs/logging.md)
        self._log = log = ConnectionLog(self._log_parent, settings.host, settings.port)
        log.watch_auth(settings)
        log.connecting(session)

    def _opened(self, session: Any) -> None:
        """After an attempt to open ``session``, whether it worked or not."""
        self._reply_engine = session.engine
        self._capture_tls(session)
        self._log.opened(session)
        if not session.alive:
            self._session = None

    def _capture_tls(self, session: Any) -> None:
        info = session.tls_info
        if info is not None:
            self._tls_info = info
            self._tls_host = self.mail_server
            self._ssl_server_cert = getattr(info, "server_cert", None)

    # ============================================================================== sending
    def _require_mail_server(self) -> None:
        if not self.mail_server:
            raise SMTPInputError("Please specify a MailServer.", 163)

    def _check_send(self, verb: str) -> ComposedMessage | None:
        """send()'s checks before connecting: the verb allowed, a server, and (when not
        connected) the message, composed here once, in the form any server takes: 164, 165
        and bad input raise before anything connects."""
        if verb != "MAIL" and not self.allow_extensions:
            raise SMTPNotSupportedError(f"{verb} FROM needs allow_extensions True, as the reference says")
        self._require_mail_server()
        if self.connected:
            return None  # composed on the connection, for its server (_outgoing_message)
        return compose_message(self._message_spec(), verb=verb, reuse=True)

    @contextmanager
    def _outgoing_message(self, session: Any, verb: str, composed: ComposedMessage | None) -> Iterator[ComposedMessage]:
        """The message to send on ``session``: the one _check_send composed, made fit for what
        EHLO said about 8BITMIME (8-bit text may then go as it is), or composed now; afterwards
        it is kept for config("MessageHeadersString") / config("TransferText")."""
        message = self._message_for(session, verb, composed)
        try:
            yield message
        finally:
            self._sent(message)

    def _message_for(self, session: Any, verb: str, composed: ComposedMessage | None,
                     ahead: Ahead | None = None) -> ComposedMessage:
        """_outgoing_message's message (and a connected send()'s, with the one made ahead:
        compose_message gives it when it is still fit)."""
        eight = bool(session.engine.capabilities.has("8BITMIME"))
        if composed is None:
            return compose_message(self._message_spec(), server_8bitmime=eight, verb=verb, reuse=True, ahead=ahead)
        return composed.for_server(eight)

    def _connected_send(self, session: Any, verb: str) -> tuple[ComposedMessage, tuple[Envelope, Content]]:
        """A connected send()'s message and its engine item (signed, when dkim is set): the
        message made during the last send() when it is still fit, else composed now. The
        facades pass _make_ahead as the engine's ``meanwhile``."""
        ahead, self._ahead = self._ahead, None
        message = self._message_for(session, verb, None, ahead)
        last = self._last_spec  # (_message_for just made or reused it)
        spec = last[2] if last is not None else None
        if self._spec_sent is not None:
            self._ahead_pays = spec is self._spec_sent
        self._spec_sent = spec
        content = ahead.content if ahead is not None and message is ahead.message else message.content()
        return message, signed_item(self.dkim, (message.envelope, content))

    def _make_ahead(self) -> None:
        """A connected send()'s work for the server's turn after its end of data (the engine's
        ``meanwhile``): the message the next send() wants if the properties stay as they are,
        made now from the kept template, when the time costs nothing (docs/internals.md, "Work
        while the server answers"). An error only means the next send() composes (and raises)."""
        if not self._ahead_pays:  # a mail merge: the next send() wants another message
            return
        try:
            last, session = self._last_spec, self._session
            if last is not None and session is not None:
                self._ahead = message_ahead(last[2], bool(session.engine.capabilities.has("8BITMIME")))
        except Exception:
            self._ahead = None

    def _sent(self, message: ComposedMessage) -> None:
        """After a send, whatever happened: kept for config(), the stream closed if asked."""
        self._last_sent = message  # what went on the wire
        message.close()  # CloseStreamAfterTransfer

    def _compose_now(self) -> ComposedMessage:
        """compose(): the body's encoding follows the open connection's 8BITMIME, if any."""
        session = self._session
        eight = session.engine.capabilities.has("8BITMIME") if session is not None and session.alive else None
        return compose_message(self._message_spec(), server_8bitmime=eight)

    def _prepare_batch(self, messages: Iterable[BatchMessage], window: int) -> Batch:
        """send_batch's first half: checks and engine items (nothing is sent)."""
        self._require_mail_server()
        return Batch(messages, window, self.dkim)

    def _finish_batch(self, batch: Batch) -> list[SendResult | SMTPError]:
        """send_batch's second half, after a batch that raised nothing: on_error per error."""
        for error in batch.errors():
            self._fire("on_error", ev.ErrorEvent(error.code, error.description))
            self._log.message_error(error)
        return batch.results  # type: ignore[return-value]

    def _queue_error_handler(self) -> Callable[[str, BaseException], None]:
        """process_queue's on_error for each file parked ``*.failed``: "<file>: <description>"."""

        def failed(name: str, exc: BaseException) -> None:
            code = getattr(exc, "code", 161)
            description = getattr(exc, "description", str(exc))
            self._report_error(code, f"{name}: {description}")

        return failed

    def __repr__(self) -> str:
        state = "connected" if self.connected else "not connected"
        return f"<{self._repr_name} {self.mail_server or '(no server)'}:{self.mail_port} {state}>"
