"""The thin async driver: runs one engine generator over an AsyncStream with ``await``.

The asyncio twin of ``smtpx.session.run``: each action the engine yields (Write, Read,
StartTLS) is awaited and its result sent back; I/O errors are thrown into the generator so
the engine closes its session and re-raises them. The driver makes no protocol decision.
"""
from __future__ import annotations

from typing import Any, Awaitable, Callable, Generator, Optional, Protocol

from smtpx.engine import Read, StartTLS, Write
from smtpx.errors import SMTPTLSError

__all__ = ["run"]


class _AsyncStream(Protocol):
    async def read(self) -> bytes: ...
    async def write(self, data: bytes) -> None: ...


async def run(
    generator: Generator[Any, Any, Any],
    stream: _AsyncStream,
    start_tls: Optional[Callable[[], Awaitable[None]]] = None,
) -> Any:
    """Run one engine operation to completion and return its result. ``start_tls`` performs
    the handshake for a StartTLS action. A stream with a ``reply_progress`` method
    (AsyncStream: the MaxReplyTime deadline) is told each Read's ``reply`` before the read."""
    reply_progress = getattr(stream, "reply_progress", None)
    value: Any = None
    failure: Optional[BaseException] = None
    try:
        while True:
            try:
                if failure is not None:
                    failure, thrown = None, failure
                    action = generator.throw(thrown)
                else:
                    action = generator.send(value)
            except StopIteration as stop:
                return stop.value
            try:
                if isinstance(action, Write):
                    await stream.write(action.data)
                    value = None
                elif isinstance(action, Read):
                    if reply_progress is not None:
                        reply_progress(action.reply)
                    value = await stream.read()
                elif isinstance(action, StartTLS):
                    if start_tls is None:
                        raise SMTPTLSError("the engine asked for TLS but this driver has no TLS settings")
                    await start_tls()
                    value = None
                else:  # an engine bug, never a user's or a server's doing
                    raise TypeError(f"unknown engine action {action!r}")
            except Exception as exc:
                failure = exc
    finally:
        generator.close()
