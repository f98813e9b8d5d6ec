"""smtpx.celery's settings, from the Celery app's config: ``app.conf.smtpx = {...}``.

Keys (everything else goes to ``smtpx.SMTPPool(...)`` as it is: ``mail_server`` (required),
``mail_port``, ``user``, ``password``, ``ssl_start_mode``, ``config={...}``, ``window``,
``messages_per_connection``, ...):

- ``size`` (2): connections of each worker process's pool;
- ``redis_url`` (the broker URL when it is ``redis://`` or ``rediss://``): where the
  idempotency marks and the shared rate counters live;
- ``rate_limit`` (None): messages per ``rate_window`` seconds to this server, shared by every
  worker on every machine; ``rate_window`` (1);
- ``max_retries`` (5): times a message refused with 4xx (or cut off by a dropped connection)
  is tried again; ``backoff`` (2.0): seconds before the first retry, doubling, with jitter;
- ``mark_ttl`` (7 days): how long a delivered message's mark is kept (a task redelivered later
  than that would send again);
- ``key_prefix`` ("smtpx"): the prefix of every Redis key smtpx writes;
- ``dkim`` (None): DKIM signing when sent: a ``smtpx.dkim.DKIMSigner``, a mapping of its
  arguments (``{"domain", "selector", "private_key": path or PEM, ...}``), or a list of
  either (smtpx.celery.signing).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from smtpx.celery.signing import signers_of
from smtpx.errors import SMTPConfigError

__all__ = ["CelerySettings", "settings_of"]

_OWN = {"size", "redis_url", "rate_limit", "rate_window", "max_retries", "backoff", "mark_ttl", "key_prefix"}
# Celery's names for the pickle serializer: a worker that accepts it runs what a broker hands it.
PICKLE = {"pickle", "application/x-python-serialize"}


@dataclass(frozen=True)
class CelerySettings:
    redis_url: str
    size: int = 2
    rate_limit: int | None = None
    rate_window: int = 1
    max_retries: int = 5
    backoff: float = 2.0
    mark_ttl: int = 7 * 24 * 3600
    key_prefix: str = "smtpx"
    pool: dict[str, Any] = field(default_factory=dict)

    @property
    def server(self) -> str:
        """The destination server, as the rate counters are keyed."""
        return f"{self.pool.get('mail_server', '')}:{self.pool.get('mail_port', 25)}"


def _whole(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SMTPConfigError(f"app.conf.smtpx[{name!r}] must be a whole number >= {minimum}, not {value!r}")
    return value


def settings_of(conf: Any) -> CelerySettings:
    """The settings of a Celery app's ``conf``; SMTPConfigError when they are wrong or when
    the app accepts pickle."""
    accepted = {str(c).lower() for c in (conf.get("accept_content") or ())}
    if accepted & PICKLE or str(conf.get("task_serializer") or "").lower() in PICKLE:
        raise SMTPConfigError("smtpx.celery refuses an app that accepts pickle (accept_content / task_serializer): "
                              "a pickle from the broker runs code; smtpx's tasks travel as JSON")
    raw = conf.get("smtpx")
    if not isinstance(raw, Mapping) or not raw.get("mail_server"):
        raise SMTPConfigError("smtpx.celery needs app.conf.smtpx = {'mail_server': ..., ...}")
    options = dict(raw)
    broker = str(conf.get("broker_url") or "")
    redis_url = options.get("redis_url") or (broker if broker.startswith(("redis://", "rediss://")) else None)
    if not isinstance(redis_url, str):
        raise SMTPConfigError("smtpx.celery needs a Redis URL: app.conf.smtpx['redis_url'], or a redis:// broker")
    rate = options.get("rate_limit")
    backoff = options.get("backoff", 2.0)
    if isinstance(backoff, bool) or not isinstance(backoff, (int, float)) or backoff <= 0:
        raise SMTPConfigError(f"app.conf.smtpx['backoff'] must be a number > 0, not {backoff!r}")
    prefix = options.get("key_prefix", "smtpx")
    if not isinstance(prefix, str) or not prefix:
        raise SMTPConfigError("app.conf.smtpx['key_prefix'] must be a non-empty str")
    signers = signers_of(options.get("dkim"))
    return CelerySettings(
        redis_url=redis_url,
        size=_whole(options.get("size", 2), "size", 1),
        rate_limit=None if rate is None else _whole(rate, "rate_limit", 1),
        rate_window=_whole(options.get("rate_window", 1), "rate_window", 1),
        max_retries=_whole(options.get("max_retries", 5), "max_retries", 0),
        backoff=float(backoff),
        mark_ttl=_whole(options.get("mark_ttl", 7 * 24 * 3600), "mark_ttl", 1),
        key_prefix=prefix,
        pool={**{k: v for k, v in options.items() if k not in _OWN and k != "dkim"},
              **({"dkim": signers} if signers is not None else {})},
    )
