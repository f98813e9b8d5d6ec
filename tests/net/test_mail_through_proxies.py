"""A real message through each real proxy to a real SMTP server (aiosmtpd on 127.0.0.1),
driven by the standard library's smtplib over the socket open_connection returned: the
tunnel carries a whole SMTP session, and the message arrives intact. (The facade's own send
through proxies is tested with the facade.)"""
from __future__ import annotations

import smtplib

import pytest

from smtpx.enums import FirewallType
from smtpx.transport.connect import ConnectOptions, open_connection
from smtpx.types import Firewall

from tests.servers.sockets import free_port

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")

pytestmark = pytest.mark.proxy


class Collector:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 stored"


@pytest.fixture
def mail_server():
    collector = Collector()
    port = free_port()
    controller = aiosmtpd_controller.Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, collector
    finally:
        controller.stop()


def smtp_over(sock) -> smtplib.SMTP:
    client = smtplib.SMTP()
    client.sock = sock  # smtplib's connect() does the same after opening its own socket
    client._host = "127.0.0.1"
    code, _ = client.getreply()
    assert code == 220
    return client


@pytest.mark.parametrize("proxy_name, kind, host", [
    ("socks_proxy", FirewallType.SOCKS4, "127.0.0.1"),
    ("socks_proxy", FirewallType.SOCKS5, "*localhost"),
    ("socks_auth_proxy", FirewallType.SOCKS5, "127.0.0.1"),
    ("ssh_socks_proxy", FirewallType.SOCKS4A, "*localhost"),
    ("http_proxy", FirewallType.TUNNEL, "127.0.0.1"),
    ("http_auth_proxy", FirewallType.TUNNEL, "localhost"),
])
def test_message_arrives_through_the_proxy(request, mail_server, proxy_name, kind, host):
    port, collector = mail_server
    proxy = request.getfixturevalue(proxy_name)
    firewall = Firewall(firewall_type=kind, host=proxy.host, port=proxy.port, user=proxy.user,
                        password=proxy.password)
    sock = open_connection(host, port, ConnectOptions(firewall=firewall, connection_timeout=10))
    sock.settimeout(10)
    body = f"Subject: via {proxy_name}\r\n\r\nthrough {kind.name}\r\n.leading dot\r\n"
    client = smtp_over(sock)
    try:
        client.ehlo("client.test")
        refused = client.sendmail("a@client.test", ["b@server.test"], body.encode())
        assert refused == {}
        client.quit()
    finally:
        client.close()
    assert len(collector.messages) == 1
    mail_from, rcpts, content = collector.messages[0]
    assert (mail_from, rcpts) == ("a@client.test", ["b@server.test"])
    assert content.replace(b"\r\n", b"\n") == body.encode().replace(b"\r\n", b"\n")
