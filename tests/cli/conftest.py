"""Fixtures for the command-line tests: the facade's real aiosmtpd server (stores every message,
records every command) and test CA; Postfix's smtp-sink comes from tests/conftest.py."""
from __future__ import annotations

from tests.servers.scripted_fixtures import ca, server, tls  # noqa: F401  (fixtures)
