"""``smtpx.SMTPPool``: N smtpx.SMTP connections to one server, one thread per connection while
a batch runs, each sending chunks through its own pipelined ``send_batch``. The decisions
(what to send where, retries, the rate limit, what a failure means) are smtpx.pool.core's;
this module only runs them under one lock (a Condition) and waits. See docs/pool.md."""
from __future__ import annotations

import threading
import time
from email.message import Message
from contextlib import contextmanager
from typing import Any, Callable, Generator, Iterable, Iterator

from smtpx.engine import SendResult
from smtpx.errors import SMTPError, SMTPNotConnectedError, SMTPReplyError
from smtpx.facade.smtp import SMTP
from smtpx.pool.base import PoolBase, resendable
from smtpx.pool.core import PoolRun, Slot, Work
from smtpx.pool.policy import Outcome, PoolMessage, retry_delay
from smtpx.pool.queue import merge_queue_runs
from smtpx.queue.files import QueueRun
from smtpx.session.multiplex import Multiplexer

__all__ = ["SMTPPool"]


def _quit(client: SMTP) -> None:
    try:
        client.disconnect()
    except SMTPError:  # the connection was already broken: it is closed all the same
        pass


class SMTPPool(PoolBase[SMTP]):
    """A pool of ``size`` connections to one server (smtpx.SMTP objects made from
    ``**settings``: mail_server, mail_port, config={...}, user, password, ...).

    - ``send_batch(messages)``: every message, spread over the connections, each pipelining;
      the outcomes in input order. ``iter_batch(messages)``: (input index, outcome) as they
      settle, reading the input lazily (flat memory for any number of messages).
    - ``send_raw(...)`` and ``with pool.connection() as smtp:``: single sends for threads of a
      web application; a connection is checked out and back.
    - ``messages_per_connection``: reconnect after that many messages; ``rate_limit``: messages
      per second across the pool; ``retries``: times a message refused with 4xx is sent again,
      after ``backoff`` seconds (doubling, with jitter, capped); ``window``: transactions in
      flight per connection.

    Connections open when first needed and stay open until ``close()`` (QUIT), which
    ``with SMTPPool(...) as pool:`` calls at the end. Bad options raise SMTPInputError here.
    Thread-safe.
    """

    _make_client = SMTP
    _name = "SMTPPool"

    def __init__(self, size: int = 4, *, messages_per_connection: int | None = None,
                 rate_limit: float | None = None, retries: int = 0, backoff: float = 1.0,
                 window: int = 32, **settings: Any) -> None:
        super().__init__(size, messages_per_connection=messages_per_connection, rate_limit=rate_limit,
                         retries=retries, backoff=backoff, window=window, **settings)
        self._cond = threading.Condition()

    # ------------------------------------------------------------------------ batches
    def send_batch(self, messages: Iterable[PoolMessage]) -> list[SendResult | SMTPError]:
        """Send every message (as SMTP.send_batch takes them); one outcome per message, in
        input order: its SendResult, or the SMTPError that says why it was not sent (or, for
        SMTPConnectionDropped with ``delivery_unknown``, that nobody knows). Nothing is raised
        for a single message; a connection that drops is replaced and its unsent messages go
        out on another one."""
        outcomes: dict[int, Outcome] = {}
        for settled in self._outcome_lists(self._new_run(messages, time.monotonic())):
            outcomes.update(settled)
        return [outcomes[index] for index in range(len(outcomes))]

    def iter_batch(self, messages: Iterable[PoolMessage]) -> Iterator[tuple[int, SendResult | SMTPError]]:
        """Yield ``(input index, outcome)`` for every message as it settles (not in order).
        The input is read as the connections need it, at most a few chunks ahead, so a
        generator of a million messages runs in flat memory. Leaving the loop early stops the
        pool after the chunks in flight."""
        return self._iterate(self._new_run(messages, time.monotonic()))

    def _iterate(self, run: PoolRun) -> Iterator[tuple[int, Outcome]]:
        lists = self._outcome_lists(run)
        try:
            for settled in lists:
                yield from settled
        finally:
            lists.close()  # the caller left the loop: the chunks in flight finish now, not at garbage collection

    def _outcome_lists(self, run: PoolRun) -> Generator[list[tuple[int, Outcome]], None, None]:
        """The batch, driven from the caller's thread: every connection it holds runs its
        chunk's send_batch at once, over one poll() (smtpx.session.multiplex). Yields the
        outcomes as they settle, a list at a time."""
        batch = _PoolBatch(self, run)
        try:
            while True:
                outcomes = run.take_outcomes()
                if outcomes:
                    yield outcomes
                    continue
                if run.error is not None:
                    raise run.error
                if run.done:
                    return
                batch.step()
        except BaseException as error:
            # Stopped early (the caller left the loop, or an error): the chunks in flight
            # finish first, as a send_batch call would; a KeyboardInterrupt drops them.
            batch.stop(finish=isinstance(error, (Exception, GeneratorExit)))
            raise
        finally:
            batch.give_back()

    # ------------------------------------------------------------------------ single sends
    def _checkout(self, give_up: Any = None) -> Slot[SMTP] | None:
        """A free connection, waiting for one; None when ``give_up()`` becomes true (or the
        pool closes) first. Without ``give_up``, a closed pool raises."""
        with self._cond:
            while True:
                ready, slot = self._look_for_slot(give_up)
                if ready:
                    return slot
                self._cond.wait()

    def _checkin(self, slot: Slot[SMTP]) -> None:
        with self._cond:
            closed = self._slots.closed
            if not closed:
                self._slots.give(slot)
            self._cond.notify_all()
        if closed:
            _quit(slot.client)

    @contextmanager
    def _lend(self) -> Iterator[Slot[SMTP]]:
        slot = self._checkout()
        assert slot is not None
        try:
            client = slot.client
            if client.connected and slot.due(self._options):
                _quit(client)
            if not client.connected:
                client.connect()
                slot.sent = 0
            yield slot
        finally:
            self._checkin(slot)

    @contextmanager
    def connection(self) -> Iterator[SMTP]:
        """Check out one connected smtpx.SMTP (waiting while all are busy) for this thread's
        use, and give it back at the end of the ``with`` block. Connects when needed; a
        connection that reached messages_per_connection is renewed first."""
        with self._lend() as slot:
            yield slot.client

    def send_message(self, msg: Message, from_addr: str | None = None,
                     to_addrs: str | Iterable[str] | None = None, mail_options: Iterable[str] = (),
                     rcpt_options: Iterable[str] = ()) -> SendResult:
        """send_message (smtplib's rules, as SMTP.send_message) on a free connection of the
        pool, within the rate limit and with send_raw's 4xx retries. Raises what
        send_message raises (bad input: SMTPInputError, nothing sent)."""
        return self._retrying(lambda client: client.send_message(msg, from_addr, to_addrs, mail_options,
                                                                   rcpt_options))

    def send_raw(self, mail_from: str, recipients: Iterable[str], message: bytes) -> SendResult:
        """SMTP.send_raw on a free connection of the pool (thread-safe), within the rate limit;
        a 4xx refusal is tried again up to ``retries`` times after the backoff. Raises what
        send_raw raises."""
        recipients = resendable(recipients)
        return self._retrying(lambda client: client.send_raw(mail_from, recipients, message))

    def _retrying(self, send: Callable[[SMTP], SendResult]) -> SendResult:
        """``send(client)`` on a free connection within the rate limit; a 4xx refusal is sent
        again up to ``retries`` times after the backoff."""
        retries = 0
        while True:
            self._wait_for_rate()
            with self._lend() as slot:
                slot.sent += 1
                try:
                    return send(slot.client)
                except SMTPReplyError as error:
                    delay = retry_delay(self._options, error, retries, self._random)
                    if delay is None:
                        raise
            retries += 1
            time.sleep(delay)

    def _wait_for_rate(self) -> None:
        while True:
            with self._cond:
                wait = self._rate_wait(time.monotonic())
            if not wait:
                return
            time.sleep(wait)

    # ------------------------------------------------------------------------ the queue
    def process_queue(self, queue_dir: str) -> QueueRun:
        """SMTP.process_queue on every connection of the pool at once, on the same folder:
        each file is claimed by exactly one connection (docs/queue.md), each connection
        pipelines its windows. Returns the merged QueueRun; when a connection's run fails its
        error is raised after the others ended, with ``.queue_run`` (smtpx.pool.queue)."""
        self._check_open()
        runs: list[QueueRun | BaseException] = []

        def one_connection() -> None:
            try:
                with self._lend() as slot:
                    runs.append(slot.client.process_queue(queue_dir))
            except BaseException as error:  # reported after every connection ended
                runs.append(error)

        threads = [threading.Thread(target=one_connection, daemon=True, name=f"smtpx-pool-queue-{n}")
                   for n in range(self._options.size)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return merge_queue_runs(runs)

    # ------------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """QUIT and close every connection (those checked out, when they come back). The pool
        cannot be used afterwards. Calling it again does nothing."""
        with self._cond:
            free = self._slots.close()
            self._cond.notify_all()
        for slot in free:
            if slot.client.connected:
                _quit(slot.client)

    def __enter__(self) -> "SMTPPool":
        self._check_open()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


class _PoolBatch:
    """One batch's connections, driven from one thread: which connections it holds, the
    chunk each is sending, and one step of the loop (start what can start, then wait)."""

    # While the batch holds fewer connections than it may (others are lent to single sends),
    # it looks again this often for one that came back.
    LOOK_FOR_FREE = 0.05

    def __init__(self, pool: SMTPPool, run: PoolRun) -> None:
        self.pool = pool
        self.run = run
        self.options = pool._options
        self.held: list[Slot[SMTP]] = []
        self.sending: dict[Slot[SMTP], list[Work]] = {}
        self.mux: Multiplexer[Slot[SMTP]] = Multiplexer()

    def step(self) -> None:
        """Start a chunk on every idle connection that may send now; then wait for the first
        of: a connection's chunk settles, a wait asked by the rate limit or a retry ends, a
        connection comes back to the pool."""
        self._take_free()
        wait = self._start_chunks()
        if not self.mux.running:
            if self.run.workers_done:
                return
            if not self.held:  # every connection is lent out: wait for one
                with self.pool._cond:
                    if self.pool._slots.closed:  # close() from another thread: nothing can send
                        self.run.abort(SMTPNotConnectedError(f"{self.pool._name} was closed during the batch", 1117))
                    elif not self.pool._slots.has_free:
                        self.pool._cond.wait(wait)
                return
            if wait is not None:
                time.sleep(wait)
            return
        if len(self.held) < self.run.connections_alive:
            wait = self.LOOK_FOR_FREE if wait is None else min(wait, self.LOOK_FOR_FREE)
        for slot, outcomes, error in self.mux.wait(wait):
            self._settle(slot, outcomes, error)

    def _take_free(self) -> None:
        if len(self.held) >= self.run.connections_alive:
            return
        with self.pool._cond:
            while len(self.held) < self.run.connections_alive:
                _found, slot = self.pool._look_for_slot(lambda: True)
                if slot is None:
                    return
                self.held.append(slot)

    def _start_chunks(self) -> float | None:
        """A chunk for each idle connection, as long as there is one to send now; the seconds
        to wait before asking again (None: until something changes)."""
        run, options = self.run, self.options
        wait: float | None = None
        assigned: list[tuple[Slot[SMTP], list[Work]]] = []
        for slot in self.held:
            if slot in self.sending:
                continue
            step = run.next_chunk(slot.budget(options), time.monotonic())
            if not isinstance(step, list):
                wait = step
                break
            assigned.append((slot, step))
        for slot, chunk, error in self._connect([pair for pair in assigned if not pair[0].client.connected]):
            if error is not None:
                run.connect_failed(chunk, error)
                self.held.remove(slot)
                self.pool._checkin(slot)
                assigned.remove((slot, chunk))
        for slot, chunk in assigned:
            self.sending[slot] = chunk
            self.mux.start(slot, slot.client._batch_steps([work.message for work in chunk], options.window))
        return wait

    @staticmethod
    def _connect(pairs: list[tuple[Slot[SMTP], list[Work]]]
                 ) -> list[tuple[Slot[SMTP], list[Work], SMTPError | None]]:
        """Connect these connections (at a batch's start, after a drop or messages_per_connection):
        at the same time, each in a thread of its own, as a link's round trips add up otherwise."""
        errors: dict[int, SMTPError] = {}
        crashes: list[BaseException] = []

        def connect(position: int, slot: Slot[SMTP]) -> None:
            try:
                slot.client.connect()
                slot.sent = 0
            except SMTPError as error:
                errors[position] = error
            except BaseException as error:  # not an SMTPError: the batch stops (raised below)
                crashes.append(error)

        if len(pairs) == 1:
            connect(0, pairs[0][0])
        else:
            threads = [threading.Thread(target=connect, args=(position, slot), daemon=True,
                                        name=f"smtpx-pool-connect-{position}")
                       for position, (slot, _chunk) in enumerate(pairs)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        if crashes:
            raise crashes[0]
        return [(slot, chunk, errors.get(position)) for position, (slot, chunk) in enumerate(pairs)]

    def _settle(self, slot: Slot[SMTP], outcomes: Any, error: Exception | None) -> None:
        chunk = self.sending.pop(slot)
        if error is None:
            self.run.settle(chunk, outcomes, time.monotonic())
            if slot.spent(self.options, len(chunk)):
                _quit(slot.client)
        elif isinstance(error, SMTPError):  # a session failure: .results / .unsent say what happened
            self.run.session_failed(chunk, error, time.monotonic())
        else:  # not an SMTPError: the batch stops, the caller gets it
            self.run.abort(error)

    def stop(self, finish: bool) -> None:
        """The batch ends early: let the chunks in flight finish (``finish``), or drop them."""
        self.run.cancelled = True
        if finish:
            try:
                while self.mux.running:
                    self.mux.wait(None)
                return
            except BaseException:
                self.mux.close()
                raise
        self.mux.close()

    def give_back(self) -> None:
        for slot in self.held:
            self.pool._checkin(slot)
        self.held.clear()
