"""Per-connection view of TLS messages through OpenSSL's message callback (CPython's
``SSLContext._msg_callback``): the negotiated key exchange group, which Python's ssl does not
expose, and the LogSSLPackets trace."""
from __future__ import annotations

import ssl
import threading
import weakref
from typing import Any, Callable, Optional

__all__ = ["HAS_MESSAGE_HOOK", "install", "watch", "ConnWatch"]

# Named groups (RFC 8446 / RFC 8422 / RFC 7919): name, strength in bits as OpenSSL reports it.
_GROUPS = {
    0x0017: ("secp256r1", 256), 0x0018: ("secp384r1", 384), 0x0019: ("secp521r1", 521),
    0x001D: ("x25519", 253), 0x001E: ("x448", 448),
    0x0100: ("ffdhe2048", 2048), 0x0101: ("ffdhe3072", 3072), 0x0102: ("ffdhe4096", 4096),
    0x0103: ("ffdhe6144", 6144), 0x0104: ("ffdhe8192", 8192),
}


class ConnWatch:
    """Per-connection view of the TLS messages (OpenSSL's message callback).

    Python's ssl does not expose the negotiated group, so it is read from the server's
    handshake messages: the key_share of the TLS 1.3 ServerHello, or the TLS 1.2
    ServerKeyExchange (named curve, or the size of the DH prime). With LogSSLPackets each
    message is also reported through ssl_status.
    """

    def __init__(self, log: Optional[Callable[[str], None]] = None) -> None:
        self.group: Optional[str] = None
        self.bits: Optional[int] = None
        self.suite: Optional[int] = None
        self.log = log

    def message(self, direction: str, version: Any, content_type: Any, msg_type: Any, data: bytes) -> None:
        if self.log is not None:
            self.log(f"TLS {direction} {getattr(content_type, 'name', content_type)} "
                     f"{getattr(msg_type, 'name', msg_type)} ({len(data)} bytes)")
        if direction == "read" and int(content_type) == 22 and self.bits is None:
            self._messages(data)

    def _messages(self, record: bytes) -> None:
        pos = 0
        while pos + 4 <= len(record):
            kind, length = record[pos], int.from_bytes(record[pos + 1:pos + 4], "big")
            body = record[pos + 4:pos + 4 + length]
            if len(body) < length:
                return
            try:
                if kind == 2:
                    self._server_hello(body)
                elif kind == 12:
                    self._server_key_exchange(body)
            except IndexError:
                return
            pos += 4 + length

    def _server_hello(self, body: bytes) -> None:
        pos = 2 + 32
        pos += 1 + body[pos]
        self.suite = int.from_bytes(body[pos:pos + 2], "big")
        pos += 3
        if pos + 2 > len(body):
            return
        end = pos + 2 + int.from_bytes(body[pos:pos + 2], "big")
        pos += 2
        while pos + 4 <= end:
            ext, length = int.from_bytes(body[pos:pos + 2], "big"), int.from_bytes(body[pos + 2:pos + 4], "big")
            if ext == 0x0033 and length >= 2:  # key_share: the selected group comes first
                self._set(int.from_bytes(body[pos + 4:pos + 6], "big"))
            pos += 4 + length

    def _server_key_exchange(self, body: bytes) -> None:
        if self.suite is None:
            return
        if body[0] == 3:  # ECDHE: curve_type named_curve, then the group
            self._set(int.from_bytes(body[1:3], "big"))
        elif len(body) > 2:  # DHE: dh_p comes first; its size is the strength
            p_len = int.from_bytes(body[0:2], "big")
            prime = body[2:2 + p_len].lstrip(b"\0")
            if prime:
                self.group, self.bits = "ffdhe/custom", (len(prime) - 1) * 8 + prime[0].bit_length()

    def _set(self, code: int) -> None:
        self.group, self.bits = _GROUPS.get(code, (f"0x{code:04x}", None))


_watches: "weakref.WeakKeyDictionary[Any, ConnWatch]" = weakref.WeakKeyDictionary()
_watch_lock = threading.Lock()
HAS_MESSAGE_HOOK = hasattr(ssl.SSLContext, "_msg_callback")  # CPython 3.8+


def _on_tls_message(conn: Any, direction: str, version: Any, content_type: Any, msg_type: Any,
                    data: bytes) -> None:
    watch = _watches.get(conn)
    if watch is not None:
        watch.message(direction, version, content_type, msg_type, data)


def watch(ssock: ssl.SSLSocket, log: Optional[Callable[[str], None]]) -> ConnWatch:
    watch = ConnWatch(log)
    if HAS_MESSAGE_HOOK:
        with _watch_lock:
            _watches[ssock] = watch
    return watch




def install(ctx: ssl.SSLContext) -> None:
    """Route ``ctx``'s TLS messages here. Call before wrap_socket: OpenSSL copies the callback
    into each connection when it is made."""
    if HAS_MESSAGE_HOOK and getattr(ctx, "_msg_callback", None) is not _on_tls_message:
        ctx._msg_callback = _on_tls_message  # type: ignore[attr-defined]
