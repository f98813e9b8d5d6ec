"""The pool's bookkeeping for one batch (sans-IO, shared by SMTPPool and AsyncSMTPPool): what
each connection sends next, what a connection's outcome or failure means for each message,
and what is handed back to the caller. The drivers only wait, send and call in here (the sync
pool under its lock, the async one on its loop).

The rules (docs/pool.md):

- The input is read lazily: at most ``options.ahead`` messages are taken and not yet handed
  back, so any number of messages run in flat memory.
- A known outcome is final, except a 4xx refusal of the whole message, which comes back after
  a backoff while it has retries left.
- A session failure (SMTPError with ``.results`` / ``.unsent``): the outcomes it knows are
  taken as above; a message whose delivery is unknown (SMTPConnectionDropped with
  ``delivery_unknown``) is reported so and never sent again; the unsent ones go back to the
  front of the queue for any connection. A message that was unsent by sessions that settled
  nothing ``MAX_STRIKES`` times gets that failure as its outcome (no endless loop against a
  server that drops every connection at once).
- A connection that cannot connect leaves the run and its chunk goes back to the queue; when
  no connection is left, every remaining message fails with that connect error.
"""
from __future__ import annotations

import heapq
import random as _random
from collections import deque
from itertools import count, islice
from typing import Any, Callable, Generic, Iterable, Iterator, TypeVar

from smtpx.errors import SMTPError
from smtpx.kernels import slot_maker
from smtpx.pool.policy import Outcome, PoolOptions, retry_delay
from smtpx.pool.rate import RateLimiter

__all__ = ["MAX_STRIKES", "PoolRun", "Slot", "Slots", "Work", "normalise"]

MAX_STRIKES = 3
Client = TypeVar("Client")


class Work:
    """One message on its way: its index in the input, the message, and its history."""

    __slots__ = ("index", "message", "attempts", "strikes")

    def __init__(self, index: int, message: Any) -> None:
        self.index = index
        self.message = message
        self.attempts = 0  # retries after a 4xx so far
        self.strikes = 0  # sessions that failed with it unsent and settled nothing


# Work(index, message) for every message a pool takes, made without a Python-level __init__
# call (smtpx.kernels.slot_maker): (index, message, attempts, strikes).
make_work = slot_maker(Work)


def normalise(message: Any) -> Any:
    """A (mail_from, recipients, bytes) whose recipients are a one-shot iterator becomes one
    with a list, so that the message can be sent again after a drop or a 4xx."""
    if isinstance(message, tuple) and len(message) == 3:
        recipients = message[1]
        if not isinstance(recipients, (str, list, tuple)):
            try:
                return (message[0], list(recipients), message[2])
            except TypeError:  # not iterable: SMTP.send_batch reports it for this message
                return message
    return message


class PoolRun:
    """One send_batch / iter_batch over the pool. ``workers`` connections take part."""

    def __init__(self, messages: Iterable[Any], options: PoolOptions, workers: int,
                 limiter: RateLimiter | None = None, random: Callable[[], float] = _random.random) -> None:
        self.options = options
        # Read once: PoolOptions computes them, and they are asked for every chunk and message.
        self._chunk, self._ahead_limit, self._retries = options.chunk, options.ahead, options.retries
        self._input: Iterator[Any] = iter(messages)
        self._limiter = limiter
        self._random = random
        self._taken = 0  # messages read from the input so far (the next one's index)
        self.exhausted = False
        self._ready: deque[Work] = deque()  # to send now, in order (unsent ones go in front)
        self._later: list[tuple[float, int, Work]] = []  # retries, by the time they are due
        self._tiebreak = count()
        self._in_flight = 0  # messages out on a connection right now
        self._ahead = 0  # taken from the input and not yet handed back to the caller
        self._settled: deque[tuple[int, Outcome]] = deque()
        self._alive = workers
        self.failure: SMTPError | None = None  # the connect error once no connection is left
        self.error: BaseException | None = None  # an unexpected error in a worker: the run stops
        self.cancelled = False  # the caller stopped reading (closed the iterator)

    # ------------------------------------------------------------------------ state
    @property
    def stopped(self) -> bool:
        return self.cancelled or self.error is not None or self.failure is not None

    @property
    def connections_alive(self) -> int:
        """The connections still taking part (each one that cannot connect leaves the run)."""
        return self._alive

    @property
    def workers_done(self) -> bool:
        """Nothing more for any connection to do, now or later."""
        if self.stopped:
            return True
        return self.exhausted and not self._ready and not self._later and self._in_flight == 0

    @property
    def done(self) -> bool:
        """The caller has had every outcome (or the run stopped on an error)."""
        if self.error is not None or self.cancelled:
            return True
        if self.failure is not None:
            return self.exhausted and not self._settled
        return self.workers_done and not self._settled

    def abort(self, error: BaseException) -> None:
        """A worker hit an error that is not an SMTPError (or the input raised): stop the run;
        the caller gets the error."""
        if self.error is None:
            self.error = error

    # ------------------------------------------------------------------------ input
    def _pull(self) -> Work | None:
        if self.exhausted:
            return None
        try:
            message = next(self._input)
        except StopIteration:
            self.exhausted = True
            return None
        work = Work(self._taken, normalise(message))
        self._taken += 1
        self._ahead += 1
        return work

    def _pull_many(self, wanted: int) -> list[Work]:
        """Up to ``wanted`` messages from the input, as _pull takes them one by one."""
        messages = list(islice(self._input, wanted))
        if len(messages) < wanted:
            self.exhausted = True
        first = self._taken
        self._taken += len(messages)
        self._ahead += len(messages)
        return [make_work(first + offset, normalise(message), 0, 0) for offset, message in enumerate(messages)]

    # ------------------------------------------------------------------------ connections
    def next_chunk(self, budget: int | None, now: float) -> list[Work] | float | None:
        """The next messages for one connection (at most ``budget``, e.g. what is left of its
        messages_per_connection); or seconds to wait (rate limit, retry backoff) before asking
        again; or None: nothing now, ask again when something changes (see workers_done)."""
        if self.stopped:
            return None
        while self._later and self._later[0][0] <= now:
            self._ready.append(heapq.heappop(self._later)[2])
        limit = self._chunk if budget is None else min(budget, self._chunk)
        wanted = min(limit - len(self._ready), self._ahead_limit - self._ahead)
        if wanted > 0 and not self.exhausted:
            self._ready.extend(self._pull_many(wanted))
        if not self._ready:
            return self._later[0][0] - now if self._later else None
        wanted = min(limit, len(self._ready))
        if self._limiter is not None:
            wanted, wait = self._limiter.take(wanted, now)
            if wanted == 0:
                return wait
        chunk = [self._ready.popleft() for _ in range(wanted)]
        self._in_flight += wanted
        return chunk

    def settle(self, chunk: list[Work], outcomes: list[Outcome], now: float) -> None:
        """A connection's send_batch returned: one outcome per message of the chunk."""
        self._in_flight -= len(chunk)
        if not self._retries:  # every outcome is final
            self._settled.extend([(work.index, outcome) for work, outcome in zip(chunk, outcomes)])
            return
        for work, outcome in zip(chunk, outcomes):
            self._resolve(work, outcome, now)

    def session_failed(self, chunk: list[Work], error: SMTPError, now: float) -> None:
        """A connection's send_batch raised a session failure (the connection is gone)."""
        self._in_flight -= len(chunk)
        results = getattr(error, "results", None)
        if not isinstance(results, list) or len(results) != len(chunk):
            # Nothing says which messages went out: none is sent again (never a silent duplicate).
            for work in chunk:
                self._settled.append((work.index, error))
            return
        unsent = set(getattr(error, "unsent", ()))
        progress = any(outcome is not None for outcome in results)
        again: list[Work] = []
        for position, (work, outcome) in enumerate(zip(chunk, results)):
            if outcome is not None:
                self._resolve(work, outcome, now)
            elif position not in unsent:  # not said to be safe to send again: report, don't resend
                self._settled.append((work.index, error))
            else:
                work.strikes += 0 if progress else 1
                if work.strikes >= MAX_STRIKES:
                    self._settled.append((work.index, error))
                else:
                    again.append(work)
        self._ready.extendleft(reversed(again))

    def connect_failed(self, chunk: list[Work] | None, error: SMTPError) -> None:
        """A connection could not (re)connect: it leaves the run, its chunk goes back to the
        queue; with no connection left, every message still to send fails with ``error``."""
        if chunk:
            self._in_flight -= len(chunk)
            self._ready.extendleft(reversed(chunk))
        self._alive -= 1
        if self._alive > 0 or self.stopped:
            return
        self.failure = error
        for work in self._ready:
            self._settled.append((work.index, error))
        for _due, _tie, work in self._later:
            self._settled.append((work.index, error))
        self._ready.clear()
        self._later.clear()

    def _resolve(self, work: Work, outcome: Outcome, now: float) -> None:
        if work.attempts >= self._retries:  # no retry left (the common case: retries=0)
            self._settled.append((work.index, outcome))
            return
        delay = retry_delay(self.options, outcome, work.attempts, self._random)
        if delay is not None:
            work.attempts += 1
            heapq.heappush(self._later, (now + delay, next(self._tiebreak), work))
        else:
            self._settled.append((work.index, outcome))

    # ------------------------------------------------------------------------ caller
    def take_outcomes(self) -> list[tuple[int, Outcome]]:
        """The outcomes settled since the last call, as (input index, outcome). Once no
        connection is left, the messages not yet read fail here, a chunk at a time."""
        if not self._settled and self.failure is not None:
            for _ in range(self._chunk):
                work = self._pull()
                if work is None:
                    break
                self._settled.append((work.index, self.failure))
        taken = list(self._settled)
        self._settled.clear()
        self._ahead -= len(taken)
        return taken


class Slot(Generic[Client]):
    """One of the pool's connections: its client, and the messages sent since it connected
    (for messages_per_connection)."""

    __slots__ = ("client", "sent")

    def __init__(self, client: Client) -> None:
        self.client = client
        self.sent = 0

    def budget(self, options: PoolOptions) -> int | None:
        """Messages it may still send before reconnecting (None: no limit)."""
        limit = options.messages_per_connection
        return None if limit is None else max(1, limit - self.sent)

    def due(self, options: PoolOptions) -> bool:
        """True when the connection has sent its messages_per_connection: reconnect first."""
        limit = options.messages_per_connection
        return limit is not None and self.sent >= limit

    def spent(self, options: PoolOptions, sent: int) -> bool:
        """Count ``sent`` messages; True when the connection is now due for a reconnect."""
        self.sent += sent
        return self.due(options)


class Slots(Generic[Client]):
    """The pool's connections and which are free; the most recently used is lent first (its
    connection is the likeliest to be open)."""

    def __init__(self, clients: list[Client]) -> None:
        self.all = [Slot(client) for client in clients]
        self._free = list(reversed(self.all))
        self.closed = False

    def take(self) -> Slot[Client] | None:
        return self._free.pop() if self._free else None

    @property
    def has_free(self) -> bool:
        return bool(self._free)

    def give(self, slot: Slot[Client]) -> None:
        self._free.append(slot)

    def close(self) -> list[Slot[Client]]:
        """Mark the pool closed; the free slots, whose connections are to be closed now (the
        others are closed as they come back)."""
        self.closed = True
        free, self._free = self._free, []
        return free
