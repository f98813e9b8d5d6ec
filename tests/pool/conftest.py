"""Fixtures for the pool tests: the facade tests' real aiosmtpd server (tests/servers/scripted.py),
which stores every message and records every command, so a test counts what arrived and how
many connections were made (one EHLO each)."""
from __future__ import annotations

from tests.servers.scripted_fixtures import ca, server, tls  # noqa: F401  (fixtures)
