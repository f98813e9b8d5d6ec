"""process_queue on a pool: every connection runs its own ``process_queue`` on the same folder
at the same time. Claiming a file is atomic (flock, then rename; docs/queue.md), so each file
goes out on exactly one connection, and each connection pipelines its windows as a single
SMTP.process_queue does. This module merges what the connections did into one QueueRun."""
from __future__ import annotations

from collections.abc import Sequence

from smtpx.queue.files import QueueRun

__all__ = ["merge_queue_runs"]


def merge_queue_runs(runs: Sequence[QueueRun | BaseException]) -> QueueRun:
    """One QueueRun from every connection's run. When a connection's run failed, its error is
    raised once all runs ended, with ``.queue_run`` the merged run (files it left
    ``*.sending`` are recovered by the next run, as for SMTP.process_queue). The first
    failure is raised; the merged run lists what every connection did."""
    merged = QueueRun()
    errors: list[BaseException] = []
    for run in runs:
        if isinstance(run, BaseException):
            errors.append(run)
            run = getattr(run, "queue_run", None) or QueueRun()
        merged.sent.extend(run.sent)
        merged.failed.extend(run.failed)
        merged.recovered.extend(run.recovered)
    if errors:
        error = errors[0]
        try:
            error.queue_run = merged  # type: ignore[attr-defined]
        except AttributeError:
            pass
        raise error
    return merged
