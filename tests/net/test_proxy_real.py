"""Through real proxies (dante-server, tinyproxy) to a local server: the greeting arrives,
status events fire, TLS runs through the tunnel, and failures are typed errors with nothing
reaching the mail server. All traffic stays on 127.0.0.1 / ::1."""
from __future__ import annotations

import socket
import ssl

import pytest

from smtpx.enums import FirewallType
from smtpx.errors import SMTPFirewallError, SMTPInputError
from smtpx.transport.connect import (
    FIREWALL_CONNECTED,
    REMOTE_CONNECTED,
    ConnectOptions,
    open_connection,
)
from smtpx.types import Firewall

from tests.servers.sockets import recv_line

from .helpers import GREETING, GreetingServer

pytestmark = pytest.mark.proxy


def firewall_for(proxy, kind: int, user: str | None = None, password: str | None = None,
                 host: str | None = None) -> Firewall:
    return Firewall(firewall_type=kind, host=host or proxy.host, port=proxy.port,
                    user=proxy.user if user is None else user,
                    password=proxy.password if password is None else password)


def options_for(firewall: Firewall, **extra) -> ConnectOptions:
    extra.setdefault("connection_timeout", 10)
    return ConnectOptions(firewall=firewall, **extra)


def greet_through(proxy, kind: int, server: GreetingServer, host: str = "127.0.0.1",
                  on_status=None, **extra) -> socket.socket:
    sock = open_connection(host, server.port, options_for(firewall_for(proxy, kind), **extra),
                           on_status)
    sock.settimeout(10)
    assert recv_line(sock) == GREETING
    return sock


def quit_and_close(sock: socket.socket) -> None:
    sock.sendall(b"QUIT\r\n")
    assert recv_line(sock).startswith(b"221")
    sock.close()


# ---------------------------------------------------------------- happy paths

@pytest.mark.parametrize("kind", [FirewallType.SOCKS4, FirewallType.SOCKS5])
def test_socks_greeting_and_status_events(socks_proxy, greeting_server, status_log, kind):
    sock = greet_through(socks_proxy, kind, greeting_server, on_status=status_log)
    quit_and_close(sock)
    events = [event for event, _, _ in status_log.events]
    assert events == [FIREWALL_CONNECTED, REMOTE_CONNECTED]
    assert all(code == 0 for _, code, _ in status_log.events)
    assert f"{socks_proxy.port}" in status_log.events[0][2]
    assert f"{greeting_server.port}" in status_log.events[1][2]
    # the mail server saw the proxy, and our command arrived through it
    assert len(greeting_server.peers) == 1
    assert b"QUIT\r\n" in b"".join(greeting_server.received)


def test_socks5_remote_dns_with_star_host(socks_proxy, greeting_server):
    quit_and_close(greet_through(socks_proxy, FirewallType.SOCKS5, greeting_server,
                                 host="*localhost"))


def test_socks4_resolves_the_name_locally(socks_proxy, greeting_server):
    quit_and_close(greet_through(socks_proxy, FirewallType.SOCKS4, greeting_server,
                                 host="localhost"))


@pytest.mark.parametrize("kind, host", [(FirewallType.SOCKS4A, "*localhost"),
                                        (FirewallType.SOCKS4A, "localhost"),
                                        (FirewallType.SOCKS4A, "127.0.0.1"),
                                        (FirewallType.SOCKS4, "localhost"),
                                        (FirewallType.SOCKS5, "*localhost")])
def test_openssh_dynamic_forwarding(ssh_socks_proxy, greeting_server, status_log, kind, host):
    """SOCKS4A against a real server: OpenSSH's ssh -D (dante has no SOCKS4A)."""
    sock = greet_through(ssh_socks_proxy, kind, greeting_server, host=host,
                         on_status=status_log)
    quit_and_close(sock)
    assert [event for event, _, _ in status_log.events] == [FIREWALL_CONNECTED,
                                                            REMOTE_CONNECTED]


def test_socks5_with_username_and_password(socks_auth_proxy, greeting_server):
    quit_and_close(greet_through(socks_auth_proxy, FirewallType.SOCKS5, greeting_server))


def test_http_tunnel(http_proxy, greeting_server, status_log):
    sock = greet_through(http_proxy, FirewallType.TUNNEL, greeting_server,
                         on_status=status_log)
    quit_and_close(sock)
    assert [event for event, _, _ in status_log.events] == [FIREWALL_CONNECTED,
                                                            REMOTE_CONNECTED]


def test_http_tunnel_with_star_host(http_proxy, greeting_server):
    quit_and_close(greet_through(http_proxy, FirewallType.TUNNEL, greeting_server,
                                 host="*localhost"))


def test_http_tunnel_with_basic_auth(http_auth_proxy, greeting_server):
    quit_and_close(greet_through(http_auth_proxy, FirewallType.TUNNEL, greeting_server))


def test_local_host_applies_to_the_firewall_leg(socks_proxy, greeting_server):
    sock = greet_through(socks_proxy, FirewallType.SOCKS5, greeting_server,
                         local_host="127.0.0.2", tcp_nodelay=True, tcp_keepalive=True)
    assert sock.getsockname()[0] == "127.0.0.2"
    assert sock.getpeername()[1] == socks_proxy.port
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
    quit_and_close(sock)


# ---------------------------------------------------------------- IPv6

def test_socks5_over_ipv6(socks_proxy, greeting_server_v6):
    if socks_proxy.host6 is None:
        pytest.skip("this machine has no IPv6 loopback (::1)")
    firewall = firewall_for(socks_proxy, FirewallType.SOCKS5, host="::1")
    sock = open_connection("::1", greeting_server_v6.port, options_for(firewall, use_ipv6=1))
    sock.settimeout(10)
    assert sock.family == socket.AF_INET6
    assert recv_line(sock) == GREETING
    quit_and_close(sock)


def test_http_tunnel_over_ipv6(http_proxy_v6, greeting_server_v6):
    firewall = firewall_for(http_proxy_v6, FirewallType.TUNNEL, host="::1")
    sock = open_connection("::1", greeting_server_v6.port, options_for(firewall, use_ipv6=1))
    sock.settimeout(10)
    assert sock.family == socket.AF_INET6
    assert recv_line(sock) == GREETING
    quit_and_close(sock)


# ---------------------------------------------------------------- TLS through the tunnel

@pytest.fixture(scope="module")
def tls_contexts():
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    return server_ctx, client_ctx


PROXIES = [("socks_proxy", FirewallType.SOCKS4), ("socks_proxy", FirewallType.SOCKS5),
           ("ssh_socks_proxy", FirewallType.SOCKS4A),
           ("socks_auth_proxy", FirewallType.SOCKS5), ("http_proxy", FirewallType.TUNNEL),
           ("http_auth_proxy", FirewallType.TUNNEL)]


@pytest.mark.parametrize("proxy_name, kind", PROXIES)
def test_implicit_tls_through_the_tunnel(request, tls_contexts, proxy_name, kind):
    server_ctx, client_ctx = tls_contexts
    proxy = request.getfixturevalue(proxy_name)
    with GreetingServer(tls=server_ctx, implicit=True) as server:
        raw = open_connection("127.0.0.1", server.port, options_for(firewall_for(proxy, kind)))
        raw.settimeout(10)
        with client_ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            assert recv_line(tls) == GREETING
            quit_and_close(tls)


@pytest.mark.parametrize("proxy_name, kind", PROXIES)
def test_starttls_through_the_tunnel(request, tls_contexts, proxy_name, kind):
    server_ctx, client_ctx = tls_contexts
    proxy = request.getfixturevalue(proxy_name)
    with GreetingServer(tls=server_ctx) as server:
        raw = open_connection("127.0.0.1", server.port, options_for(firewall_for(proxy, kind)))
        raw.settimeout(10)
        assert recv_line(raw) == GREETING
        raw.sendall(b"STARTTLS\r\n")
        assert recv_line(raw).startswith(b"220")
        with client_ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            assert recv_line(tls).startswith(b"250 TLS active")
            quit_and_close(tls)


# ---------------------------------------------------------------- failures: nothing reaches the server

def assert_nothing_reached(server: GreetingServer) -> None:
    assert server.peers == [] and server.received == []


def test_socks5_wrong_password(socks_auth_proxy, greeting_server):
    firewall = firewall_for(socks_auth_proxy, FirewallType.SOCKS5, password="wrong-password")
    with pytest.raises(SMTPFirewallError) as info:
        open_connection("127.0.0.1", greeting_server.port, options_for(firewall))
    assert info.value.code == 118
    assert "authentication" in info.value.description.lower()
    assert_nothing_reached(greeting_server)


def test_socks5_unknown_user(socks_auth_proxy, greeting_server):
    firewall = firewall_for(socks_auth_proxy, FirewallType.SOCKS5, user="nobody-here",
                            password="x")
    with pytest.raises(SMTPFirewallError):
        open_connection("127.0.0.1", greeting_server.port, options_for(firewall))
    assert_nothing_reached(greeting_server)


def test_socks5_without_credentials_at_an_auth_proxy(socks_auth_proxy, greeting_server):
    firewall = firewall_for(socks_auth_proxy, FirewallType.SOCKS5, user="", password="")
    with pytest.raises(SMTPFirewallError) as info:
        open_connection("127.0.0.1", greeting_server.port, options_for(firewall))
    assert "method" in info.value.description.lower()
    assert_nothing_reached(greeting_server)


def test_socks_to_a_closed_port_through_the_proxy(socks_proxy):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    firewall = firewall_for(socks_proxy, FirewallType.SOCKS5)
    with pytest.raises(SMTPFirewallError) as info:
        open_connection("127.0.0.1", closed_port, options_for(firewall))
    assert "refused" in info.value.description.lower()


def test_http_without_credentials_gets_407(http_auth_proxy, greeting_server):
    firewall = firewall_for(http_auth_proxy, FirewallType.TUNNEL, user="", password="")
    with pytest.raises(SMTPFirewallError) as info:
        open_connection("127.0.0.1", greeting_server.port, options_for(firewall))
    assert info.value.proxy_status == 407
    assert_nothing_reached(greeting_server)


def test_http_wrong_password(http_auth_proxy, greeting_server):
    firewall = firewall_for(http_auth_proxy, FirewallType.TUNNEL, password="wrong")
    with pytest.raises(SMTPFirewallError) as info:
        open_connection("127.0.0.1", greeting_server.port, options_for(firewall))
    assert info.value.proxy_status in (401, 407)  # tinyproxy answers 401 here
    assert_nothing_reached(greeting_server)


@pytest.mark.parametrize("kind", [FirewallType.TUNNEL, FirewallType.SOCKS4,
                                  FirewallType.SOCKS4A, FirewallType.SOCKS5])
def test_proxy_that_is_not_there(greeting_server, status_log, kind):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        nothing_there = probe.getsockname()[1]
    firewall = Firewall(firewall_type=kind, host="127.0.0.1", port=nothing_there)
    with pytest.raises(SMTPFirewallError) as info:
        open_connection("127.0.0.1", greeting_server.port, options_for(firewall), status_log)
    assert info.value.code == 118
    assert info.value.socket_code == 10061
    assert f"127.0.0.1:{nothing_there}" in info.value.description
    assert status_log.events == []
    assert_nothing_reached(greeting_server)


def test_proxy_host_that_does_not_resolve(greeting_server):
    firewall = Firewall(firewall_type=FirewallType.SOCKS5, host="no-such-proxy.invalid")
    with pytest.raises(SMTPFirewallError) as info:
        open_connection("127.0.0.1", greeting_server.port, options_for(firewall))
    assert info.value.socket_code == 11001
    assert_nothing_reached(greeting_server)


def test_socks4_star_host_is_refused_before_connecting(socks_proxy, greeting_server):
    with pytest.raises(SMTPInputError):
        open_connection("*localhost", greeting_server.port,
                        options_for(firewall_for(socks_proxy, FirewallType.SOCKS4)))
    assert_nothing_reached(greeting_server)


def test_dante_has_no_socks4a(socks_proxy, greeting_server):
    """dante 1.4 takes the SOCKS4A marker address 0.0.0.1 literally (and our rules block it):
    the reason SOCKS4A is tested against OpenSSH."""
    firewall = firewall_for(socks_proxy, FirewallType.SOCKS4A)
    with pytest.raises(SMTPFirewallError):
        open_connection("*localhost", greeting_server.port, options_for(firewall))
    assert_nothing_reached(greeting_server)
