"""One asyncio connection's life: the twin of smtpx.session.Session, over an AsyncStream.

Connect with the sync ``open_connection`` in a worker thread (so firewalls, bind, socket
options and the IPv6 rules are exactly the sync ones), then hand the socket to asyncio;
implicit TLS or STARTTLS as SSLStartMode says; greeting, EHLO/HELO, AUTH; engine operations;
QUIT and close. ``on_connection_status`` handlers run on the event loop's thread, in order,
even for the events open_connection reports from its thread.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import socket
from typing import Any, Callable, Generator

from smtpx.enums import SSLStartMode
from smtpx.errors import SMTPError, SMTPNotConnectedError
from smtpx.session import SessionSettings, effective_start_mode, keeps_connection, local_name, prepare_open

from smtpx.aio.driver import run
from smtpx.aio.handshake import check_supported
from smtpx.aio.stream import AsyncStream, open_stream

__all__ = ["AsyncSession"]

StatusCallback = Callable[[str, int, str], None]


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
        name = settings.hello_name
        if not name:
            name = local_name(sock.getsockname())  # the sync Session's rule
    except BaseException:
        sock.close()
        raise
    return sock, name


class AsyncSession:
    """One connection: AsyncStream + engine. Use from one task at a time."""

    def __init__(self, settings: SessionSettings, sink: Any, hooks: Any, on_status: StatusCallback) -> None:
        self.settings = settings
        self.sink = sink
        self.hooks = hooks
        self.on_status = on_status
        self.stream: AsyncStream | None = None
        self.engine: Any = None
        self.greeting: Any = None
        self.mode = effective_start_mode(settings.start_mode, settings.port)
        self._tls: Any = None
        self._tls_info: Any = None

    @property
    def alive(self) -> bool:
        """Usable: open on our side, not closed by the server (asyncio notices that at once),
        and not closed by the engine."""
        if self.stream is None or self.stream.closed or self.stream.peer_closed:
            return False
        return not (self.engine is not None and self.engine.closed)

    @property
    def tls_info(self) -> Any:
        return self._tls_info

    # ----------------------------------------------------------------------------- open
    async def open(self) -> None:
        from smtpx.engine import Engine

        s = self.settings
        options, tls = prepare_open(s, self.mode)
        if tls is not None:
            check_supported(tls)  # what asyncio cannot do fails before connecting too
        self._tls = tls
        sock, name = await self._connect()
        self.stream = await open_stream(sock, s.timeout, s.absolute_timeout, s.max_transfer_rate,
                                        s.max_reply_time)
        self.stream.begin_operation()
        self.engine = Engine(options, self.sink)
        try:
            if self.mode == SSLStartMode.IMPLICIT:
                await self._handshake()
            self.greeting = await self.run(self.engine.greeting())
            await self.run(self.engine.hello(name))
            if self.mode == SSLStartMode.EXPLICIT:
                await self.run(self.engine.starttls())
                await self.run(self.engine.hello(name))
            if s.mechanism is not None:
                await self.run(self.engine.authenticate(s.mechanism()))
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
            # The thread cannot be stopped: close its socket when it is done.
            future.add_done_callback(lambda f: f.cancelled() or f.exception() or f.result()[0].close())
            raise

    async def _handshake(self) -> None:
        assert self.stream is not None
        await self.stream.start_tls(self._tls, self.settings.host.lstrip("*"), self.hooks,
                                    starttls=self.mode == SSLStartMode.EXPLICIT)
        self._tls_info = self.stream.tls_info
        self.engine.tls_active = True
        self.on_status("SSL handshake complete", 0, "")

    # ----------------------------------------------------------------------------- run
    async def run(self, generator: Generator[Any, Any, Any]) -> Any:
        """Run one engine operation; drop the connection when it can no longer be trusted."""
        if self.stream is None:
            generator.close()
            raise SMTPNotConnectedError("You need to connect first.", 1117)
        try:
            return await run(generator, self.stream, self._handshake)
        except BaseException as exc:
            if not self.keeps_connection(exc):
                await self.close(quit=False)
            raise

    def keeps_connection(self, exc: BaseException) -> bool:
        """The sync Session's rule: the connection survives a refusal, not an I/O error."""
        return keeps_connection(self.engine, exc)

    # ----------------------------------------------------------------------------- idle
    def check_idle(self) -> SMTPError | None:
        """Between methods, without waiting: did the server close the connection or send
        something nobody asked for? Then the stream is aborted (the caller closes the session)
        and the engine's typed error for the bytes is returned (None for a plain close or when
        all is quiet)."""
        stream = self.stream
        if stream is None or stream.closed or self.engine is None or self.engine.closed:
            return None
        data = stream.take_pending()
        if not data and not stream.peer_closed:
            return None
        error: SMTPError | None = None
        if data:
            try:
                self.engine.unsolicited(data)
            except SMTPError as exc:
                error = exc
        stream.abort()
        return error

    # ----------------------------------------------------------------------------- close
    async def close(self, quit: bool = True) -> None:
        """QUIT when the connection is still good (errors ignored: we are leaving), then close."""
        if self.stream is None:
            return
        if quit and self.alive:
            try:
                await self.run(self.engine.quit())
            except SMTPError:
                pass
        stream, self.stream = self.stream, None
        if stream is None:
            return
        try:
            if quit:
                await stream.close()
            else:
                stream.abort()
        finally:
            self.on_status("Remote host disconnected", 0, "")
