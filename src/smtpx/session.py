"""The thin sync driver: runs engine generators over a SyncStream, and one connection's life.

``run(generator, stream)`` performs each I/O action the engine yields (Write, Read, StartTLS)
and sends back its result. ``Session`` owns one connection: connect, implicit TLS or STARTTLS
as SSLStartMode says, greeting, EHLO/HELO, AUTH, then engine operations, then QUIT and close.

The driver makes no protocol decision (that is the engine's job); it only decides whether the
connection can still be used after an error: when the engine says it is closed, or the error
came from the I/O or from user code rather than from a server reply, the connection is dropped.
"""
from __future__ import annotations

import select
import socket
import ssl
import threading
from dataclasses import dataclass
from typing import Any, Callable, Generator, Protocol

from smtpx.enums import SSLStartMode
from smtpx.errors import (
    SMTPAuthError,
    SMTPError,
    SMTPInputError,
    SMTPInterrupted,
    SMTPNotConnectedError,
    SMTPNotSupportedError,
    SMTPReplyError,
    SMTPServiceClosing,
    SMTPTLSError,
)

__all__ = ["run", "Session", "SessionSettings", "effective_start_mode", "keeps_connection", "local_name",
           "prepare_open", "PLAINTEXT_PORTS"]

# The reference: automatic mode behaves as explicit on "the standard plaintext port of the
# protocol". SMTP has two plaintext ports that upgrade with STARTTLS: 25 (relay) and 587
# (submission, RFC 6409); every other port is taken to be implicit TLS (465, RFC 8314).
PLAINTEXT_PORTS = frozenset({25, 587})


def effective_start_mode(mode: int, port: int) -> SSLStartMode:
    """The start mode actually used: automatic resolves by port, as the reference's table says."""
    mode = SSLStartMode(int(mode))
    if mode == SSLStartMode.AUTOMATIC:
        return SSLStartMode.EXPLICIT if port in PLAINTEXT_PORTS else SSLStartMode.IMPLICIT
    return mode


def local_name(local_address: Any) -> str:
    """RFC 5321 4.1.4: the EHLO name, this host's FQDN, or an address literal of
    ``local_address`` (the socket's (host, port, ...)) when it has none."""
    fqdn = socket.getfqdn()
    if "." in fqdn and not fqdn.startswith("localhost"):
        return fqdn
    host = local_address[0] if isinstance(local_address, tuple) and local_address else "127.0.0.1"
    return f"[IPv6:{host}]" if ":" in host else f"[{host}]"


def prepare_open(settings: "SessionSettings", mode: SSLStartMode) -> tuple[Any, Any]:
    """Before connecting (sync or asyncio): the engine options, with TLS required when the
    mode starts TLS, and the TLS settings (None without TLS). TLS settings are built here so
    that a bad certificate setting fails before anything reaches the network."""
    from smtpx.engine import EngineOptions

    options = settings.engine_options if settings.engine_options is not None else EngineOptions()
    if mode in (SSLStartMode.EXPLICIT, SSLStartMode.IMPLICIT):
        options.tls_required = True
    tls = None
    if mode != SSLStartMode.NONE:
        tls = settings.tls_settings() if settings.tls_settings is not None else None
        if tls is None:
            raise SMTPTLSError("TLS was asked for but no TLS settings could be built", 270)
    return options, tls


def keeps_connection(engine: Any, exc: BaseException) -> bool:
    """True when a connection is still in a known state after ``exc``: the engine refused or
    the server refused a command, and the engine has not closed. Otherwise (I/O error,
    timeout, interrupt, 421, an error from user code) the driver drops the connection."""
    if engine is None or engine.closed or isinstance(exc, SMTPServiceClosing):
        return False
    return isinstance(exc, (SMTPReplyError, SMTPInputError, SMTPNotSupportedError, SMTPAuthError))


class _Stream(Protocol):
    def read(self) -> bytes: ...
    def write(self, data: bytes) -> None: ...


def run(
    generator: Generator[Any, Any, Any],
    stream: _Stream,
    start_tls: Callable[[], None] | None = None,
    check: Callable[[], None] | None = None,
) -> Any:
    """Run one engine operation to completion and return its result.

    ``start_tls`` performs the handshake for a StartTLS action (the Session passes one that
    calls ``stream.start_tls`` with the TLS settings and hooks); ``check`` runs before each
    action and may raise (the Session uses it for interrupt()). A stream with a
    ``reply_progress`` method (SyncStream: the MaxReplyTime deadline) is told each Read's
    ``reply`` before the read.
    """
    from smtpx.engine import Read, StartTLS, Write  # the engine package is imported lazily

    reply_progress = getattr(stream, "reply_progress", None)
    value: Any = None
    failure: BaseException | None = None
    try:
        while True:
            try:
                if failure is not None:
                    # I/O errors go into the engine, which closes its session and re-raises.
                    failure, thrown = None, failure
                    action = generator.throw(thrown)
                else:
                    action = generator.send(value)
            except StopIteration as stop:
                return stop.value
            try:
                if check is not None:
                    check()
                if isinstance(action, Write):
                    stream.write(action.data)
                    value = None
                elif isinstance(action, Read):
                    if reply_progress is not None:
                        reply_progress(action.reply)
                    value = stream.read()
                elif isinstance(action, StartTLS):
                    if start_tls is None:
                        raise SMTPTLSError("the engine asked for TLS but this driver has no TLS settings")
                    start_tls()
                    value = None
                else:  # an engine bug, never a user's or a server's doing
                    raise TypeError(f"unknown engine action {action!r}")
            except Exception as exc:
                failure = exc
    finally:
        generator.close()


def _socket_of(stream: Any) -> Any:
    """The stream's socket: its public ``socket`` attribute when it has one; SyncStream keeps
    it private today (``_sock``), so that is read as a fallback."""
    sock = getattr(stream, "socket", None)
    return sock if sock is not None else getattr(stream, "_sock", None)


def _read_if_ready(sock: Any) -> bytes | None:
    """Without blocking: None when nothing arrived, b"" when the peer closed, else the bytes.
    A TLS socket may have read only TLS records that carry no data (session tickets): None."""
    pending = sock.pending() if isinstance(sock, ssl.SSLSocket) else 0
    if not pending:
        readable, _, _ = select.select([sock.fileno()], [], [], 0)
        if not readable:
            return None
    if not isinstance(sock, ssl.SSLSocket):
        if not sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT):
            return b""
        return sock.recv(65536, socket.MSG_DONTWAIT)
    blocking = sock.getblocking()
    sock.setblocking(False)
    try:
        return sock.recv(65536)
    except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
        return None
    except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
        return b""
    except ssl.SSLError:
        return b""  # a TLS alert or a broken record: the connection cannot be used
    finally:
        sock.setblocking(blocking)


@dataclass
class SessionSettings:
    """Everything one connection needs, gathered by the facade from properties and config."""

    host: str
    port: int
    start_mode: int = SSLStartMode.NONE
    timeout: float = 60.0
    absolute_timeout: bool = False
    max_transfer_rate: int = 0
    max_reply_time: float = 300.0  # MaxReplyTime: one whole reply, from its first byte (0 = none)
    hello_name: str = ""  # "" -> this host's FQDN, or an address literal when it has none
    connect_options: Any = None  # smtpx.transport.connect.ConnectOptions
    engine_options: Any = None  # smtpx.engine.EngineOptions
    tls_settings: Callable[[], Any] | None = None  # built lazily: only TLS connections need it
    mechanism: Callable[[], Any] | None = None  # SASL mechanism factory, None = no AUTH


class Session:
    """One connection: stream + engine. Not thread-safe except ``interrupt()``."""

    def __init__(
        self,
        settings: SessionSettings,
        sink: Any,
        hooks: Any,
        on_status: Callable[[str, int, str], None],
        interrupted: threading.Event | None = None,
    ) -> None:
        self.settings = settings
        self.sink = sink
        self.hooks = hooks
        self.on_status = on_status
        self.stream: Any = None
        self.engine: Any = None
        self.greeting: Any = None
        self.mode = effective_start_mode(settings.start_mode, settings.port)
        # Shared with the facade, so interrupt() also reaches a method between connections.
        self._interrupted = interrupted if interrupted is not None else threading.Event()
        self._lock = threading.Lock()  # guards stream against interrupt() from another thread
        self._tls: Any = None
        self._tls_info: Any = None

    # ----------------------------------------------------------------------------- state
    @property
    def alive(self) -> bool:
        if self.stream is None or self.stream.closed or self.stream.interrupted:
            return False
        return not (self.engine is not None and self.engine.closed)

    @property
    def tls_info(self) -> Any:
        """What the last handshake negotiated (kept after the connection is closed)."""
        return self._tls_info

    # ----------------------------------------------------------------------------- open
    def open(self) -> None:
        """Connect, TLS as the mode says, greeting, EHLO/HELO, STARTTLS + EHLO, AUTH."""
        from smtpx.engine import Engine
        from smtpx.transport.connect import ConnectOptions, open_connection
        from smtpx.transport.stream import SyncStream

        s = self.settings
        options, self._tls = prepare_open(s, self.mode)
        self._check()
        sock = open_connection(s.host, s.port, s.connect_options or ConnectOptions(), self.on_status)
        with self._lock:
            self.stream = SyncStream(sock, s.timeout, s.absolute_timeout, s.max_transfer_rate,
                                     s.max_reply_time)
        self.stream.begin_operation()  # an absolute timeout covers the whole connect() or send()
        self.engine = Engine(options, self.sink)
        try:
            if self.mode == SSLStartMode.IMPLICIT:
                self._handshake()
            self.greeting = self.run(self.engine.greeting())
            name = s.hello_name or local_name(getattr(self.stream, "local_address", None))
            self.run(self.engine.hello(name))
            if self.mode == SSLStartMode.EXPLICIT:
                self.run(self.engine.starttls())  # yields StartTLS -> _handshake
                self.run(self.engine.hello(name))
            if s.mechanism is not None:
                self.run(self.engine.authenticate(s.mechanism()))
        except BaseException:
            self.close(quit=self.alive)
            raise

    def _server_hostname(self) -> str:
        return self.settings.host.lstrip("*")

    def _handshake(self) -> None:
        self.stream.start_tls(self._tls, self._server_hostname(), self.hooks,
                              starttls=self.mode == SSLStartMode.EXPLICIT)
        self._tls_info = self.stream.tls_info
        self.engine.tls_active = True
        self.on_status("SSL handshake complete", 0, "")

    # ----------------------------------------------------------------------------- run
    def _check(self) -> None:
        if self._interrupted.is_set():
            self._interrupted.clear()
            raise SMTPInterrupted("Operation interrupted.", 301)

    def run(self, generator: Generator[Any, Any, Any]) -> Any:
        """Run one engine operation; drop the connection when it can no longer be trusted."""
        if self.stream is None:
            generator.close()
            raise SMTPNotConnectedError("You need to connect first.", 1117)
        try:
            return run(generator, self.stream, self._handshake, self._check)
        except BaseException as exc:
            if not self.keeps_connection(exc):
                self.close(quit=False)
            raise

    def keeps_connection(self, exc: BaseException) -> bool:
        """True when the connection is still in a known state after ``exc``."""
        return keeps_connection(self.engine, exc)

    # ----------------------------------------------------------------------------- idle
    def check_idle(self) -> SMTPError | None:
        """Between methods, without blocking: has the server closed the connection, or sent
        something nobody asked for (an idle-timeout 421, garbage)? Either way the connection
        is dropped: None when it was a plain close, the engine's typed error (SMTPServiceClosing
        for a 421, SMTPProtocolError otherwise) when bytes came. None too when all is quiet."""
        if not self.alive:
            return None
        sock = _socket_of(self.stream)
        if sock is None:
            return None  # a stream that gives no access to its socket: the next method notices
        try:
            data = _read_if_ready(sock)
        except OSError:  # reset while idle: the connection is gone
            data = b""
        if data is None:
            return None
        error: SMTPError | None = None
        if data:
            try:
                self.engine.unsolicited(data)
            except SMTPError as exc:
                error = exc
        self.close(quit=False)
        return error

    # ----------------------------------------------------------------------------- close
    def close(self, quit: bool = True) -> None:
        """QUIT when the connection is still good (errors ignored: we are leaving), then close."""
        if self.stream is None:
            return
        if quit and self.alive:
            try:
                self.run(self.engine.quit())
            except SMTPError:
                pass
        with self._lock:
            stream, self.stream = self.stream, None
        if stream is not None:
            try:
                stream.close()
            finally:
                self.on_status("Remote host disconnected", 0, "")

    def interrupt(self) -> None:
        """From another thread: the blocked read/write (or the next action) raises SMTPInterrupted."""
        self._interrupted.set()
        with self._lock:
            stream = self.stream
        if stream is not None:
            stream.interrupt()
