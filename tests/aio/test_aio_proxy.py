"""AsyncSMTP through a real SOCKS proxy (dante): the connection is opened by the sync
open_connection (in a worker thread), so the firewall code path is the sync one."""
from __future__ import annotations

import uuid

import pytest

import smtpx
from tests.servers.scripted import ScriptedServer
from tests.servers.sockets import free_port
from smtpx import Firewall, FirewallType, SSLStartMode

from .helpers import arun, client_for

pytestmark = pytest.mark.proxy


def _through(proxy, kind=FirewallType.SOCKS5) -> Firewall:
    return Firewall(firewall_type=kind, host=proxy.host, port=proxy.port, user=proxy.user, password=proxy.password)


@pytest.mark.parametrize("proxy_name,kind,host", [
    ("socks_proxy", FirewallType.SOCKS5, "127.0.0.1"),
    ("socks_proxy", FirewallType.SOCKS4, "127.0.0.1"),
    ("socks_proxy", FirewallType.SOCKS5, "*localhost"),
    ("http_proxy", FirewallType.TUNNEL, "127.0.0.1"),
])
def test_mail_goes_through_the_proxy(request, server, proxy_name, kind, host):
    proxy = request.getfixturevalue(proxy_name)
    statuses = []

    async def go():
        client = client_for(server, firewall=_through(proxy, kind), message_text="via proxy\r\n",
                            on_connection_status=lambda e: statuses.append(e.connection_event))
        client.mail_server = host
        await client.send()

    arun(go)
    assert len(server.messages) == 1 and b"via proxy" in server.messages[0].data
    assert statuses[:2] == ["Firewall connection complete", "Remote host connection complete"]


def test_starttls_through_the_proxy(socks_proxy, tls):
    server_ctx, ca_pem = tls
    with ScriptedServer(tls_context=server_ctx, require_starttls=True) as srv:
        async def go():
            client = client_for(srv, firewall=_through(socks_proxy), ssl_start_mode=SSLStartMode.EXPLICIT,
                                message_text="tls via socks")
            client.config("SSLServerCACerts=" + ca_pem)
            await client.send()
            return client.ssl_server_cert

        assert arun(go) is not None
        assert srv.verbs()[:3] == ["EHLO", "STARTTLS", "EHLO"] and len(srv.messages) == 1


@pytest.mark.postfix
def test_implicit_tls_to_postfix_through_the_proxy(socks_proxy, postfix):
    tag = "mark-" + uuid.uuid4().hex[:12]

    async def go():
        client = smtpx.aio.AsyncSMTP(mail_server=postfix.host, mail_port=postfix.smtps_port, timeout=20,
                                     ssl_start_mode=SSLStartMode.IMPLICIT, firewall=_through(socks_proxy),
                                     from_="sender@example.test", send_to="rcpt@example.test",
                                     subject=tag, message_text=tag)
        client.config("SSLServerCACerts=" + postfix.ca_pem)
        await client.send()

    arun(go)
    assert "with ESMTPS" in postfix.wait_for_delivery(tag)


def test_a_proxy_that_is_not_there_is_a_typed_firewall_error(server):
    dead = Firewall(firewall_type=FirewallType.SOCKS5, host="127.0.0.1", port=free_port())

    async def go():
        client = client_for(server, firewall=dead, message_text="x")
        with pytest.raises(smtpx.SMTPFirewallError) as info:
            await client.send()
        assert info.value.code == 118
        assert not client.connected

    arun(go)
    assert server.commands == []
