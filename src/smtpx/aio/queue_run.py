"""The durable queue for AsyncSMTP: ``smtpx.queue``'s own functions, with the file work in a
worker thread and the sending on the event loop.

``process_queue_dir`` (claim, read, settle: flock, renames, fsync) runs unchanged in a worker
thread, so every guarantee of docs/queue.md is the same code as in smtpx.SMTP. Its
``send_one`` callback hands each message to the loop (``run_coroutine_threadsafe``) and waits:
the message goes out on the AsyncSMTP connection while the thread holds the file's lock.
A cancelled run (interrupt() or task.cancel()) cancels the send in flight and stops the thread
without settling: the file being sent stays ``*.sending`` and the next run recovers it.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from typing import Any, Awaitable, Callable

from smtpx.engine.envelope import Content, Envelope
from smtpx.queue.files import QueueRun, process_queue_dir, write_queue_file

__all__ = ["run_queue", "write_in_thread"]

SendOne = Callable[[Envelope, Content], Awaitable[Any]]
OnError = Callable[[str, BaseException], None]


class _StopRun(BaseException):
    """Ends process_queue_dir at once, without settling the file being sent (a BaseException,
    so the queue does not take it for a failed send)."""


async def _finished(future: "asyncio.Future[Any]") -> None:
    """Wait until a worker thread's future is done, whatever it ends with, even through
    further cancellations (the thread cannot be stopped; leaving before it ends would leave
    a file half handled)."""
    while not future.done():
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError:
            continue
        except BaseException:  # noqa: BLE001 - only waiting here; the caller looks at the result
            break


class _Runner:
    def __init__(self, loop: asyncio.AbstractEventLoop, send: SendOne, on_error: OnError) -> None:
        self._loop = loop
        self._send = send
        self._on_error = on_error
        self._lock = threading.Lock()
        self._stopped = False
        self._sending: concurrent.futures.Future[Any] | None = None

    # --- worker thread
    def run(self, queue_dir: str, keep_queue: bool) -> QueueRun:
        return process_queue_dir(queue_dir, self._send_one, keep_queue=keep_queue, on_error=self._failed)

    def _send_one(self, envelope: Envelope, content: Content) -> Any:
        with self._lock:
            if self._stopped:
                raise _StopRun()
            future = asyncio.run_coroutine_threadsafe(self._send(envelope, content), self._loop)
            self._sending = future
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            raise _StopRun() from None
        finally:
            with self._lock:
                self._sending = None

    def _failed(self, name: str, exc: BaseException) -> None:
        # on_error handlers run on the loop's thread, like every other event.
        async def fire() -> None:
            self._on_error(name, exc)

        asyncio.run_coroutine_threadsafe(fire(), self._loop).result()

    # --- loop thread
    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            if self._sending is not None:
                self._sending.cancel()  # cancels the send's task on the loop


async def run_queue(queue_dir: str, send: SendOne, *, keep_queue: bool, on_error: OnError) -> QueueRun:
    """process_queue_dir in a worker thread, each message sent with ``await send(envelope,
    content)`` on this loop; ``on_error(name, exc)`` on this loop for each failed file."""
    loop = asyncio.get_running_loop()
    runner = _Runner(loop, send, on_error)
    worker = loop.run_in_executor(None, runner.run, os.fspath(queue_dir), keep_queue)
    try:
        return await asyncio.shield(worker)
    except asyncio.CancelledError:
        runner.stop()
        await _finished(worker)  # the thread leaves its file *.sending and releases the lock
        raise


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
