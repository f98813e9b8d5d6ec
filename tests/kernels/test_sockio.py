"""recv_nowait (smtpx._pure.sockio and its compiled twin): a non-blocking look at a plain
socket, on both implementations, over real socket pairs and a real TCP connection."""
from __future__ import annotations

import errno
import os
import socket
import struct
import time

import pytest


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    yield a, b
    a.close()
    b.close()


def test_nothing_arrived_is_none_without_an_exception(kernel_impl, pair):
    a, _b = pair
    assert kernel_impl.recv_nowait(a.fileno(), 65536) is None
    assert kernel_impl.recv_nowait(a.fileno(), 65536) is None  # and again: nothing was consumed


def test_what_arrived_is_given_and_taken(kernel_impl, pair):
    a, b = pair
    b.sendall(b"250 ok\r\n")
    assert kernel_impl.recv_nowait(a.fileno(), 65536) == b"250 ok\r\n"
    assert kernel_impl.recv_nowait(a.fileno(), 65536) is None


def test_at_most_size_bytes_and_the_rest_stays(kernel_impl, pair):
    a, b = pair
    b.sendall(b"0123456789")
    assert kernel_impl.recv_nowait(a.fileno(), 4) == b"0123"
    assert kernel_impl.recv_nowait(a.fileno(), 100) == b"456789"


def test_a_large_arrival_comes_in_reads_of_at_most_size(kernel_impl, pair):
    a, b = pair
    payload = bytes(range(256)) * 1024  # 256 KB: more than one read of 64 KB
    sent = 0
    got = bytearray()
    while len(got) < len(payload):
        if sent < len(payload):
            try:
                sent += b.send(payload[sent:sent + 65536])
            except BlockingIOError:
                pass
        data = kernel_impl.recv_nowait(a.fileno(), 65536)
        if data:
            assert len(data) <= 65536
            got += data
    assert bytes(got) == payload


def test_the_peer_closing_is_empty_bytes(kernel_impl, pair):
    a, b = pair
    b.sendall(b"221 bye\r\n")
    b.close()
    assert kernel_impl.recv_nowait(a.fileno(), 65536) == b"221 bye\r\n"
    assert kernel_impl.recv_nowait(a.fileno(), 65536) == b""
    assert kernel_impl.recv_nowait(a.fileno(), 65536) == b""


def test_a_reset_raises_oserror_with_its_errno(kernel_impl):
    server = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(server.getsockname(), timeout=5)
    conn, _ = server.accept()
    try:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()  # a reset, not a close
        client.setblocking(False)
        deadline = time.monotonic() + 5
        with pytest.raises(OSError) as info:
            while time.monotonic() < deadline:
                kernel_impl.recv_nowait(client.fileno(), 65536)  # None until the RST is in
        assert info.value.errno == errno.ECONNRESET
    finally:
        client.close()
        server.close()


def test_a_bad_descriptor_raises_oserror(kernel_impl, pair):
    a, _b = pair
    fd = os.dup(a.fileno())
    os.close(fd)
    with pytest.raises(OSError) as info:
        kernel_impl.recv_nowait(fd, 100)
    assert info.value.errno == errno.EBADF


@pytest.mark.parametrize("size", [0, -1])
def test_a_size_below_one_is_refused(kernel_impl, pair, size):
    a, b = pair
    b.sendall(b"x")
    with pytest.raises(ValueError, match="size"):
        kernel_impl.recv_nowait(a.fileno(), size)
    assert kernel_impl.recv_nowait(a.fileno(), 10) == b"x"  # nothing was taken


def test_both_implementations_agree_on_a_stream_of_pieces(both_kernel_impls, pair):
    a, b = pair
    pure, compiled = both_kernel_impls
    for piece in (b"220 hi\r\n", b"250-a\r\n250 b\r\n", b"x" * 5000):
        b.sendall(piece)
        first = pure.recv_nowait(a.fileno(), 3)
        rest = compiled.recv_nowait(a.fileno(), 65536)
        assert first + rest == piece
        assert pure.recv_nowait(a.fileno(), 10) is None and compiled.recv_nowait(a.fileno(), 10) is None
