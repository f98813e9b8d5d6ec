"""Fixtures that start real servers. Imported by tests/conftest.py.

Session-scoped servers are started once, on first use, and stopped at the end of the run.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from servers.postfix import start_postfix, start_smtp_sink


@pytest.fixture(scope="session")
def postfix():
    """A real Postfix smtpd (STARTTLS, implicit TLS, SASL, CHUNKING, ...): see servers/postfix.py."""
    # Not under pytest's tmp dir: that is 0700 root, and Postfix's daemons run as "postfix".
    base = Path(tempfile.mkdtemp(prefix="smtpx-postfix-"))
    os.chmod(base, 0o755)
    server = start_postfix(base)
    yield server
    server.stop()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def smtp_sink():
    """Postfix's smtp-sink with a dump file of every transaction."""
    base = Path(tempfile.mkdtemp(prefix="smtpx-sink-"))
    os.chmod(base, 0o755)
    sink = start_smtp_sink(base / "dump" / "sink.dump")
    yield sink
    sink.stop()
    shutil.rmtree(base, ignore_errors=True)
