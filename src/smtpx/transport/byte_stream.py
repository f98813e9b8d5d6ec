"""ByteStream: the one stream interface the session drivers run the engine over.

``SyncStream`` (transport/stream.py) and ``AsyncStream`` (aio/stream.py) both implement it; the
only difference is what the I/O methods give back: the result itself (``SyncByteStream``) or
an awaitable of it (``AsyncByteStream``). So the driver core (smtpx.session.core) is written
once against ``ByteStream`` and its two drivers differ by one ``await``.

The contract, on both sides:

- ``read()``: the bytes available, at least one (waiting for them); b"" when the peer closed.
- ``write(data)``: all of ``data``, throttled by MaxTransferRate unless ``throttle`` is False. An
  error raised midway carries ``bytes_written``: how many of its bytes may have gone out (the
  engine's Write contract, smtpx.engine.actions).
- ``start_tls(...)``: the handshake, the server's verdict and the accept hook, before anything
  else is written; bytes that arrived before the handshake are refused.
- ``read_nowait()``: without waiting: None when nothing arrived, b"" when the peer closed (or
  the connection broke), else the bytes (what the server sent while the client was idle).
- ``track_reply(begun, began_in_last_read)``: before a read for a server reply, how much of the
  reply has arrived, for the MaxReplyTime deadline (transport/clock.py).
- ``begin_operation()`` / ``end_operation()``: one public method (the absolute timeout).
- ``close()`` (a clean close; the async one waits for it) and ``abort()`` (at once).
- ``usable``: open, and not known to be broken (closed by us, interrupted, closed by the peer).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Awaitable, Protocol, TypeVar, Union

if TYPE_CHECKING:
    from smtpx.tls import TLSHooks, TLSInfo, TLSSettings

__all__ = ["ByteStream", "SyncByteStream", "AsyncByteStream", "Address"]

Received = TypeVar("Received", covariant=True)  # what read() gives: bytes, or an awaitable of them
Done = TypeVar("Done", covariant=True)  # what write(), start_tls() and close() give: None, or an awaitable

# A socket address as getsockname() gives it: (host, port) or (host, port, flowinfo, scope_id).
Address = tuple[Union[str, int], ...]


class ByteStream(Protocol[Received, Done]):
    """A connected byte stream with timeouts, TLS upgrade and throttling (see the module doc)."""

    @property
    def local_address(self) -> Address: ...

    @property
    def remote_address(self) -> Address: ...

    @property
    def tls_info(self) -> TLSInfo | None: ...

    @property
    def closed(self) -> bool: ...

    @property
    def usable(self) -> bool: ...

    def read(self) -> Received: ...

    def write(self, data: bytes | bytearray | memoryview, throttle: bool = True) -> Done: ...

    def write_parts(self, parts: tuple[bytes, ...]) -> Done: ...

    def start_tls(self, tls: TLSSettings, server_hostname: str, hooks: TLSHooks | None = None, *,
                  starttls: bool | None = None) -> Done: ...

    def read_nowait(self) -> bytes | None: ...

    def track_reply(self, begun: bool, began_in_last_read: bool = False) -> None: ...

    def begin_operation(self) -> None: ...

    def end_operation(self) -> None: ...

    def close(self) -> Done: ...

    def abort(self) -> None: ...


SyncByteStream = ByteStream[bytes, None]
AsyncByteStream = ByteStream[Awaitable[bytes], Awaitable[None]]
