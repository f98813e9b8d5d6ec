"""FAULTS.md items 32 and 33 through smtpx.SMTP (Firewall* settings): a SOCKS5 or HTTP
CONNECT proxy that refuses, answers oddly or closes is a typed SMTPFirewallError (118), the
mail server is never reached around it, and the object stays usable."""
from __future__ import annotations

import socket
import threading

import pytest

import smtpx


class FakeProxy:
    """One connection: read the client's handshake, answer with canned bytes; with ``then``
    (a list of (expect-prefix, reply) pairs) play a tiny SMTP server inside the tunnel."""

    def __init__(self, kind: str, replies: list[bytes], then: list[tuple[bytes, bytes]] | None = None,
                 hold: bool = True) -> None:
        self.kind, self.replies, self.then, self.hold = kind, replies, then, hold
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.port = self.listener.getsockname()[1]
        self.received = bytearray()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _recv_until(self, conn, marker: bytes) -> None:
        while marker not in self.received:
            chunk = conn.recv(4096)
            if not chunk:
                raise OSError("closed")
            self.received += chunk

    def _serve(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(5)
            try:
                if self.kind == "http":
                    self._recv_until(conn, b"\r\n\r\n")
                    for reply in self.replies:
                        conn.sendall(reply)
                else:  # socks5: greeting, then (when there are two replies) the CONNECT request
                    self.received += conn.recv(257)
                    for reply in self.replies:
                        conn.sendall(reply)
                        if reply is not self.replies[-1]:
                            self.received += conn.recv(1024)
                file = conn.makefile("rb")
                for expect, reply in self.then or []:
                    if expect:
                        line = file.readline()
                        self.received += line
                        if not line.upper().startswith(expect):
                            return
                    conn.sendall(reply)
                if not self.then and self.hold:
                    conn.recv(1)  # hold until the client gives up
            except OSError:
                return

    def close(self) -> None:
        self.listener.close()
        self.thread.join(5)


def _via(proxy: FakeProxy, kind: int, server=None, **config) -> smtpx.SMTP:
    smtp = smtpx.SMTP(mail_server="127.0.0.1", mail_port=server.port if server else 25, from_="a@example.com",
                      send_to="b@example.com", timeout=5)
    smtp.config(f"FirewallType={kind}")
    smtp.config("FirewallHost=127.0.0.1")
    smtp.config(f"FirewallPort={proxy.port}")
    for name, value in config.items():
        smtp.config(f"{name}={value}")
    return smtp


SOCKS_CASES = {
    "connect_refused": [b"\x05\x00", b"\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00"],
    "no_acceptable_method": [b"\x05\xff"],
    "wrong_version": [b"\x04\x00"],
    "short_reply_then_close": [b"\x05\x00", b"\x05\x00\x00"],
    "odd_address_type": [b"\x05\x00", b"\x05\x00\x00\x09\x00\x00\x00\x00\x00\x00"],
    "closed_mid_handshake": [b"\x05"],
}


@pytest.mark.parametrize("case", sorted(SOCKS_CASES))
def test_32_socks5_faults_are_firewall_errors(server, case):
    proxy = FakeProxy("socks", SOCKS_CASES[case], hold="close" not in case)
    try:
        smtp = _via(proxy, 3, server)
        with pytest.raises(smtpx.SMTPFirewallError) as info:
            smtp.send()
        assert info.value.code == 118
        assert not smtp.connected and smtp.idle
    finally:
        proxy.close()
    assert server.commands == []
    smtp.reset()  # usable again: straight to the server
    smtpx.SMTP(mail_server=server.host, mail_port=server.port, from_="a@example.com", send_to="b@example.com").send()
    assert len(server.messages) == 1


def test_32_socks5_wrong_credentials(server):
    proxy = FakeProxy("socks", [b"\x05\x02", b"\x01\x01"])
    try:
        smtp = _via(proxy, 3, server, FirewallUser="u", FirewallPassword="wrong")
        with pytest.raises(smtpx.SMTPFirewallError) as info:
            smtp.send()
        assert info.value.code == 118
    finally:
        proxy.close()
    assert b"\x01\x01u\x05wrong" in bytes(proxy.received)
    assert server.commands == []


HTTP_CASES = {
    "407": [b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n"],
    "2000_ok": [b"HTTP/1.1 2000 OK\r\n\r\n"],
    "endless_headers": [b"HTTP/1.1 200 OK\r\n" + b"X-Pad: 1\r\n" * 20000],
    "nul_in_header": [b"HTTP/1.1 200 OK\r\nX-Bad: a\x00b\r\n\r\n"],
    "garbage": [b"SSH-2.0-OpenSSH\r\n\r\n"],
}


@pytest.mark.parametrize("case", sorted(HTTP_CASES))
def test_33_http_connect_faults_are_firewall_errors(server, case):
    proxy = FakeProxy("http", HTTP_CASES[case])
    try:
        smtp = _via(proxy, 1, server)
        with pytest.raises(smtpx.SMTPFirewallError) as info:
            smtp.send()
        assert info.value.code == 118
        assert not smtp.connected and smtp.idle
    finally:
        proxy.close()
    assert bytes(proxy.received).startswith(b"CONNECT 127.0.0.1:")
    assert server.commands == []


def test_33_data_right_after_the_200_stays_in_the_tunnel():
    """The proxy's 200 and the SMTP greeting arrive in one packet: the greeting is not lost."""
    then = [(b"", b""), (b"EHLO", b"250 tunnel.test\r\n"), (b"QUIT", b"221 bye\r\n")]
    proxy = FakeProxy("http", [b"HTTP/1.1 200 Connection established\r\n\r\n220 tunnel.test ESMTP\r\n"], then)
    try:
        smtp = _via(proxy, 1)
        smtp.connect()
        assert smtp.connected
        smtp.disconnect()
    finally:
        proxy.close()
    assert b"EHLO" in bytes(proxy.received) and b"QUIT" in bytes(proxy.received)
