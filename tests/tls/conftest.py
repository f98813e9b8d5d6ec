"""Fixtures for the TLS tests (helpers live in tls/helpers.py)."""
from __future__ import annotations

import pytest

from .helpers import PKI, TLSLineServer, make_pki


@pytest.fixture(scope="session")
def pki() -> PKI:
    return make_pki()


@pytest.fixture
def make_server():
    servers: list[TLSLineServer] = []

    def factory(ctx, **kw) -> TLSLineServer:
        server = TLSLineServer(ctx, **kw)
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.close()


