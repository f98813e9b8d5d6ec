"""AsyncStream: the asyncio twin of transport/stream.py's SyncStream, over an already connected
socket (from smtpx.transport.connect.open_connection, so proxies and socket options are the
sync ones).

Same semantics as SyncStream:

- ``await read()`` gives the bytes available (at least one), b"" on EOF;
  ``await write(data, throttle=True)`` sends all of it, throttled by ``max_transfer_rate``
  (bytes/s, the sync TokenBucket) unless ``throttle`` is False;
- timeouts (``timeout=0``: none) are *inactivity* by default (the clock restarts at the start
  of each call and whenever bytes move) or *absolute* (one deadline per operation from
  :meth:`begin_operation`; without one each call is its own operation); ``max_reply_time``
  (MaxReplyTime, 0 = none) bounds one whole reply from its first byte (:meth:`track_reply`);
- ``await start_tls(settings, server_hostname, hooks)``: the handshake, then smtpx.tls's own
  verification and accept hook before anything else is written; bytes that arrived before the
  handshake are refused (RFC 3207 section 6);
- the same typed errors: SMTPTimeoutError (301), SMTPConnectionDropped (1120),
  SMTPCommunicationError (162), SMTPTLSError (276/284), SMTPNotConnectedError (1117).

Both implement smtpx.transport.byte_stream.ByteStream (this one as ``AsyncByteStream``: its
I/O methods are coroutines), the interface the driver core runs the engine over.

It is built on a small asyncio.Protocol rather than StreamReader, so that the bytes waiting
before a TLS upgrade can be checked without reaching into StreamReader's private buffer.
"""
from __future__ import annotations

import asyncio
import socket
import ssl
import time
from typing import Any, Optional

from smtpx import tls as _tls
from smtpx.errors import (SMTPCommunicationError, SMTPConnectionDropped, SMTPError, SMTPInputError,
                      SMTPNotConnectedError, SMTPTLSError)
from smtpx.transport.byte_stream import Address
from smtpx.transport.clock import TimeoutClock
from smtpx.transport.stream import TokenBucket
from smtpx.aio.handshake import handshake

__all__ = ["AsyncStream", "open_stream"]

_WRITE_CHUNK = 1 << 16
_PAUSE_READING_AT = 1 << 20  # a peer flooding us while we write: stop reading until we catch up


class _StreamProtocol(asyncio.Protocol):
    """Collects what arrives; wakes whoever waits for data or for the write buffer to drain."""

    def __init__(self) -> None:
        self.transport: Any = None
        self.buffer = bytearray()
        self.eof = False
        self.lost = False
        self.error: Optional[BaseException] = None
        self.paused_writing = False
        self.paused_reading = False
        self._waiter: Optional[asyncio.Future[None]] = None
        self.activity: Optional[Any] = None  # callback: bytes moved
        # An engine operation waiting for bytes from these callbacks (AsyncStream.park,
        # smtpx.session.eager): data_received hands it the bytes, any other news wakes it.
        self.parked: Optional[Any] = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def wake(self) -> None:
        """News other than bytes (EOF, loss, a drained buffer, a timer): whoever waits looks again."""
        parked, self.parked = self.parked, None
        if parked is not None:
            parked.on_wake()
        self._wake_waiter()

    def _wake_waiter(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def data_received(self, data: bytes) -> None:
        if self.activity is not None:
            self.activity()
        parked, self.parked = self.parked, None
        if parked is not None and not self.buffer and parked.on_data(data):
            return  # straight to the read that waited (it may park again)
        self.buffer += data
        if len(self.buffer) >= _PAUSE_READING_AT and not self.paused_reading:
            self.paused_reading = True
            self.transport.pause_reading()
        if parked is not None:  # it did not take them: its task reads them (read_on)
            parked.on_wake()
        self._wake_waiter()

    def eof_received(self) -> None:
        self.eof = True
        self.wake()

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        self.lost = True
        self.error = exc
        self.wake()

    def pause_writing(self) -> None:
        self.paused_writing = True

    def resume_writing(self) -> None:
        self.paused_writing = False
        if self.activity is not None:
            self.activity()
        self.wake()

    def waiter(self) -> "asyncio.Future[None]":
        if self._waiter is None or self._waiter.done():
            self._waiter = asyncio.get_running_loop().create_future()
        return self._waiter

    def take(self) -> bytes:
        data = bytes(self.buffer)
        self.buffer.clear()
        if self.paused_reading and not self.lost:
            self.paused_reading = False
            self.transport.resume_reading()
        return data


class AsyncStream(TimeoutClock):
    """A connected transport with timeouts, TLS upgrade and throttling (see the module doc)."""

    def __init__(self, transport: Any, protocol: _StreamProtocol, timeout: float, absolute: bool = False,
                 max_transfer_rate: int = 0, max_reply_time: float = 0.0) -> None:
        self._transport = transport
        self._protocol = protocol
        protocol.activity = self._touch
        self._init_clock(timeout, absolute, max_reply_time)
        self.max_transfer_rate = int(max_transfer_rate)
        self._bucket = TokenBucket(max_transfer_rate) if max_transfer_rate else None
        self._closed = False
        self._timer: Optional[asyncio.TimerHandle] = None  # wakes a wait at its deadline (_wake_within)
        self._tls_info: Optional[_tls.TLSInfo] = None
        self._high_water = transport.get_write_buffer_limits()[1]  # write_now's limit (start_tls reads it anew)
        self.local_address: Address = transport.get_extra_info("sockname") or ("", 0)
        self.remote_address: Address = transport.get_extra_info("peername") or ("", 0)

    # ------------------------------------------------------------------ timeouts
    # begin_operation(), end_operation() and the timeout rules: TimeoutClock.
    def _check_usable(self) -> None:
        if self._closed:
            raise SMTPNotConnectedError("the connection is closed", 1117)

    async def _wait(self) -> None:
        """Until the protocol has news (data, EOF, loss, drained buffer); raise on timeout.
        Inactivity restarts whenever bytes move, so a wake-up only re-checks the clock."""
        remaining = self._remaining()
        if remaining is not None and remaining <= 0:
            raise self._timed_out()
        waiter = self._protocol.waiter()
        if remaining is not None:
            self._wake_within(remaining)
        await waiter

    def _wake_within(self, remaining: float) -> None:
        """Make sure a wait is woken at the latest ``remaining`` seconds from now. A timer that
        only wakes (no task per wait, unlike wait_for): the caller loops, and the next call
        finds the time up, or the news. One timer serves every wait of the stream (making and
        cancelling one per wait cost about 1.5 us each time): one due later than needed is
        replaced; one due sooner is kept, and its early wake-up (the deadline moved on since)
        only makes the caller look at the clock again and ask for the rest."""
        loop = asyncio.get_running_loop()
        when = loop.time() + remaining
        timer = self._timer
        if timer is not None:
            if timer.when() <= when:
                return
            timer.cancel()
        self._timer = loop.call_at(when, self._alarm)

    def _alarm(self) -> None:
        self._timer = None
        self._protocol.wake()

    def _stop_timer(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    # ------------------------------------------------------------------ I/O
    def _lost_error(self, doing: str) -> Exception:
        exc = self._protocol.error
        if self._closed:
            return SMTPNotConnectedError("the connection is closed", 1117)
        if isinstance(exc, ssl.SSLError):
            return SMTPTLSError(f"TLS error while {doing}: {exc}", 284 if doing == "reading" else 283)
        if exc is None or isinstance(exc, (ConnectionError, BrokenPipeError)):
            detail = f": {exc}" if exc is not None else ""
            return SMTPConnectionDropped(f"connection dropped by the remote host while {doing}{detail}", 1120)
        return SMTPCommunicationError(f"error {doing}: {exc}", 162)

    async def read(self) -> bytes:
        """Bytes that are available (at least one); b"" when the peer has closed."""
        self._start_call(reading=True)
        return await self.read_on()

    async def read_on(self) -> bytes:
        """The rest of a read already begun (read(), or take_now() that found nothing): its
        rules, with its clock running since it began."""
        protocol = self._protocol
        while True:
            if protocol.buffer:
                self._got_data()
                return protocol.take()
            if protocol.eof:
                return b""
            if protocol.lost:
                if protocol.error is None or isinstance(protocol.error, (ssl.SSLZeroReturnError, ssl.SSLEOFError)):
                    return b""
                raise self._lost_error("reading")
            await self._wait()

    # ------------------------------------------------------------------ without waiting
    # smtpx.session.eager advances engine operations from the protocol's callbacks, with no
    # task wake-up per reply. These calls never wait; each does what read() or write() would
    # do up to the point where those would wait, under the same clock, or declines.
    def take_now(self) -> bytes | None:
        """read() without its wait: the read begins (its clock starts) and gives the bytes that
        arrived, or None when none have (the read then waits: park(), else read_on())."""
        self._start_call(reading=True)
        protocol = self._protocol
        if protocol.buffer:
            self._got_data()
            return protocol.take()
        return None

    def take_parked(self, data: bytes) -> bytes:
        """The bytes data_received hands a parked read (``run.on_data(data)``): the read gives
        them, as read() gives what arrived."""
        self._got_data()
        return data

    def park(self, run: Any) -> bool:
        """Wait for the bytes of the read take_now() began, from the protocol: its
        data_received calls ``run.on_data(data)``; anything else that happens (EOF, loss, the
        deadline's timer, a drained write buffer) calls ``run.on_wake()``, and the read goes on
        with read_on(). False when there is nothing to wait for (the peer closed, the
        connection is lost, the time is up): read_on() gives its outcome at once."""
        protocol = self._protocol
        if protocol.eof or protocol.lost:
            return False
        remaining = self._remaining()
        if remaining is not None:
            if remaining <= 0:
                return False
            self._wake_within(remaining)
        protocol.parked = run
        return True

    def unpark(self) -> None:
        self._protocol.parked = None

    def write_now(self, data: bytes) -> bool:
        """write(data) when it cannot wait: no throttle, and the transport takes all of it
        without going over its high-water mark (so it will not pause us); False, with nothing
        done, otherwise (write() then does it)."""
        protocol, transport = self._protocol, self._transport
        if self._bucket is not None or protocol.lost or self._closed or protocol.paused_writing \
                or transport.is_closing() \
                or transport.get_write_buffer_size() + len(data) > self._high_water:
            return False
        self._touch()  # bytes move now, and nothing waits: no call clock to start (as the sync write)
        transport.write(data)
        return True

    async def write(self, data: bytes | bytearray | memoryview, throttle: bool = True) -> None:
        """Send all of ``data``; throttled by max_transfer_rate unless ``throttle`` is False.

        An error raised midway carries ``bytes_written`` (the engine's Write contract,
        smtpx.engine.actions): the bytes that may have reached the socket. asyncio buffers
        writes and forgets its buffer when the connection is lost, so this is the bytes handed
        to the transport, less the last one when the transport still held some (it was paused):
        an upper bound, so the engine errs towards "delivery unknown", never towards a resend."""
        self._start_call()
        view = memoryview(data).cast("B")
        bucket = self._bucket if throttle else None
        progress = [0]  # bytes handed to the transport, less any it certainly still holds
        try:
            offset, total = 0, len(view)
            while offset < total:
                limit = min(total - offset, _WRITE_CHUNK)
                if bucket is not None:
                    # A burst at a time (TokenBucket.burst): writing each byte as soon as its
                    # token is there would hardly give the event loop back to the other tasks.
                    need = bucket.burst(limit)
                    allowed = bucket.available()
                    while allowed < need:
                        await self._sleep(bucket.delay(need))
                        allowed = bucket.available()
                    limit = min(limit, allowed)
                await self._write_some(view[offset:offset + limit], offset, progress)
                if bucket is not None:
                    bucket.take(limit)
                offset += limit
        except SMTPError as exc:
            exc.bytes_written = progress[0]  # type: ignore[attr-defined]
            raise

    async def write_parts(self, parts: tuple[bytes, ...]) -> None:
        """write(b"".join(parts)) without joining them: each handed to the transport in turn.
        ``bytes_written`` on an error counts in the joined bytes."""
        done = 0
        for part in parts:
            try:
                await self.write(part)
            except SMTPError as exc:
                exc.bytes_written = done + getattr(exc, "bytes_written", 0)  # type: ignore[attr-defined]
                raise
            done += len(part)

    async def _write_some(self, chunk: memoryview, offset: int, progress: list[int]) -> None:
        protocol = self._protocol
        if protocol.lost or self._transport.is_closing():
            raise self._lost_error("writing")
        self._transport.write(chunk)
        handed = offset + len(chunk)
        # While paused the transport holds bytes, the last ones given to it among them.
        progress[0] = handed - 1 if protocol.paused_writing else handed
        while protocol.paused_writing:
            if protocol.lost:
                raise self._lost_error("writing")
            await self._wait()
        progress[0] = handed
        if protocol.lost:
            raise self._lost_error("writing")

    async def _sleep(self, seconds: float) -> None:
        """Throttle pause: bounded by an absolute deadline; not inactivity."""
        remaining = self._remaining() if self.absolute else None
        if remaining is not None and remaining < seconds:
            await asyncio.sleep(max(0.0, remaining))
            raise self._timed_out()
        await asyncio.sleep(seconds)
        self._touch()

    # ------------------------------------------------------------------ TLS
    async def start_tls(self, tls: "_tls.TLSSettings", server_hostname: str, hooks: Optional["_tls.TLSHooks"] = None, *,
                        starttls: Optional[bool] = None) -> None:
        """TLS handshake (STARTTLS after the 220, or implicit TLS right after connect), then the
        verification verdict; nothing is written in between. ``starttls`` (True: after STARTTLS,
        False: implicit TLS) words the error when the server answers in plaintext: injection
        after STARTTLS, a plaintext port with implicit TLS."""
        self._start_call()
        if self._tls_info is not None:
            raise SMTPTLSError("TLS is already active on this connection", 276)
        protocol = self._protocol
        if protocol.buffer or protocol.eof or protocol.lost:
            early = bytes(protocol.buffer)
            self.abort()
            if early and starttls is False:  # a TLS server never speaks first: this one speaks plaintext
                raise _tls.handshake_error(None, starttls=False, received=early)
            if early:
                raise SMTPTLSError("the server sent data before the TLS handshake (after its 220 reply to "
                                   "STARTTLS); refusing to go on, it could be injected", 276)
            raise SMTPTLSError("the server closed the connection before the TLS handshake", 276)
        try:
            transport, info = await handshake(self._transport, protocol, tls, server_hostname, hooks,
                                              self._remaining(), self._timed_out, starttls=starttls)
        except BaseException:
            self.abort()
            raise
        self._transport = transport
        self._high_water = transport.get_write_buffer_limits()[1]
        self._tls_info = info
        self._touch()

    @property
    def tls_info(self) -> Optional["_tls.TLSInfo"]:
        return self._tls_info

    @property
    def is_tls(self) -> bool:
        return self._tls_info is not None

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def usable(self) -> bool:
        """Open, and not closed by the server (asyncio notices that at once; unread bytes may
        remain: read_nowait() gives them)."""
        protocol = self._protocol
        return not self._closed and not protocol.eof and not protocol.lost

    def read_nowait(self) -> bytes | None:
        """Without waiting: the bytes that arrived and were not read yet; else b"" when the
        server closed (or the connection was lost), None when all is quiet."""
        protocol = self._protocol
        if protocol.buffer:
            return protocol.take()
        return b"" if protocol.eof or protocol.lost else None

    # ------------------------------------------------------------------ close
    def abort(self) -> None:
        """Close at once, without waiting for anything (errors, cancellation)."""
        if not self._closed:
            self._closed = True
            self._stop_timer()
            self._transport.abort()

    async def close(self, wait: float = 1.0) -> None:
        """Close (TLS: with close_notify), waiting up to ``wait`` seconds for the transport to
        finish, so no half-closed transport outlives the event loop. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stop_timer()
        protocol = self._protocol
        self._transport.close()
        deadline = time.monotonic() + wait
        while not protocol.lost:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._transport.abort()
                break
            try:
                await asyncio.wait_for(asyncio.shield(protocol.waiter()), remaining)
            except asyncio.TimeoutError:
                pass
            except asyncio.CancelledError:
                self._transport.abort()
                raise


async def open_stream(sock: socket.socket, timeout: float, absolute: bool = False,
                      max_transfer_rate: int = 0, max_reply_time: float = 0.0) -> AsyncStream:
    """An AsyncStream over a connected socket (which the stream then owns)."""
    if timeout < 0:
        raise SMTPInputError("timeout must be >= 0 (0 = no timeout)")
    if max_transfer_rate < 0:
        raise SMTPInputError("max_transfer_rate must be >= 0 (0 = unlimited)")
    if max_reply_time < 0:
        raise SMTPInputError("max_reply_time must be >= 0 (0 = no reply deadline)")
    loop = asyncio.get_running_loop()
    sock.setblocking(False)
    try:
        transport, protocol = await loop.create_connection(_StreamProtocol, sock=sock)
    except BaseException:
        sock.close()
        raise
    return AsyncStream(transport, protocol, timeout, absolute, max_transfer_rate, max_reply_time)
