"""Fixtures for the message tests: the facade tests' real aiosmtpd server."""
from __future__ import annotations

from tests.servers.scripted_fixtures import server  # noqa: F401  (fixture)
