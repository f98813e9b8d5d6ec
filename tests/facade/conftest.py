"""Fixtures for the facade tests: real aiosmtpd servers on 127.0.0.1 and a test CA."""
from __future__ import annotations

import pytest

from tests.servers.scripted_fixtures import ca, server, tls  # noqa: F401  (fixtures)


@pytest.fixture
def make_smtp():
    """SMTP objects pointed at a server, with a From and a To set."""
    import smtpx

    made = []

    def make(srv, **props):
        props.setdefault("from_", "Sender <sender@example.com>")
        props.setdefault("send_to", "rcpt@example.com")
        smtp = smtpx.SMTP(mail_server=srv.host, mail_port=srv.port, **props)
        made.append(smtp)
        return smtp

    yield make
    for smtp in made:
        if smtp.connected:
            smtp.disconnect()
