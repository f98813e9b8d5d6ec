"""What each Celery worker process keeps between tasks: one SMTPPool (its connections stay
open across tasks), one Redis client (marks and the shared rate limit). Made on first use in
the process that uses it, so nothing made before a prefork worker forks is shared by its
children: ``worker_process_init`` drops what a child inherited, ``worker_process_shutdown``
closes the pool (QUIT on each connection)."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from smtpx.celery.marks import Marks
from smtpx.celery.rate import SharedRateLimit
from smtpx.celery.settings import CelerySettings, settings_of
from smtpx.errors import SMTPError
from smtpx.pool.sync import SMTPPool

__all__ = ["Runtime", "runtime_for", "close_runtimes", "forget_runtimes", "connect_signals"]


@dataclass
class Runtime:
    settings: CelerySettings
    pool: SMTPPool
    redis: Any
    marks: Marks
    rate: SharedRateLimit | None

    def close(self) -> None:
        try:
            self.pool.close()
        except SMTPError:  # a connection already broken: closed all the same
            pass
        try:
            self.redis.close()
        except Exception:  # noqa: BLE001 - closing a client whose server is gone
            pass


_runtimes: dict[int, Runtime] = {}  # id(app) -> its runtime in this process
_lock = threading.Lock()


def redis_client(url: str) -> Any:
    """A Redis client that rides out a Redis restart of a few seconds (FAULTS 44): commands
    that meet a dropped connection are retried with exponential backoff."""
    import redis
    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry

    return redis.Redis.from_url(
        url, socket_connect_timeout=2, socket_timeout=10, health_check_interval=5,
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), 30),
        retry_on_error=[redis.ConnectionError, redis.TimeoutError])


def runtime_for(app: Any) -> Runtime:
    """This process's runtime for ``app`` (made on first use)."""
    with _lock:
        found = _runtimes.get(id(app))
        if found is None:
            settings = settings_of(app.conf)
            client = redis_client(settings.redis_url)
            # retries=0: a 4xx is retried by Celery (a later task), not by blocking this worker.
            pool = SMTPPool(settings.size, retries=0, **settings.pool)
            rate = None
            if settings.rate_limit is not None:
                rate = SharedRateLimit(client, settings.key_prefix, settings.server, settings.rate_limit,
                                       settings.rate_window)
            found = Runtime(settings, pool, client, Marks(client, settings.key_prefix, settings.mark_ttl), rate)
            _runtimes[id(app)] = found
        return found


def forget_runtimes() -> None:
    """After a fork: what the parent made belongs to the parent (its sockets are not ours to
    QUIT), so it is dropped without closing."""
    with _lock:
        _runtimes.clear()


def close_runtimes() -> None:
    with _lock:
        found = list(_runtimes.values())
        _runtimes.clear()
    for runtime in found:
        runtime.close()


_connected = False


def connect_signals() -> None:
    """Hook the worker process signals (once per process)."""
    global _connected
    if _connected:
        return
    from celery.signals import (  # type: ignore[import-untyped,import-not-found,unused-ignore]
        worker_process_init,
        worker_process_shutdown,
    )

    worker_process_init.connect(lambda **_: forget_runtimes(), weak=False)
    worker_process_shutdown.connect(lambda **_: close_runtimes(), weak=False)
    _connected = True
