"""Fixtures for every suite that talks to the scripted aiosmtpd server
(tests/servers/scripted.py): a real server on 127.0.0.1, and a test CA."""
from __future__ import annotations

import pytest
import trustme

from tests.servers.scripted import ScriptedServer, tls_pair


@pytest.fixture
def server():
    with ScriptedServer() as srv:
        yield srv


@pytest.fixture(scope="session")
def ca():
    return trustme.CA()


@pytest.fixture(scope="session")
def tls(ca):
    """(server SSLContext for 127.0.0.1, CA PEM text)."""
    return tls_pair(ca)
