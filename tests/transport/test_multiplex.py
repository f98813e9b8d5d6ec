"""smtpx.session.multiplex: several operations on one thread over one poll(), each waiting on
its own SyncStream (real connected sockets), with the blocking read's rules: bytes already
there first, each stream's own deadline, a read error thrown in at the read."""
from __future__ import annotations

import socket
import threading
import time

import pytest

from smtpx.errors import SMTPNotConnectedError, SMTPTimeoutError
from smtpx.session.multiplex import Multiplexer
from smtpx.transport.stream import SyncStream


@pytest.fixture
def pairs():
    made = []

    def pair(timeout: float = 5.0) -> tuple[SyncStream, socket.socket]:
        client, peer = socket.socketpair()
        stream = SyncStream(client, timeout)
        made.append((stream, peer))
        return stream, peer

    yield pair
    for stream, peer in made:
        stream.close()
        peer.close()


def reads_until(stream: SyncStream, end: bytes, log: list | None = None):
    """An operation: read until ``end`` has come; return what came, or the error of a read."""
    got = b""
    while end not in got:
        try:
            data = yield stream
        except SMTPTimeoutError as error:
            return error
        if log is not None:
            log.append(data)
        if not data:
            return got + b"<closed>"
        got += data
    return got


def finish_all(mux: Multiplexer, timeout: float = 5.0) -> dict:
    done = {}
    while mux.running:
        for key, result, error in mux.wait(timeout):
            done[key] = error if error is not None else result
    return done


def test_each_operation_gets_its_own_streams_bytes_in_order(pairs):
    (a, peer_a), (b, peer_b) = pairs(), pairs()
    peer_b.sendall(b"b-1\r\n")  # there before the operation starts: taken without a wait
    mux: Multiplexer[str] = Multiplexer()
    mux.start("a", reads_until(a, b"END"))
    mux.start("b", reads_until(b, b"END"))
    assert mux.running == 2 and mux.wait(0) == []
    threading.Timer(0.05, lambda: (peer_a.sendall(b"a-1 "), peer_b.sendall(b"b-2 END"))).start()
    threading.Timer(0.15, lambda: peer_a.sendall(b"a-2 END")).start()
    assert finish_all(mux) == {"a": b"a-1 a-2 END", "b": b"b-1\r\nb-2 END"}


def test_a_silent_stream_times_out_alone_on_its_own_deadline(pairs):
    (slow, _peer_slow), (fast, peer_fast) = pairs(timeout=0.3), pairs(timeout=5.0)
    mux: Multiplexer[str] = Multiplexer()
    mux.start("slow", reads_until(slow, b"END"))
    mux.start("fast", reads_until(fast, b"END"))
    threading.Timer(0.05, lambda: peer_fast.sendall(b"fast END")).start()
    done = finish_all(mux)
    assert done["fast"] == b"fast END"
    assert isinstance(done["slow"], SMTPTimeoutError)  # thrown in at the read, returned by the operation
    assert "inactivity timeout" in str(done["slow"])


def test_a_peer_that_closes_gives_its_operation_the_empty_read(pairs):
    stream, peer = pairs()
    mux: Multiplexer[int] = Multiplexer()
    mux.start(1, reads_until(stream, b"END"))
    peer.sendall(b"half")
    peer.close()
    assert finish_all(mux) == {1: b"half<closed>"}


def test_an_operation_that_raises_is_handed_back_with_its_error(pairs):
    stream, peer = pairs()

    def failing():
        yield stream
        raise ValueError("the operation's own error")

    mux: Multiplexer[str] = Multiplexer()
    mux.start("x", failing())
    peer.sendall(b"data")
    [(key, result, error)] = mux.wait(5.0)
    assert key == "x" and result is None and isinstance(error, ValueError)
    assert mux.running == 0


def test_an_operation_that_ends_before_waiting_is_handed_back_at_once(pairs):
    stream, peer = pairs()
    peer.sendall(b"END")
    mux: Multiplexer[str] = Multiplexer()
    mux.start("quick", reads_until(stream, b"END"))
    assert mux.wait(None) == [("quick", b"END", None)]  # no poll(): it had already ended


def test_close_closes_every_waiting_operation(pairs):
    (a, _pa), (b, _pb) = pairs(), pairs()
    closed = []

    def waits(stream, name):
        try:
            yield stream
        finally:
            closed.append(name)

    mux: Multiplexer[str] = Multiplexer()
    mux.start("a", waits(a, "a"))
    mux.start("b", waits(b, "b"))
    mux.close()
    assert sorted(closed) == ["a", "b"] and mux.running == 0


def test_try_read_takes_what_is_there_and_start_wait_gives_the_deadline(pairs):
    stream, peer = pairs(timeout=2.0)
    assert stream.try_read() is None
    before = time.monotonic()
    deadline = stream.start_wait()
    after = time.monotonic()
    assert deadline is not None
    # The wait starts inside the call: its deadline is the timeout after a moment between the
    # two readings, however long the call took.
    assert before + 2.0 - 1e-6 <= deadline <= after + 2.0 + 1e-6
    peer.sendall(b"250 ok\r\n")
    for _ in range(100):  # a socketpair delivers at once; allow the scheduler a moment
        data = stream.try_read()
        if data is not None:
            break
        threading.Event().wait(0.01)
    assert data == b"250 ok\r\n"
    peer.close()
    assert stream.try_read() == b""
    stream.close()
    with pytest.raises(SMTPNotConnectedError):
        stream.try_read()
