"""The pool's rate limit (sans-IO): a token bucket over an injected clock reading. It holds at
most one second's worth of messages (and at least one), so over any span of T seconds the
pool hands out at most ``max(1, rate) + rate * T`` messages."""
from __future__ import annotations

__all__ = ["RateLimiter"]


class RateLimiter:
    """``take(n, now)`` -> (messages granted now, seconds to wait when none were)."""

    def __init__(self, rate: float, now: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self._tokens = self.capacity
        self._last = now

    def _refill(self, now: float) -> None:
        if now > self._last:  # a clock that stands still (or steps back) adds nothing
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
            self._last = now

    def take(self, wanted: int, now: float) -> tuple[int, float]:
        """Grant up to ``wanted`` messages; (0, wait) when not even one may go yet."""
        self._refill(now)
        granted = min(wanted, int(self._tokens))
        if granted <= 0:
            return 0, (1.0 - self._tokens) / self.rate
        self._tokens -= granted
        return granted, 0.0
