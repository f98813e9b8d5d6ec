"""Real mail through real proxies, driven through the facade (smtpx.SMTP).

The proxies are real: dante (SOCKS4, SOCKS5, SOCKS5 with username/password), ``ssh -D``
(SOCKS4A, SOCKS5 with remote DNS) and tinyproxy (HTTP CONNECT, with and without Basic auth).
The mail server is the real Postfix fixture; each message is found in the mailbox it delivered
to. Misbehaving proxies are scripted peers (tests/servers/sockets.py); for those the "mail server"
is a greeting server that records every connection, so "nothing reached the mail server" is
checked on the server side. Every address is 127.0.0.1.
"""
from __future__ import annotations

import socket
import uuid

import pytest

import smtpx
from smtpx import SSLStartMode
from smtpx.enums import FirewallType
from smtpx.errors import SMTPFirewallError, SMTPInputError
from smtpx.types import Firewall

from tests.net.helpers import GreetingServer
from tests.servers.sockets import ScriptedPeer, free_port, ipv6_available

pytestmark = [pytest.mark.postfix, pytest.mark.proxy]

FIREWALL_CONNECTED = "Firewall connection complete"
REMOTE_CONNECTED = "Remote host connection complete"
TLS_DONE = "SSL handshake complete"

PROXY_ENV = ("all_proxy", "ALL_PROXY", "socks_proxy", "SOCKS_PROXY", "https_proxy",
             "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY", "REQUEST_METHOD")

# (fixture, firewall type, MailServer as given to the facade)
PROXIES = {
    "socks4-dante": ("socks_proxy", FirewallType.SOCKS4, "127.0.0.1"),
    "socks4a-ssh": ("ssh_socks_proxy", FirewallType.SOCKS4A, "127.0.0.1"),
    "socks4a-ssh-remote-dns": ("ssh_socks_proxy", FirewallType.SOCKS4A, "*localhost"),
    "socks5-dante-remote-dns": ("socks_proxy", FirewallType.SOCKS5, "*localhost"),
    "socks5-dante-userpass": ("socks_auth_proxy", FirewallType.SOCKS5, "127.0.0.1"),
    "http-tinyproxy": ("http_proxy", FirewallType.TUNNEL, "127.0.0.1"),
    "http-tinyproxy-basic": ("http_auth_proxy", FirewallType.TUNNEL, "localhost"),
}
MODES = {"plain": SSLStartMode.NONE, "starttls": SSLStartMode.EXPLICIT,
         "implicit": SSLStartMode.IMPLICIT}


def marker() -> str:
    return "proxy-" + uuid.uuid4().hex[:12]


@pytest.fixture(autouse=True)
def _clean_proxy_environment(monkeypatch):
    """A proxy set in the machine's environment must not change what these tests use."""
    for name in PROXY_ENV:
        monkeypatch.delenv(name, raising=False)


def status_recorder(client: smtpx.SMTP) -> list[tuple[str, int, str]]:
    events: list[tuple[str, int, str]] = []
    client.on_connection_status = lambda e: events.append(
        (e.connection_event, e.status_code, e.description))
    return events


def use_firewall(client: smtpx.SMTP, kind: int, host: str, port: int, user: str = "",
                 password: str = "") -> None:
    """Set the firewall the way the reference does: through the Firewall* config settings
    (FirewallType first: it resets FirewallPort to the type's default)."""
    client.config(f"FirewallType={int(kind)}")
    client.config(f"FirewallHost={host}")
    client.config(f"FirewallPort={port}")
    client.config(f"FirewallUser={user}")
    client.config(f"FirewallPassword={password}")


def postfix_client(postfix, mode: str, mail_server: str = "127.0.0.1", **properties) -> smtpx.SMTP:
    port = postfix.smtps_port if mode == "implicit" else postfix.smtp_port
    client = smtpx.SMTP(mail_server=mail_server, mail_port=port, ssl_start_mode=MODES[mode],
                        timeout=20, **properties)
    client.config("SSLServerCACerts=" + postfix.ca_pem)
    client.config("ConnectionTimeout=10")
    return client


def live_peer(client: smtpx.SMTP) -> tuple:
    """The address the facade's socket is connected to (the proxy, when there is one)."""
    return client._session.stream.remote_address  # the facade keeps its session private


# ------------------------------------------------------------------------- mail arrives

@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("case", list(PROXIES))
def test_mail_arrives_through_the_proxy(request, postfix, case, mode):
    fixture, kind, mail_server = PROXIES[case]
    proxy = request.getfixturevalue(fixture)
    tag = marker()
    client = postfix_client(postfix, mode, mail_server, from_="sender@example.test",
                            send_to="rcpt@example.test", subject=f"{case} {mode} {tag}",
                            message_text=f"through {case} ({mode}) {tag}\r\n.leading dot\r\n")
    use_firewall(client, kind, proxy.host, proxy.port, proxy.user, proxy.password)
    events = status_recorder(client)

    client.connect()
    try:
        # the socket really goes to the proxy, not to Postfix
        assert live_peer(client)[:2] == (proxy.host, proxy.port)
        assert client.connected
        result = client.send()
        assert [r.address for r in result.accepted] == ["rcpt@example.test"]
    finally:
        client.disconnect()

    delivered = postfix.wait_for_delivery(tag)
    assert f"Subject: {case} {mode} {tag}" in delivered
    assert "\n.leading dot\n" in delivered.replace("\r\n", "\n")
    names = [name for name, _code, _description in events]
    assert names[:2] == [FIREWALL_CONNECTED, REMOTE_CONNECTED], events
    assert f":{proxy.port}" in events[0][2]
    if mode == "plain":
        assert TLS_DONE not in names
    else:
        assert names[2] == TLS_DONE, events
        assert client.config("SSLNegotiatedVersion").startswith("TLS")


def test_firewall_property_and_send_without_connect(postfix, socks_proxy):
    """The Firewall object works as well as the config settings, and send() connects for the
    call (through the firewall) and quits after."""
    tag = marker()
    client = postfix_client(postfix, "starttls", from_="sender@example.test",
                            send_to="rcpt@example.test", subject=tag, message_text=tag)
    client.firewall = Firewall(firewall_type=FirewallType.SOCKS5, host=socks_proxy.host,
                               port=socks_proxy.port)
    events = status_recorder(client)
    client.send()
    postfix.wait_for_delivery(tag)
    assert [e[0] for e in events][:3] == [FIREWALL_CONNECTED, REMOTE_CONNECTED, TLS_DONE]
    assert not client.connected


@pytest.mark.parametrize("fixture, kind", [
    ("socks_proxy", FirewallType.SOCKS5),
    ("http_proxy_v6", FirewallType.TUNNEL),
])
def test_firewall_on_ipv6_loopback(request, postfix, fixture, kind):
    """The firewall leg over IPv6 (::1), the tunnel to Postfix on 127.0.0.1. UseIPv6=2 lets
    the firewall's IPv6 address be used (0 would refuse it: IPv4 only)."""
    if not ipv6_available():
        pytest.skip("this machine has no IPv6 loopback (::1): the IPv6 firewall test cannot run")
    proxy = request.getfixturevalue(fixture)
    assert proxy.host6 == "::1"
    tag = marker()
    client = postfix_client(postfix, "starttls", from_="sender@example.test",
                            send_to="rcpt@example.test", subject=tag, message_text=tag)
    use_firewall(client, kind, "::1", proxy.port)
    client.config("UseIPv6=2")
    events = status_recorder(client)
    client.connect()
    try:
        assert live_peer(client)[:2] == ("::1", proxy.port)
        assert client.local_host == "::1"
        client.send()
    finally:
        client.disconnect()
    postfix.wait_for_delivery(tag)
    assert f"firewall at [::1]:{proxy.port}" in events[0][2]

    client.config("UseIPv6=0")
    with pytest.raises(SMTPFirewallError) as info:
        client.connect()
    assert "(UseIPv6 is 0: IPv4 only)" in info.value.description
    assert not client.connected


# ------------------------------------------------------------------------- failures

@pytest.fixture
def mail_server():
    """A stand-in mail server that records every connection (nothing may reach it)."""
    with GreetingServer("127.0.0.1") as server:
        yield server


def close_after_greeting(peer: ScriptedPeer, conn: socket.socket) -> None:
    peer.recv_exactly(conn, 3)  # SOCKS5 greeting with one method, then hang up


def close_after_request(peer: ScriptedPeer, conn: socket.socket) -> None:
    peer.recv_until(conn, b"\r\n\r\n")  # the CONNECT request, then hang up


def scripted_407(peer: ScriptedPeer, conn: socket.socket) -> None:
    peer.recv_until(conn, b"\r\n\r\n")
    conn.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                 b"Proxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n")
    peer.drain(conn)


def http_garbage(peer: ScriptedPeer, conn: socket.socket) -> None:
    peer.recv_until(conn, b"\r\n\r\n")
    conn.sendall(b"220 i am not a proxy\r\n\r\n")
    peer.drain(conn)


def socks5_garbage(peer: ScriptedPeer, conn: socket.socket) -> None:
    peer.recv_exactly(conn, 3)
    conn.sendall(b"\x47\x41")  # "GA": not SOCKS version 5
    peer.drain(conn)


SCRIPTED = {
    "socks5-closes-in-handshake": (FirewallType.SOCKS5, close_after_greeting, "closed"),
    "http-closes-in-handshake": (FirewallType.TUNNEL, close_after_request, "closed"),
    "http-407": (FirewallType.TUNNEL, scripted_407, "407"),
    "http-garbage": (FirewallType.TUNNEL, http_garbage, ""),
    "socks5-garbage": (FirewallType.SOCKS5, socks5_garbage, ""),
}


def assert_nothing_reached(mail_server: GreetingServer, client: smtpx.SMTP,
                           events: list[tuple[str, int, str]]) -> None:
    # Give a connection that should not exist a moment to show up before saying it did not.
    assert not mail_server.connected.wait(0.3), mail_server.peers
    assert mail_server.peers == [] and mail_server.received == []
    assert REMOTE_CONNECTED not in [e[0] for e in events]
    assert not client.connected


def failing_client(mail_server: GreetingServer, **properties) -> smtpx.SMTP:
    client = smtpx.SMTP(mail_server="127.0.0.1", mail_port=mail_server.port,
                        ssl_start_mode=SSLStartMode.NONE, timeout=5, **properties)
    client.config("ConnectionTimeout=5")
    return client


@pytest.mark.parametrize("case", list(SCRIPTED))
def test_misbehaving_proxy_is_a_firewall_error(mail_server, case):
    kind, script, words = SCRIPTED[case]
    with ScriptedPeer(script) as peer:
        client = failing_client(mail_server, from_="a@example.test", send_to="b@example.test",
                                message_text="never sent")
        use_firewall(client, kind, "127.0.0.1", peer.port)
        events = status_recorder(client)
        with pytest.raises(SMTPFirewallError) as info:
            client.send()
    assert info.value.code == 118
    assert words.lower() in info.value.description.lower()
    assert [e[0] for e in events] == [FIREWALL_CONNECTED]
    assert b"MAIL" not in bytes(peer.received) and b"never sent" not in bytes(peer.received)
    assert_nothing_reached(mail_server, client, events)


@pytest.mark.parametrize("fixture, kind", [
    ("socks_auth_proxy", FirewallType.SOCKS5),
    # tinyproxy refuses wrong credentials with 401 (missing ones get a 407: see below)
    ("http_auth_proxy", FirewallType.TUNNEL),
])
def test_wrong_credentials_at_a_real_proxy(request, mail_server, fixture, kind):
    proxy = request.getfixturevalue(fixture)
    client = failing_client(mail_server)
    use_firewall(client, kind, proxy.host, proxy.port, proxy.user, "wrong-" + proxy.password)
    events = status_recorder(client)
    with pytest.raises(SMTPFirewallError) as info:
        client.connect()
    assert info.value.code == 118
    if kind == FirewallType.TUNNEL:
        assert "HTTP 401" in info.value.description
    assert_nothing_reached(mail_server, client, events)


def test_real_proxy_without_credentials_it_requires(mail_server, http_auth_proxy):
    client = failing_client(mail_server)
    use_firewall(client, FirewallType.TUNNEL, http_auth_proxy.host, http_auth_proxy.port)
    events = status_recorder(client)
    with pytest.raises(SMTPFirewallError) as info:
        client.connect()
    # a real 407 (tinyproxy asks for credentials that were not sent)
    assert "407 Proxy Authentication Required" in info.value.description
    assert info.value.proxy_status == 407
    assert_nothing_reached(mail_server, client, events)


def test_proxy_that_is_not_there(mail_server):
    client = failing_client(mail_server)
    use_firewall(client, FirewallType.SOCKS5, "127.0.0.1", free_port())  # nothing listens
    events = status_recorder(client)
    with pytest.raises(SMTPFirewallError) as info:
        client.connect()
    assert info.value.code == 118
    assert info.value.socket_code == 10061
    assert "10061" in info.value.description
    assert events == []
    assert_nothing_reached(mail_server, client, events)


def test_socks4_cannot_carry_a_name_for_the_proxy_to_resolve(mail_server, socks_proxy):
    client = failing_client(mail_server)
    client.mail_server = "*localhost"
    use_firewall(client, FirewallType.SOCKS4, socks_proxy.host, socks_proxy.port)
    events = status_recorder(client)
    with pytest.raises(SMTPInputError) as info:
        client.connect()
    assert "SOCKS4" in info.value.description
    assert events == []  # refused before the firewall was contacted
    assert_nothing_reached(mail_server, client, events)


def test_star_host_without_a_firewall_is_refused(mail_server):
    client = failing_client(mail_server)
    client.mail_server = "*127.0.0.1"
    with pytest.raises(SMTPInputError):
        client.connect()
    assert_nothing_reached(mail_server, client, [])


# ------------------------------------------------------------------------- auto-detect

def send_and_collect(postfix, client: smtpx.SMTP) -> list[tuple[str, int, str]]:
    tag = marker()
    client.from_, client.send_to = "sender@example.test", "rcpt@example.test"
    client.subject, client.message_text = tag, "auto " + tag
    events = status_recorder(client)
    client.send()
    postfix.wait_for_delivery(tag)
    return events


@pytest.mark.parametrize("variable, scheme, fixture, label", [
    ("all_proxy", "socks5h", "socks_proxy", "SOCKS5"),
    ("ALL_PROXY", "socks4", "socks_proxy", "SOCKS4"),
    ("socks_proxy", "", "socks_proxy", "SOCKS5"),  # no scheme: SOCKS5 for socks_proxy
    ("https_proxy", "http", "http_proxy", "HTTP tunnel"),
    ("HTTP_PROXY", "", "http_proxy", "HTTP tunnel"),  # no scheme: HTTP
])
def test_firewall_auto_detect_from_environment(request, monkeypatch, postfix, variable, scheme,
                                               fixture, label):
    proxy = request.getfixturevalue(fixture)
    url = f"{proxy.host}:{proxy.port}"
    monkeypatch.setenv(variable, f"{scheme}://{url}" if scheme else url)
    client = postfix_client(postfix, "starttls")
    client.config("FirewallAutoDetect=True")
    events = send_and_collect(postfix, client)
    assert events[0][0] == FIREWALL_CONNECTED
    assert f"{label} firewall at 127.0.0.1:{proxy.port}" in events[0][2]
    assert events[1][0] == REMOTE_CONNECTED


def test_auto_detect_credentials_from_the_url(monkeypatch, postfix, http_auth_proxy):
    p = http_auth_proxy
    monkeypatch.setenv("http_proxy", f"http://{p.user}:{p.password}@{p.host}:{p.port}")
    client = postfix_client(postfix, "plain")
    client.config("FirewallAutoDetect=True")
    events = send_and_collect(postfix, client)
    assert [e[0] for e in events][:2] == [FIREWALL_CONNECTED, REMOTE_CONNECTED]


def test_auto_detect_precedence_all_proxy_over_http_proxy(monkeypatch, postfix, socks_proxy):
    monkeypatch.setenv("all_proxy", f"socks5://127.0.0.1:{socks_proxy.port}")
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{free_port()}")  # dead: must not be used
    client = postfix_client(postfix, "plain")
    client.config("FirewallAutoDetect=True")
    events = send_and_collect(postfix, client)
    assert f"SOCKS5 firewall at 127.0.0.1:{socks_proxy.port}" in events[0][2]


def test_auto_detect_off_ignores_the_environment(monkeypatch, postfix):
    monkeypatch.setenv("all_proxy", f"socks5://127.0.0.1:{free_port()}")  # dead
    client = postfix_client(postfix, "plain")
    events = send_and_collect(postfix, client)
    assert [e[0] for e in events][0] == REMOTE_CONNECTED


def test_auto_detect_with_nothing_set_falls_back_to_the_firewall_settings(postfix, socks_proxy):
    client = postfix_client(postfix, "plain")
    client.config("FirewallAutoDetect=True")
    use_firewall(client, FirewallType.SOCKS5, socks_proxy.host, socks_proxy.port)
    events = send_and_collect(postfix, client)
    assert f"SOCKS5 firewall at 127.0.0.1:{socks_proxy.port}" in events[0][2]


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "127.0.0.0/8", "*", "example.test,127.0.0.1"])
def test_no_proxy_from_environment_bypasses(monkeypatch, postfix, no_proxy):
    monkeypatch.setenv("ALL_PROXY", f"socks5://127.0.0.1:{free_port()}")  # dead
    monkeypatch.setenv("NO_PROXY", no_proxy)
    client = postfix_client(postfix, "plain")
    client.config("FirewallAutoDetect=True")
    events = send_and_collect(postfix, client)
    assert [e[0] for e in events][0] == REMOTE_CONNECTED
    assert FIREWALL_CONNECTED not in [e[0] for e in events]


# ------------------------------------------------------------------------- exceptions list

@pytest.mark.parametrize("mail_server, exceptions", [
    ("127.0.0.1", "127.0.0.1"),
    ("127.0.0.1", "mx.example.test;127.0.0.0/8"),
    ("localhost", "LOCALHOST"),
    ("*localhost", "local*"),  # an exception is reached directly: the name is resolved here
])
def test_proxy_exceptions_list_bypasses_the_firewall(postfix, mail_server, exceptions):
    client = postfix_client(postfix, "starttls", mail_server)
    use_firewall(client, FirewallType.SOCKS5, "127.0.0.1", free_port())  # dead: never used
    client.config("ProxyExceptionsList=" + exceptions)
    events = send_and_collect(postfix, client)
    assert [e[0] for e in events][:2] == [REMOTE_CONNECTED, TLS_DONE]


def test_host_not_in_exceptions_list_uses_the_firewall(mail_server):
    client = failing_client(mail_server)
    use_firewall(client, FirewallType.SOCKS5, "127.0.0.1", free_port())  # dead
    client.config("ProxyExceptionsList=mx.example.test;10.0.0.0/8")
    with pytest.raises(SMTPFirewallError):
        client.connect()
    assert_nothing_reached(mail_server, client, [])
