"""The Celery tasks: ``smtpx.send_chunk`` (a list of encoded messages, through the worker's
pool's pipelined batches) and ``smtpx.send_message`` (one). ``install(app)`` registers them
on an app.

Both are declared ``acks_late=True`` and ``reject_on_worker_lost=True``: the broker keeps a
task until it has finished, and a task whose worker process dies is given to another worker
(the idempotency marks keep what was delivered from going again). Their serializer is JSON;
an app that accepts pickle is refused. Messages refused with 4xx or cut off by a dropped
connection come back as the same task (Celery's retry) holding only them, after an
exponential backoff with jitter; the result counts what every attempt did."""
from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any, NamedTuple

from smtpx.celery.delivery import ChunkOutcome, deliver, failure_record
from smtpx.celery.settings import PICKLE, settings_of
from smtpx.celery.worker import connect_signals, runtime_for
from smtpx.errors import SMTPConfigError
from smtpx.pool.policy import PoolOptions, backoff_delay

if TYPE_CHECKING:
    from celery import Celery, Task  # type: ignore[import-untyped,import-not-found,unused-ignore]

__all__ = ["install", "Tasks", "SEND_CHUNK", "SEND_MESSAGE", "TASK_OPTIONS"]

SEND_CHUNK = "smtpx.send_chunk"
SEND_MESSAGE = "smtpx.send_message"
TASK_OPTIONS: dict[str, Any] = {"bind": True, "acks_late": True, "reject_on_worker_lost": True,
                                "serializer": "json", "max_retries": None}


class Tasks(NamedTuple):
    send_chunk: Task
    send_message: Task


def _merge(carried: dict[str, Any] | None, outcome: ChunkOutcome) -> dict[str, Any]:
    """This attempt's result added to what the earlier attempts of the task did."""
    result = outcome.as_result()
    if carried:
        result["sent"] += int(carried.get("sent", 0))
        result["skipped"] += int(carried.get("skipped", 0))
        result["failed"] = list(carried.get("failed", [])) + result["failed"]
        result["refused"] = list(carried.get("refused", [])) + result["refused"]
    result["attempts"] = int((carried or {}).get("attempts", 0)) + 1
    return result


def run_chunk(task: Any, items: list[Any], carried: dict[str, Any] | None = None) -> dict[str, Any]:
    """The body of both tasks."""
    runtime = runtime_for(task.app)
    settings = runtime.settings
    if not isinstance(items, list):
        items = [items]
    try:
        outcome = deliver(runtime, items)
    except Exception as exc:  # Redis unreadable before anything was sent: the whole task again
        if _is_redis_error(exc) and task.request.retries < settings.max_retries:
            raise task.retry(exc=exc, countdown=_countdown(settings.backoff, task.request.retries))
        raise
    result = _merge(carried, outcome)
    if outcome.retry:
        if task.request.retries < settings.max_retries:
            again = [item for item, _ in outcome.retry]
            raise task.retry(args=[again], kwargs={"carried": result},
                             countdown=_countdown(settings.backoff, task.request.retries))
        for item, error in outcome.retry:  # out of retries: the last error is final
            result["failed"].append(failure_record(item.get("message_id"), error))
    return result


def _countdown(backoff: float, retries_so_far: int) -> float:
    return backoff_delay(PoolOptions(backoff=backoff), retries_so_far + 1, random.random)


def _is_redis_error(exc: BaseException) -> bool:
    return type(exc).__module__.startswith("redis")


def send_chunk(self: Any, items: list[Any], carried: dict[str, Any] | None = None) -> dict[str, Any]:
    """Send a list of encoded messages (smtpx.celery.wire); returns {"sent", "skipped",
    "failed", "refused", "attempts"}."""
    return run_chunk(self, items, carried)


def send_message(self: Any, item: Any, carried: dict[str, Any] | None = None) -> dict[str, Any]:
    """Send one encoded message; the same result as send_chunk's."""
    return run_chunk(self, item if isinstance(item, list) else [item], carried)


def install(app: Celery) -> Tasks:
    """Register smtpx's tasks on ``app`` (the worker's and the producer's app module call it)
    and hook the worker process signals. SMTPConfigError when the app accepts pickle."""
    accepted = {str(c).lower() for c in (app.conf.accept_content or ())}
    if accepted & PICKLE:
        settings_of(app.conf)  # raises, saying why
        raise SMTPConfigError("smtpx.celery refuses an app that accepts pickle")  # pragma: no cover
    connect_signals()
    return Tasks(app.task(name=SEND_CHUNK, **TASK_OPTIONS)(send_chunk),
                 app.task(name=SEND_MESSAGE, **TASK_OPTIONS)(send_message))
