"""A scripted peer for engine tests: no sockets, bytes in and bytes out.

A script is a list of steps, in order:
  C(b"...")   bytes the client must write next (writes may be split or joined freely, but the
              bytes must match exactly and come before the next server step)
  S(b"...")   bytes the server sends: the result of the engine's next Read
  EOF         the server closes: the next Read returns b""
  TLS         the engine must yield StartTLS here

``run(operation, script)`` drives an engine generator through the script and fails on any
mismatch: an unexpected write, a read when the client should be writing, a read past the end
of the script, or a StartTLS out of place. The engine's result (or error) comes back.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from smtpx.engine import Read, StartTLS, Write


class ScriptMismatch(AssertionError):
    pass


@dataclass(frozen=True)
class C:
    data: bytes


@dataclass(frozen=True)
class S:
    data: bytes


@dataclass(frozen=True)
class _Marker:
    name: str


EOF = _Marker("EOF")
TLS = _Marker("TLS")


@dataclass
class Peer:
    script: list
    written: bytearray = field(default_factory=bytearray)  # every byte the client wrote
    writes: list = field(default_factory=list)  # each Write's data, to check batching
    _pending: bytearray = field(default_factory=bytearray)
    _index: int = 0

    @property
    def done(self) -> bool:
        return self._index == len(self.script) and not self._pending

    def remaining(self) -> list:
        return self.script[self._index:]

    def _head(self):
        return self.script[self._index] if self._index < len(self.script) else None

    def _write(self, data: bytes) -> None:
        self.written += data
        self.writes.append(bytes(data))
        self._pending += data
        while self._pending:
            step = self._head()
            if not isinstance(step, C):
                raise ScriptMismatch(f"unexpected client bytes {bytes(self._pending)!r}; script expects {step!r}")
            expected = step.data
            got = bytes(self._pending[: len(expected)])
            if not expected.startswith(got):
                raise ScriptMismatch(f"client wrote {got!r}, script expects {expected!r}")
            if len(got) < len(expected):
                # A partial match: the rest must come in the next write.
                self.script[self._index] = C(expected[len(got):])
                self._pending.clear()
                return
            del self._pending[: len(expected)]
            self._index += 1

    def _read(self) -> bytes:
        step = self._head()
        if isinstance(step, S):
            self._index += 1
            return step.data
        if step is EOF:
            self._index += 1
            return b""
        if step is None:
            raise ScriptMismatch("the engine read past the end of the script")
        raise ScriptMismatch(f"the engine read while the script expects {step!r}")

    def _start_tls(self) -> None:
        if self._head() is not TLS:
            raise ScriptMismatch(f"StartTLS out of place; script expects {self._head()!r}")
        self._index += 1

    def drive(self, operation):
        result = None
        try:
            action = next(operation)
            while True:
                if isinstance(action, Write):
                    assert isinstance(action.data, bytes)
                    self._write(action.data)
                    result = None
                elif isinstance(action, Read):
                    result = self._read()
                elif isinstance(action, StartTLS):
                    self._start_tls()
                    result = None
                else:
                    raise ScriptMismatch(f"unknown action {action!r}")
                action = operation.send(result)
        except StopIteration as stop:
            return stop.value


def run(operation, script: list, *, complete: bool = True):
    """Drive ``operation`` through ``script``; with ``complete``, every step must be used."""
    peer = Peer(list(script))
    result = peer.drive(operation)
    if complete and not peer.done:
        raise ScriptMismatch(f"the operation ended with script steps unused: {peer.remaining()!r}")
    return result


class RecordingSink:
    """Records every sink call, for assertions."""

    def __init__(self) -> None:
        self.trail: list[tuple[int, str]] = []
        self.events: list[tuple] = []
        self.errors: list[tuple[int, str]] = []

    def pi_trail(self, direction: int, message: str) -> None:
        self.trail.append((direction, message))

    def start_transfer(self) -> None:
        self.events.append(("start",))

    def transfer(self, bytes_transferred: int, percent_done: int, text: bytes) -> None:
        self.events.append(("transfer", bytes_transferred, percent_done, text))

    def end_transfer(self) -> None:
        self.events.append(("end",))

    def error(self, code: int, description: str) -> None:
        self.errors.append((code, description))

    def client_lines(self) -> list[str]:
        return [message for direction, message in self.trail if direction == 0]

    def server_lines(self) -> list[str]:
        return [message for direction, message in self.trail if direction == 1]


def ehlo_reply(*capabilities: str, name: str = "mx.example") -> bytes:
    """A 250 EHLO reply offering the given extension lines."""
    lines = [name, *capabilities]
    out = b""
    for index, line in enumerate(lines):
        sep = " " if index == len(lines) - 1 else "-"
        out += f"250{sep}{line}\r\n".encode()
    return out


def ready_engine(*capabilities: str, options=None, sink=None, tls_active: bool = False):
    """An engine past the greeting and EHLO, with the given capabilities (and its sink)."""
    from smtpx.engine import Engine, EngineOptions

    sink = sink if sink is not None else RecordingSink()
    engine = Engine(options if options is not None else EngineOptions(), sink)
    engine.tls_active = tls_active
    run(engine.greeting(), [S(b"220 mx.example ESMTP\r\n")])
    run(engine.hello("client.example"), [C(b"EHLO client.example\r\n"), S(ehlo_reply(*capabilities))])
    sink.trail.clear()
    return engine, sink
