"""The bridge from the durable queue (docs/queue.md) to Celery: ``push_queue(dir, app)``
claims each queued file as a queue run does (lock, rename ``*.sending``, verify), publishes it
as an ``smtpx.send_message`` task, and deletes the file only once the broker has accepted the
task (``apply_async`` returned; with Redis the publish is a synchronous command). A file
whose publish fails stays (``*.sending``, released: the next push or run takes it) and the
push stops, raising. A corrupt file is parked ``*.failed`` and never published.

A file without a Message-ID gets one made from its file name, so pushing the same file twice
(a crash between the publish and the delete) gives the same idempotency key: the second task
finds the first one's mark and sends nothing."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from smtpx.celery.tasks import SEND_MESSAGE
from smtpx.celery.wire import encode_message
from smtpx.queue.files import QueueClaims

if TYPE_CHECKING:
    from celery import Celery  # type: ignore[import-untyped,import-not-found,unused-ignore]

__all__ = ["PushRun", "push_queue"]

# A publish that cannot reach the broker fails after these tries instead of hanging.
PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 1.0}


@dataclass
class PushRun:
    pushed: list[str] = field(default_factory=list)  # file names published (and deleted)
    task_ids: list[str] = field(default_factory=list)
    failed: list[tuple[str, BaseException]] = field(default_factory=list)  # corrupt files, parked *.failed


def push_queue(queue_dir: str | os.PathLike[str], app: Celery, **apply_options: Any) -> PushRun:
    """Publish every queued file of ``queue_dir`` as a task of ``app``; see the module doc."""
    claims = QueueClaims(queue_dir)
    run = PushRun()
    task = app.signature(SEND_MESSAGE)
    try:
        while True:
            window = claims.claim(1)
            if not window:
                break
            entry = window[0]
            data = b"".join(entry.content.chunks)
            envelope = entry.envelope
            item = encode_message((envelope.mail_from, list(envelope.recipients), data),  # (DSN options kept)
                                  message_id=f"<{entry.stem}@smtpx.queue>")
            result = task.clone(args=(item,)).apply_async(serializer="json", retry=True,
                                                          retry_policy=PUBLISH_RETRY, **apply_options)
            claims.commit(entry, None)  # accepted by the broker: now the file may go
            run.pushed.append(entry.sending_name)
            run.task_ids.append(result.id)
    finally:
        claims.leave_all()
        run.failed = list(claims.run.failed)
    return run
