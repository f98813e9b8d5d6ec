"""Fixtures for the asyncio client tests: real aiosmtpd servers (their own thread and loop,
separate from the loop each test runs with asyncio.run) and a test CA."""
from __future__ import annotations

import pytest
import trustme

from facade.scripted import ScriptedServer, tls_pair


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
