"""A TCP relay on 127.0.0.1 that adds a fixed one-way delay in each direction.

With ``one_way_delay=0.010`` a round trip through it costs 20 ms more, like a link to a
distant server. Bytes are delayed, not throttled: a client that pipelines pays the delay
once per round trip, a client that waits for each reply pays it per command. That is what
the over-the-link benchmark shows.
"""
from __future__ import annotations

import heapq
import socket
import threading
import time


class DelayRelay:
    def __init__(self, target: tuple[str, int], one_way_delay: float = 0.010) -> None:
        self.target = target
        self.delay = one_way_delay
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = self._listener.getsockname()[1]
        self._closing = False
        self._sockets: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def _accept_loop(self) -> None:
        while not self._closing:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.settimeout(None)
            self._sockets += [client, upstream]
            self._pipe(client, upstream)
            self._pipe(upstream, client)

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        """Two threads per direction: one reads and stamps, one delivers when due."""
        pending: list[tuple[float, int, bytes]] = []
        ready = threading.Condition()
        counter = iter(range(1 << 62))

        def reader() -> None:
            while True:
                try:
                    data = source.recv(1 << 16)
                except OSError:
                    data = b""
                with ready:
                    heapq.heappush(pending, (time.monotonic() + self.delay, next(counter), data))
                    ready.notify()
                if not data:
                    return

        def writer() -> None:
            while True:
                with ready:
                    while not pending:
                        ready.wait()
                    due, _, data = pending[0]
                    wait = due - time.monotonic()
                    if wait > 0:
                        ready.wait(wait)
                        continue
                    heapq.heappop(pending)
                if not data:
                    try:
                        sink.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    return
                try:
                    sink.sendall(data)
                except OSError:
                    return

        threading.Thread(target=reader, daemon=True).start()
        threading.Thread(target=writer, daemon=True).start()

    def close(self) -> None:
        self._closing = True
        self._listener.close()
        for sock in self._sockets:
            try:
                sock.close()
            except OSError:
                pass
