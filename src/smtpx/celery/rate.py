"""A rate limit per destination server shared by every worker on every machine: a
fixed-window counter in Redis, ``<prefix>:rate:<server>:<window number>``, taken from
atomically by a Lua script (so two workers never both take the last message of a window).
The window number comes from Redis's own clock (TIME), not from the workers' clocks, so
machines whose clocks differ still share the same windows. A counter is kept a minute after
its window (for whoever watches the rate), then expires."""
from __future__ import annotations

import time
from typing import Any, Callable

__all__ = ["SharedRateLimit", "TAKE_SCRIPT"]

# KEYS[1]: the counter prefix. ARGV: limit, wanted, window seconds, counter TTL, and a window
# number to use instead of Redis's clock ("" = the clock; tests pin it).
# Returns {granted, milliseconds until the window ends}.
TAKE_SCRIPT = """
local limit, want = tonumber(ARGV[1]), tonumber(ARGV[2])
local width, ttl = tonumber(ARGV[3]), tonumber(ARGV[4])
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local window = math.floor(ms / (width * 1000))
if ARGV[5] ~= '' then window = tonumber(ARGV[5]) end
local key = KEYS[1] .. ':' .. window
local used = tonumber(redis.call('GET', key) or '0')
local grant = math.min(want, limit - used)
if grant > 0 then
  redis.call('INCRBY', key, grant)
  redis.call('EXPIRE', key, ttl)
else
  grant = 0
end
return {grant, (window + 1) * width * 1000 - ms}
"""


class SharedRateLimit:
    """``limit`` messages per ``window`` seconds to one server (``name``), across workers."""

    def __init__(self, client: Any, prefix: str, server: str, limit: int, window: int = 1,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._script = client.register_script(TAKE_SCRIPT)
        self.counter_prefix = f"{prefix}:rate:{server}"
        self._limit, self._window, self._sleep = limit, window, sleep
        self._ttl = max(60, 2 * window)

    def try_take(self, wanted: int, window_number: int | None = None) -> tuple[int, float]:
        """Take up to ``wanted`` messages from the current window: (granted, seconds until the
        window ends)."""
        pinned = "" if window_number is None else str(window_number)
        granted, wait_ms = self._script(keys=[self.counter_prefix],
                                        args=[self._limit, wanted, self._window, self._ttl, pinned])
        return int(granted), max(0.0, int(wait_ms) / 1000.0)

    def take(self, wanted: int) -> int:
        """At least one and up to ``wanted`` messages, waiting for the next window as needed."""
        while True:
            granted, wait = self.try_take(wanted)
            if granted:
                return granted
            self._sleep(wait + 0.001)
