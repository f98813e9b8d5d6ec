"""process_queue's run, written once for smtpx.SMTP and smtpx.aio.AsyncSMTP: windows of
claimed files, each window pipelined through the engine's send_batch, each file committed from
its own outcome (docs/queue.md has the rules and the guarantees).

Like the engine, the run does no I/O of its own: ``queue_run()`` is a generator of the calls
to make, which each facade makes with its driver's ``drive`` (smtpx.session.sync / .aio), the
same loop that runs engine operations:

- ``(file_work, (work,))``: file-system work (list, lock, rename, read, fsync). SMTP's
  ``file_work`` calls ``work()``; AsyncSMTP's runs it in a worker thread, so the event loop never
  waits for a disk. The result of ``work()`` comes back.
- ``(send, (items,))``: send these messages over the connection (opened when none is open)
  with the engine's send_batch. Its outcomes come back (a SendResult or the per-message
  SMTPError each), or the session failure is thrown in (with ``.results``).

The run itself fires ``on_error(name, error)`` for every file parked ``*.failed``, so handlers
run on the caller's thread (the event loop's, for AsyncSMTP). A run that stops (an error, a
cancellation, KeyboardInterrupt) leaves every file it still holds ``*.sending``: the next run
recovers it.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Generator
from functools import partial
from typing import TypeVar, Union, cast

from smtpx.dkim.apply import Signers, sign_claimed
from smtpx.engine.envelope import Content, Envelope, SendResult
from smtpx.errors import SMTPError, SMTPInterrupted
from smtpx.queue.files import (
    QUEUE_WINDOW,
    ClaimedFile,
    QueueClaims,
    QueueRun,
    commit_window,
    settle_after_session_failure,
)

__all__ = ["queue_run", "Items", "Outcomes", "OnError", "run_here"]

T = TypeVar("T")
IOResult = TypeVar("IOResult")  # what one call gives: the result, or an awaitable of it
Items = list[tuple[Envelope, Content]]
Outcomes = list[Union[SendResult, SMTPError]]
OnError = Callable[[str, BaseException], None]
Call = tuple[Callable[..., IOResult], tuple[object, ...]]


def run_here(work: Callable[[], T]) -> T:
    """``file_work`` for a sync run: the work, done as it comes."""
    return work()


def queue_run(
    queue_dir: str | os.PathLike[str],
    send: Callable[[Items], IOResult],
    file_work: Callable[[Callable[[], object]], IOResult],
    *,
    keep_queue: bool = False,
    on_error: OnError | None = None,
    window: int = QUEUE_WINDOW,
    dkim: Signers = None,
) -> Generator[Call[IOResult], object, QueueRun]:
    """Send every ``*.queued`` file in ``queue_dir`` and recover the ``*.sending`` files a dead
    run left, ``window`` files at a time; returns the QueueRun (sent, failed, recovered).

    A session failure commits what its ``.results`` say is known and parks the files whose
    delivery is unknown; the files certainly not delivered go first in the next window, on a
    new connection, when the failed window settled at least one file. Otherwise, and on
    interrupt() and on anything that is not an SMTPError, the run stops: the error is raised
    with ``.queue_run`` (the QueueRun so far) and the unsent files stay ``*.sending``."""

    def on_files(work: Callable[[], T]) -> Generator[Call[IOResult], object, T]:
        result = yield file_work, (work,)
        return cast(T, result)  # what work() returned

    claims = yield from on_files(partial(QueueClaims, queue_dir, keep_queue))
    reported = 0

    def report_failed() -> None:
        nonlocal reported
        while reported < len(claims.run.failed):
            name, error = claims.run.failed[reported]
            reported += 1
            if on_error is not None:
                on_error(name, error)

    retry: list[ClaimedFile] = []  # claimed, certainly not delivered: they go first
    try:
        while True:
            fresh = (yield from on_files(partial(claims.claim, window - len(retry)))) if len(retry) < window else []
            files, retry = retry + fresh, []
            report_failed()  # corrupt files are parked while claiming
            if not files:
                yield from on_files(claims.finish)  # the last closes (AsyncSMTP: not on the loop)
                return claims.run
            items = [(entry.envelope, entry.content) for entry in files]
            if dkim is not None:  # signed as sent (x= counts from now); a file it refuses is parked
                files, items = yield from on_files(partial(sign_claimed, dkim, claims, files))
                report_failed()
                if not files:
                    continue
            try:
                outcomes = cast(Outcomes, (yield send, (items,)))
            except Exception as error:
                settled, retry = settle_after_session_failure(files, error)
                if settled:
                    yield from on_files(partial(claims.commit_many, settled))
                    report_failed()
                if not settled or not isinstance(error, SMTPError) or isinstance(error, SMTPInterrupted):
                    raise
                continue  # the next window opens a new connection
            yield from on_files(partial(commit_window, claims, files, outcomes))
            report_failed()
    except SMTPError as error:
        error.queue_run = claims.run  # type: ignore[attr-defined]
        raise
    finally:
        claims.finish()  # what is still held stays *.sending: the next run sends it
