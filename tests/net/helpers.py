"""Small real servers for the connection tests (127.0.0.1 / ::1 only).

- ``GreetingServer``: a stand-in mail server that sends a 220 greeting to each connection,
  records who connected and what they sent, answers QUIT with 221 and, when it has a TLS
  context, does implicit TLS or "STARTTLS" -> 220 -> TLS.
- ``ScriptedPeer``: accepts connections and runs a script (a function of the socket) on each,
  recording every byte the client sent: the fake proxies of the fault tests.
"""
from __future__ import annotations

import socket
import ssl
import threading
from typing import Callable

GREETING = b"220 smtpx-test ESMTP ready\r\n"


class _Listener:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(16)
        self.host, self.port = host, self.sock.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._closed = False
        self.finished = threading.Semaphore(0)  # released when a connection's handler ends
        self._lock = threading.Lock()
        self._accept_thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._accept_thread.start()

    def _accept_loop(self) -> None:
        while True:
            try:
                conn, peer = self.sock.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._run, args=(conn, peer), daemon=True)
            with self._lock:  # started under the lock, so close() never joins an unstarted one
                thread.start()
                self._threads.append(thread)

    def _run(self, conn: socket.socket, peer) -> None:
        try:
            conn.settimeout(10)
            self.handle(conn, peer)
        except OSError:
            pass
        finally:
            conn.close()
            self.finished.release()

    def handle(self, conn: socket.socket, peer) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def close(self) -> None:
        self._closed = True
        try:
            self.sock.close()
        finally:
            with self._lock:
                threads = list(self._threads)
            for thread in threads:
                thread.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class GreetingServer(_Listener):
    """Greets, records peers and received bytes; QUIT -> 221; TLS when ``tls`` is given
    (``implicit=True``: TLS from the first byte; otherwise on STARTTLS)."""

    def __init__(self, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None,
                 implicit: bool = False, port: int = 0) -> None:
        self.peers: list[tuple] = []
        self.received: list[bytes] = []
        self.tls, self.implicit = tls, implicit
        self.connected = threading.Event()
        super().__init__(host, port)

    def handle(self, conn: socket.socket, peer) -> None:
        self.peers.append(peer)
        self.connected.set()
        current = [conn]  # per connection: the TLS socket once the conversation switched
        try:
            self._converse(conn, current)
        finally:
            current[0].close()

    def _converse(self, conn: socket.socket, current: list) -> None:
        if self.tls is not None and self.implicit:
            conn = current[0] = self.tls.wrap_socket(conn, server_side=True)
        conn.sendall(GREETING)
        buffer = b""
        while True:
            chunk = conn.recv(4096)
            if not chunk:
                return
            buffer += chunk
            self.received.append(chunk)
            while b"\r\n" in buffer:
                line, buffer = buffer.split(b"\r\n", 1)
                verb = line.upper()
                if verb == b"QUIT":
                    conn.sendall(b"221 bye\r\n")
                    return
                if verb == b"STARTTLS" and self.tls is not None and not self.implicit:
                    conn.sendall(b"220 go ahead\r\n")
                    conn = current[0] = self.tls.wrap_socket(conn, server_side=True)
                    conn.sendall(b"250 TLS active\r\n")
                else:
                    conn.sendall(b"250 ok " + line[:40] + b"\r\n")


class ScriptedPeer(_Listener):
    """Runs ``script(conn, peer)`` on each connection; ``received`` has what clients sent
    (filled by ``recv_record``)."""

    def __init__(self, script: Callable[["ScriptedPeer", socket.socket], None],
                 host: str = "127.0.0.1") -> None:
        self.script = script
        self.received = bytearray()
        self.connections = 0
        super().__init__(host)

    def handle(self, conn: socket.socket, peer) -> None:
        self.connections += 1
        self.script(self, conn)

    def recv_exactly(self, conn: socket.socket, count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = conn.recv(count - len(data))
            if not chunk:
                raise ConnectionError("client closed")
            data += chunk
        self.received += data
        return data

    def recv_until(self, conn: socket.socket, marker: bytes) -> bytes:
        data = b""
        while marker not in data:
            chunk = conn.recv(1)
            if not chunk:
                raise ConnectionError("client closed")
            data += chunk
        self.received += data
        return data

    def drain(self, conn: socket.socket) -> None:
        """Record whatever else the client sends until it closes."""
        try:
            while chunk := conn.recv(4096):
                self.received += chunk
        except OSError:
            pass


def read_line(sock: socket.socket, limit: int = 4096) -> bytes:
    """Read one CRLF-terminated line byte by byte (test helper; never reads past it)."""
    data = b""
    while not data.endswith(b"\r\n") and len(data) < limit:
        chunk = sock.recv(1)
        if not chunk:
            break
        data += chunk
    return data
