"""The driver core: every rule of running the engine over a stream, written once for the sync
driver (session/sync.py) and the asyncio driver (session/aio.py).

The two drivers differ only in how they wait: ``function(*args)`` or ``await function(*args)``
(their ``drive`` loops). Everything else is here, over the typed stream interface
(smtpx.transport.byte_stream.ByteStream) that SyncStream and AsyncStream both implement:

- ``engine_calls`` makes the function that turns each engine action into one stream call (a
  ``Call``: function and arguments) for the driver's ``drive`` loop to make:
  ``Write(data)`` -> ``stream.write(data)`` (a write that fails raises with ``bytes_written``,
  the streams' side of the Write contract), a ``WriteParts`` -> ``stream.write_parts(parts)``; ``Read(reply)`` -> ``stream.track_reply(...)`` (the
  engine's word on how much of the awaited reply has arrived, turned into the clock's terms for
  MaxReplyTime) then ``stream.read()``; ``StartTLS()`` -> the session's handshake. An I/O
  error (the sync interrupt() included: the stream's next call raises it) is thrown into the
  engine at the action, so the engine closes its session and decides what the error means (a
  message cut before its end of data is not delivered).
- ``keeps_connection``: after an error, whether the connection is still in a known state.
- ``SessionCore``: one connection's state and what needs no waiting: the opening sequence as
  one engine operation (implicit TLS, greeting, EHLO/HELO, STARTTLS and EHLO again, AUTH),
  the bookkeeping after a handshake, the idle check, and dropping the connection.

The driver makes no protocol decision (that is the engine's job).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Generator, Generic, TypeVar

from smtpx.engine import Engine, EngineOptions, Read, StartTLS, Write, WriteParts
from smtpx.engine.actions import REPLY_BEGUN_IN_LAST_READ, REPLY_NOT_BEGUN, Action
from smtpx.enums import SSLStartMode
from smtpx.errors import (
    SMTPAuthError,
    SMTPError,
    SMTPInputError,
    SMTPNotConnectedError,
    SMTPNotSupportedError,
    SMTPReplyError,
    SMTPServiceClosing,
    SMTPTLSError,
)
from smtpx.session.settings import SessionSettings, effective_start_mode
from smtpx.transport.byte_stream import ByteStream

if TYPE_CHECKING:
    from smtpx.kernels import Reply
    from smtpx.tls import TLSHooks, TLSInfo, TLSSettings

__all__ = ["Call", "NO_ARGS", "as_call", "engine_calls", "wait_for_bytes", "SessionCore", "keeps_connection", "StatusCallback"]

Result = TypeVar("Result")  # what an engine operation returns
IOResult = TypeVar("IOResult")  # what one stream call gives: bytes | None, or an awaitable of it
StreamT = TypeVar("StreamT", bound="ByteStream[object, object]")

# One call for a driver to make: a function and its arguments. The driver calls it (sync) or
# awaits what it returns (asyncio), and sends the result back, or throws its Exception in.
Call = tuple[Callable[..., IOResult], tuple[object, ...]]
NO_ARGS: tuple[object, ...] = ()

StatusCallback = Callable[[str, int, str], None]  # on_connection_status(event, code, description)


def wait_for_bytes() -> None:
    """``engine_calls(..., read=wait_for_bytes)``: a marker, never called. The caller (the sync
    Session's ``stream_steps``) sees it as the call for a Read and waits for bytes its own way."""
    raise AssertionError("wait_for_bytes is a marker, not a call")


def engine_calls(
    stream: ByteStream[IOResult, IOResult],
    start_tls: Callable[[], IOResult] | None = None,
    read: Callable[[], IOResult] | None = None,
) -> Callable[[Action], Call[IOResult]]:
    """The function that turns each engine action into the stream call performing it (see the
    module doc): Read -> ``track_reply(...)`` then ``read()``, Write -> ``write(data)``,
    WriteParts -> ``write_parts(parts)``, StartTLS -> ``start_tls()`` (SMTPTLSError without
    one). A driver's ``drive`` loop calls it on every action the engine yields (a function, not
    a generator between the two: one generator fewer to resume on every action); what it
    raises, and what the call raises, is an Exception the driver throws into the engine at the
    action, and a BaseException (KeyboardInterrupt, a cancellation) closes the engine's
    generator instead. ``read``, when given, is the call for a Read instead of
    ``stream.read`` (``wait_for_bytes``: the caller waits for the bytes itself)."""
    track_reply, write, write_parts = stream.track_reply, stream.write, stream.write_parts
    if read is None:
        read = stream.read
    # Without a reply deadline (MaxReplyTime 0; the facades' default is 300 s) track_reply has
    # nothing to do.
    tracking = getattr(stream, "max_reply_time", True) != 0

    def call_for(action: Action) -> Call[IOResult]:
        if isinstance(action, Read):
            if tracking:
                reply = action.reply
                track_reply(reply != REPLY_NOT_BEGUN, reply == REPLY_BEGUN_IN_LAST_READ)
            return read, NO_ARGS
        if isinstance(action, Write):
            if type(action) is WriteParts:  # a big content: no join (stream.write_parts)
                return write_parts, (action.parts,)
            return write, (action.data,)
        if isinstance(action, StartTLS):
            if start_tls is None:
                raise SMTPTLSError("the engine asked for TLS but this driver has no TLS settings")
            return start_tls, NO_ARGS
        raise TypeError(f"unknown engine action {action!r}")  # an engine bug, never a user's or a server's doing

    return call_for


def as_call(step: Call[IOResult]) -> Call[IOResult]:
    """``drive``'s ``call_for`` for a generator that yields its calls itself (smtpx.queue.runner)."""
    return step


def keeps_connection(engine: Engine, exc: BaseException) -> bool:
    """True when a connection is still in a known state after ``exc``: the engine refused or
    the server refused a command, and the engine has not closed. Otherwise (I/O error,
    timeout, interrupt, cancellation, 421, an error from user code) the driver drops it."""
    if engine.closed or isinstance(exc, SMTPServiceClosing):
        return False
    return isinstance(exc, (SMTPReplyError, SMTPInputError, SMTPNotSupportedError, SMTPAuthError))


class SessionCore(Generic[StreamT]):
    """One connection (stream + engine): the state and the steps both drivers share. A driver
    adds ``open()``, ``run(generator)`` and ``close(quit)``, which wait in its own way."""

    def __init__(self, settings: SessionSettings, sink: object, hooks: TLSHooks | None,
                 on_status: StatusCallback) -> None:
        self.settings = settings
        self.sink = sink
        self.hooks = hooks
        self.on_status = on_status
        self.stream: StreamT | None = None
        # The connection's engine, there from the start (its state: waiting for the greeting);
        # open() makes TLS required in its options when the mode starts TLS.
        options = settings.engine_options if settings.engine_options is not None else EngineOptions()
        self.engine = Engine(options, sink)
        self.greeting: Reply | None = None
        self.hello_reply: Reply | None = None  # the reply to the last EHLO/HELO (a driver's caller may renew it)
        self.mode = effective_start_mode(settings.start_mode, settings.port)
        self._tls: TLSSettings | None = None
        self._tls_info: TLSInfo | None = None

    # ----------------------------------------------------------------------------- state
    @property
    def alive(self) -> bool:
        """Usable: the stream is open and not known to be broken, and the engine has not closed."""
        stream = self.stream
        return stream is not None and stream.usable and not self.engine.closed

    @property
    def tls_info(self) -> TLSInfo | None:
        """What the last handshake negotiated (kept after the connection is closed)."""
        return self._tls_info

    def keeps_connection(self, exc: BaseException) -> bool:
        """True when the connection is still in a known state after ``exc``."""
        return keeps_connection(self.engine, exc)

    def _connected(self, generator: Generator[Action, bytes | None, object]) -> StreamT:
        """The stream to run ``generator`` over; SMTPNotConnectedError (and the generator
        closed, never started) when there is none."""
        if self.stream is None:
            generator.close()
            raise SMTPNotConnectedError("You need to connect first.", 1117)
        return self.stream

    # ----------------------------------------------------------------------------- open
    def _opening(self, hello_name: str) -> Generator[Action, bytes | None, None]:
        """Everything after the TCP connect, as one engine operation: implicit TLS, the
        greeting, EHLO/HELO, STARTTLS and EHLO/HELO again, AUTH, as the start mode says."""
        engine = self.engine
        if self.mode == SSLStartMode.IMPLICIT:
            yield StartTLS()  # before the server's first byte
        self.greeting = yield from engine.greeting()
        self.hello_reply = yield from engine.hello(hello_name)
        if self.mode == SSLStartMode.EXPLICIT:
            yield from engine.starttls()  # yields StartTLS after the 220
            self.hello_reply = yield from engine.hello(hello_name)
        if self.settings.mechanism is not None:
            caps = engine.capabilities  # the factory may pick from what the server offers
            yield from engine.authenticate(self.settings.mechanism(caps.auth_mechanisms, engine.tls_active))

    def prepare_starttls(self, tls: TLSSettings) -> None:
        """Before an engine ``starttls()`` run on a connection opened without TLS (the facade's
        ``starttls()``, for smtpx.smtplib): the TLS settings its handshake uses. The session
        counts as explicit TLS from then on."""
        self._tls = tls
        self.mode = SSLStartMode.EXPLICIT

    def _handshake_args(self) -> tuple[TLSSettings, str]:
        """The TLS settings and server name for the stream's start_tls."""
        if self._tls is None:  # prepare_open builds them for every mode that starts TLS
            raise SMTPTLSError("the engine asked for TLS but this connection has no TLS settings")
        return self._tls, self.settings.host.lstrip("*")

    def _tls_started(self) -> None:
        """After a handshake: what it negotiated, and the engine told (implicit TLS)."""
        if self.stream is not None:
            self._tls_info = self.stream.tls_info
        self.engine.tls_active = True
        self.on_status("SSL handshake complete", 0, "")

    # ----------------------------------------------------------------------------- idle
    def check_idle(self) -> SMTPError | None:
        """Between methods, without waiting: has the server closed the connection, or sent
        something nobody asked for (an idle-timeout 421, garbage)? Either way the connection is
        dropped: None when it was a plain close, the engine's typed error for the bytes
        otherwise (SMTPServiceClosing for a 421, SMTPProtocolError else). None too when all is
        quiet. The same check for both drivers: the stream's read_nowait()."""
        stream, engine = self.stream, self.engine
        if stream is None or stream.closed or engine.closed:
            return None
        data = stream.read_nowait()
        if data is None:
            return None
        error: SMTPError | None = None
        if data:
            try:
                engine.unsolicited(data)
            except SMTPError as exc:
                error = exc
        self._drop()
        return error

    # ----------------------------------------------------------------------------- close
    def _detach(self) -> StreamT | None:
        """Take the stream away from the session (the sync driver does it under its lock)."""
        stream, self.stream = self.stream, None
        return stream

    def _drop(self) -> None:
        """Close at once, without QUIT: the connection can no longer be trusted."""
        stream = self._detach()
        if stream is not None:
            try:
                stream.abort()
            finally:
                self.on_status("Remote host disconnected", 0, "")
