"""Fixtures for the asyncio client tests: real aiosmtpd servers (their own thread and loop,
separate from the loop each test runs with asyncio.run) and a test CA."""
from __future__ import annotations

from tests.servers.scripted_fixtures import ca, server, tls  # noqa: F401  (fixtures)
