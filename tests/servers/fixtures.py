"""Fixtures that start real servers. Imported by tests/conftest.py.

Session-scoped servers are started once, on first use, and stopped at the end of the run.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.servers.postfix import start_postfix, start_smtp_sink
from tests.servers.proxies import (  # noqa: F401  (fixtures: real dante, tinyproxy and ssh -D proxies)
    http_auth_proxy,
    http_proxy,
    http_proxy_v6,
    socks_auth_proxy,
    socks_proxy,
    ssh_socks_proxy,
)


@pytest.fixture(autouse=True)
def _no_dns_for_invalid_names(monkeypatch):
    """Names under ".invalid" (RFC 6761) fail to resolve without asking any DNS server.

    Tests use them for "host not found"; the machine's resolver is not on loopback, and tests
    send no traffic off this machine. Every other name resolves as usual.
    """
    import socket

    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if isinstance(name, str) and name.rstrip(".").lower().endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


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


@pytest.fixture
def unanswered_address():
    """(host, port) whose connect cannot complete: a listener with backlog 0 whose accept
    queue is full drops further SYNs, so a connect waits for its timeout (loopback only,
    nothing leaves the machine). Skips when the kernel never fills the queue."""
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        address = listener.getsockname()
        fillers = []
        try:
            for _ in range(8):  # the queue's length varies by kernel
                filler = socket.socket()
                filler.settimeout(0.2)
                try:
                    filler.connect(address)
                except (TimeoutError, socket.timeout):
                    filler.close()
                    break
                fillers.append(filler)
            else:
                pytest.skip("this kernel never filled the accept queue; no local connect timeout")
            yield address
        finally:
            for filler in fillers:
                filler.close()
