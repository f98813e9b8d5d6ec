"""The sync driver: engine operations over a SyncStream, and one connection's life.

``drive(steps, call_for)`` is the driver core's loop (session/core.py) that waits by calling,
and ``run(generator, stream)`` drives one engine operation with it (its steps are the engine's
actions, which ``engine_calls`` turns into stream calls; SMTP.process_queue drives its queue
run with it too).
``Session`` owns one connection: connect, the opening sequence, engine operations, QUIT and
close; ``interrupt()`` from another thread wakes a blocked read or write.
"""
from __future__ import annotations

import threading
from typing import Callable, Generator, TypeVar

from smtpx.engine.actions import Action
from smtpx.enums import SSLStartMode
from smtpx.errors import SMTPError, SMTPInterrupted
from smtpx.session.core import NO_ARGS, Call, SessionCore, StatusCallback, engine_calls, wait_for_bytes
from smtpx.session.settings import SessionSettings, local_name, prepare_open
from smtpx.tls import TLSHooks
from smtpx.transport.byte_stream import SyncByteStream
from smtpx.transport.stream import SyncStream

__all__ = ["blocking_read", "drive", "run", "Session", "InterruptFlag"]

Step = TypeVar("Step")  # what the generator yields: an engine Action, or a Call itself
Sent = TypeVar("Sent")
Result = TypeVar("Result")


def drive(steps: Generator[Step, Sent, Result], call_for: Callable[[Step], Call[Sent]]) -> Result:
    """Make the call for each step ``steps`` yields (``call_for(step)``: ``engine_calls`` for
    an engine operation, ``as_call`` for steps that are calls already) and send back its
    result, or throw in the Exception it raised; return what ``steps`` returns. The sync
    loop of the driver core (session/core.py)."""
    try:
        step = next(steps)
        while True:
            try:
                function, args = call_for(step)
                sent = function(*args)
            except Exception as exc:
                step = steps.throw(exc)
            else:
                step = steps.send(sent)
    except StopIteration as stop:
        result: Result = stop.value
        return result
    finally:
        steps.close()


def run(
    generator: Generator[Action, bytes | None, Result],
    stream: SyncByteStream,
    start_tls: Callable[[], None] | None = None,
) -> Result:
    """Run one engine operation to completion over ``stream`` and return its result.
    ``start_tls`` performs the handshake for a StartTLS action. The rules: session.core.engine_calls."""
    return drive(generator, engine_calls(stream, start_tls))


def blocking_read(stream: SyncStream) -> Call[bytes]:
    """``drive``'s ``call_for`` for steps that yield the stream they wait on
    (``Session.stream_steps``): its blocking read."""
    return stream.read, NO_ARGS


class InterruptFlag:
    """Raised by ``interrupt()`` from another thread, read and lowered by the thread that runs
    the methods: a ``threading.Event`` without its lock and its ``wait()``, which nobody needs
    here (one bool, written and read whole under the GIL). Its check runs several times per
    method, where Event.is_set() is a call into Python each time."""

    __slots__ = ("raised",)

    def __init__(self) -> None:
        self.raised = False


class Session(SessionCore[SyncStream]):
    """One connection: SyncStream + engine. Not thread-safe except ``interrupt()``."""

    def __init__(
        self,
        settings: SessionSettings,
        sink: object,
        hooks: TLSHooks | None,
        on_status: StatusCallback,
        interrupted: InterruptFlag | None = None,
    ) -> None:
        super().__init__(settings, sink, hooks, on_status)
        # Shared with the facade, so interrupt() also reaches a method between connections.
        self._interrupted = interrupted if interrupted is not None else InterruptFlag()
        self._lock = threading.Lock()  # guards stream against interrupt() from another thread
        # engine_calls for the stream it was made for: made once per connection, not per run
        self._calls: tuple[SyncStream, Callable[[Action], Call[bytes | None]]] | None = None

    def open(self) -> None:
        """Connect, then the opening sequence (TLS as the mode says, greeting, EHLO/HELO, AUTH)."""
        from smtpx.transport.connect import ConnectOptions, open_connection

        s = self.settings
        self._tls = prepare_open(s, self.mode, self.engine.options)
        self._check()
        sock = open_connection(s.host, s.port, s.connect_options or ConnectOptions(), self.on_status)
        stream = SyncStream(sock, s.timeout, s.absolute_timeout, s.max_transfer_rate, s.max_reply_time,
                            s.spin_wait)
        with self._lock:
            self.stream = stream
        stream.begin_operation()  # an absolute timeout covers the whole connect() or send()
        try:
            self.run(self._opening(s.hello_name or local_name(stream.local_address)))
        except BaseException:
            self.close(quit=self.alive)
            raise

    def _start_tls(self) -> None:
        """The handshake for a StartTLS action (after STARTTLS's 220, or for implicit TLS)."""
        tls, server_hostname = self._handshake_args()
        self._connected_stream().start_tls(tls, server_hostname, self.hooks,
                                           starttls=self.mode == SSLStartMode.EXPLICIT)
        self._tls_started()

    def _connected_stream(self) -> SyncStream:
        stream = self.stream
        assert stream is not None  # only called while an operation runs on it
        return stream

    def _check(self) -> None:
        if self._interrupted.raised:
            self._interrupted.raised = False
            raise SMTPInterrupted("Operation interrupted.", 301)

    def run(self, generator: Generator[Action, bytes | None, Result]) -> Result:
        """Run one engine operation; drop the connection when it can no longer be trusted."""
        stream = self._connected(generator)
        try:
            # An interrupt() from now on reaches the stream, whose next read or write raises;
            # one check here covers one that came before (while connecting, or idle).
            self._check()
            calls = self._calls
            if calls is None or calls[0] is not stream:
                byte_stream: SyncByteStream = stream
                calls = self._calls = (stream, engine_calls(byte_stream, self._start_tls))
            return drive(generator, calls[1])
        except BaseException as exc:
            if not self.keeps_connection(exc):
                self._drop()
            raise

    def stream_steps(self, generator: Generator[Action, bytes | None, Result]
                     ) -> Generator[SyncStream, bytes, Result]:
        """``run(generator)`` for a driver that waits in its own way: each write (and TLS
        handshake) is made here, and for each read this yields the stream, to be sent back its
        bytes (b"" when the peer closed) or thrown the read's error. ``drive(steps,
        blocking_read)`` waits as ``run`` does; smtpx.session.multiplex waits for many
        connections at once. The same rules as ``run`` (session.core.engine_calls)."""
        stream = self._connected(generator)
        try:
            self._check()
            call_for = engine_calls(stream, self._start_tls, read=wait_for_bytes)
            step = next(generator)
            while True:
                try:
                    function, args = call_for(step)
                    sent = (yield stream) if function is wait_for_bytes else function(*args)
                except Exception as exc:
                    step = generator.throw(exc)
                else:
                    step = generator.send(sent)
        except StopIteration as stop:
            result: Result = stop.value
            return result
        except BaseException as exc:
            if not self.keeps_connection(exc):
                self._drop()
            raise
        finally:
            generator.close()

    def close(self, quit: bool = True) -> None:
        """QUIT when the connection is still good (errors ignored: we are leaving), then close."""
        if self.stream is None:
            return
        if quit and self.alive:
            try:
                self.run(self.engine.quit())
            except SMTPError:
                pass
        self._drop()

    def _detach(self) -> SyncStream | None:
        self._calls = None  # (it refers to this session: no cycle left behind)
        with self._lock:
            return super()._detach()

    def interrupt(self) -> None:
        """From another thread: the blocked read/write (or the next action) raises SMTPInterrupted."""
        self._interrupted.raised = True
        with self._lock:
            stream = self.stream
        if stream is not None:
            stream.interrupt()
