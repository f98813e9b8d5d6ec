"""Fake proxies: scripts for a ``ScriptedPeer`` that play a SOCKS5, SOCKS4/4A or HTTP CONNECT
proxy, well or badly. Each reply is given as bytes, so a test can make the proxy refuse,
answer oddly or close at any step; ``received`` keeps what the client sent. The real
proxies (dante, tinyproxy, ssh -D) are in proxies.py.
"""
from __future__ import annotations

import socket
import struct
import threading

from tests.servers.sockets import Script, ScriptedPeer

SOCKS5_SUCCEEDED = b"\x05\x00\x00\x01" + socket.inet_aton("127.0.0.1") + b"\x00\x00"


# ---------------------------------------------------------------------------------- SOCKS5

def read_socks5_greeting(peer: ScriptedPeer, conn: socket.socket) -> bytes:
    """VER NMETHODS METHODS (RFC 1928)."""
    head = peer.recv_exactly(conn, 2)
    return head + peer.recv_exactly(conn, head[1])


def read_socks5_credentials(peer: ScriptedPeer, conn: socket.socket) -> bytes:
    """VER ULEN UNAME PLEN PASSWD (RFC 1929)."""
    head = peer.recv_exactly(conn, 2)
    user = peer.recv_exactly(conn, head[1])
    length = peer.recv_exactly(conn, 1)
    return head + user + length + peer.recv_exactly(conn, length[0])


def read_socks5_request(peer: ScriptedPeer, conn: socket.socket) -> tuple[str, int]:
    """VER CMD RSV ATYP DST.ADDR DST.PORT (RFC 1928): the (host, port) asked for."""
    kind = peer.recv_exactly(conn, 4)[3]
    if kind == 1:
        host = socket.inet_ntoa(peer.recv_exactly(conn, 4))
    elif kind == 3:
        host = peer.recv_exactly(conn, peer.recv_exactly(conn, 1)[0]).decode()
    else:
        host = socket.inet_ntop(socket.AF_INET6, peer.recv_exactly(conn, 16))
    return host, struct.unpack(">H", peer.recv_exactly(conn, 2))[0]


def socks5_script(method_reply: bytes, connect_reply: bytes | None = None,
                  auth_reply: bytes | None = None, after: bytes = b"", close: bool = False) -> Script:
    """Read the greeting, send ``method_reply``; with ``auth_reply``, read the credentials and
    send it (a refusal ends there); read the request, send ``connect_reply`` (None: close
    instead), then ``after`` (bytes from inside the tunnel), and keep the rest unless
    ``close``."""
    def script(peer: ScriptedPeer, conn: socket.socket) -> None:
        read_socks5_greeting(peer, conn)
        conn.sendall(method_reply)
        if method_reply == b"":
            return
        if auth_reply is not None:
            read_socks5_credentials(peer, conn)
            conn.sendall(auth_reply)
            if auth_reply[1:2] != b"\x00":
                peer.drain(conn)
                return
        if connect_reply is None:
            return  # close before answering the request
        read_socks5_request(peer, conn)
        conn.sendall(connect_reply + after)
        if not close:
            peer.drain(conn)
    return script


def socks5_relay(destinations: list[tuple[str, int]]) -> Script:
    """A working SOCKS5 proxy without authentication: notes in ``destinations`` where the
    client asked to go, connects there and relays both ways."""
    def script(peer: ScriptedPeer, conn: socket.socket) -> None:
        read_socks5_greeting(peer, conn)
        conn.sendall(b"\x05\x00")
        destination = read_socks5_request(peer, conn)
        destinations.append(destination)
        with socket.create_connection(destination, timeout=10) as upstream:
            conn.sendall(SOCKS5_SUCCEEDED)
            back = threading.Thread(target=_pipe, args=(upstream, conn), daemon=True)
            back.start()
            _pipe(conn, upstream)
            back.join(10)
    return script


def _pipe(source: socket.socket, target: socket.socket) -> None:
    """Copy until ``source`` ends, then end ``target``'s direction too."""
    try:
        while chunk := source.recv(65536):
            target.sendall(chunk)
        target.shutdown(socket.SHUT_WR)
    except OSError:
        pass


# ---------------------------------------------------------------------------------- SOCKS4 / 4A

def socks4_script(reply: bytes, after: bytes = b"", close: bool = False) -> Script:
    """Read the request (with the 4A host name when there is one), send ``reply`` and
    ``after``, and keep the rest unless ``close``."""
    def script(peer: ScriptedPeer, conn: socket.socket) -> None:
        head = peer.recv_exactly(conn, 8)
        peer.recv_until(conn, b"\0")  # user id
        if head[4:7] == b"\0\0\0" and head[7] != 0:  # 4A: the host name follows
            peer.recv_until(conn, b"\0")
        conn.sendall(reply + after)
        if not close:
            peer.drain(conn)
    return script


# ---------------------------------------------------------------------------------- HTTP CONNECT

def http_script(reply: bytes, after: bytes = b"", close: bool = False, pieces: int = 1) -> Script:
    """Read the CONNECT request, send ``reply`` and ``after`` in ``pieces`` writes, and keep
    the rest unless ``close``."""
    def script(peer: ScriptedPeer, conn: socket.socket) -> None:
        peer.recv_until(conn, b"\r\n\r\n")
        data = reply + after
        step = max(1, len(data) // pieces)
        for start in range(0, len(data), step):
            conn.sendall(data[start:start + step])
        if close:
            return
        peer.drain(conn)
    return script
