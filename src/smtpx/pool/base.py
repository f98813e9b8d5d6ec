"""What SMTPPool and AsyncSMTPPool share around the bookkeeping (smtpx.pool.core): the
constructor (options checked, one client per connection made from the same settings, nothing
connected), the start of a batch, and the steps of their waits that do not wait (one look for
a free connection, one ask of the rate limiter): each driver only loops and waits in its own
way (a Condition, or the event loop)."""
from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any, Callable, Generic, Iterable, TypeVar

from smtpx.errors import SMTPInputError, SMTPNotConnectedError
from smtpx.facade.logs import pool_logger
from smtpx.pool.core import PoolRun, Slot, Slots
from smtpx.pool.policy import PoolOptions, check_messages
from smtpx.pool.rate import RateLimiter

__all__ = ["PoolBase", "resendable"]

Client = TypeVar("Client")


def _names_setting(config: Any, name: str) -> bool:
    """The constructor's ``config`` (a mapping, or "Name=Value" strings) sets ``name``."""
    if config is None:
        return False
    if isinstance(config, Mapping):
        return any(str(key).lower() == name.lower() for key in config)
    entries = [config] if isinstance(config, str) else list(config)
    return any(str(entry).split("=", 1)[0].strip().lower() == name.lower() for entry in entries)


class PoolBase(Generic[Client]):
    """The common half of both pools. ``_make_client`` is smtpx.SMTP or smtpx.aio.AsyncSMTP."""

    _make_client: Callable[..., Client]
    _name = "SMTPPool"

    def __init__(self, size: int = 4, *, messages_per_connection: int | None = None,
                 rate_limit: float | None = None, retries: int = 0, backoff: float = 1.0,
                 window: int = 32, **settings: Any) -> None:
        self._options = PoolOptions(size=size, messages_per_connection=messages_per_connection,
                                    rate_limit=rate_limit, retries=retries, backoff=backoff, window=window)
        # Each client checks the settings as its constructor does (typed errors, nothing connects).
        clients = [type(self)._make_client(**settings) for _ in range(size)]
        # The settings a pool's connections have unless the caller's settings name them (docs/pool.md):
        # no spinning (threads share one interpreter: a spinning one holds up the rest), and the
        # strongest mechanism offered, as a Python user expects.
        defaults = {"SpinWait": "0"}
        if "auth_mechanism" not in settings:
            defaults["AuthMechanismAuto"] = "True"
        for name, value in defaults.items():
            if not _names_setting(settings.get("config"), name):
                for client in clients:
                    client.config(f"{name}={value}")  # type: ignore[attr-defined]
        if not getattr(clients[0], "mail_server", ""):
            raise SMTPInputError(f"{self._name}: mail_server is required", 163)
        log = pool_logger()  # smtpx.pool.<p>: its connections log under it (docs/logging.md)
        for client in clients:
            setattr(client, "_log_parent", log)
        self._slots: Slots[Client] = Slots(clients)
        self._limiter: RateLimiter | None = None
        self._random: Callable[[], float] = random.random

    @property
    def size(self) -> int:
        """How many connections the pool holds (each opened when first needed)."""
        return self._options.size

    @property
    def options(self) -> PoolOptions:
        """The pool's own settings (size, messages_per_connection, rate_limit, retries, backoff, window)."""
        return self._options

    @property
    def closed(self) -> bool:
        return self._slots.closed

    def _check_open(self) -> None:
        if self._slots.closed:
            raise SMTPNotConnectedError(f"{self._name} is closed", 1117)

    def _limiter_at(self, now: float) -> RateLimiter | None:
        """The pool's one rate limiter (made on first use, on the clock of the pool's kind)."""
        if self._limiter is None and self._options.rate_limit is not None:
            self._limiter = RateLimiter(self._options.rate_limit, now)
        return self._limiter

    def _new_run(self, messages: Iterable[Any], now: float) -> PoolRun:
        self._check_open()
        check_messages(messages)
        return PoolRun(messages, self._options, self._options.size, self._limiter_at(now), self._random)

    def _look_for_slot(self, give_up: Callable[[], bool] | None) -> tuple[bool, Slot[Client] | None]:
        """One look for a free connection: (True, the slot, now the caller's); (True, None)
        when ``give_up()`` is true or the pool closed (without ``give_up``, a closed pool
        raises); (False, None) when the caller must wait and look again."""
        if self._slots.closed:
            if give_up is None:
                self._check_open()
            return True, None
        slot = self._slots.take()
        if slot is not None:
            return True, slot
        return (give_up is not None and give_up()), None

    def _rate_wait(self, now: float) -> float:
        """One ask of the rate limiter for one message: 0 when it may go now (taken), else the
        seconds to wait before asking again."""
        limiter = self._limiter_at(now)
        if limiter is None:
            return 0.0
        granted, wait = limiter.take(1, now)
        return 0.0 if granted else max(wait, 1e-6)


def resendable(recipients: Iterable[str]) -> Iterable[str]:
    """send_raw's recipients as a collection that can be sent again on a retry."""
    return recipients if isinstance(recipients, (str, list, tuple)) else list(recipients)
