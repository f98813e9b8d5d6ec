"""SyncStream over real sockets on 127.0.0.1: reads, writes, EOF and resets, inactivity vs
absolute timeouts, interrupt() from another thread, and the transfer-rate throttle.

No test asserts a duration: timeouts are shown by what happens (a trickling peer keeps an
inactivity timeout alive but trips an absolute one); the throttle is a measured rate with a
tolerance."""
from __future__ import annotations

import socket
import struct
import sys
import threading
import time

import pytest

from smtpx.errors import (SMTPConnectionDropped, SMTPInputError, SMTPInterrupted, SMTPNotConnectedError,
                          SMTPTimeoutError)
from smtpx.transport.stream import SPIN_MISSES, SPIN_PROBE_EVERY, SyncStream

from tests.servers.sockets import LoopbackServer, read_line
from tests.throttle_clock import assert_few_sleeps, assert_paced
from tests.throttle_clock import install as install_throttle_clock


class Peer(LoopbackServer):
    """A one-connection TCP peer on 127.0.0.1 running ``behaviour(conn, peer)`` in a thread."""

    def __init__(self, behaviour):
        self.behaviour = behaviour
        self.received = bytearray()
        super().__init__(max_connections=1, timeout=None)

    def handle(self, conn):
        self.behaviour(conn, self)

    def connect(self, **kw) -> SyncStream:
        return SyncStream(socket.create_connection((self.host, self.port), timeout=5), **kw)


@pytest.fixture
def peer():
    peers = []

    def make(behaviour):
        p = Peer(behaviour)
        peers.append(p)
        return p

    yield make
    for p in peers:
        p.close()


def echo(conn, peer):
    while True:
        data = conn.recv(65536)
        if not data:
            return
        conn.sendall(data)


def hold(conn, peer):
    """Say nothing until the test ends."""
    peer.stopping.wait(10)


def trickle(conn, peer, count=20, gap=0.05):
    for _ in range(count):
        if peer.stopping.wait(gap):
            return
        conn.sendall(b"x")
    conn.sendall(b"\n")
    peer.stopping.wait(10)


def record(conn, peer):
    conn.settimeout(10)
    while True:
        data = conn.recv(65536)
        if not data:
            return
        peer.received += data


def test_echo_and_addresses(peer):
    p = peer(echo)
    with p.connect(timeout=5) as stream:
        stream.write(b"EHLO client\r\n")
        assert read_line(stream) == b"EHLO client\r\n"
        assert stream.remote_address[:2] == ("127.0.0.1", p.port)
        assert stream.local_address[0] == "127.0.0.1" and stream.local_address[1] > 0
        assert stream.tls_info is None and not stream.is_tls


def test_eof_reads_empty(peer):
    p = peer(lambda conn, peer: conn.sendall(b"221 bye\r\n"))
    with p.connect(timeout=5) as stream:
        assert read_line(stream) == b"221 bye\r\n"
        assert stream.read() == b""


def test_write_after_reset_is_connection_dropped(peer):
    go = threading.Event()

    def reset(conn, peer):
        go.wait(5)  # reset only once the client is connected
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()

    p = peer(reset)
    with p.connect(timeout=5) as stream:
        go.set()
        p.finished.acquire(timeout=5)  # the behaviour ended
        with pytest.raises(SMTPConnectionDropped) as info:
            for _ in range(100):  # the first writes may still be accepted by the kernel
                stream.write(b"x" * 65536)
        assert info.value.code == 1120


def test_silent_peer_times_out(peer):
    p = peer(hold)
    with p.connect(timeout=0.3) as stream:
        with pytest.raises(SMTPTimeoutError) as info:
            stream.read()
        assert info.value.code == 301
        assert "inactivity" in info.value.description


def test_trickle_keeps_inactivity_timeout_alive(peer):
    p = peer(trickle)  # one byte every 50 ms for about 1 s
    with p.connect(timeout=0.5) as stream:
        stream.begin_operation()
        assert read_line(stream) == b"x" * 20 + b"\n"


def test_trickle_trips_absolute_timeout(peer):
    p = peer(trickle)
    with p.connect(timeout=0.5, absolute=True) as stream:
        stream.begin_operation()
        got = b""
        with pytest.raises(SMTPTimeoutError) as info:
            while not got.endswith(b"\n"):
                got += stream.read()
        assert "absolute" in info.value.description
        assert 0 < len(got) < 21  # it was making progress, and was still cut off


def test_absolute_timeout_without_begin_operation_is_per_call(peer):
    p = peer(trickle)  # 20 bytes over about 1 s: longer than the timeout
    with p.connect(timeout=0.3, absolute=True) as stream:
        assert read_line_chunks(stream, 12).startswith(b"x")  # each read() is its own operation


def read_line_chunks(stream, n):
    got = b""
    for _ in range(n):
        got += stream.read()
    return got


def test_zero_timeout_waits(peer):
    p = peer(lambda conn, peer: (time.sleep(0.3), conn.sendall(b"220 late\r\n"), peer.stopping.wait(5)))
    with p.connect(timeout=0) as stream:
        assert read_line(stream) == b"220 late\r\n"


def test_interrupt_wakes_a_blocked_read(peer):
    p = peer(hold)
    stream = p.connect(timeout=0)  # no timeout: only interrupt() can end the read
    threading.Timer(0.2, stream.interrupt).start()
    with pytest.raises(SMTPInterrupted) as info:
        stream.read()
    assert info.value.code == 301
    with pytest.raises(SMTPInterrupted):  # the stream stays interrupted until closed
        stream.write(b"QUIT\r\n")
    stream.close()
    stream.interrupt()  # harmless after close
    with pytest.raises(SMTPNotConnectedError):
        stream.read()


def test_interrupt_wakes_a_blocked_write(peer):
    p = peer(hold)  # never reads: the socket buffers fill and write() blocks
    stream = p.connect(timeout=0)
    threading.Timer(0.3, stream.interrupt).start()
    with pytest.raises(SMTPInterrupted):
        stream.write(b"x" * (64 << 20))
    stream.close()


def test_interrupt_wakes_a_throttled_write(peer):
    p = peer(record)
    stream = p.connect(timeout=0, max_transfer_rate=1000)
    threading.Timer(0.3, stream.interrupt).start()
    with pytest.raises(SMTPInterrupted):
        stream.write(b"x" * 100_000)  # would take 100 s
    stream.close()
    p.finished.acquire(timeout=5)  # the behaviour ended
    assert len(p.received) < 100_000


def test_throttled_write_arrives_whole(peer):
    """On a real socket: every byte of a throttled write arrives, in order. (Its pacing is
    the next test's, on a clock of its own: no test here times the machine.)"""
    p = peer(record)
    with p.connect(timeout=5, max_transfer_rate=400_000) as stream:
        stream.write(bytes(range(256)) * 125)
    p.finished.acquire(timeout=5)  # the behaviour ended
    assert bytes(p.received) == bytes(range(256)) * 125


def test_throttle_paces_to_the_rate_by_its_own_clock(monkeypatch):
    """Writing N bytes at R bytes a second takes (N - burst) / R of a clock that only the
    throttle's sleeps move: not less (the rate is held), not more (nothing held back); and it
    goes in bursts, a few dozen sleeps, not one per byte."""
    clock = install_throttle_clock(monkeypatch)

    class ClockedStream(SyncStream):
        def _wait_wake(self, seconds: float) -> None:  # the throttle's sleep
            clock.sleep(seconds)

    rate, size = 40_000, 32_000
    a, b = socket.socketpair()
    received = bytearray()
    reader = threading.Thread(target=lambda: _drain(b, received, size))
    reader.start()
    try:
        stream = ClockedStream(a, 5, max_transfer_rate=rate)
        began = clock.now
        stream.write(b"y" * size)
        clock_seconds = clock.now - began
    finally:
        reader.join(timeout=10)
        a.close()
        b.close()
    assert bytes(received) == b"y" * size
    assert_paced(clock_seconds, size, rate)
    assert_few_sleeps(clock.sleeps, size, rate)


def _drain(sock: socket.socket, into: bytearray, size: int) -> None:
    while len(into) < size:
        data = sock.recv(65536)
        if not data:
            return
        into += data


def test_unthrottled_write_skips_the_bucket(peer):
    rate = 1_000
    p = peer(record)
    with p.connect(timeout=5, max_transfer_rate=rate) as stream:
        stream.write(b"z" * 200_000, throttle=False)  # 200 s if it were throttled
    p.finished.acquire(timeout=5)  # the behaviour ended
    assert len(p.received) == 200_000


def test_bad_arguments():
    a, b = socket.socketpair()
    try:
        with pytest.raises(SMTPInputError):
            SyncStream(a, -1)
        with pytest.raises(SMTPInputError):
            SyncStream(a, 1, max_transfer_rate=-5)
        for spin in (-1e-6, float("nan")):
            with pytest.raises(SMTPInputError, match="spin_wait"):
                SyncStream(a, 1, spin_wait=spin)
    finally:
        a.close()
        b.close()


# -- spin_wait: a read polls without sleeping for a while before it sleeps -----------------------

def answer_each_line(*delays: float):
    """Answer every line received with "250 ok", after the next of ``delays`` (seconds; the
    last one repeats)."""
    def behaviour(conn, peer):
        conn.settimeout(10)
        buffered, answered = b"", 0
        while True:
            data = conn.recv(65536)
            if not data:
                return
            buffered += data
            while b"\n" in buffered:
                _, buffered = buffered.split(b"\n", 1)
                if peer.stopping.wait(delays[min(answered, len(delays) - 1)]):
                    return
                conn.sendall(b"250 ok\r\n")
                answered += 1
    return behaviour


def noop(stream) -> None:
    stream.write(b"NOOP\r\n")
    assert read_line(stream) == b"250 ok\r\n"


def test_a_spin_that_catches_the_reply_keeps_spinning(peer):
    """A server that answers at once: the spin (up to 2 s here) sees the reply come, so the
    stream keeps spinning on the next reads."""
    p = peer(answer_each_line(0))
    with p.connect(timeout=5, spin_wait=2.0) as stream:
        for _ in range(20):
            noop(stream)
            assert stream._spin_skip == 0 and stream._spin_misses == 0


def test_spins_that_keep_missing_stop_spinning_for_a_while(peer):
    """A server slower than the spin: each reply still comes (the read sleeps in poll after
    its spin); after SPIN_MISSES misses in a row the next SPIN_PROBE_EVERY waits do not spin."""
    p = peer(answer_each_line(0.05))
    with p.connect(timeout=5, spin_wait=0.001) as stream:
        for _ in range(SPIN_MISSES - 1):
            noop(stream)
            assert stream._spin_skip == 0
        noop(stream)
        assert stream._spin_skip == SPIN_PROBE_EVERY
        noop(stream)
        assert stream._spin_skip == SPIN_PROBE_EVERY - 1


def test_a_spin_that_catches_a_reply_forgives_the_misses_before_it(peer, request):
    """One slow reply, then quick ones, then slow ones: misses count only in a row."""
    # The spin (0.08 s) misses a slow reply and surely catches a quick one. The quick one comes
    # after 10 ms, not at once: a reply already there when the read starts is taken without
    # spinning, and resets nothing (the peer thread answered that fast on a VM here).
    slow, quick = 0.25, 0.01
    p = peer(answer_each_line(*[slow] * (SPIN_MISSES - 1), quick, *[slow] * (SPIN_MISSES - 1), slow))
    # The peer is a thread of this process: to answer it needs the GIL from the spinning
    # reader, which by default it asks for only after 5 ms. A short switch interval hands it over.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.0001)
    request.addfinalizer(lambda: sys.setswitchinterval(interval))
    with p.connect(timeout=5, spin_wait=0.08) as stream:
        for _ in range(SPIN_MISSES - 1):
            noop(stream)
        noop(stream)  # caught: the misses before it no longer count
        for _ in range(SPIN_MISSES - 1):
            noop(stream)
            assert stream._spin_skip == 0
        noop(stream)
        assert stream._spin_skip == SPIN_PROBE_EVERY


def test_no_spin_when_spin_wait_is_zero(peer):
    p = peer(answer_each_line(0.02))
    with p.connect(timeout=5, spin_wait=0) as stream:
        noop(stream)
        assert stream._spin_misses == 0  # it never spun, so it never missed


@pytest.mark.timeout(30)
def test_interrupt_ends_a_spinning_read(peer):
    """The spin watches the wake-up socket too: interrupt() ends a read that would spin for
    ten minutes (without that, this test would hang until its timeout)."""
    p = peer(hold)
    stream = p.connect(timeout=0, spin_wait=600.0)
    threading.Timer(0.2, stream.interrupt).start()
    with pytest.raises(SMTPInterrupted):
        stream.read()
    stream.close()


def test_the_timeout_still_holds_while_spinning(peer):
    p = peer(hold)
    with p.connect(timeout=0.3, spin_wait=0.01) as stream:
        with pytest.raises(SMTPTimeoutError):
            stream.read()


# -- a plain socket is read with recv_nowait: one call takes bytes that are there --------------

class CountingRecv:
    """smtpx.kernels.recv_nowait as the stream module calls it, with its calls counted: how
    many, and how many found nothing (None)."""

    def __init__(self, real) -> None:
        self.real = real
        self.calls = 0
        self.misses = 0

    def __call__(self, fd: int, size: int):
        self.calls += 1
        data = self.real(fd, size)
        if data is None:
            self.misses += 1
        return data


@pytest.fixture
def counting_recv(monkeypatch):
    from smtpx.transport import stream as stream_module
    counting = CountingRecv(stream_module.recv_nowait)
    monkeypatch.setattr(stream_module, "recv_nowait", counting)
    return counting


def test_bytes_already_there_take_one_receive_and_nothing_else(peer, counting_recv):
    """No poll() before it and no exception: one system call for a read that has bytes."""
    p = peer(answer_each_line(0))
    with p.connect(timeout=5, spin_wait=0) as stream:
        for n in range(1, 4):
            stream.write(b"NOOP\r\n")
            time.sleep(0.2)  # the reply is there before the read
            assert stream.read() == b"250 ok\r\n"
            assert (counting_recv.calls, counting_recv.misses) == (n, 0)


def test_without_a_spin_a_read_that_must_wait_looks_once_then_sleeps(peer, counting_recv):
    """SpinWait 0: one look that finds nothing, then a sleep in poll() until the reply comes,
    then the receive that takes it."""
    p = peer(answer_each_line(0.05))
    with p.connect(timeout=5, spin_wait=0) as stream:
        for n in range(1, 4):
            noop(stream)
            assert (counting_recv.calls, counting_recv.misses) == (2 * n, n)


def test_a_spin_asks_the_socket_itself_until_the_reply_comes(peer, counting_recv):
    p = peer(answer_each_line(0.02))
    with p.connect(timeout=5, spin_wait=2.0) as stream:
        noop(stream)
        # many looks that found nothing while the server waited 20 ms, then the one that took it
        assert counting_recv.misses >= 2 and counting_recv.calls == counting_recv.misses + 1
        assert stream._spin_misses == 0


def test_a_reset_while_reading_a_plain_socket_is_the_streams_typed_error(peer):
    def reset(conn, peer):
        conn.recv(100)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()  # a reset, not a close
    p = peer(reset)
    with p.connect(timeout=5, spin_wait=0) as stream:
        stream.write(b"NOOP\r\n")
        time.sleep(0.2)
        with pytest.raises(SMTPConnectionDropped):
            stream.read()
