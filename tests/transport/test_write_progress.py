"""A write cut short tells how much of it may have gone out (FAULTS.md #40): SyncStream and
AsyncStream put ``bytes_written`` on the error they raise, over real sockets on 127.0.0.1.
The engine decides from it whether a message's end of data went out."""
from __future__ import annotations

import asyncio
import socket
import struct
import threading

import pytest

from smtpx.aio.stream import open_stream
from smtpx.errors import SMTPConnectionDropped, SMTPTimeoutError
from smtpx.transport.stream import SyncStream

BIG = b"x" * (64 << 20)  # far beyond what the socket buffers hold
# The same cut through a vectored write (WriteParts): many parts of odd sizes (an empty one
# too), about 12 MB, so sendmsg() goes out in pieces that end inside parts; bytes_written
# counts in the joined bytes.
PARTS = tuple(bytes([65 + i % 26]) * size for i, size in enumerate(
    [5, 0, 1 << 20, 3, 777_777, 1, 4 << 20, 65_537, 13, 6 << 20]))
WRITES = {"one buffer": ("write", BIG), "parts": ("write_parts", PARTS)}


def _pair(behaviour):
    """A connected client socket, and a thread running ``behaviour(conn)`` on the server side
    (whose receive buffer is small)."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    client = socket.create_connection(listener.getsockname())
    conn, _ = listener.accept()
    listener.close()
    thread = threading.Thread(target=behaviour, args=(conn,), daemon=True)
    thread.start()
    return client, thread


def _read_then_reset(read: int):
    def behaviour(conn):
        got = 0
        while got < read:
            got += len(conn.recv(read - got))
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()  # unread bytes pending: a reset
    return behaviour


@pytest.mark.parametrize("how", list(WRITES))
def test_sync_write_reset_midway_says_how_much_the_socket_took(how):
    method, data = WRITES[how]
    client, thread = _pair(_read_then_reset(1_500_000))  # (for parts: inside the third)
    stream = SyncStream(client, timeout=20)
    try:
        with pytest.raises(SMTPConnectionDropped) as info:
            getattr(stream, method)(data)
    finally:
        stream.close()
        thread.join(5)
    assert 1_500_000 <= info.value.bytes_written < len(b"".join(data) if how == "parts" else data)


def test_sync_write_timeout_midway_says_how_much_the_socket_took():
    stop = threading.Event()
    client, thread = _pair(lambda conn: (stop.wait(20), conn.close()))  # never reads
    stream = SyncStream(client, timeout=0.5)
    try:
        with pytest.raises(SMTPTimeoutError) as info:
            stream.write(BIG)
    finally:
        stop.set()
        stream.close()
        thread.join(5)
    assert 0 < info.value.bytes_written < len(BIG)


@pytest.mark.parametrize("how", list(WRITES))
def test_async_write_reset_midway_gives_an_upper_bound_short_of_the_end(how):
    method, data = WRITES[how]

    async def go():
        client, thread = _pair(_read_then_reset(1_500_000))
        stream = await open_stream(client, timeout=20)
        try:
            with pytest.raises(SMTPConnectionDropped) as info:
                await getattr(stream, method)(data)
        finally:
            stream.abort()
            thread.join(5)
        return info.value

    error = asyncio.run(go())
    # What was handed to asyncio before the loss (it may count bytes asyncio still held):
    # more than the peer read, and short of the end, so the end of data is "not written".
    assert 1_500_000 <= error.bytes_written < len(b"".join(data) if how == "parts" else data)
