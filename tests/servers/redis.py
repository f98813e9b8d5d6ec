"""Debian's redis-server started for the tests, on a free loopback port, in a temp folder.

Persistence is on (append-only file, fsync on every write), so ``restart()`` (SIGKILL, then a
new server on the same port and folder) keeps what was written: the broker's queues and the
idempotency marks survive, as they do on a production Redis with AOF (FAULTS 44).
Nothing listens anywhere but 127.0.0.1. The test command installs ``redis-server``
(scripts/install-test-deps.sh)."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers import refuse_in_a_server_free_run
from tests.servers.postfix import require_binary, wait_for_port
from tests.servers.sockets import free_port


@dataclass
class RedisServer:
    base: Path
    port: int
    process: subprocess.Popen | None = None
    host = "127.0.0.1"

    def url(self, db: int = 0) -> str:
        return f"redis://{self.host}:{self.port}/{db}"

    def start(self) -> None:
        binary = require_binary("redis-server", "redis-server")
        args = [binary, "--bind", self.host, "--port", str(self.port), "--dir", str(self.base),
                "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--daemonize", "no",
                "--protected-mode", "yes", "--logfile", str(self.base / "redis.log")]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_for_port(self.port)
        except Exception:
            self.stop()
            raise

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.kill()
        self.process.wait(10)
        self.process = None

    def restart(self) -> None:
        """Kill -9 and start again on the same port and folder (the AOF brings the data back)."""
        self.stop()
        self.start()

    def client(self, db: int = 0):
        import redis

        return redis.Redis(host=self.host, port=self.port, db=db)


def start_redis(base: Path) -> RedisServer:
    refuse_in_a_server_free_run("redis-server", "redis")
    server = RedisServer(base=base, port=free_port())
    server.start()
    return server


@pytest.fixture(scope="module")
def redis_server():
    """A redis-server for the module's tests (see the module doc)."""
    base = Path(tempfile.mkdtemp(prefix="smtpx-redis-"))
    server = start_redis(base)
    yield server
    server.stop()
    shutil.rmtree(base, ignore_errors=True)
