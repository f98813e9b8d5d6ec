"""The MaxReplyTime rule of TimeoutClock (FAULTS.md item 39), on SyncStream and AsyncStream over
real sockets on 127.0.0.1: one whole reply is bounded from its first byte; before that byte,
and for writes, only the timeout counts. The streams hear it through ``track_reply(begun,
began_in_last_read)``, which the driver core (smtpx.session.core.engine_calls) calls from the
engine's ``Read.reply`` before each read.

No test asserts a duration: which error comes (its message names the rule that expired) and
whether it comes at all is what is checked."""
from __future__ import annotations

import asyncio
import socket
import threading
from typing import Coroutine

import pytest

from smtpx.aio.stream import open_stream
from smtpx.errors import SMTPInputError, SMTPTimeoutError
from smtpx.transport.stream import SyncStream

from tests.servers.sockets import LoopbackServer


class Peer(LoopbackServer):
    """A one-connection peer on 127.0.0.1: sends ``first`` (after ``delay`` seconds), then
    ``b"x"`` every ``gap`` seconds (``gap`` None: nothing more) until the test ends; keeps what
    it receives."""

    def __init__(self, first: bytes = b"2", gap: float | None = None, delay: float = 0.0) -> None:
        self.first, self.gap, self.delay = first, gap, delay
        self.received = bytearray()
        super().__init__(max_connections=1, timeout=0.05)

    def handle(self, conn: socket.socket) -> None:
        if self.delay and self.stopping.wait(self.delay):
            return
        conn.sendall(self.first)
        while not self.stopping.is_set():
            try:
                data = conn.recv(65536)
                if not data:
                    return
                self.received += data
            except socket.timeout:
                pass
            if self.gap is not None and not self.stopping.wait(self.gap):
                conn.sendall(b"x")

    def socket(self) -> socket.socket:
        return socket.create_connection((self.host, self.port), timeout=5)


@pytest.fixture
def peer():
    peers: list[Peer] = []

    def make(**kw) -> Peer:
        p = Peer(**kw)
        peers.append(p)
        return p

    yield make
    for p in peers:
        p.close()


def is_reply_deadline(error: SMTPTimeoutError) -> bool:
    return error.code == 301 and "MaxReplyTime" in str(error)


def expect_reply_deadline(reader: "Coroutine[object, object, None]", guard: float) -> None:
    """Run an AsyncStream reader; it must end with the reply deadline's timeout, within
    ``guard`` seconds (asyncio.wait_for's TimeoutError otherwise, which fails the test)."""
    with pytest.raises(SMTPTimeoutError) as info:
        asyncio.run(asyncio.wait_for(reader, guard))
    assert is_reply_deadline(info.value), info.value


def read_reply_forever(stream: SyncStream) -> None:
    """What the driver does for a reply whose end never comes."""
    stream.track_reply(begun=False)
    assert stream.read()
    stream.track_reply(begun=True, began_in_last_read=True)
    while True:
        assert stream.read()
        stream.track_reply(begun=True)


# ---------------------------------------------------------------------------- SyncStream
def test_a_trickle_is_cut_by_the_reply_deadline_not_by_the_inactivity_timeout(peer):
    p = peer(gap=0.05)
    with SyncStream(p.socket(), timeout=5, max_reply_time=0.5) as stream:
        with pytest.raises(SMTPTimeoutError) as info:
            read_reply_forever(stream)
        assert is_reply_deadline(info.value), info.value


def test_a_reply_that_stops_after_its_first_byte_is_cut_by_the_deadline(peer):
    p = peer()  # "2", then silence
    with SyncStream(p.socket(), timeout=5, max_reply_time=0.3) as stream:
        with pytest.raises(SMTPTimeoutError) as info:
            read_reply_forever(stream)
        assert is_reply_deadline(info.value), info.value


def test_before_the_first_byte_only_the_timeout_counts(peer):
    p = peer(first=b"")  # silence
    with SyncStream(p.socket(), timeout=0.3, max_reply_time=0.1) as stream:
        stream.track_reply(begun=False)
        with pytest.raises(SMTPTimeoutError) as info:
            stream.read()
        assert "inactivity timeout" in str(info.value) and not is_reply_deadline(info.value)


def test_not_begun_clears_a_running_deadline(peer):
    p = peer()
    with SyncStream(p.socket(), timeout=0.3, max_reply_time=0.1) as stream:
        assert stream.read() == b"2"
        stream.track_reply(begun=True, began_in_last_read=True)
        stream.track_reply(begun=False)  # that reply ended; the next has not begun
        with pytest.raises(SMTPTimeoutError) as info:
            stream.read()
        assert "inactivity timeout" in str(info.value)


def test_the_deadline_bounds_reads_only(peer):
    p = peer()
    with SyncStream(p.socket(), timeout=5, max_reply_time=0.1) as stream:
        assert stream.read() == b"2"
        stream.track_reply(begun=True, began_in_last_read=True)
        threading.Event().wait(0.2)  # the reply deadline passes
        stream.write(b"NOOP\r\n")  # a write is not cut by it (the timeout alone bounds writes)
        with pytest.raises(SMTPTimeoutError) as info:
            stream.read()  # the next read that has to wait is cut at once
        assert is_reply_deadline(info.value)


def test_bytes_that_arrived_before_the_deadline_passed_are_still_read(peer):
    # The rest of a reply can sit unread while the engine writes (pipelining): reading it late
    # is not the server's fault. Only a wait for more bytes past the deadline is cut.
    p = peer(gap=0.05)
    with SyncStream(p.socket(), timeout=5, max_reply_time=0.1) as stream:
        assert stream.read() == b"2"
        stream.track_reply(begun=True, began_in_last_read=True)
        threading.Event().wait(0.3)  # more bytes arrive; the deadline passes
        assert stream.read().startswith(b"x")
        with pytest.raises(SMTPTimeoutError) as info:
            while True:
                stream.track_reply(begun=True)
                stream.read()
        assert is_reply_deadline(info.value)


def test_zero_means_no_reply_deadline(peer):
    p = peer(gap=0.05)
    with SyncStream(p.socket(), timeout=5, max_reply_time=0) as stream:
        stream.track_reply(begun=False)
        assert stream.read()
        stream.track_reply(begun=True, began_in_last_read=True)
        got = b""
        while len(got) < 12:  # about 0.6 s of trickle: a 0.1 s deadline would have cut it
            got += stream.read()
            stream.track_reply(begun=True)


def test_a_negative_max_reply_time_is_refused(peer):
    sock = peer().socket()
    try:
        with pytest.raises(SMTPInputError):
            SyncStream(sock, timeout=5, max_reply_time=-1)
    finally:
        sock.close()


# ---------------------------------------------------------------------------- AsyncStream
def test_async_a_trickle_is_cut_by_the_reply_deadline(peer):
    p = peer(gap=0.05)

    async def main() -> None:
        stream = await open_stream(p.socket(), timeout=5, max_reply_time=0.5)
        try:
            stream.track_reply(begun=False)
            assert await stream.read()
            stream.track_reply(begun=True, began_in_last_read=True)
            while True:
                assert await stream.read()
                stream.track_reply(begun=True)
        finally:
            stream.abort()

    expect_reply_deadline(main(), guard=30)


def test_async_a_reply_deadline_sooner_than_the_timeout_of_an_earlier_wait_is_kept(peer):
    """The first read waits (the byte comes after 0.2 s) with only the 30 s timeout to keep;
    the second read, for the rest of the reply, must end at the 0.3 s reply deadline, not
    when the first wait's wake-up would have come (AsyncStream keeps one timer across waits
    and must bring it forward). A stream that kept the earlier timer waits 30 s: the outer
    10 s guard fails the test."""
    p = peer(delay=0.2)  # "2" after 0.2 s, then silence

    async def main() -> None:
        stream = await open_stream(p.socket(), timeout=30, max_reply_time=0.3)
        try:
            stream.track_reply(begun=False)
            assert await stream.read() == b"2"
            stream.track_reply(begun=True, began_in_last_read=True)
            await stream.read()
        finally:
            stream.abort()

    expect_reply_deadline(main(), guard=10)


def test_async_an_inactivity_timeout_that_moved_on_is_not_cut_short(peer):
    """A wait's wake-up may come early (its deadline moved on since: bytes arrived): the
    stream looks at the clock and waits for the rest. With timeout=0.5 and a byte every
    0.3 s, reading 2 s of trickle never times out."""
    p = peer(gap=0.3)

    async def main() -> int:
        stream = await open_stream(p.socket(), timeout=0.5)
        loop = asyncio.get_running_loop()
        end, count = loop.time() + 2.0, 0
        try:
            while loop.time() < end:
                count += len(await stream.read())
        finally:
            stream.abort()
        return count

    assert asyncio.run(asyncio.wait_for(main(), 30)) >= 5


def test_async_before_the_first_byte_only_the_timeout_counts(peer):
    p = peer(first=b"")

    async def main() -> None:
        stream = await open_stream(p.socket(), timeout=0.3, max_reply_time=0.1)
        try:
            stream.track_reply(begun=False)
            await stream.read()
        finally:
            stream.abort()

    with pytest.raises(SMTPTimeoutError) as info:
        asyncio.run(asyncio.wait_for(main(), 30))
    assert "inactivity timeout" in str(info.value)


def test_async_a_negative_max_reply_time_is_refused(peer):
    sock = peer().socket()

    async def main() -> None:
        await open_stream(sock, timeout=5, max_reply_time=-1)

    try:
        with pytest.raises(SMTPInputError):
            asyncio.run(main())
    finally:
        sock.close()
