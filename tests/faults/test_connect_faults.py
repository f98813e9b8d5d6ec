"""FAULTS.md item 38 through smtpx.SMTP: DNS failure, connection refused and connect timeout
are typed errors with the reference's codes; the object stays usable; on_connection_status
and on_error see nothing that did not happen."""
from __future__ import annotations

import pytest

import smtpx
from tests.servers.sockets import free_port


def _then_it_still_works(smtp: smtpx.SMTP, server) -> None:
    assert not smtp.connected and smtp.idle
    smtp.mail_server, smtp.mail_port = server.host, server.port
    smtp.send()
    assert len(server.messages) == 1


def test_38_dns_failure_is_11001(server):
    statuses = []
    smtp = smtpx.SMTP(mail_server="no-such-host.invalid", mail_port=25, from_="a@example.com",
                      send_to="b@example.com", timeout=10, on_connection_status=statuses.append)
    with pytest.raises(smtpx.SMTPConnectError) as info:
        smtp.send()
    assert info.value.code in (11001, 11002)  # host not found (11002: the resolver could not answer)
    assert "no-such-host.invalid" in str(info.value)
    assert not any(e.connection_event == "Remote host connection complete" for e in statuses)
    _then_it_still_works(smtp, server)


def test_38_connection_refused_is_10061(server):
    smtp = smtpx.SMTP(mail_server="127.0.0.1", mail_port=free_port(), from_="a@example.com",
                      send_to="b@example.com", timeout=5)
    with pytest.raises(smtpx.SMTPConnectError) as info:
        smtp.connect()
    assert info.value.code == 10061
    _then_it_still_works(smtp, server)


def test_38_connect_timeout_is_10060_and_connection_timeout_config_bounds_it(server, unanswered_address):
    """connect() to an address that never answers waits until ConnectionTimeout (1 s here,
    while Timeout stays 60) and fails with 10060."""
    host, port = unanswered_address
    smtp = smtpx.SMTP(mail_server=host, mail_port=port, from_="a@example.com",
                      send_to="b@example.com", timeout=60)
    smtp.config("ConnectionTimeout=1")
    with pytest.raises(smtpx.SMTPConnectError) as info:
        smtp.send()
    assert info.value.code == 10060
    _then_it_still_works(smtp, server)
