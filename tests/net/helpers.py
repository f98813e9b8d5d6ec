"""A stand-in mail server for the connection tests (127.0.0.1 / ::1 only).

``GreetingServer`` sends a 220 greeting to each connection, records who connected and what
they sent, answers QUIT with 221 and, when it has a TLS context, does implicit TLS or
"STARTTLS" -> 220 -> TLS. (The fake proxies are ``ScriptedPeer`` scripts in
servers/fake_proxies.py.)
"""
from __future__ import annotations

import socket
import ssl
import threading

from tests.servers.sockets import LoopbackServer

GREETING = b"220 smtpx-test ESMTP ready\r\n"


class GreetingServer(LoopbackServer):
    """Greets, records peers and received bytes; QUIT -> 221; TLS when ``tls`` is given
    (``implicit=True``: TLS from the first byte; otherwise on STARTTLS)."""

    def __init__(self, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None,
                 implicit: bool = False, port: int = 0) -> None:
        self.peers: list[tuple] = []
        self.received: list[bytes] = []
        self.tls, self.implicit = tls, implicit
        self.connected = threading.Event()
        super().__init__(host=host, port=port)

    def handle(self, conn: socket.socket) -> None:
        self.peers.append(conn.getpeername())
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
