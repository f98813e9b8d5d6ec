"""AsyncStream over real sockets (a connected socketpair): reads, EOF, back-pressure and
timeouts, dropped peers, close, and the refusal of bytes that precede a TLS handshake."""
from __future__ import annotations

import asyncio
import socket

import pytest

import smtpx
from smtpx.aio import open_stream
from smtpx.tls import TLSSettings

from tests.throttle_clock import assert_few_sleeps, assert_paced
from tests.throttle_clock import install as install_throttle_clock

from .helpers import arun


def _pair() -> tuple[socket.socket, socket.socket]:
    return socket.socketpair()


def test_read_gives_what_arrived_then_eof():
    async def go():
        ours, peer = _pair()
        stream = await open_stream(ours, timeout=5)
        peer.sendall(b"220 hello\r\n")
        first = await stream.read()
        peer.close()
        second = await stream.read()
        await stream.close()
        return first, second

    assert arun(go) == (b"220 hello\r\n", b"")


def test_write_reaches_the_peer():
    async def go():
        ours, peer = _pair()
        stream = await open_stream(ours, timeout=5)
        await stream.write(b"EHLO client\r\n")
        peer.settimeout(5)
        data = peer.recv(100)
        await stream.close()
        peer.close()
        return data

    assert arun(go) == b"EHLO client\r\n"


def test_read_times_out_when_nothing_comes():
    async def go():
        ours, peer = _pair()
        stream = await open_stream(ours, timeout=1)
        with pytest.raises(smtpx.SMTPTimeoutError) as info:
            await stream.read()
        assert info.value.code == 301
        stream.abort()
        peer.close()

    arun(go)


def test_write_times_out_when_the_peer_stops_reading():
    async def go():
        ours, peer = _pair()
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stream = await open_stream(ours, timeout=1)
        with pytest.raises(smtpx.SMTPTimeoutError):
            await stream.write(b"x" * (32 << 20))
        stream.abort()
        peer.close()

    arun(go)


def test_write_to_a_closed_peer_is_connection_dropped():
    async def go():
        ours, peer = _pair()
        stream = await open_stream(ours, timeout=5)
        peer.close()
        with pytest.raises(smtpx.SMTPConnectionDropped) as info:
            for _ in range(50):  # the first writes may still be accepted by the kernel
                await stream.write(b"x" * 65536)
                await asyncio.sleep(0.01)
        assert info.value.code == 1120
        stream.abort()

    arun(go)


def test_use_after_close_is_not_connected():
    async def go():
        ours, peer = _pair()
        stream = await open_stream(ours, timeout=5)
        await stream.close()
        await stream.close()  # idempotent
        with pytest.raises(smtpx.SMTPNotConnectedError):
            await stream.read()
        with pytest.raises(smtpx.SMTPNotConnectedError):
            await stream.write(b"x")
        peer.close()

    arun(go)


def test_bytes_waiting_before_the_handshake_are_refused():
    async def go():
        ours, peer = _pair()
        stream = await open_stream(ours, timeout=5)
        peer.sendall(b"250 injected\r\n")
        for _ in range(100):  # until the loop has read them into the stream
            await asyncio.sleep(0.01)
            if stream._protocol.buffer:
                break
        with pytest.raises(smtpx.SMTPTLSError) as info:
            await stream.start_tls(TLSSettings(), "127.0.0.1")
        assert info.value.code == 276 and "before the TLS handshake" in info.value.description
        assert stream.closed
        peer.close()

    arun(go)


def test_bad_arguments_are_input_errors():
    async def go():
        for kwargs in ({"timeout": -1}, {"timeout": 5, "max_transfer_rate": -1}):
            ours, peer = _pair()
            with pytest.raises(smtpx.SMTPInputError):
                await open_stream(ours, **kwargs)
            ours.close()
            peer.close()

    arun(go)


def test_throttle_paces_to_the_rate_by_its_own_clock(monkeypatch):
    """Writing N bytes at R bytes a second takes (N - burst) / R of a clock that only the
    throttle's sleeps move: not less (the rate is held), not more (nothing held back); and it
    goes in bursts, a few dozen sleeps, not one per byte."""
    clock = install_throttle_clock(monkeypatch)
    rate, size = 40_000, 32_000

    async def go():
        ours, peer = _pair()
        stream = await open_stream(ours, timeout=5, max_transfer_rate=rate)

        async def sleep(seconds: float) -> None:  # the throttle's sleep
            clock.sleep(seconds)
            await asyncio.sleep(0)

        stream._sleep = sleep
        began = clock.now
        await stream.write(b"y" * size)
        clock_seconds = clock.now - began
        peer.settimeout(5)
        received = bytearray()
        while len(received) < size:
            received += peer.recv(65536)
        await stream.close()
        peer.close()
        return clock_seconds, bytes(received)

    clock_seconds, received = arun(go)
    assert received == b"y" * size
    assert_paced(clock_seconds, size, rate)
    assert_few_sleeps(clock.sleeps, size, rate)
