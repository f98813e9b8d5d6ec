"""asyncio support: ``AsyncSMTP`` (the facade's methods as coroutines), over the same engine,
properties, config and events as ``smtpx.SMTP``. See docs/async.md."""
from smtpx.aio.client import AsyncSMTP
from smtpx.aio.stream import AsyncStream, open_stream
from smtpx.session.aio import run

__all__ = ["AsyncSMTP", "AsyncStream", "open_stream", "run"]
