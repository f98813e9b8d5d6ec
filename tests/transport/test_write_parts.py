"""WriteParts: a big content written as several buffers without joining them (SyncStream's
sendmsg, AsyncStream's writes in turn) arrives exactly as the joined bytes would, through a
slow reader, over real sockets on 127.0.0.1. (A write cut short: test_write_progress.py.)"""
from __future__ import annotations

import asyncio


from smtpx.aio.stream import AsyncStream, open_stream
from smtpx.transport.stream import SyncStream
from tests.transport.test_write_progress import PARTS, _pair

JOINED = b"".join(PARTS)


def _read_all(into: bytearray):
    def behaviour(conn):
        while True:
            data = conn.recv(7_000)  # small reads: the writer waits for room many times
            if not data:
                break
            into.extend(data)
        conn.close()
    return behaviour


def _sync_write_parts(parts: tuple[bytes, ...]) -> bytes:
    """What a slow reader got of ``parts`` written by SyncStream.write_parts."""
    got = bytearray()
    client, thread = _pair(_read_all(got))
    stream = SyncStream(client, timeout=20)
    try:
        stream.write_parts(parts)
    finally:
        stream.close()
        thread.join(20)
    return bytes(got)


def test_sync_write_parts_arrive_as_the_joined_bytes():
    assert _sync_write_parts(PARTS) == JOINED


async def _async_stream(client) -> AsyncStream:
    return await open_stream(client, timeout=20)


def test_async_write_parts_arrive_as_the_joined_bytes():
    got = bytearray()
    client, thread = _pair(_read_all(got))

    async def main():
        stream = await _async_stream(client)
        try:
            await stream.write_parts(PARTS)
        finally:
            await stream.close()

    asyncio.run(main())
    thread.join(20)
    assert bytes(got) == JOINED


def test_sync_write_parts_more_buffers_than_the_kernel_takes_at_once():
    parts = tuple(b"RCPT TO:<r%d@example.test>\r\n" % i for i in range(5000))  # beyond IOV_MAX
    assert _sync_write_parts(parts) == b"".join(parts)
