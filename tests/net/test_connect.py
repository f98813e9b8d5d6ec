"""open_connection without a firewall: addresses, binding, socket options, typed errors.
Every connection goes to 127.0.0.0/8 or ::1."""
from __future__ import annotations

import errno
import socket
import struct

import pytest

from smtpx.errors import SMTPConnectError, SMTPInputError
from smtpx.transport.connect import (
    REMOTE_CONNECTED,
    ConnectOptions,
    open_connection,
    socket_error_code,
)

from tests.servers.sockets import free_port, ipv6_available, recv_line

from .helpers import GREETING, GreetingServer


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_direct_connect_reads_the_greeting_and_reports_status(greeting_server, status_log):
    sock = open_connection("127.0.0.1", greeting_server.port, ConnectOptions(), status_log)
    with sock:
        assert sock.gettimeout() is None  # a blocking socket: the stream sets its timeouts
        assert recv_line(sock) == GREETING
    assert [event for event, _, _ in status_log.events] == [REMOTE_CONNECTED]
    assert status_log.events[0][1] == 0
    assert str(greeting_server.port) in status_log.events[0][2]


def test_localhost_name_is_resolved(greeting_server):
    with open_connection("localhost", greeting_server.port, ConnectOptions()) as sock:
        assert recv_line(sock) == GREETING


# ---------------------------------------------------------------- IPv4 / IPv6

def test_ipv6_only_connects_over_ipv6(greeting_server_v6):
    options = ConnectOptions(use_ipv6=1)
    with open_connection("::1", greeting_server_v6.port, options) as sock:
        assert sock.family == socket.AF_INET6
        assert recv_line(sock) == GREETING


def test_ipv4_only_refuses_an_ipv6_address(greeting_server_v6):
    with pytest.raises(SMTPConnectError) as info:
        open_connection("::1", greeting_server_v6.port, ConnectOptions(use_ipv6=0))
    assert info.value.code == 11001
    assert greeting_server_v6.peers == []


def test_ipv6_only_refuses_an_ipv4_address(greeting_server):
    with pytest.raises(SMTPConnectError) as info:
        open_connection("127.0.0.1", greeting_server.port, ConnectOptions(use_ipv6=1))
    assert info.value.code == 11001
    assert greeting_server.peers == []


@pytest.fixture
def dual_stack_name(monkeypatch):
    """'dualstack.test' resolves to ::1 then 127.0.0.1 (this machine's 'localhost' has only
    IPv4): a resolver seam; the connections themselves are real."""
    real = socket.getaddrinfo

    def fake(host, port, family=0, type=0, proto=0, flags=0):
        if host != "dualstack.test":
            return real(host, port, family, type, proto, flags)
        answers = []
        if family in (0, socket.AF_INET6):
            answers += real("::1", port, socket.AF_INET6, type, proto)
        if family in (0, socket.AF_INET):
            answers += real("127.0.0.1", port, socket.AF_INET, type, proto)
        if not answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        # a resolver may list IPv4 first: open_connection must reorder for UseIPv6=2
        return sorted(answers, key=lambda a: a[0] != socket.AF_INET)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return "dualstack.test"


def test_ipv6_first_prefers_ipv6(dual_stack_name):
    if not ipv6_available():
        pytest.skip("this machine has no IPv6 loopback (::1)")
    port = free_port(both_families=True)
    with GreetingServer("::1", port=port) as v6, GreetingServer("127.0.0.1", port=port) as v4:
        with open_connection(dual_stack_name, port, ConnectOptions(use_ipv6=2)) as sock:
            assert sock.family == socket.AF_INET6
            assert recv_line(sock) == GREETING
        assert v4.peers == [] and len(v6.peers) == 1


def test_ipv6_first_falls_back_to_ipv4(dual_stack_name, greeting_server):
    # nothing listens on ::1 at this port (IPv6 refused), so the IPv4 address is used
    with open_connection(dual_stack_name, greeting_server.port,
                         ConnectOptions(use_ipv6=2)) as sock:
        assert sock.family == socket.AF_INET
        assert recv_line(sock) == GREETING


def test_ipv4_only_uses_the_ipv4_address_of_a_dual_stack_name(dual_stack_name, greeting_server):
    with open_connection(dual_stack_name, greeting_server.port,
                         ConnectOptions(use_ipv6=0)) as sock:
        assert sock.family == socket.AF_INET


# ---------------------------------------------------------------- LocalHost / LocalPort

def test_local_host_and_port_are_bound_before_connecting(greeting_server):
    local_port = unused_port()
    options = ConnectOptions(local_host="127.0.0.2", local_port=local_port)
    with open_connection("127.0.0.1", greeting_server.port, options) as sock:
        assert sock.getsockname() == ("127.0.0.2", local_port)
        assert recv_line(sock) == GREETING
    assert greeting_server.peers == [("127.0.0.2", local_port)]


def test_local_port_zero_lets_the_system_choose(greeting_server):
    with open_connection("127.0.0.1", greeting_server.port,
                         ConnectOptions(local_host="127.0.0.3")) as sock:
        host, port = sock.getsockname()
        assert host == "127.0.0.3" and port > 0
        recv_line(sock)
    assert greeting_server.peers[0][0] == "127.0.0.3"


def test_local_port_in_use_is_error_10048(greeting_server):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        taken = holder.getsockname()[1]
        with pytest.raises(SMTPConnectError) as info:
            open_connection("127.0.0.1", greeting_server.port,
                            ConnectOptions(local_host="127.0.0.1", local_port=taken))
    assert info.value.code == 10048
    assert greeting_server.peers == []


def test_local_host_not_on_this_machine_is_error_10049(greeting_server):
    # binding fails before any packet is sent (192.0.2.1 is TEST-NET-1, never assigned here)
    with pytest.raises(SMTPConnectError) as info:
        open_connection("127.0.0.1", greeting_server.port,
                        ConnectOptions(local_host="192.0.2.1"))
    assert info.value.code == 10049
    assert greeting_server.peers == []


def test_ipv4_local_host_with_ipv6_target_is_error_10049(greeting_server_v6):
    with pytest.raises(SMTPConnectError) as info:
        open_connection("::1", greeting_server_v6.port,
                        ConnectOptions(use_ipv6=1, local_host="127.0.0.1"))
    assert info.value.code == 10049


# ---------------------------------------------------------------- socket options

def _linger(sock: socket.socket) -> tuple[int, int]:
    return struct.unpack("ii", sock.getsockopt(socket.SOL_SOCKET, socket.SO_LINGER, 8))


def test_defaults_leave_keepalive_and_nodelay_off_and_linger_graceful(greeting_server):
    with open_connection("127.0.0.1", greeting_server.port, ConnectOptions()) as sock:
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 0
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
        assert _linger(sock)[0] == 0


def test_keepalive_with_times_in_milliseconds(greeting_server):
    options = ConnectOptions(tcp_keepalive=True, keepalive_time_ms=7000,
                             keepalive_interval_ms=2500)
    with open_connection("127.0.0.1", greeting_server.port, options) as sock:
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 7
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 3  # rounded up


def test_keepalive_without_times_keeps_system_defaults(greeting_server):
    with socket.socket() as plain:
        default_idle = plain.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE)
    with open_connection("127.0.0.1", greeting_server.port,
                         ConnectOptions(tcp_keepalive=True)) as sock:
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == default_idle


def test_tcp_nodelay(greeting_server):
    with open_connection("127.0.0.1", greeting_server.port,
                         ConnectOptions(tcp_nodelay=True)) as sock:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


@pytest.mark.parametrize("linger, linger_time, expected", [
    (True, 0, (0, 0)),    # graceful close, the system sends what is pending
    (True, 9, (1, 9)),    # linger up to 9 s, then reset
    (False, 0, (1, 0)),   # immediate close with a reset
    (False, 9, (1, 0)),
])
def test_linger_settings(greeting_server, linger, linger_time, expected):
    options = ConnectOptions(linger=linger, linger_time=linger_time)
    with open_connection("127.0.0.1", greeting_server.port, options) as sock:
        onoff, seconds = _linger(sock)
        assert (1 if onoff else 0, seconds) == expected


def _close_seen_by_peer(linger: bool) -> str:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        sock = open_connection("127.0.0.1", listener.getsockname()[1],
                               ConnectOptions(linger=linger))
        conn, _ = listener.accept()
        with conn:
            sock.close()
            conn.settimeout(5)
            try:
                return "eof" if conn.recv(10) == b"" else "data"
            except ConnectionResetError:
                return "reset"


def test_linger_true_closes_gracefully_and_false_resets():
    assert _close_seen_by_peer(linger=True) == "eof"
    assert _close_seen_by_peer(linger=False) == "reset"


def test_buffer_sizes_are_set(greeting_server):
    with socket.socket() as plain:
        default_rcv = plain.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    wanted = 8192 if default_rcv > 8192 * 2 else 65536
    options = ConnectOptions(in_buffer_size=wanted, out_buffer_size=wanted)
    with open_connection("127.0.0.1", greeting_server.port, options) as sock:
        for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
            # Linux reports twice the size asked for (it adds its bookkeeping)
            assert sock.getsockopt(socket.SOL_SOCKET, option) in (wanted, 2 * wanted)


# ---------------------------------------------------------------- errors

def test_connection_refused_is_10061():
    port = unused_port()
    with pytest.raises(SMTPConnectError) as info:
        open_connection("127.0.0.1", port, ConnectOptions())
    assert info.value.code == 10061
    assert "refused" in info.value.description.lower()
    assert f"127.0.0.1:{port}" in info.value.description


def test_unknown_host_is_11001():
    with pytest.raises(SMTPConnectError) as info:
        open_connection("no-such-host.invalid", 25, ConnectOptions())
    assert info.value.code == 11001
    assert "no-such-host.invalid" in info.value.description


def test_connect_timeout_is_10060(unanswered_address):
    """A real connect timeout on loopback (see the unanswered_address fixture)."""
    with pytest.raises(SMTPConnectError) as info:
        open_connection(*unanswered_address, ConnectOptions(connection_timeout=0.3))
    assert info.value.code == 10060
    assert "timed out" in info.value.description.lower()


@pytest.mark.parametrize("exc, code", [
    (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), 10061),
    (OSError(errno.ENETUNREACH, "unreachable"), 10051),
    (OSError(errno.EHOSTUNREACH, "no route"), 10065),
    (ConnectionResetError(errno.ECONNRESET, "reset"), 10054),
    (OSError(errno.ETIMEDOUT, "timed out"), 10060),
    (socket.timeout("timed out"), 10060),
    (socket.gaierror(socket.EAI_NONAME, "unknown"), 11001),
    (socket.gaierror(socket.EAI_AGAIN, "try again"), 11002),
    (socket.gaierror(socket.EAI_FAIL, "failed"), 11003),
    (OSError(errno.ENOENT, "not a socket error"), 162),
])
def test_socket_error_codes(exc, code):
    assert socket_error_code(exc) == code


# ---------------------------------------------------------------- bad input, nothing sent

def test_star_host_without_firewall_is_an_input_error(greeting_server):
    with pytest.raises(SMTPInputError) as info:
        open_connection("*127.0.0.1", greeting_server.port, ConnectOptions())
    assert "firewall" in info.value.description
    assert greeting_server.peers == []


@pytest.mark.parametrize("host", ["", "*", "bad host", "mail\r\nRCPT", "a\x00b"])
def test_bad_host_is_an_input_error(host, greeting_server):
    with pytest.raises(SMTPInputError):
        open_connection(host, greeting_server.port, ConnectOptions())
    assert greeting_server.peers == []


@pytest.mark.parametrize("port", [0, -1, 65536, "25", True])
def test_bad_port_is_an_input_error(port):
    with pytest.raises(SMTPInputError):
        open_connection("127.0.0.1", port, ConnectOptions())


@pytest.mark.parametrize("field, value", [("use_ipv6", 3), ("local_port", -1),
                                          ("local_port", 70000), ("linger_time", -5),
                                          ("in_buffer_size", -1), ("connection_timeout", -1)])
def test_bad_options_are_input_errors(field, value, greeting_server):
    options = ConnectOptions(**{field: value})
    with pytest.raises(SMTPInputError):
        open_connection("127.0.0.1", greeting_server.port, options)
    assert greeting_server.peers == []


def test_firewall_listener_is_not_implemented(greeting_server):
    with pytest.raises(NotImplementedError, match="FirewallListener"):
        open_connection("127.0.0.1", greeting_server.port,
                        ConnectOptions(firewall_listener=True))
    assert greeting_server.peers == []


def test_failed_status_handler_closes_the_socket(greeting_server):
    def explode(event, code, description):
        raise RuntimeError("handler failed")

    with pytest.raises(RuntimeError):
        open_connection("127.0.0.1", greeting_server.port, ConnectOptions(), explode)
    # the server's handler ends only when the client side was closed (EOF)
    assert greeting_server.finished.acquire(timeout=10)
