"""``smtpx.aio.AsyncSMTPPool``: N smtpx.aio.AsyncSMTP connections to one server, one task per
connection while a batch runs. The same bookkeeping as SMTPPool (smtpx.pool.core) on the
event loop, where SMTPPool runs it under a lock in threads; this driver differs by its awaits.
See docs/pool.md."""
from __future__ import annotations

import asyncio
import time
from email.message import Message
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Awaitable, Callable, Iterable

from smtpx.aio.client import AsyncSMTP
from smtpx.engine import SendResult
from smtpx.errors import SMTPError, SMTPReplyError
from smtpx.pool.base import PoolBase, resendable
from smtpx.pool.core import PoolRun, Slot
from smtpx.pool.policy import Outcome, PoolMessage, retry_delay
from smtpx.pool.queue import merge_queue_runs
from smtpx.queue.files import QueueRun

__all__ = ["AsyncSMTPPool"]


async def _quit(client: AsyncSMTP) -> None:
    try:
        await client.disconnect()
    except SMTPError:  # the connection was already broken: it is closed all the same
        pass


class _Signal:
    """Wakes every waiting task when anything in the pool changed (asyncio.Condition without
    its lock: the pool's state only changes between awaits)."""

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future[None]] = []

    def notify(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def wait(self, timeout: float | None) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, timeout)
        except asyncio.TimeoutError:
            pass
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)


class AsyncSMTPPool(PoolBase[AsyncSMTP]):
    """smtpx.SMTPPool's API for asyncio (see it for the options):
    ``async with AsyncSMTPPool(4, mail_server=...) as pool:``, ``await pool.send_batch(...)``,
    ``async for index, outcome in pool.iter_batch(...)``, ``await pool.send_raw(...)``,
    ``async with pool.connection() as smtp:``. Task-safe; use it from one event loop."""

    _make_client = AsyncSMTP
    _name = "AsyncSMTPPool"

    def __init__(self, size: int = 4, *, messages_per_connection: int | None = None,
                 rate_limit: float | None = None, retries: int = 0, backoff: float = 1.0,
                 window: int = 32, **settings: Any) -> None:
        super().__init__(size, messages_per_connection=messages_per_connection, rate_limit=rate_limit,
                         retries=retries, backoff=backoff, window=window, **settings)
        self._signal = _Signal()

    # ------------------------------------------------------------------------ batches
    async def send_batch(self, messages: Iterable[PoolMessage]) -> list[SendResult | SMTPError]:
        """SMTPPool.send_batch as a coroutine: one outcome per message, in input order."""
        outcomes: dict[int, Outcome] = {}
        async for index, outcome in self.iter_batch(messages):
            outcomes[index] = outcome
        return [outcomes[index] for index in range(len(outcomes))]

    def iter_batch(self, messages: Iterable[PoolMessage]) -> AsyncIterator[tuple[int, SendResult | SMTPError]]:
        """``async for index, outcome in pool.iter_batch(messages)``: SMTPPool.iter_batch's
        contract (settle order, lazy input, flat memory). Bad arguments raise here, at the call."""
        run = self._new_run(messages, time.monotonic())
        return self._iterate(run)

    async def _iterate(self, run: PoolRun) -> AsyncIterator[tuple[int, Outcome]]:
        tasks = [asyncio.ensure_future(self._work(run)) for _ in range(self._options.size)]
        try:
            while True:
                if run.error is not None:
                    raise run.error
                outcomes = run.take_outcomes()
                if outcomes:
                    self._signal.notify()  # room for more input
                    for outcome in outcomes:
                        yield outcome
                elif run.done:
                    return
                else:
                    await self._signal.wait(None)
        finally:
            run.cancelled = run.cancelled or not run.done
            self._signal.notify()
            await asyncio.gather(*tasks, return_exceptions=True)  # cancelled with us, if we are

    async def _work(self, run: PoolRun) -> None:
        """One connection's task for one batch."""
        slot = await self._checkout(lambda: run.workers_done)
        if slot is None:
            return
        try:
            await self._serve(run, slot)
        except Exception as error:  # not an SMTPError: the batch stops, the caller gets it
            run.abort(error)
            self._signal.notify()
        finally:
            await self._checkin(slot)

    async def _serve(self, run: PoolRun, slot: Slot[AsyncSMTP]) -> None:
        options, client = self._options, slot.client
        while True:
            while True:
                step = run.next_chunk(slot.budget(options), time.monotonic())
                if isinstance(step, list):
                    break
                if run.workers_done:
                    return
                await self._signal.wait(step)
            if not client.connected:
                try:
                    await client.connect()
                except SMTPError as error:
                    run.connect_failed(step, error)
                    self._signal.notify()
                    return
                slot.sent = 0
            try:
                outcomes = await client.send_batch([work.message for work in step], window=options.window)
            except SMTPError as error:  # a session failure: .results / .unsent say what happened
                run.session_failed(step, error, time.monotonic())
                self._signal.notify()
                continue
            run.settle(step, outcomes, time.monotonic())
            self._signal.notify()
            if slot.spent(options, len(step)):
                await _quit(client)

    # ------------------------------------------------------------------------ single sends
    async def _checkout(self, give_up: Callable[[], bool] | None = None) -> Slot[AsyncSMTP] | None:
        while True:
            ready, slot = self._look_for_slot(give_up)
            if ready:
                return slot
            await self._signal.wait(None)

    async def _checkin(self, slot: Slot[AsyncSMTP]) -> None:
        if self._slots.closed:
            await _quit(slot.client)
        else:
            self._slots.give(slot)
        self._signal.notify()

    @asynccontextmanager
    async def _lend(self) -> AsyncIterator[Slot[AsyncSMTP]]:
        slot = await self._checkout()
        assert slot is not None
        try:
            client = slot.client
            if client.connected and slot.due(self._options):
                await _quit(client)
            if not client.connected:
                await client.connect()
                slot.sent = 0
            yield slot
        finally:
            await self._checkin(slot)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncSMTP]:
        """``async with pool.connection() as smtp:`` one connected AsyncSMTP for this task
        (waiting while all are busy), given back at the end of the block."""
        async with self._lend() as slot:
            yield slot.client

    async def send_message(self, msg: Message, from_addr: str | None = None,
                           to_addrs: str | Iterable[str] | None = None, mail_options: Iterable[str] = (),
                           rcpt_options: Iterable[str] = ()) -> SendResult:
        """send_message (smtplib's rules, as SMTP.send_message) on a free connection of the
        pool, within the rate limit and with send_raw's 4xx retries. Raises what
        send_message raises (bad input: SMTPInputError, nothing sent)."""
        return await self._retrying(lambda client: client.send_message(msg, from_addr, to_addrs, mail_options,
                                                                         rcpt_options))

    async def send_raw(self, mail_from: str, recipients: Iterable[str], message: bytes) -> SendResult:
        """SMTPPool.send_raw as a coroutine (rate limit, 4xx retries with backoff)."""
        recipients = resendable(recipients)
        return await self._retrying(lambda client: client.send_raw(mail_from, recipients, message))

    async def _retrying(self, send: Callable[[AsyncSMTP], Awaitable[SendResult]]) -> SendResult:
        """``send(client)`` on a free connection within the rate limit; a 4xx refusal is sent
        again up to ``retries`` times after the backoff."""
        retries = 0
        while True:
            await self._wait_for_rate()
            async with self._lend() as slot:
                slot.sent += 1
                try:
                    return await send(slot.client)
                except SMTPReplyError as error:
                    delay = retry_delay(self._options, error, retries, self._random)
                    if delay is None:
                        raise
            retries += 1
            await asyncio.sleep(delay)

    async def _wait_for_rate(self) -> None:
        while wait := self._rate_wait(time.monotonic()):
            await asyncio.sleep(wait)

    # ------------------------------------------------------------------------ the queue
    async def process_queue(self, queue_dir: str) -> QueueRun:
        """SMTPPool.process_queue as a coroutine: AsyncSMTP.process_queue on every connection
        at once, on the same folder; the merged QueueRun (smtpx.pool.queue)."""
        self._check_open()

        async def one_connection() -> QueueRun:
            async with self._lend() as slot:
                return await slot.client.process_queue(queue_dir)

        runs = await asyncio.gather(*(one_connection() for _ in range(self._options.size)),
                                    return_exceptions=True)
        return merge_queue_runs(runs)

    # ------------------------------------------------------------------------ lifetime
    async def close(self) -> None:
        """QUIT and close every connection (those checked out, when they come back)."""
        free = self._slots.close()
        self._signal.notify()
        for slot in free:
            if slot.client.connected:
                await _quit(slot.client)

    async def __aenter__(self) -> "AsyncSMTPPool":
        self._check_open()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()
