"""The progress bar of long work (``queue run``, ``blast``): tqdm's, on stderr, only when
stderr is a terminal and tqdm is installed (the ``cli`` extra); otherwise nothing at all, so
output that goes to a file or a pipe holds only the summary. Why tqdm, and why optional:
docs/cli.md. Updates may come from several threads (a pool's connections): they are serialised."""
from __future__ import annotations

import importlib
import sys
import threading
from typing import Any, TextIO


class Progress:
    """Counts done / failed work; draws a bar when it has one. Thread-safe; a no-op bar when quiet."""

    def __init__(self, bar: Any = None) -> None:
        self._bar = bar
        self._lock = threading.Lock()
        self.done = 0
        self.failed = 0

    @property
    def shown(self) -> bool:
        return self._bar is not None

    def advance(self, count: int = 1, *, failed: int = 0) -> None:
        with self._lock:
            self.done += count
            self.failed += failed
            if self._bar is not None:
                if self.failed:
                    self._bar.set_postfix(failed=self.failed, refresh=False)
                self._bar.update(count)

    def close(self) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.close()
                self._bar = None


def _tqdm() -> Any:
    try:
        return importlib.import_module("tqdm").tqdm
    except ModuleNotFoundError:
        return None


def progress(total: int | None, *, unit: str, desc: str, enabled: bool = True,
             stream: TextIO | None = None) -> Progress:
    """A Progress over ``total`` units (None: unknown, no ETA). A bar only when ``enabled``, the
    stream (stderr) is a terminal and tqdm is importable; a terminal without tqdm gets a
    one-line hint instead."""
    out = stream if stream is not None else sys.stderr
    if not enabled or not out.isatty():
        return Progress()
    tqdm = _tqdm()
    if tqdm is None:
        print("smtpx: (install smtpx[cli] for a progress bar)", file=out)
        return Progress()
    return Progress(tqdm(total=total, unit=unit, desc=desc, file=out, dynamic_ncols=True,
                         smoothing=0.1, mininterval=0.2))
