"""One thread driving several connections at once (SMTPPool's batches): each operation is a
generator that yields the stream it waits on (``Session.stream_steps``), and the Multiplexer
waits for all of them in one ``poll()``.

Why: a pool of threads under one interpreter pays for the GIL's hand-over on every wait, and
its connections wait one after another anyway. One thread that writes for whichever
connection is ready and reads whichever has bytes keeps every connection's window full
(bench/breakdown.py multiplex measured it before it was built; docs/pool.md).

The rules of one read are the blocking read's (smtpx.transport.stream): bytes already there
are taken first (``try_read``); a wait has the stream's deadline (``start_wait``: Timeout,
AbsoluteTimeout, MaxReplyTime), past which the stream's timeout error is thrown into that
operation alone; a read error is thrown into its operation at the read. An operation that
ends (returns, or raises an Exception) is handed back by ``wait()`` with its key; a
BaseException (KeyboardInterrupt) leaves ``wait()``, and the caller ``close()``s the rest.
Writes are made inside the operations, blocking: they are a window at a time and the
socket's buffer takes them (docs/pool.md says so).
"""
from __future__ import annotations

import select
import time
from typing import Any, Generator, Generic, Hashable, TypeVar

from smtpx.transport.stream import SyncStream

__all__ = ["Finished", "Multiplexer", "Steps"]

Key = TypeVar("Key", bound=Hashable)
# An operation: it yields the stream it waits on and is sent that stream's bytes.
Steps = Generator[SyncStream, bytes, Any]
# What wait() hands back for each operation that ended: (key, result, None) or (key, None, error).
Finished = tuple[Key, Any, "Exception | None"]


class _Waiting:
    """An operation parked on its stream until it is readable or ``deadline`` passes."""

    __slots__ = ("key", "steps", "stream", "deadline")

    def __init__(self, key: Any, steps: Steps, stream: SyncStream, deadline: float | None) -> None:
        self.key = key
        self.steps = steps
        self.stream = stream
        self.deadline = deadline


class Multiplexer(Generic[Key]):
    """The operations running at once, each under the caller's key (e.g. its connection)."""

    def __init__(self) -> None:
        self._poller = select.poll()
        self._waiting: dict[int, _Waiting] = {}  # by the stream's descriptor
        self._finished: list[Finished[Key]] = []
        self.running = 0  # operations started and not yet handed back

    def start(self, key: Key, steps: Steps) -> None:
        """Run ``steps`` until it first waits for bytes (or ends: then the next ``wait()``
        hands it back at once)."""
        self.running += 1
        self._advance(key, steps, None, None)

    def wait(self, timeout: float | None) -> list[Finished[Key]]:
        """Wait up to ``timeout`` seconds (None: as long as it takes) for any waiting stream
        to have bytes, or its deadline to pass; advance those operations. Returns the
        operations that ended, maybe none (the timeout passed first)."""
        if not self._finished and self._waiting:
            self._poll(timeout)
        finished, self._finished = self._finished, []
        self.running -= len(finished)
        return finished

    def close(self) -> None:
        """Close every operation still waiting (each drops its connection: its state is
        unknown)."""
        waiting, self._waiting = self._waiting, {}
        for fd, parked in waiting.items():
            self._poller.unregister(fd)
            parked.steps.close()
        self.running = 0
        self._finished.clear()

    # ------------------------------------------------------------------------------ inside
    def _poll(self, timeout: float | None) -> None:
        now = time.monotonic()
        deadlines = [parked.deadline for parked in self._waiting.values() if parked.deadline is not None]
        if deadlines:
            first = min(deadlines) - now
            timeout = first if timeout is None else min(timeout, first)
        milliseconds = None if timeout is None else max(0, int(timeout * 1000 + 0.999))
        for fd, _events in self._poller.poll(milliseconds):
            parked = self._waiting.pop(fd)
            self._poller.unregister(fd)
            self._read(parked)
        if deadlines:
            now = time.monotonic()
            for fd, parked in list(self._waiting.items()):
                if parked.deadline is not None and now >= parked.deadline:
                    del self._waiting[fd]
                    self._poller.unregister(fd)
                    self._advance(parked.key, parked.steps, None, parked.stream.timed_out())

    def _read(self, parked: _Waiting) -> None:
        """The stream is readable: its bytes go to its operation (a TLS socket may hold only
        part of a record: then it waits again, with the same deadline)."""
        try:
            data = parked.stream.try_read()
        except Exception as exc:
            self._advance(parked.key, parked.steps, None, exc)
            return
        if data is None:
            self._park(parked)
        else:
            self._advance(parked.key, parked.steps, data, None)

    def _park(self, parked: _Waiting) -> None:
        fd = parked.stream.fileno()
        self._waiting[fd] = parked
        self._poller.register(fd, select.POLLIN)

    def _advance(self, key: Key, steps: Steps, data: bytes | None, error: Exception | None) -> None:
        """Send ``data`` (or throw ``error``) into the operation and run it on while the bytes
        it asks for are there already."""
        while True:
            try:
                stream = steps.send(data) if error is None else steps.throw(error)  # type: ignore[arg-type]
            except StopIteration as stop:
                self._finished.append((key, stop.value, None))
                return
            except Exception as exc:
                self._finished.append((key, None, exc))
                return
            error = None
            try:
                data = stream.try_read()
                if data is None:
                    self._park(_Waiting(key, steps, stream, stream.start_wait()))
                    return
            except Exception as exc:
                error = exc
