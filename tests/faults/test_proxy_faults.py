"""FAULTS.md items 32 and 33 through smtpx.SMTP (Firewall* settings): a SOCKS5 or HTTP
CONNECT proxy that refuses, answers oddly or closes is a typed SMTPFirewallError (118), the
mail server is never reached around it, and the object stays usable."""
from __future__ import annotations

import socket

import pytest

import smtpx
from tests.servers.fake_proxies import http_script, socks5_script
from tests.servers.sockets import ScriptedPeer


def _via(proxy: ScriptedPeer, kind: int, server=None, **config) -> smtpx.SMTP:
    smtp = smtpx.SMTP(mail_server="127.0.0.1", mail_port=server.port if server else 25, from_="a@example.com",
                      send_to="b@example.com", timeout=5)
    smtp.config(f"FirewallType={kind}")
    smtp.config("FirewallHost=127.0.0.1")
    smtp.config(f"FirewallPort={proxy.port}")
    for name, value in config.items():
        smtp.config(f"{name}={value}")
    return smtp


SOCKS_CASES = {
    "connect_refused": socks5_script(b"\x05\x00", b"\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00"),
    "no_acceptable_method": socks5_script(b"\x05\xff"),
    "wrong_version": socks5_script(b"\x04\x00"),
    "short_reply_then_close": socks5_script(b"\x05\x00", b"\x05\x00\x00", close=True),
    "odd_address_type": socks5_script(b"\x05\x00", b"\x05\x00\x00\x09\x00\x00\x00\x00\x00\x00"),
    "closed_mid_handshake": socks5_script(b"\x05"),
}


@pytest.mark.parametrize("case", sorted(SOCKS_CASES))
def test_32_socks5_faults_are_firewall_errors(server, case):
    with ScriptedPeer(SOCKS_CASES[case]) as proxy:
        smtp = _via(proxy, 3, server)
        with pytest.raises(smtpx.SMTPFirewallError) as info:
            smtp.send()
        assert info.value.code == 118
        assert not smtp.connected and smtp.idle
    assert server.commands == []
    smtp.reset()  # usable again: straight to the server
    smtpx.SMTP(mail_server=server.host, mail_port=server.port, from_="a@example.com", send_to="b@example.com").send()
    assert len(server.messages) == 1


def test_32_socks5_wrong_credentials(server):
    with ScriptedPeer(socks5_script(b"\x05\x02", auth_reply=b"\x01\x01")) as proxy:
        smtp = _via(proxy, 3, server, FirewallUser="u", FirewallPassword="wrong")
        with pytest.raises(smtpx.SMTPFirewallError) as info:
            smtp.send()
        assert info.value.code == 118
    assert b"\x01\x01u\x05wrong" in bytes(proxy.received)
    assert server.commands == []


HTTP_CASES = {
    "407": b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n",
    "2000_ok": b"HTTP/1.1 2000 OK\r\n\r\n",
    "endless_headers": b"HTTP/1.1 200 OK\r\n" + b"X-Pad: 1\r\n" * 20000,
    "nul_in_header": b"HTTP/1.1 200 OK\r\nX-Bad: a\x00b\r\n\r\n",
    "garbage": b"SSH-2.0-OpenSSH\r\n\r\n",
}


@pytest.mark.parametrize("case", sorted(HTTP_CASES))
def test_33_http_connect_faults_are_firewall_errors(server, case):
    with ScriptedPeer(http_script(HTTP_CASES[case])) as proxy:
        smtp = _via(proxy, 1, server)
        with pytest.raises(smtpx.SMTPFirewallError) as info:
            smtp.send()
        assert info.value.code == 118
        assert not smtp.connected and smtp.idle
    assert bytes(proxy.received).startswith(b"CONNECT 127.0.0.1:")
    assert server.commands == []


def test_33_data_right_after_the_200_stays_in_the_tunnel():
    """The proxy's 200 and the SMTP greeting arrive in one packet: the greeting is not lost."""
    def tunnel(peer: ScriptedPeer, conn: socket.socket) -> None:
        peer.recv_until(conn, b"\r\n\r\n")
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n220 tunnel.test ESMTP\r\n")
        for expect, reply in ((b"EHLO", b"250 tunnel.test\r\n"), (b"QUIT", b"221 bye\r\n")):
            if not peer.recv_until(conn, b"\n").upper().startswith(expect):
                return
            conn.sendall(reply)

    with ScriptedPeer(tunnel) as proxy:
        smtp = _via(proxy, 1)
        smtp.connect()
        assert smtp.connected
        smtp.disconnect()
    assert b"EHLO" in bytes(proxy.received) and b"QUIT" in bytes(proxy.received)
