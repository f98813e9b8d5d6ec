"""The asyncio driver's fast path: an engine operation advanced from the stream's protocol
callbacks, so that a reply that arrives costs no task wake-up.

``session.aio.drive`` awaits one stream call per engine action: each reply the engine waits
for is a future, a turn of the event loop to wake the task, and a chain of coroutines to
resume. Here (``run_eagerly``) the calls that need no waiting are made at once: a Read takes
the bytes that are there (``AsyncStream.take_now``), a Write that the transport takes without
pausing goes to it (``write_now``). When a Read finds nothing, the operation parks on the
stream (``park``), and the protocol's ``data_received`` advances it with the bytes, right
there, until it waits again; the awaiting task wakes only when the operation ends or needs a
call that waits (a throttled or pausing write, STARTTLS). Anything else the protocol hears
while an operation is parked (EOF, loss, the deadline's timer, a drained write buffer) hands
the read back to the task, which finishes it with ``read_on``: the read's own rules, its clock
running since it began. So every rule of ``drive`` and of the stream holds; only who resumes
the engine differs.

The steps the protocol drives run in a copy of the task's ``contextvars`` context, taken when
the operation starts: handlers of the events the engine fires there see the caller's context
variables (what they set stays in the copy; docs/async.md).
"""
from __future__ import annotations

import asyncio
import contextvars
from typing import TYPE_CHECKING, Any, Callable, Generator, TypeVar

from smtpx.engine.actions import Action
from smtpx.session.core import NO_ARGS, Call, wait_for_bytes

if TYPE_CHECKING:
    from smtpx.aio.stream import AsyncStream

__all__ = ["run_eagerly"]

Result = TypeVar("Result")

_DONE, _FAILED, _CALL = 0, 1, 2
# What a run of steps ends on: (_DONE, result, ()), (_FAILED, exception, ()) or (_CALL,
# function, args) for the task to await; None while parked on the stream.
Outcome = tuple[int, Any, tuple[object, ...]]


class _EagerRun:
    """One engine operation, advanced by whoever has its next input: the task or the protocol."""

    __slots__ = ("steps", "call_for", "stream", "write", "future", "context")

    def __init__(self, steps: Generator[Action, bytes | None, Any],
                 call_for: Callable[[Action], Call[Any]], stream: AsyncStream) -> None:
        self.steps = steps
        self.call_for = call_for
        self.stream = stream
        self.write = stream.write
        self.future: asyncio.Future[Outcome] | None = None
        self.context = contextvars.copy_context()

    def advance(self, sent: bytes | None, error: Exception | None) -> Outcome | None:
        """Send ``sent`` (or throw ``error``) into the operation and go on while each call it
        asks for can be made at once. None: parked on the stream."""
        steps, call_for, stream = self.steps, self.call_for, self.stream
        while True:
            try:
                step = steps.send(sent) if error is None else steps.throw(error)
            except StopIteration as stop:
                return _DONE, stop.value, NO_ARGS
            except Exception as exc:
                return _FAILED, exc, NO_ARGS
            sent = error = None
            try:
                function, args = call_for(step)
                if function is wait_for_bytes:
                    sent = stream.take_now()
                    if sent is None:
                        if stream.park(self):
                            return None
                        return _CALL, stream.read_on, NO_ARGS
                elif function != self.write or not stream.write_now(args[0]):  # type: ignore[arg-type]
                    return _CALL, function, args
            except Exception as exc:  # a call's error goes into the engine, as drive's do
                error = exc

    def on_data(self, data: bytes) -> bool:
        """From data_received: the bytes for the parked read. False when it does not take them
        (the task was cancelled: the engine is left be, the stream keeps the bytes)."""
        future = self.future
        if future is None or future.done():
            return False
        try:
            outcome = self.context.run(self.advance, self.stream.take_parked(data), None)
        except BaseException as exc:  # (a handler's KeyboardInterrupt): the task raises it, not the loop
            if not future.done():
                future.set_exception(exc)
            return True
        if outcome is not None and not future.done():  # (done: a handler cancelled the task meanwhile)
            future.set_result(outcome)
        return True

    def on_wake(self) -> None:
        """From the protocol: other news for the parked read. The task finishes the read."""
        future = self.future
        if future is not None and not future.done():
            future.set_result((_CALL, self.stream.read_on, NO_ARGS))


async def run_eagerly(steps: Generator[Action, bytes | None, Result],
                      call_for: Callable[[Action], Call[Any]], stream: AsyncStream) -> Result:
    """``drive(steps, call_for)`` over ``stream``, advanced from its protocol's callbacks while
    replies arrive (see the module doc). ``call_for`` is ``engine_calls(stream, start_tls,
    read=wait_for_bytes)``."""
    run = _EagerRun(steps, call_for, stream)
    loop = asyncio.get_running_loop()
    try:
        outcome = run.advance(None, None)
        while True:
            if outcome is None:
                run.future = loop.create_future()
                outcome = await run.future
                run.future = None
            kind, value, args = outcome
            if kind == _DONE:
                result: Result = value
                return result
            if kind == _FAILED:
                raise value
            try:
                sent = await value(*args)
            except Exception as exc:
                outcome = run.advance(None, exc)
            else:
                outcome = run.advance(sent, None)
    finally:
        stream.unpark()
        steps.close()
