"""SyncStream: the blocking byte stream the sync driver runs the engine over.

The socket is kept non-blocking; every wait goes through one ``poll`` on the socket and a
wake-up socketpair, so that

- timeouts are exact and of either kind: *inactivity* (default: the clock restarts at the start
  of each read()/write() and whenever bytes move) or *absolute* (one deadline for the whole
  operation, set by :meth:`begin_operation`; without it each call is its own operation);
  ``timeout=0`` means none;
- :meth:`interrupt` from another thread wakes a blocked read/write/handshake at once, which then
  raises ``SMTPInterrupted``. An interrupted stream stays interrupted (the protocol state is
  unknown) until :meth:`close`; call it only while an operation runs or is about to;
- ``max_transfer_rate`` (bytes/s, 0 = unlimited) throttles ``write(data, throttle=True)`` with a
  token bucket; waiting for tokens counts against an absolute deadline but not as inactivity;
- ``max_reply_time`` (seconds, 0 = none; MaxReplyTime) bounds one whole server reply from its
  first byte, whatever the timeout kind: the driver says before each read how much of the reply
  has arrived (:meth:`track_reply`, from the engine's ``Read.reply``);
- ``spin_wait`` (seconds, 0 = never; SpinWait): a read that finds nothing polls the socket
  without sleeping for up to this long before it sleeps in ``poll``. Waking a sleeping thread
  costs tens of microseconds (more on a virtual machine, whose idle CPU the host parks), more
  than a server on the same machine or a fast LAN takes to answer, and a pipelined sender
  waits once per round trip. ``SPIN_MISSES`` spins in a row that miss (a slower server) turn
  spinning off for the next ``SPIN_PROBE_EVERY`` waits, so a distant server costs about one
  spin in that many.

It implements smtpx.transport.byte_stream.ByteStream (``SyncByteStream``), the interface the
sync driver runs the engine over; ``interrupt()`` is its own.

Errors: SMTPTimeoutError (301), SMTPInterrupted (301), SMTPConnectionDropped (1120) when the
peer resets or closes while we write, SMTPCommunicationError (162) for other socket errors,
SMTPTLSError 283/284 for TLS errors while writing/reading (281 when the server refuses our
client certificate after a TLS 1.3 handshake), SMTPNotConnectedError (1117) after close().
"""
from __future__ import annotations

import errno
import functools
import select
import socket
import ssl
import time
from typing import Any, Callable, Optional

from smtpx import tls as _tls
from smtpx.errors import (SMTPCommunicationError, SMTPConnectionDropped, SMTPError, SMTPInputError, SMTPInterrupted,
                      SMTPNotConnectedError, SMTPTLSError)
from smtpx.kernels import recv_nowait
from smtpx.transport.byte_stream import Address
from smtpx.transport.clock import TimeoutClock

__all__ = ["SyncStream", "TokenBucket"]

_READ_SIZE = 65536
# spin_wait: after SPIN_MISSES spins in a row that missed (one alone is usually the machine
# pausing us, not a slow server), the next SPIN_PROBE_EVERY waits do not spin.
SPIN_MISSES = 3
SPIN_PROBE_EVERY = 64
_DROPPED_ERRNOS = {errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED, errno.ESHUTDOWN, errno.ENOTCONN}


def _address(getter: Callable[[], Address]) -> Address:
    try:
        return getter()
    except OSError:
        return ("", 0)


class TokenBucket:
    """``rate`` bytes per second, with a burst of about 20 ms worth (at least 1 byte)."""

    def __init__(self, rate: int) -> None:
        self.rate = float(rate)
        self.capacity = max(1.0, min(self.rate / 50.0, 65536.0))
        self.tokens = self.capacity
        self.stamp = time.monotonic()

    def available(self) -> int:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        return int(self.tokens)

    def burst(self, limit: int) -> int:
        """How many tokens to wait for before writing ``limit`` bytes: all of them, or half
        the bucket if that is less. Writing as soon as one token is there would send a byte or
        two per system call; waiting for the whole bucket would lose the tokens of a wake-up
        that comes late (a full bucket takes no more), so the rate would sag."""
        return max(1, min(limit, int(self.capacity) // 2))

    def delay(self, tokens: int) -> float:
        """Seconds until ``tokens`` whole tokens are there."""
        return max(0.0, (tokens - self.tokens) / self.rate)

    def take(self, n: int) -> None:
        self.tokens -= n


_IOV_MAX = 512  # buffers per sendmsg() (the kernel refuses more than IOV_MAX, 1024 on Linux)


class SyncStream(TimeoutClock):
    """A connected socket with timeouts, TLS upgrade, interrupt and throttling."""

    def __init__(self, sock: socket.socket, timeout: float, absolute: bool = False,
                 max_transfer_rate: int = 0, max_reply_time: float = 0.0, spin_wait: float = 0.0) -> None:
        if timeout < 0:
            raise SMTPInputError("timeout must be >= 0 (0 = no timeout)")
        if max_transfer_rate < 0:
            raise SMTPInputError("max_transfer_rate must be >= 0 (0 = unlimited)")
        if max_reply_time < 0:
            raise SMTPInputError("max_reply_time must be >= 0 (0 = no reply deadline)")
        if not spin_wait >= 0:
            raise SMTPInputError("spin_wait must be >= 0 (0 = never spin)")
        self._sock: socket.socket = sock  # an ssl.SSLSocket after start_tls()
        self._init_clock(timeout, absolute, max_reply_time)
        self.max_transfer_rate = int(max_transfer_rate)
        self._bucket = TokenBucket(max_transfer_rate) if max_transfer_rate else None
        # A plain flag, not an Event: nothing waits on it (the wake socket wakes a blocked
        # wait), and reading an attribute is cheaper than is_set() on every read and write.
        self._interrupted = False
        self._closed = False
        self._tls_info: Optional[_tls.TLSInfo] = None
        sock.setblocking(False)
        self._fd = sock.fileno()  # the same descriptor after the TLS upgrade
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._wake_fd = self._wake_r.fileno()
        # One poll set per direction, each registered once (the socket's descriptor stays the
        # same after the TLS upgrade): a wait is one poll() call.
        self._polls: tuple[Any, Any] | None = None
        if hasattr(select, "poll"):
            self._polls = (select.poll(), select.poll())
            for poller, mask in zip(self._polls, (select.POLLIN, select.POLLOUT)):
                poller.register(self._fd, mask)
                poller.register(self._wake_fd, select.POLLIN)
        self.spin_wait = float(spin_wait) if self._polls is not None else 0.0
        # A plain socket is read with recv_nowait (a kernel: no exception when nothing has
        # come, so a spin can ask the socket itself), waiting in poll() only when nothing is
        # there. A TLS socket is read through its SSL object (start_tls turns this off), and
        # asked with poll() only after an SSLWantReadError.
        self._poll_first = self._polls is not None
        self._spin_misses = 0  # spins in a row that missed
        self._spin_skip = 0  # waits left before spinning again, after SPIN_MISSES misses
        # Read once: after a reset getpeername() fails; the next read/write reports the reset.
        self.local_address: Address = _address(sock.getsockname)
        self.remote_address: Address = _address(sock.getpeername)

    # ------------------------------------------------------------------ operations / timeouts
    # begin_operation(), end_operation() and the timeout rules: TimeoutClock.
    def _check_usable(self) -> None:
        if self._closed:
            raise SMTPNotConnectedError("the connection is closed", 1117)
        if self._interrupted:
            raise SMTPInterrupted("operation interrupted", 301)

    # ------------------------------------------------------------------ waiting
    def _spin(self, look: Callable[[], Any]) -> Any:
        """Ask ``look()`` again without sleeping, for up to spin_wait, until it gives something
        (not None): that, or None when the time ran out or interrupt() came. ``look`` is
        recv_nowait for a plain socket (the bytes themselves), _poll_now for a TLS one.
        SPIN_MISSES misses in a row turn spinning off for a while."""
        if self._spin_skip:
            self._spin_skip -= 1
            return None
        deadline = time.perf_counter() + self.spin_wait
        while True:
            found = look()
            if found is not None:
                self._spin_misses = 0
                return found
            if self._interrupted:  # (not the server being slow: the caller's wait raises)
                return None
            if time.perf_counter() >= deadline:
                self._spin_misses += 1
                if self._spin_misses >= SPIN_MISSES:
                    self._spin_skip = SPIN_PROBE_EVERY
                return None

    def _poll_now(self) -> Any:
        """Something to read (or a wake-up), without waiting: poll()'s events, else None."""
        return self._polls[0].poll(0) or None  # type: ignore[index]  # spin_wait is 0 without poll()

    def _wait(self, for_write: bool) -> None:
        """Block until the socket is ready; raise on timeout, interrupt or close."""
        self._check_usable()
        remaining = self._remaining()
        if remaining is not None and remaining <= 0:
            raise self._timed_out()
        sock_fd, wake_fd = self._fd, self._wake_fd
        if self._polls is not None:
            ready = self._polls[for_write].poll(None if remaining is None else max(1, int(remaining * 1000 + 0.999)))
            fds = {fd for fd, _ev in ready}
        else:  # pragma: no cover - platforms without poll()
            rl, wl, _ = select.select([wake_fd] + ([] if for_write else [sock_fd]),
                                      [sock_fd] if for_write else [], [], remaining)
            fds = set(rl + wl)
        if wake_fd in fds or self._interrupted:
            self._check_usable()
        if not fds:
            remaining = self._remaining()
            if remaining is not None and remaining <= 0:
                raise self._timed_out()

    def _sleep(self, seconds: float) -> None:
        """Throttle pause: interruptible; bounded by an absolute deadline."""
        remaining = self._remaining() if self.absolute else None
        if remaining is not None and remaining < seconds:
            if remaining > 0:
                self._wait_wake(remaining)
            raise self._timed_out()
        self._wait_wake(seconds)

    def _wait_wake(self, seconds: float) -> None:
        ready, _, _ = select.select([self._wake_r], [], [], max(0.0, seconds))
        if ready or self._interrupted:
            self._check_usable()

    # ------------------------------------------------------------------ I/O
    def read(self) -> bytes:
        """Bytes that are available (at least one); b"" when the peer has closed."""
        if self._closed or self._interrupted:
            self._check_usable()
        if self._poll_first:
            return self._read_plain()
        clocked = False  # the call's clock is set before its first wait (bytes already there need none)
        while True:
            try:
                data = self._recv_tls()
            except ssl.SSLWantWriteError:  # the TLS layer must write first (renegotiation)
                if not clocked:
                    self._start_call(reading=True)
                    clocked = True
                self._wait(True)
                continue
            if data is not None:
                self._got_data()
                return data
            if not clocked:
                self._start_call(reading=True)
                clocked = True
                if self.spin_wait and self._spin(self._poll_now) is not None:
                    continue
            self._wait(False)

    def _recv_tls(self) -> bytes | None:
        """One recv of a TLS socket: its bytes (b"" when the peer closed), or None when no
        whole record has come. SSLWantWriteError is the caller's to wait out."""
        try:
            return self._sock.recv(_READ_SIZE)
        except (BlockingIOError, InterruptedError, ssl.SSLWantReadError):
            return None
        except ssl.SSLWantWriteError:
            raise
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            return b""  # close_notify, or a close without it (common after QUIT)
        except ssl.SSLError as exc:
            raise self._tls_error(exc, reading=True) from exc
        except OSError as exc:
            raise self._os_error(exc, "reading") from exc

    def try_read(self) -> bytes | None:
        """read() for a driver that waits for several streams at once (smtpx.session.multiplex):
        the bytes that have come (b"" when the peer closed), or None when none has. Then the
        driver calls ``start_wait()``, waits until ``fileno()`` is readable or the deadline
        passes, and asks again. Raises as read() does."""
        if self._closed or self._interrupted:
            self._check_usable()
        if self._poll_first:
            data = self._recv_nowait(self._fd)
        else:
            try:
                data = self._recv_tls()
            except ssl.SSLWantWriteError:  # rare: the blocking read waits it out
                return self.read()
        if data is not None:
            self._got_data()
        return data

    def fileno(self) -> int:
        """The socket's descriptor (the same after the TLS upgrade), for poll()."""
        return self._fd

    def _read_plain(self) -> bytes:
        """read() of a plain socket: one recv_nowait takes what is there (no poll() first, no
        exception when nothing is). When nothing is, the call's clock starts, the spin asks
        again without sleeping for up to spin_wait, and then the read sleeps in poll() until
        bytes (or the peer's close) come."""
        fd = self._fd
        data = self._recv_nowait(fd)
        if data is None:
            self._start_call(reading=True)
            if self.spin_wait:
                data = self._spin(functools.partial(self._recv_nowait, fd))
            while data is None:
                self._wait(False)  # raises on timeout, interrupt or close
                data = self._recv_nowait(fd)
        self._got_data()
        return data

    def _recv_nowait(self, fd: int) -> bytes | None:
        try:
            return recv_nowait(fd, _READ_SIZE)
        except OSError as exc:
            raise self._os_error(exc, "reading") from exc

    def read_nowait(self) -> bytes | None:
        """Without waiting (the socket is non-blocking): None when nothing arrived, b"" when the
        peer closed or the connection broke (a reset, a TLS alert), else the bytes. A TLS socket
        may have read only records that carry no data (session tickets): None."""
        if self._poll_first and not self._polls[0].poll(0):  # type: ignore[index]
            return None  # all quiet (the common case, checked before every method): no exception
        try:
            return self._sock.recv(_READ_SIZE)
        except (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return None
        except OSError:  # ssl.SSLError included: the connection cannot be used
            return b""

    def write(self, data: bytes | bytearray | memoryview, throttle: bool = True) -> None:
        """Send all of ``data``; throttled by max_transfer_rate unless ``throttle`` is False.
        An error raised midway carries ``bytes_written``: the bytes the socket took before it
        (the engine's Write contract, smtpx.engine.actions)."""
        if type(data) is bytes and (not throttle or self._bucket is None):
            # The common case: the socket takes all of it at once. As in read(), the call's
            # clock is started only before a wait: a write that needs none only counts as
            # activity.
            if self._closed or self._interrupted:
                self._check_usable()
            try:
                sent = self._sock.send(data)
            except (BlockingIOError, InterruptedError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                sent = 0  # the loop below waits and tries again (OpenSSL: with the same length)
            except OSError as exc:  # ssl.SSLError included
                error = self._send_error(exc)
                error.bytes_written = 0  # type: ignore[attr-defined]
                raise error from exc
            if sent == len(data):
                self._touch()
                return
            self._start_call()
            if sent:
                self._touch()
            progress = [sent]
            try:
                self._write(memoryview(data).cast("B"), None, progress, sent)
            except SMTPError as exc:
                exc.bytes_written = progress[0]  # type: ignore[attr-defined]
                raise
            return
        self._start_call()
        view = memoryview(data).cast("B")
        progress = [0]
        try:
            self._write(view, self._bucket if throttle else None, progress)
        except SMTPError as exc:
            exc.bytes_written = progress[0]  # type: ignore[attr-defined]
            raise

    def write_parts(self, parts: tuple[bytes, ...]) -> None:
        """write(b"".join(parts)) without joining them: one sendmsg() for all of them on a plain
        socket; each in turn on TLS (it encrypts record by record) or when throttled.
        ``bytes_written`` on an error counts in the joined bytes."""
        if self._bucket is not None or self._tls_info is not None or not hasattr(self._sock, "sendmsg"):
            done = 0
            for part in parts:
                try:
                    self.write(part)
                except SMTPError as exc:
                    exc.bytes_written = done + getattr(exc, "bytes_written", 0)  # type: ignore[attr-defined]
                    raise
                done += len(part)
            return
        self._start_call()
        views = [memoryview(part).cast("B") for part in parts if part]
        sock, done = self._sock, 0
        while views:
            try:
                sent = sock.sendmsg(views[:_IOV_MAX])
            except (BlockingIOError, InterruptedError):
                try:
                    self._wait(True)
                except SMTPError as exc:
                    exc.bytes_written = done  # type: ignore[attr-defined]
                    raise
                continue
            except OSError as exc:
                error = self._send_error(exc)
                error.bytes_written = done  # type: ignore[attr-defined]
                raise error from exc
            done += sent
            self._touch()
            while views and sent >= len(views[0]):  # drop what went out
                sent -= len(views[0])
                del views[0]
            if sent:
                views[0] = views[0][sent:]

    def _write(self, view: memoryview, bucket: Optional[TokenBucket], progress: list[int], offset: int = 0) -> None:
        sock = self._sock
        total = len(view)
        retry: Optional[int] = None  # OpenSSL wants a retried write repeated with the same length
        while offset < total:
            if retry is not None:
                limit = retry
            else:
                limit = total - offset
                if bucket is not None:
                    need = bucket.burst(limit)
                    allowed = bucket.available()
                    while allowed < need:
                        self._sleep(bucket.delay(need))
                        allowed = bucket.available()
                    limit = min(limit, allowed)
            try:
                sent = sock.send(view[offset:offset + limit])
            except (BlockingIOError, InterruptedError, ssl.SSLWantWriteError):
                retry = limit
                self._wait(True)
                continue
            except ssl.SSLWantReadError:
                retry = limit
                self._wait(False)
                continue
            except OSError as exc:  # ssl.SSLError included
                raise self._send_error(exc) from exc
            retry = None
            if bucket is not None:
                bucket.take(sent)
            offset += sent
            progress[0] = offset
            self._touch()

    def _send_error(self, exc: OSError) -> Exception:
        """The error for a failed send()."""
        if isinstance(exc, ssl.SSLError):
            return self._write_tls_error(exc)
        return self._alert_or(self._os_error(exc, "writing"))

    def _os_error(self, exc: OSError, doing: str) -> Exception:
        if self._closed:
            return SMTPNotConnectedError("the connection is closed", 1117)
        if isinstance(exc, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)) or \
                exc.errno in _DROPPED_ERRNOS:
            return SMTPConnectionDropped(f"connection dropped by the remote host while {doing}: "
                                         f"{exc.strerror or exc}", 1120)
        return SMTPCommunicationError(f"error {doing}: {exc.strerror or exc}", 162)

    def _alert_or(self, fallback: Exception) -> Exception:
        """A write failed: the reason may be a TLS alert waiting to be read (e.g. the server
        refused our client certificate after a TLS 1.3 handshake). Report that if so."""
        if self._tls_info is None:
            return fallback
        try:
            self._sock.recv(1)
        except ssl.SSLError as exc:
            if exc.reason and not isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError,
                                                   ssl.SSLWantReadError, ssl.SSLWantWriteError)):
                return self._tls_error(exc, reading=True)
        except OSError:
            pass
        return fallback

    def _write_tls_error(self, exc: ssl.SSLError) -> Exception:
        if isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
            return self._alert_or(SMTPConnectionDropped(
                f"connection dropped by the remote host while writing: {exc}", 1120))
        return self._alert_or(self._tls_error(exc, reading=False))

    def _tls_error(self, exc: ssl.SSLError, reading: bool) -> Exception:
        reason = exc.reason or ""
        if "CERTIFICATE_REQUIRED" in reason:
            return SMTPTLSError(f"the server requires a client certificate (SSLCert): {exc}", 281)
        if "BAD_RECORD_MAC" in reason or "DECRYPT" in reason:
            return SMTPTLSError(f"error decrypting data: {exc}", 284)
        if reading:
            return SMTPTLSError(f"TLS error while reading: {exc}", 284)
        return SMTPTLSError(f"TLS error while writing: {exc}", 283)

    # ------------------------------------------------------------------ TLS
    def start_tls(self, tls: "_tls.TLSSettings", server_hostname: str, hooks: Optional["_tls.TLSHooks"] = None, *,
                  starttls: Optional[bool] = None) -> None:
        """TLS handshake on this connection (STARTTLS after the 220, or implicit TLS right after
        connect). Refuses if the server already sent bytes: those would have been injected
        before the handshake (RFC 3207 section 6). ``starttls`` (True: after STARTTLS, False:
        implicit TLS) words the error when the server answers in plaintext: injection after
        STARTTLS, a plaintext port with implicit TLS (see smtpx.tls.handshake_error)."""
        self._start_call()
        if self._tls_info is not None:
            raise SMTPTLSError("TLS is already active on this connection", 276)
        try:
            early = self._sock.recv(256, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            early = None
        except OSError as exc:
            raise self._os_error(exc, "starting TLS") from exc
        if early is not None:
            self.close()
            if early == b"":
                raise SMTPTLSError("the server closed the connection before the TLS handshake", 276)
            if starttls is False:  # a TLS server never speaks first: this one speaks plaintext
                raise _tls.handshake_error(None, starttls=False, received=early)
            raise SMTPTLSError("the server sent data before the TLS handshake (after its 220 reply to "
                               "STARTTLS); refusing to go on, it could be injected", 276)
        plain = self._sock
        try:
            ssock, info = _tls.handshake(plain, tls, server_hostname, hooks, wait=self._wait)
        except BaseException as exc:
            self._sock = plain  # closed by handshake(); close() below only tidies up
            self.close()
            cause = exc.__cause__
            if starttls is not None and getattr(exc, "plaintext_answer", False) and cause is not None:
                raise _tls.handshake_error(cause, starttls=starttls) from cause  # worded for the mode
            raise
        self._sock = ssock
        self._poll_first = False
        self._tls_info = info
        self._touch()

    @property
    def tls_info(self) -> Optional["_tls.TLSInfo"]:
        return self._tls_info

    @property
    def tls_session(self) -> Optional[ssl.SSLSession]:
        """The TLS session to resume on the next connection (ReuseSSLSession). With TLS 1.3 the
        server sends its ticket after the handshake: read it after the first reply."""
        sock = self._sock
        return sock.session if isinstance(sock, ssl.SSLSocket) and not self._closed else None

    @property
    def is_tls(self) -> bool:
        return self._tls_info is not None

    @property
    def raw_socket(self) -> socket.socket:
        """The underlying socket (an ``ssl.SSLSocket`` after TLS), for inspection such as
        ``getsockopt``. Reading or writing on it directly would bypass the stream."""
        return self._sock

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def interrupted(self) -> bool:
        return self._interrupted

    @property
    def usable(self) -> bool:
        """Open and not interrupted (a peer's close shows at the next read)."""
        return not self._closed and not self._interrupted

    # ------------------------------------------------------------------ interrupt / close
    def interrupt(self) -> None:
        """Make the blocked (or next) read/write raise SMTPInterrupted. Thread-safe."""
        self._interrupted = True
        try:
            self._wake_w.send(b"\0")
        except OSError:
            pass  # closed, or the wake-up buffer is full: the flag is enough

    def close(self) -> None:
        """Close the connection (no close_notify wait). Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._tls_info is not None and isinstance(self._sock, ssl.SSLSocket):
            try:  # TLS 1.3 tickets arrive after the handshake: keep the latest for resumption
                self._tls_info.session = self._sock.session or self._tls_info.session
            except (OSError, ValueError, AttributeError):
                pass
        self._drain()
        try:
            self._sock.close()
        except OSError:
            pass
        for end in (self._wake_r, self._wake_w):
            try:
                end.close()
            except OSError:
                pass

    def abort(self) -> None:
        """close(): a sync close never waits for the peer."""
        self.close()

    def _drain(self) -> None:
        """Discard bytes waiting in the kernel (e.g. TLS 1.3 session tickets nobody read):
        closing a socket with unread data sends a reset, and a reset can make the peer drop
        data we wrote that it has not read yet."""
        try:
            for _ in range(64):
                if not socket.socket.recv(self._sock, 65536, socket.MSG_DONTWAIT):
                    break
        except (OSError, ValueError):
            pass

    def __enter__(self) -> "SyncStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
