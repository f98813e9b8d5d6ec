"""Loopback socket servers for the tests, and the socket helpers they share.

- ``LoopbackServer``: listens on 127.0.0.1 or ::1 (port 0: the system picks one), accepts
  connections in a thread and runs ``handle(conn)`` for each in a thread of its own.
  ``close()`` (or the end of its ``with`` block) stops it and waits for the handlers, so a
  test reads what they recorded only once they are done.
- ``ScriptedPeer``: a LoopbackServer that runs a script on each connection and keeps in
  ``received`` every byte the script read: fake proxies, servers that misbehave.
- ``recv_exactly``, ``recv_until``, ``recv_line``: reads that stop where asked; ``drain``:
  read until the peer closes. ``read_line``: the same for a smtpx stream (``read()``).
- ``free_port``, ``ipv6_available``.
"""
from __future__ import annotations

import os
import socket
import threading
from typing import Callable, Protocol, TypeVar

Handler = Callable[[socket.socket], None]
Server = TypeVar("Server", bound="LoopbackServer")


# ---------------------------------------------------------------------------------- reads

def recv_exactly(conn: socket.socket, count: int) -> bytes:
    """``count`` bytes; ConnectionError when the peer closes first."""
    data = b""
    while len(data) < count:
        chunk = conn.recv(count - len(data))
        if not chunk:
            raise ConnectionError("the peer closed the connection")
        data += chunk
    return data


def recv_until(conn: socket.socket, marker: bytes) -> bytes:
    """Up to and including ``marker``, one byte at a time, so nothing after it is consumed;
    ConnectionError when the peer closes first."""
    data = b""
    while not data.endswith(marker):
        chunk = conn.recv(1)
        if not chunk:
            raise ConnectionError("the peer closed the connection")
        data += chunk
    return data


def recv_line(conn: socket.socket) -> bytes:
    """One CRLF-terminated line, CRLF included."""
    return recv_until(conn, b"\r\n")


class Readable(Protocol):
    def read(self) -> bytes: ...


def read_line(stream: Readable) -> bytes:
    """Reads of a stream (SyncStream: whatever arrived) until one ends with LF, or EOF."""
    got = b""
    while not got.endswith(b"\n"):
        chunk = stream.read()
        if not chunk:
            break
        got += chunk
    return got


def drain(conn: socket.socket, into: bytearray | None = None) -> None:
    """Read until the peer closes (or the connection fails or times out), keeping what
    arrives in ``into``. As a handler: a server that accepts and never says a word."""
    try:
        while chunk := conn.recv(65536):
            if into is not None:
                into += chunk
    except OSError:
        pass


# ---------------------------------------------------------------------------------- ports

def ipv6_available() -> bool:
    """Whether this machine has an IPv6 loopback (::1) to listen on."""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


# A server started later (Postfix, Redis, a proxy) gets its port from free_port() and binds it
# some time after. A port the kernel hands out (bind to port 0) is from its ephemeral range, the
# same range every outgoing connection takes its local port from: with the suite on four
# workers, a client connection of another worker took such a port in between once, and Postfix
# failed with "Address already in use". So the ports come from below that range, where neither
# outgoing connections nor bind(0) go, from a slice of their own per pytest-xdist worker and
# starting at an offset from the process id (two runs at once on one machine), each checked
# free before it is handed out.
_SLICE = 2000


def _ephemeral_start() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as ranges:
            return int(ranges.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0  # not Linux: no known range, the kernel picks (the ephemeral way)


def _worker_slice() -> range | None:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    start = 10000 + index * _SLICE
    if start + _SLICE > _ephemeral_start():
        return None
    return range(start, start + _SLICE)


_slice = _worker_slice()
_next = os.getpid() % _SLICE


def _bindable(port: int, both_families: bool) -> bool:
    families = [(socket.AF_INET, "127.0.0.1")] + ([(socket.AF_INET6, "::1")] if both_families else [])
    for family, host in families:
        try:
            with socket.socket(family) as probe:
                probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port(both_families: bool = False) -> int:
    """A port free on 127.0.0.1 (and on ::1 when asked) at the time of the call: nothing
    listens there, for a connection that must be refused or a server started later. Outside
    the kernel's ephemeral range, so no connection takes it meanwhile (see above)."""
    global _next
    if _slice is not None:
        for _ in range(len(_slice)):
            port = _slice[_next % len(_slice)]
            _next += 1
            if _bindable(port, both_families):
                return port
        raise RuntimeError(f"no free port left in {_slice}")
    for _ in range(50):  # no room below the ephemeral range: the kernel picks
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port: int = probe.getsockname()[1]
        if not both_families or _bindable(port, True):
            return port
    raise RuntimeError("no free port found on both 127.0.0.1 and ::1")


# ---------------------------------------------------------------------------------- servers

class LoopbackServer:
    """A TCP server on ``host`` (127.0.0.1 or ::1) that runs ``handle(conn)`` for each
    connection in a thread of its own; the connection is closed when the handler returns.

    ``handle`` is the constructor's argument, or the method a subclass defines (a subclass
    sets its own attributes before calling ``__init__``, which starts accepting).
    ``max_connections``: accept that many, then let later connections wait in the backlog.
    ``timeout``: each connection's socket timeout. ``receive_buffer``: SO_RCVBUF of the
    listener, which accepted connections inherit (a small one makes a big write block).

    ``connections`` counts the accepted connections, ``finished`` is released each time a
    handler ends, ``errors`` keeps what a handler raised other than OSError (a client that
    went away is not a server error), and ``stopping`` is set by ``close()``: a handler that
    holds a connection waits on it.
    """

    def __init__(self, handle: Handler | None = None, host: str = "127.0.0.1", *, port: int = 0,
                 max_connections: int | None = None, timeout: float | None = 10.0,
                 receive_buffer: int | None = None) -> None:
        self._handler = handle
        self.max_connections = max_connections
        self.timeout = timeout
        self.connections = 0
        self.errors: list[str] = []
        self.finished = threading.Semaphore(0)
        self.stopping = threading.Event()
        self._handlers: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if receive_buffer is not None:
            self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.listener.bind((host, port))
        self.listener.listen(16)
        self.host: str = host
        self.port: int = self.listener.getsockname()[1]
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self._acceptor.start()

    def handle(self, conn: socket.socket) -> None:
        if self._handler is None:
            raise NotImplementedError("pass handle= or define handle() in a subclass")
        self._handler(conn)

    def _accept_loop(self) -> None:
        while self.max_connections is None or self.connections < self.max_connections:
            try:
                conn, _ = self.listener.accept()
            except OSError:  # close() shut the listener down
                return
            with self._lock:  # started under the lock, so close() never misses a handler
                if self.stopping.is_set():
                    conn.close()
                    return
                self.connections += 1
                thread = threading.Thread(target=self._handle_connection, args=(conn,), daemon=True)
                thread.start()
                self._handlers.append(thread)

    def _handle_connection(self, conn: socket.socket) -> None:
        try:
            with conn:
                conn.settimeout(self.timeout)
                self.handle(conn)
        except OSError:
            pass
        except Exception as exc:  # kept for the test to see
            self.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            self.finished.release()

    def close(self, join_timeout: float = 5.0) -> None:
        """Stop accepting, tell holding handlers to stop, and wait for every handler."""
        with self._lock:
            self.stopping.set()
            handlers = list(self._handlers)
        try:  # wakes the blocked accept(); closing the socket alone does not
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        self._acceptor.join(join_timeout)
        for thread in handlers:
            thread.join(join_timeout)

    def __enter__(self: Server) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


Script = Callable[["ScriptedPeer", socket.socket], None]


class ScriptedPeer(LoopbackServer):
    """Runs ``script(peer, conn)`` on each connection. The script reads through the peer
    (``recv_exactly``, ``recv_until``, ``drain``), which keeps every byte read in
    ``received``, so a test can check what the client sent."""

    def __init__(self, script: Script, host: str = "127.0.0.1", *,
                 max_connections: int | None = None, timeout: float | None = 10.0) -> None:
        self.script = script
        self.received = bytearray()
        super().__init__(host=host, max_connections=max_connections, timeout=timeout)

    def handle(self, conn: socket.socket) -> None:
        self.script(self, conn)

    def recv_exactly(self, conn: socket.socket, count: int) -> bytes:
        data = recv_exactly(conn, count)
        self.received += data
        return data

    def recv_until(self, conn: socket.socket, marker: bytes) -> bytes:
        data = recv_until(conn, marker)
        self.received += data
        return data

    def drain(self, conn: socket.socket) -> None:
        """Keep whatever else the client sends, until it closes."""
        drain(conn, self.received)
