"""The producer's side: ``send_messages(app, messages, chunk_size=...)`` encodes messages
(smtpx.celery.wire) and publishes them as ``smtpx.send_chunk`` tasks, a chunk at a time (the
input is read lazily), and returns a ChunkRun to count or wait on."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable

from smtpx.celery.tasks import SEND_CHUNK
from smtpx.celery.wire import encode_message
from smtpx.errors import SMTPError, SMTPInputError

if TYPE_CHECKING:
    from celery import Celery  # type: ignore[import-untyped,import-not-found,unused-ignore]

__all__ = ["ChunkRun", "send_messages"]


@dataclass
class ChunkRun:
    """The tasks one send_messages call published.

    ``enqueued``: messages published; ``rejected``: (input index, SMTPInputError) of the
    messages refused before publishing (each alone, the others went); ``results``: the
    tasks' AsyncResults (a result backend is needed to wait). ``wait()`` returns the summed
    results: {"sent", "skipped", "failed", "refused", "tasks"}."""

    results: list[Any] = field(default_factory=list)
    enqueued: int = 0
    rejected: list[tuple[int, SMTPError]] = field(default_factory=list)

    @property
    def task_ids(self) -> list[str]:
        return [result.id for result in self.results]

    def ready(self) -> bool:
        return all(result.ready() for result in self.results)

    def wait(self, timeout: float | None = None) -> dict[str, Any]:
        """Wait for every task (its retries included); their results summed. A task that
        raised re-raises here."""
        total: dict[str, Any] = {"sent": 0, "skipped": 0, "failed": [], "refused": [], "tasks": len(self.results)}
        for result in self.results:
            value = result.get(timeout=timeout, disable_sync_subtasks=False)
            total["sent"] += value["sent"]
            total["skipped"] += value["skipped"]
            total["failed"] += value["failed"]
            total["refused"] += value["refused"]
        return total


def send_messages(app: Celery, messages: Iterable[Any], chunk_size: int = 100, **apply_options: Any) -> ChunkRun:
    """Publish ``messages`` (EmailMessages, (mail_from, recipients, bytes) tuples, or encoded
    dicts) as chunk tasks of up to ``chunk_size`` messages. ``apply_options`` go to
    ``apply_async`` (queue=, priority=, ...). A message smtpx refuses is in ``rejected`` and
    is not published; a publish that fails raises (the chunks before it are published)."""
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise SMTPInputError(f"send_messages: chunk_size must be a whole number >= 1, not {chunk_size!r}")
    try:
        source = iter(messages)
    except TypeError:
        raise SMTPInputError(f"send_messages: messages must be iterable, not {type(messages).__name__}") from None
    task = app.signature(SEND_CHUNK)
    run = ChunkRun()
    chunk: list[dict[str, Any]] = []

    def publish() -> None:
        run.results.append(task.clone(args=(list(chunk),)).apply_async(serializer="json", **apply_options))
        run.enqueued += len(chunk)
        chunk.clear()

    for index, message in enumerate(source):
        try:
            chunk.append(encode_message(message))
        except SMTPError as exc:
            run.rejected.append((index, exc))
            continue
        if len(chunk) >= chunk_size:
            publish()
    if chunk:
        publish()
    return run
