"""smtpx.session.sync.run: the sync driver over an in-memory byte stream and the real engine."""
from __future__ import annotations

import socket

import pytest

import smtpx
from smtpx.engine import Engine, EngineOptions, Read, StartTLS
from smtpx.engine.actions import REPLY_NOT_BEGUN
from smtpx.session.sync import run
from smtpx.transport.stream import SyncStream


class BytesStream:
    """A peer whose reads return ``pieces`` one by one (b"" = EOF after them); records what
    the client writes."""

    def __init__(self, *pieces: bytes, fail_read: Exception | None = None) -> None:
        self.pieces = list(pieces)
        self.written = bytearray()
        self.fail_read = fail_read

    def read(self) -> bytes:
        if self.fail_read is not None:
            raise self.fail_read
        return self.pieces.pop(0) if self.pieces else b""

    def write(self, data: bytes) -> None:
        self.written += data

    def write_parts(self, parts: tuple[bytes, ...]) -> None:
        self.written += b"".join(parts)

    def track_reply(self, begun: bool, began_in_last_read: bool = False) -> None:
        pass  # no MaxReplyTime here


def test_run_performs_writes_and_reads_and_returns_the_result():
    engine = Engine(EngineOptions())
    stream = BytesStream(b"220 h", b"i\r\n", b"250-mx\r\n250 PIPEL", b"INING\r\n")
    assert run(engine.greeting(), stream).code == 220
    reply = run(engine.hello("client.example"), stream)
    assert reply.code == 250 and engine.capabilities.has("PIPELINING")
    assert bytes(stream.written) == b"EHLO client.example\r\n"


def test_an_io_error_goes_into_the_engine_which_closes():
    engine = Engine(EngineOptions())
    stream = BytesStream(fail_read=smtpx.SMTPConnectionDropped("peer reset"))
    with pytest.raises(smtpx.SMTPConnectionDropped):
        run(engine.greeting(), stream)
    assert engine.closed


def test_an_interrupted_stream_stops_the_operation_at_its_next_action():
    """interrupt() between actions: the stream's next call raises (the sync driver checks
    nothing itself between actions), the error goes into the engine, which closes, and the
    reply waiting on the socket is not read."""
    client, server = socket.socketpair()
    try:
        stream = SyncStream(client, timeout=5)
        engine = Engine(EngineOptions())
        server.sendall(b"220 hi\r\n")
        stream.interrupt()
        with pytest.raises(smtpx.SMTPInterrupted):
            run(engine.greeting(), stream)
        assert engine.closed
        client.setblocking(True)
        assert client.recv(100, socket.MSG_PEEK) == b"220 hi\r\n"  # still unread
    finally:
        client.close()
        server.close()


def test_start_tls_without_a_handler_is_a_tls_error():
    def wants_tls():
        yield StartTLS()

    with pytest.raises(smtpx.SMTPTLSError):
        run(wants_tls(), BytesStream())


def test_start_tls_handler_is_called_for_the_action():
    calls = []

    def wants_tls():
        result = yield StartTLS()
        return ("done", result)

    assert run(wants_tls(), BytesStream(), start_tls=lambda: calls.append("tls")) == ("done", None)
    assert calls == ["tls"]


def test_an_error_is_thrown_into_the_operation_at_its_action_which_may_handle_it():
    """What the action's mapping raises (an unknown action: an engine bug) and what a stream
    call raises both go into the generator at the action that caused them."""
    seen = []

    def operation():
        try:
            yield object()  # not an engine action
        except TypeError as exc:
            seen.append(str(exc))
        try:
            yield Read(REPLY_NOT_BEGUN)
        except ConnectionResetError as exc:
            seen.append(repr(exc))
        return "handled"

    assert run(operation(), BytesStream(fail_read=ConnectionResetError("reset"))) == "handled"
    assert seen[0].startswith("unknown engine action <object object")
    assert seen[1] == "ConnectionResetError('reset')"


def test_a_base_exception_is_not_thrown_in_and_the_operation_is_closed():
    """A KeyboardInterrupt from a stream call leaves the loop at once; the operation sees only
    its close (GeneratorExit), never the interrupt itself."""
    seen = []

    def operation():
        try:
            yield Read(REPLY_NOT_BEGUN)
        except GeneratorExit:
            seen.append("closed")
            raise
        except BaseException as exc:  # noqa: BLE001 - the test: this must not happen
            seen.append(f"thrown in: {exc!r}")

    with pytest.raises(KeyboardInterrupt):
        run(operation(), BytesStream(fail_read=KeyboardInterrupt()))
    assert seen == ["closed"]
