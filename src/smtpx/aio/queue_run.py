"""The durable queue for AsyncSMTP: the file work of smtpx.queue in worker threads, so the
event loop never waits for a disk.

``run_queue`` drives smtpx.queue.runner's ``queue_run`` (the same run as smtpx.SMTP's:
pipelined windows, each file committed from its own outcome) on the loop, with each of its
file steps (claim, commit: flock, renames, fsync) in a worker thread and each window sent with
``await send(items)``. A cancelled run (interrupt() or task.cancel()) waits for the file step in
progress to end (a thread cannot be stopped; leaving it would leave a file half handled), and
the files the run still holds stay ``*.sending``: the next run recovers them.
"""
from __future__ import annotations

import asyncio
import os
from typing import Any, Awaitable, Callable, TypeVar

from smtpx.dkim.apply import Signers
from smtpx.queue.files import QueueRun, write_queue_file
from smtpx.queue.runner import Items, OnError, Outcomes, queue_run
from smtpx.session.aio import drive
from smtpx.session.core import as_call

__all__ = ["run_queue", "write_in_thread"]

T = TypeVar("T")


async def _finished(future: "asyncio.Future[Any]") -> None:
    """Wait until a worker thread's future is done, whatever it ends with, even through
    further cancellations."""
    while not future.done():
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError:
            continue
        except BaseException:  # noqa: BLE001 - only waiting here; the caller looks at the result
            break


async def in_thread(work: Callable[[], T]) -> T:
    """``work()`` in a worker thread. Cancelled meanwhile: the work is waited for, then the
    cancellation goes on."""
    future = asyncio.get_running_loop().run_in_executor(None, work)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        await _finished(future)
        raise


async def run_queue(queue_dir: str, send: Callable[[Items], Awaitable[Outcomes]], *, keep_queue: bool,
                    on_error: OnError, dkim: Signers = None) -> QueueRun:
    """queue_run over ``queue_dir``: file work (and DKIM signing) in worker threads, each window
    sent with ``await send(items)`` on this loop; ``on_error(name, exc)`` on this loop for each
    failed file."""
    return await drive(queue_run(os.fspath(queue_dir), send, in_thread, keep_queue=keep_queue, on_error=on_error,
                                 dkim=dkim), as_call)


async def write_in_thread(queue_dir: str, composed: Any) -> str:
    """write_queue_file in a worker thread (it fsyncs). Cancelled meanwhile: the write cannot be
    stopped, so it is waited for and its file removed again, and a cancelled queue() leaves no
    message behind (unless a process_queue run took the file in that moment)."""
    loop = asyncio.get_running_loop()
    worker = loop.run_in_executor(None, write_queue_file, queue_dir, composed)
    try:
        return await asyncio.shield(worker)
    except asyncio.CancelledError:
        await _finished(worker)
        if not worker.cancelled() and worker.exception() is None:
            try:
                os.unlink(worker.result())
            except FileNotFoundError:  # a process_queue run claimed it already
                pass
        raise
