"""Raw plaintext peers that speak only after the client's TLS ClientHello arrived, so the
client meets their plaintext inside the TLS handshake (not before it, where a peek finds it)."""
from __future__ import annotations

import socket

from tests.servers.sockets import LoopbackServer


class _Peer(LoopbackServer):
    """One connection, read through a buffered file (``lines``)."""

    def __init__(self) -> None:
        super().__init__(max_connections=1, timeout=5)

    def handle(self, conn: socket.socket) -> None:
        with conn.makefile("rb") as lines:
            self._serve(conn, lines)

    def _serve(self, conn, lines) -> None:
        raise NotImplementedError


class GreetsAfterClientHello(_Peer):
    """A plaintext SMTP server that greets only once the client has sent something (its TLS
    ClientHello, with implicit TLS). ``first_bytes``: the first 5 bytes it got."""

    first_bytes = b""

    def _serve(self, conn, lines) -> None:
        self.first_bytes = lines.read1(5)
        conn.sendall(b"220 plain.test ESMTP\r\n")
        lines.read1(65536)


class InjectsAfterClientHello(_Peer):
    """Answers STARTTLS with 220, then sends plaintext (the "injection") only after the
    client's ClientHello arrived. ``hello``: the first 5 bytes after STARTTLS."""

    hello = b""

    def _serve(self, conn, lines) -> None:
        conn.sendall(b"220 raw.test ESMTP\r\n")
        lines.readline()  # EHLO
        conn.sendall(b"250-raw.test\r\n250 STARTTLS\r\n")
        lines.readline()  # STARTTLS
        conn.sendall(b"220 go ahead\r\n")
        self.hello = lines.read1(5)  # the ClientHello's record header
        conn.sendall(b"250-injected\r\n250 AUTH PLAIN\r\n")
        lines.read1(65536)
