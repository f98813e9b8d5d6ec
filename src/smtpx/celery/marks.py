"""Idempotency marks in Redis: one key per delivered message, ``<prefix>:sent:<key>``
(smtpx.celery.wire: a hash of its Message-ID and envelope), written only once the server has
accepted the message (its 2xx reply to the end of data) and read before a message is sent, so
a redelivered or retried task does not send again what was delivered.

The one window left: a worker that dies after the server's 2xx and before the mark is written.
Those messages are sent again by the redelivered task (docs/celery.md states the bound)."""
from __future__ import annotations

from typing import Any, Sequence

__all__ = ["Marks"]


class Marks:
    """The marks of one Redis database (``client``: a redis.Redis)."""

    def __init__(self, client: Any, prefix: str, ttl: int) -> None:
        self._client = client
        self._prefix = f"{prefix}:sent:"
        self._ttl = ttl

    def name(self, key: str) -> str:
        return self._prefix + key

    def delivered(self, keys: Sequence[str]) -> list[bool]:
        """For each key: was its message delivered? (One round trip.)"""
        if not keys:
            return []
        return [value is not None for value in self._client.mget([self.name(k) for k in keys])]

    def mark(self, key: str, message_id: str) -> None:
        """Record ``key`` as delivered (its value: the Message-ID, for people reading Redis)."""
        self._client.set(self.name(key), message_id, ex=self._ttl)
