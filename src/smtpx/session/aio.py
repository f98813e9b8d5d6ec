"""The asyncio driver: engine operations over an AsyncStream, and one connection's life.

``drive(steps, call_for)`` is the driver core's loop (session/core.py) that waits with ``await``,
and ``run(generator, stream)`` drives one engine operation (its steps are the engine's actions,
which ``engine_calls`` turns into stream calls): over an AsyncStream with smtpx.session.eager's
fast path, which makes the same calls but lets a reply that arrives advance the operation from
the protocol's callback; over any other stream with ``drive``. AsyncSMTP.process_queue drives
its queue run with ``drive``. ``AsyncSession`` owns one connection: connect with the sync ``open_connection`` in
a worker thread (so firewalls, bind, socket options and the IPv6 rules are exactly the sync
ones), then hand the socket to asyncio; the opening sequence; engine operations; QUIT and
close. ``on_connection_status`` handlers run on the event loop's thread, in order, even for
the events open_connection reports from its thread. interrupt() is task cancellation here
(smtpx.aio.interrupt): a CancelledError is not thrown into the engine, it closes the
operation and the connection is dropped.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import socket
from typing import TYPE_CHECKING, Awaitable, Callable, Generator, TypeVar

from smtpx.engine.actions import Action
from smtpx.enums import SSLStartMode
from smtpx.errors import SMTPError
from smtpx.session.core import Call, SessionCore, StatusCallback, engine_calls, wait_for_bytes
from smtpx.session.eager import run_eagerly
from smtpx.session.settings import SessionSettings, local_name, prepare_open
from smtpx.transport.byte_stream import AsyncByteStream

if TYPE_CHECKING:
    from smtpx.aio.stream import AsyncStream

__all__ = ["drive", "run", "AsyncSession"]

Step = TypeVar("Step")  # what the generator yields: an engine Action, or a Call itself
Sent = TypeVar("Sent")
Result = TypeVar("Result")


async def drive(steps: Generator[Step, Sent, Result],
                call_for: Callable[[Step], Call[Awaitable[Sent]]]) -> Result:
    """Await the call for each step ``steps`` yields (``call_for(step)``: ``engine_calls`` for
    an engine operation, ``as_call`` for steps that are calls already) and send back its
    result, or throw in the Exception it raised; return what ``steps`` returns. The asyncio
    loop of the driver core (session/core.py)."""
    try:
        step = next(steps)
        while True:
            try:
                function, args = call_for(step)
                sent = await function(*args)
            except Exception as exc:
                step = steps.throw(exc)
            else:
                step = steps.send(sent)
    except StopIteration as stop:
        result: Result = stop.value
        return result
    finally:
        steps.close()


async def run(
    generator: Generator[Action, bytes | None, Result],
    stream: AsyncByteStream,
    start_tls: Callable[[], Awaitable[None]] | None = None,
) -> Result:
    """Run one engine operation to completion over ``stream`` and return its result.
    ``start_tls`` performs the handshake for a StartTLS action. The rules: session.core.engine_calls.
    Over an AsyncStream the operation is advanced from its protocol's callbacks while replies
    arrive (smtpx.session.eager: the same rules, without a task wake-up per reply)."""
    if hasattr(stream, "take_now"):
        return await run_eagerly(generator, engine_calls(stream, start_tls, read=wait_for_bytes),
                                 stream)  # type: ignore[arg-type]
    return await drive(generator, engine_calls(stream, start_tls))


def _on_loop(loop: asyncio.AbstractEventLoop, callback: StatusCallback) -> StatusCallback:
    """A status callback that a worker thread may call: it runs ``callback`` on the loop and
    waits for it, so events keep their order and a handler's exception reaches the caller."""

    def status(event: str, code: int, description: str) -> None:
        done: concurrent.futures.Future[None] = concurrent.futures.Future()

        def fire() -> None:
            try:
                callback(event, code, description)
                done.set_result(None)
            except BaseException as exc:  # noqa: BLE001 - handed back to the worker thread
                done.set_exception(exc)

        loop.call_soon_threadsafe(fire)  # RuntimeError when the loop is closed: the connect fails
        while True:
            try:
                return done.result(timeout=0.5)
            except concurrent.futures.TimeoutError:
                if done.done():  # the handler itself raised a TimeoutError (an SMTPTimeoutError...)
                    raise
                if loop.is_closed():  # nobody will ever run the handler
                    raise RuntimeError("the event loop closed while connecting") from None

    return status


def _connect_blocking(settings: SessionSettings, on_status: StatusCallback) -> tuple[socket.socket, str]:
    """In a worker thread: the sync connect, and the EHLO name (getfqdn may wait for DNS)."""
    from smtpx.transport.connect import ConnectOptions, open_connection

    sock = open_connection(settings.host, settings.port, settings.connect_options or ConnectOptions(), on_status)
    try:
        name = settings.hello_name or local_name(sock.getsockname())  # the sync Session's rule
    except BaseException:
        sock.close()
        raise
    return sock, name


def _close_when_done(future: asyncio.Future[tuple[socket.socket, str]]) -> None:
    """A connect nobody waits for any more: its socket is closed once it is there."""
    if not future.cancelled() and future.exception() is None:
        future.result()[0].close()


class AsyncSession(SessionCore["AsyncStream"]):
    """One connection: AsyncStream + engine. Use from one task at a time."""

    async def open(self) -> None:
        """Connect, then the opening sequence (TLS as the mode says, greeting, EHLO/HELO, AUTH)."""
        from smtpx.aio.handshake import check_supported
        from smtpx.aio.stream import open_stream

        s = self.settings
        tls = prepare_open(s, self.mode, self.engine.options)
        if tls is not None:
            check_supported(tls)  # what asyncio cannot do fails before connecting too
        self._tls = tls
        sock, name = await self._connect()
        self.stream = stream = await open_stream(sock, s.timeout, s.absolute_timeout, s.max_transfer_rate,
                                                 s.max_reply_time)
        stream.begin_operation()
        try:
            await self.run(self._opening(name))
        except asyncio.CancelledError:
            await self.close(quit=False)  # cancelled or interrupted: no QUIT to wait for
            raise
        except BaseException:
            await self.close(quit=self.alive)
            raise

    async def _connect(self) -> tuple[socket.socket, str]:
        loop = asyncio.get_running_loop()
        status = _on_loop(loop, self.on_status)
        future = loop.run_in_executor(None, _connect_blocking, self.settings, status)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            future.add_done_callback(_close_when_done)  # the thread cannot be stopped
            raise

    async def _start_tls(self) -> None:
        """The handshake for a StartTLS action (after STARTTLS's 220, or for implicit TLS)."""
        tls, server_hostname = self._handshake_args()
        stream = self.stream
        assert stream is not None  # only called while an operation runs on it
        await stream.start_tls(tls, server_hostname, self.hooks, starttls=self.mode == SSLStartMode.EXPLICIT)
        self._tls_started()

    async def run(self, generator: Generator[Action, bytes | None, Result]) -> Result:
        """Run one engine operation; drop the connection when it can no longer be trusted."""
        stream = self._connected(generator)
        try:
            return await run(generator, stream, self._start_tls)
        except BaseException as exc:
            if not self.keeps_connection(exc):
                self._drop()
            raise

    async def close(self, quit: bool = True) -> None:
        """QUIT when the connection is still good (errors ignored: we are leaving), then close
        (waiting for the close with quit, at once without)."""
        if self.stream is None:
            return
        if quit and self.alive:
            try:
                await self.run(self.engine.quit())
            except SMTPError:
                pass
        if not quit:
            self._drop()
            return
        stream = self._detach()
        if stream is not None:
            try:
                await stream.close()
            finally:
                self.on_status("Remote host disconnected", 0, "")
