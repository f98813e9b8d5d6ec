"""Run in a fresh process by test_big_stream.py (with the repository on PYTHONPATH): send a message
whose body is a generated stream of SIZE bytes through smtpx.SMTP to a local sink that discards
what it reads, and print the memory figures as JSON. A fresh process, so the peak RSS is this
send's own."""
from __future__ import annotations

import io
import json
import resource
import socket
import sys
import tracemalloc

import smtpx
from tests.servers.sockets import LoopbackServer

LINE = b"0123456789" * 7 + b"abcdefg\r\n"  # 79 bytes per line


class GeneratedBody(io.RawIOBase):
    """``size`` bytes of text lines, produced on demand; nothing is kept."""

    def __init__(self, size: int) -> None:
        self.left = size
        self._blocks: dict[int, bytes] = {}

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = min(self.left if n is None or n < 0 else n, self.left, 1 << 20)
        if n <= 0:
            return b""
        block = self._blocks.get(n)
        if block is None:
            block = (LINE * (n // len(LINE) + 1))[:n]
            self._blocks = {n: block}  # one cached block at a time
        self.left -= n
        return block


class DiscardingSink(LoopbackServer):
    """A minimal SMTP server on 127.0.0.1 that reads the DATA and throws it away."""

    def __init__(self) -> None:
        self.data_bytes = 0
        super().__init__(timeout=None)

    def handle(self, conn: socket.socket) -> None:
        f = conn.makefile("rb")
        conn.sendall(b"220 sink\r\n")
        while True:
            line = f.readline()
            if not line:
                return
            verb = line[:4].upper()
            if verb == b"EHLO":
                conn.sendall(b"250-sink\r\n250 8BITMIME\r\n")
            elif verb == b"DATA":
                conn.sendall(b"354 go\r\n")
                tail = b""
                while True:
                    chunk = f.read1(1 << 20)
                    if not chunk:
                        return
                    self.data_bytes += len(chunk)
                    tail = (tail + chunk[-5:])[-5:]
                    if tail == b"\r\n.\r\n":
                        break
                conn.sendall(b"250 discarded\r\n")
            elif verb == b"QUIT":
                conn.sendall(b"221 bye\r\n")
                return
            else:
                conn.sendall(b"250 ok\r\n")


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def main() -> None:
    size = int(sys.argv[1])
    sink = DiscardingSink()
    smtp = smtpx.SMTP(mail_server="127.0.0.1", mail_port=sink.port, from_="a@example.com",
                      send_to="b@example.com", subject="big", timeout=60)
    smtp.set_message_stream(GeneratedBody(1 << 20))  # warm up: modules, kernels, buffers
    smtp.send()
    warm = sink.data_bytes
    baseline = peak_rss_bytes()
    tracemalloc.start()
    stream = GeneratedBody(size)
    smtp.set_message_stream(stream)
    result = smtp.send()
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(json.dumps({
        "rss_growth": peak_rss_bytes() - baseline,
        "traced_peak": traced_peak,
        "received": sink.data_bytes - warm,
        "stream_left": stream.left,
        "stream_closed": stream.closed,
        "accepted": [r.address for r in result.accepted],
    }))


if __name__ == "__main__":
    main()
