"""Socket settings through the facade (smtpx.SMTP), against real local servers.

LocalHost / LocalPort, UseIPv6, the TCP options (read back with getsockopt on the facade's live
socket), MaxLineLength, MaxTransferRate (measured on the server side, with a tolerance) and the
timeouts. Every server is on 127.0.0.x or ::1.
"""
from __future__ import annotations

import select
import socket
import struct
import threading
from typing import Callable

import pytest

import smtpx
from smtpx import SSLStartMode
from smtpx.enums import FirewallType
from smtpx.errors import (SMTPConfigError, SMTPConnectError, SMTPFirewallError, SMTPInputError,
                          SMTPProtocolError, SMTPTimeoutError)

from tests.net.helpers import GreetingServer
from tests.servers.sockets import LoopbackServer, drain, free_port, ipv6_available, recv_line

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")

NO_IPV6 = "this machine has no IPv6 loopback (::1): the IPv6 tests cannot run here"


def client_for(port: int, host: str = "127.0.0.1", **properties) -> smtpx.SMTP:
    properties.setdefault("timeout", 10)
    return smtpx.SMTP(mail_server=host, mail_port=port, ssl_start_mode=SSLStartMode.NONE,
                      **properties)


def live_socket(client: smtpx.SMTP) -> socket.socket:
    """The facade's connected socket (the facade keeps its session private)."""
    return client._session.stream.raw_socket


@pytest.fixture
def greeting_server():
    with GreetingServer("127.0.0.1") as server:
        yield server


class Collector:
    """aiosmtpd handler that keeps each message with the peer it came from."""

    def __init__(self) -> None:
        self.messages: list[tuple[tuple, bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.messages.append((session.peer, envelope.content))
        return "250 stored"


def answer_commands(conn: socket.socket) -> None:
    """After the greeting: 250 to everything, 221 to QUIT."""
    while True:
        line = recv_line(conn)
        if line.upper().startswith(b"QUIT"):
            conn.sendall(b"221 bye\r\n")
            return
        conn.sendall(b"250 ok\r\n")


# ---------------------------------------------------------------------- LocalHost / LocalPort

def test_local_host_binds_and_shows_the_interface(greeting_server):
    # 127.0.0.2 is another address of the loopback interface: the server sees it only if
    # the socket was really bound to it before connecting.
    client = client_for(greeting_server.port, local_host="127.0.0.2")
    client.connect()
    try:
        assert greeting_server.peers[0][0] == "127.0.0.2"
        assert client.local_host == "127.0.0.2"
        with pytest.raises(SMTPInputError) as info:
            client.local_host = "127.0.0.3"
        assert info.value.code == 107
    finally:
        client.disconnect()
    assert client.local_host == "127.0.0.2"


def test_local_host_shows_the_interface_used_while_connected(greeting_server):
    client = client_for(greeting_server.port)
    assert client.local_host == ""
    client.connect()
    try:
        assert client.local_host == "127.0.0.1"
        assert client.config("LocalHost") == "127.0.0.1"
    finally:
        client.disconnect()
    assert client.local_host == ""


def test_local_port_is_bound(greeting_server):
    port = free_port()
    client = client_for(greeting_server.port)
    client.config(f"LocalPort={port}")
    client.connect()
    try:
        assert greeting_server.peers[0] == ("127.0.0.1", port)
        assert live_socket(client).getsockname()[1] == port
        with pytest.raises(SMTPConfigError) as info:
            client.config("LocalPort=0")
        assert info.value.code == 106
    finally:
        client.disconnect()


def test_local_port_shows_the_chosen_port_while_connected(greeting_server):
    """The reference: with LocalPort 0 the system picks a port, "shown by LocalPort after the
    connection is established"."""
    client = client_for(greeting_server.port)
    client.connect()
    try:
        chosen = greeting_server.peers[0][1]
        assert client._local_port() == chosen
        assert client.config("LocalPort") == str(chosen), (
            "config('LocalPort') must show the port chosen by the system while connected: "
            "smtpx.facade.config.ConfigStore.value() needs to return owner._local_port() for LocalPort "
            "when the owner is connected (see the NET report)")
    finally:
        client.disconnect()
    assert client.config("LocalPort") == "0"


def test_local_host_that_is_not_an_address_of_this_machine(greeting_server):
    # 192.0.2.1 (TEST-NET-1) is on no interface here: bind() fails before any packet is sent.
    client = client_for(greeting_server.port, local_host="192.0.2.1")
    with pytest.raises(SMTPConnectError) as info:
        client.connect()
    assert info.value.code == 10049
    assert not client.connected
    assert greeting_server.peers == []


# ---------------------------------------------------------------------- UseIPv6

@pytest.fixture
def ipv6_mail_server():
    if not ipv6_available():
        pytest.skip(NO_IPV6)
    collector = Collector()
    port = free_port(both_families=True)
    controller = aiosmtpd_controller.Controller(collector, hostname="::1", port=port)
    controller.start()
    try:
        yield port, collector
    finally:
        controller.stop()


@pytest.mark.parametrize("use_ipv6", [1, 2])
def test_mail_arrives_over_ipv6(ipv6_mail_server, use_ipv6):
    port, collector = ipv6_mail_server
    client = client_for(port, "::1", from_="a@example.test", send_to="b@example.test",
                        subject="over IPv6", message_text=f"UseIPv6={use_ipv6}")
    client.config(f"UseIPv6={use_ipv6}")
    client.connect()
    try:
        assert client.local_host == "::1"
        client.send()
    finally:
        client.disconnect()
    assert len(collector.messages) == 1
    peer, content = collector.messages[0]
    assert peer[0] == "::1"
    assert f"UseIPv6={use_ipv6}".encode() in content


def test_ipv4_only_refuses_an_ipv6_address(ipv6_mail_server):
    port, collector = ipv6_mail_server
    client = client_for(port, "::1")
    client.config("UseIPv6=0")
    with pytest.raises(SMTPConnectError) as info:
        client.connect()
    assert "IPv4 only" in info.value.description
    assert collector.messages == [] and not client.connected


def test_ipv6_only_refuses_an_ipv4_address(greeting_server):
    if not ipv6_available():
        pytest.skip(NO_IPV6)
    client = client_for(greeting_server.port, "127.0.0.1")
    client.config("UseIPv6=1")
    with pytest.raises(SMTPConnectError) as info:
        client.connect()
    assert "IPv6 only" in info.value.description
    assert greeting_server.peers == []


@pytest.fixture
def dual_stack_name(monkeypatch):
    """"dual.test" resolves to ::1 and 127.0.0.1, as a dual-stack mail host does. This machine's
    /etc/hosts maps no name to both, so only the name lookup is stood in for; the sockets and
    servers are real."""
    if not ipv6_available():
        pytest.skip(NO_IPV6)
    real = socket.getaddrinfo

    def getaddrinfo(host, port, family=0, *args, **kwargs):
        if host != "dual.test":
            return real(host, port, family, *args, **kwargs)
        found = []
        for address, fam in (("127.0.0.1", socket.AF_INET), ("::1", socket.AF_INET6)):
            if family in (0, socket.AF_UNSPEC, fam):
                found += real(address, port, fam, *args, **kwargs)
        return found  # IPv4 first, so IPv6 coming first must be smtpx's own choice

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return "dual.test"


@pytest.mark.parametrize("use_ipv6, family_used, v6_listening", [
    (0, "127.0.0.1", True),
    (1, "::1", True),
    (2, "::1", True),        # IPv6 first
    (2, "127.0.0.1", False),  # IPv6 refused: falls back to IPv4
])
def test_use_ipv6_picks_the_family(dual_stack_name, use_ipv6, family_used, v6_listening):
    port = free_port(both_families=True)
    with GreetingServer("127.0.0.1", port=port) as v4:
        v6 = GreetingServer("::1", port=port) if v6_listening else None
        try:
            client = client_for(port, dual_stack_name)
            client.config(f"UseIPv6={use_ipv6}")
            client.connect()
            try:
                assert client.local_host == family_used
            finally:
                client.disconnect()
            used = v6 if family_used == "::1" else v4
            other = v4 if used is v6 else v6
            assert [peer[0] for peer in used.peers] == [family_used]
            assert other is None or other.peers == []
        finally:
            if v6 is not None:
                v6.close()


def test_ipv6_only_with_nothing_on_ipv6_does_not_fall_back(dual_stack_name):
    port = free_port(both_families=True)
    with GreetingServer("127.0.0.1", port=port) as v4:
        client = client_for(port, dual_stack_name)
        client.config("UseIPv6=1")
        with pytest.raises(SMTPConnectError) as info:
            client.connect()
        assert info.value.code == 10061
        assert v4.peers == []


# ---------------------------------------------------------------------- TCP options

OPTIONS = {
    "TCPKeepAlive": "True", "KeepAliveTime": "2500", "KeepAliveInterval": "1000",
    "Linger": "True", "LingerTime": "7", "TcpNoDelay": "True",
    "InBufferSize": "65536", "OutBufferSize": "32768",
}


def assert_buffer(value: int, asked: int) -> None:
    # Linux doubles the size asked for (for its bookkeeping); other systems keep it.
    assert value in (asked, 2 * asked), (value, asked)


@pytest.mark.parametrize("route", ["direct", pytest.param("through-socks5", marks=pytest.mark.proxy)])
def test_socket_options_are_applied(request, greeting_server, route):
    client = client_for(greeting_server.port)
    for name, value in OPTIONS.items():
        client.config(f"{name}={value}")
    if route == "through-socks5":  # the options apply to the firewall leg, our only socket
        proxy = request.getfixturevalue("socks_proxy")
        client.config(f"FirewallType={int(FirewallType.SOCKS5)}")
        client.config("FirewallHost=127.0.0.1")
        client.config(f"FirewallPort={proxy.port}")
    client.connect()
    try:
        sock = live_socket(client)
        if route == "through-socks5":
            assert sock.getpeername()[1] == proxy.port
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        if hasattr(socket, "TCP_KEEPIDLE"):
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 3  # 2.5 s, rounded up
        if hasattr(socket, "TCP_KEEPINTVL"):
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 1
        linger = struct.unpack("ii", sock.getsockopt(socket.SOL_SOCKET, socket.SO_LINGER, 8))
        assert linger == (1, 7)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        assert_buffer(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF), 65536)
        assert_buffer(sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF), 32768)
    finally:
        client.disconnect()


def test_socket_option_defaults(greeting_server):
    client = client_for(greeting_server.port)
    client.connect()
    try:
        sock = live_socket(client)
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 0
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
        # Linger True + LingerTime 0: the normal graceful close (SO_LINGER off)
        assert struct.unpack("ii", sock.getsockopt(socket.SOL_SOCKET, socket.SO_LINGER, 8))[0] == 0
    finally:
        client.disconnect()


def test_linger_false_is_an_immediate_close(greeting_server):
    client = client_for(greeting_server.port)
    client.config("Linger=False")
    client.connect()
    try:
        linger = struct.unpack("ii", live_socket(client).getsockopt(socket.SOL_SOCKET, socket.SO_LINGER, 8))
        assert linger == (1, 0)
    finally:
        client.disconnect()


@pytest.mark.postfix
def test_socket_options_apply_under_tls(postfix):
    client = smtpx.SMTP(mail_server=postfix.host, mail_port=postfix.smtps_port,
                        ssl_start_mode=SSLStartMode.IMPLICIT, timeout=10)
    client.config("SSLServerCACerts=" + postfix.ca_pem)
    client.config("TcpNoDelay=True")
    client.config("TCPKeepAlive=True")
    client.connect()
    try:
        sock = live_socket(client)
        assert client.config("SSLNegotiatedVersion").startswith("TLS")
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
    finally:
        client.disconnect()


# ---------------------------------------------------------------------- MaxLineLength

def greeting_of(length: int, end: bool) -> Callable[[socket.socket], None]:
    def handle(conn: socket.socket) -> None:
        conn.sendall(b"220 " + b"x" * (length - 4) + (b"\r\n" if end else b""))
        if end:
            answer_commands(conn)
        else:
            drain(conn)  # hold the line open until the client gives up: no EOL ever comes

    return handle


def test_default_reply_line_cap_refuses_a_long_line_before_its_end():
    # MaxLineLength left at its default: MaxReplyLineLength (8192) caps reply lines.
    with LoopbackServer(greeting_of(9000, end=False)) as server:
        client = client_for(server.port, timeout=10)
        with pytest.raises(SMTPProtocolError) as info:
            client.connect()  # must not wait 10 s for an EOL that never comes
        assert "longer than 8192" in info.value.description
        assert not client.connected


def test_a_3000_byte_reply_line_passes_the_default_cap():
    with LoopbackServer(greeting_of(3000, end=True)) as server:
        client = client_for(server.port)
        client.connect()
        assert client.connected
        client.disconnect()


@pytest.mark.parametrize("setting, length, accepted", [
    (4096, 3000, True),
    (256, 250, True),
    (256, 300, False),
])
def test_max_line_length_caps_reply_lines(setting, length, accepted):
    with LoopbackServer(greeting_of(length, end=True)) as server:
        client = client_for(server.port)
        client.config(f"MaxLineLength={setting}")
        if accepted:
            client.connect()
            assert client.connected
            with pytest.raises(SMTPConfigError) as info:
                client.config("MaxLineLength=1024")
            assert info.value.code == 112
            client.disconnect()
        else:
            with pytest.raises(SMTPProtocolError):
                client.connect()


def test_max_line_length_minimum():
    client = smtpx.SMTP()
    with pytest.raises(SMTPConfigError):
        client.config("MaxLineLength=255")


# ---------------------------------------------------------------------- MaxTransferRate

class ContentServer:
    """Server side of one DATA transfer: the content as it arrived."""

    def __init__(self) -> None:
        self.content = bytearray()
        self.done = threading.Event()

    def handle(self, conn: socket.socket) -> None:
        conn.sendall(b"220 content ready\r\n")
        while True:
            line = recv_line(conn).upper()
            if line.startswith(b"DATA"):
                conn.sendall(b"354 go\r\n")
                self._content(conn)
                conn.sendall(b"250 stored\r\n")
            elif line.startswith(b"QUIT"):
                conn.sendall(b"221 bye\r\n")
                return
            else:
                conn.sendall(b"250 ok\r\n")

    def _content(self, conn: socket.socket) -> None:
        while not self.content.endswith(b"\r\n.\r\n"):
            chunk = conn.recv(65536)
            if not chunk:
                raise ConnectionError("client closed during the content")
            self.content += chunk
        self.done.set()


def test_max_transfer_rate_sends_the_content_whole():
    """MaxTransferRate through the facade, to a server over a real socket: the throttled
    content arrives whole. No test times the machine: the throttle's pacing is tested on a
    clock of its own (tests/transport/test_stream.py, tests/aio/test_aio_stream.py), and that
    the setting reaches the stream in tests/facade/test_config_effects.py."""
    server_side = ContentServer()
    body = ("y" * 998 + "\r\n") * 40
    with LoopbackServer(server_side.handle) as server:
        client = client_for(server.port, from_="a@example.test", send_to="b@example.test",
                            subject="throttled", message_text=body)
        client.config("MaxTransferRate=200000")
        client.send()
    assert server_side.done.is_set()
    assert body.encode("ascii") in bytes(server_side.content)


# ---------------------------------------------------------------------- timeouts

@pytest.mark.parametrize("timeout, connection_timeout", [
    (30, 1),  # ConnectionTimeout bounds the connect on its own
    (1, 0),   # ConnectionTimeout 0: Timeout bounds the connect
])
def test_connect_that_cannot_complete_is_10060(unanswered_address, timeout, connection_timeout):
    host, port = unanswered_address
    client = client_for(port, host, timeout=timeout)
    client.config(f"ConnectionTimeout={connection_timeout}")
    with pytest.raises(SMTPConnectError) as info:
        client.connect()
    assert info.value.code == 10060
    assert not client.connected


def test_firewall_that_cannot_be_reached_in_time_is_10060(unanswered_address, greeting_server):
    host, port = unanswered_address
    client = client_for(greeting_server.port, timeout=30)
    client.config(f"FirewallType={int(FirewallType.SOCKS5)}")
    client.config(f"FirewallHost={host}")
    client.config(f"FirewallPort={port}")
    client.config("ConnectionTimeout=1")
    with pytest.raises(SMTPFirewallError) as info:
        client.connect()
    assert info.value.socket_code == 10060
    assert greeting_server.peers == []


def trickling_greeting(lines: int, gap: float) -> Callable[[socket.socket], None]:
    """A greeting sent one line every ``gap`` seconds: slow, but never silent for long."""
    def handle(conn: socket.socket) -> None:
        for index in range(lines):
            if select.select([conn], [], [], gap)[0]:
                return  # the client hung up (it sends nothing before the greeting's end)
            conn.sendall(b"220-still greeting %d\r\n" % index)
        conn.sendall(b"220 done\r\n")
        answer_commands(conn)

    return handle


def test_trickling_server_keeps_an_inactivity_timeout_alive():
    with LoopbackServer(trickling_greeting(8, 0.2)) as server:  # about 1.6 s in all
        client = client_for(server.port, timeout=1)
        client.connect()
        assert client.connected
        client.disconnect()


def test_trickling_server_trips_an_absolute_timeout():
    with LoopbackServer(trickling_greeting(8, 0.2)) as server:
        client = client_for(server.port, timeout=1)
        client.config("AbsoluteTimeout=True")
        with pytest.raises(SMTPTimeoutError) as info:
            client.connect()
        assert "absolute" in info.value.description
        assert not client.connected


def test_silent_server_trips_an_inactivity_timeout():
    def silent_after_greeting(conn: socket.socket) -> None:
        conn.sendall(b"220 hello\r\n")
        recv_line(conn)  # EHLO, never answered
        drain(conn)

    with LoopbackServer(silent_after_greeting) as server:
        client = client_for(server.port, timeout=1)
        with pytest.raises(SMTPTimeoutError) as info:
            client.connect()
        assert "inactivity" in info.value.description
        assert not client.connected
