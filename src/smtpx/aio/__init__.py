"""asyncio support: ``AsyncSMTP`` (the facade's methods as coroutines), over the same engine,
properties, config and events as ``smtpx.SMTP``, and ``AsyncSMTPPool`` (smtpx.pool), N of
them to one server. See docs/async.md and docs/pool.md."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from smtpx.aio.client import AsyncSMTP
from smtpx.aio.stream import AsyncStream, open_stream
from smtpx.session.aio import run

if TYPE_CHECKING:  # the lazy name below, for type checkers ("X as X": re-exported)
    from smtpx.pool.aio import AsyncSMTPPool as AsyncSMTPPool

__all__ = ["AsyncSMTP", "AsyncSMTPPool", "AsyncStream", "open_stream", "run"]


def __getattr__(name: str) -> Any:  # lazy: smtpx.pool imports this package's client
    if name == "AsyncSMTPPool":
        from smtpx.pool.aio import AsyncSMTPPool

        return AsyncSMTPPool
    raise AttributeError(f"module 'smtpx.aio' has no attribute {name!r}")
