"""Fixtures for the connection tests (the real proxies are in tests/servers/fixtures.py)."""
from __future__ import annotations

import pytest

from tests.servers.sockets import ipv6_available

from .helpers import GreetingServer


@pytest.fixture
def greeting_server():
    with GreetingServer("127.0.0.1") as server:
        yield server


@pytest.fixture
def greeting_server_v6():
    if not ipv6_available():
        pytest.skip("this machine has no IPv6 loopback (::1)")
    with GreetingServer("::1") as server:
        yield server


@pytest.fixture
def status_log():
    """An on_status callback that records (event, code, description)."""
    events: list[tuple[str, int, str]] = []

    def record(event: str, code: int, description: str) -> None:
        events.append((event, code, description))

    record.events = events  # type: ignore[attr-defined]
    return record
