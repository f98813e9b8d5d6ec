"""Connection pools: ``smtpx.SMTPPool`` (threads) and ``smtpx.aio.AsyncSMTPPool`` (asyncio),
N connections to one server, each pipelining. One sans-IO core (core.py: the bookkeeping of a
batch; policy.py: options, retries, backoff; rate.py: the rate limit) under two drivers
(sync.py, aio.py). See docs/pool.md."""
from smtpx.pool.policy import PoolOptions
from smtpx.pool.sync import SMTPPool

__all__ = ["PoolOptions", "SMTPPool"]
