"""Real parts for the smtpx.celery tests: redis-server (tests/servers/redis.py), Celery
worker nodes run as subprocesses (prefork), the scripted aiosmtpd server and smtp-sink."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

# celery and redis are test dependencies: without them these imports fail (never a silent skip).
from tests.celery.app import make_app
from tests.servers.scripted import ScriptedServer
from tests.servers.redis import redis_server  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Node:
    name: str
    process: subprocess.Popen
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class Cluster:
    """Worker nodes (``celery -A tests.celery.app worker --pool=prefork``) on one Redis."""

    redis: object
    env: dict[str, str]
    base: Path
    nodes: list[Node] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.app = make_app(self.env)

    def start_node(self, name: str, concurrency: int = 2) -> Node:
        log = self.base / f"{name}.log"
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "tests.celery.app", "worker", "--pool=prefork",
             "-c", str(concurrency), "-n", f"{name}@%h", "--without-gossip", "--without-mingle",
             "--without-heartbeat", "-l", "info", "-f", str(log)],
            cwd=ROOT, env={**os.environ, **self.env, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        node = Node(name, process, log)
        self.nodes.append(node)
        deadline = time.monotonic() + 30
        while " ready." not in node.log_text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker {name} did not start:\n{node.log_text()[-3000:]}")
            time.sleep(0.1)
        return node

    def stop_node(self, node: Node) -> None:
        if node.process.poll() is None:
            node.process.send_signal(signal.SIGTERM)  # warm shutdown: the processes close their pools
            try:
                node.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(node.process.pid, signal.SIGKILL)
                node.process.wait(5)
        self.nodes.remove(node)

    def kill_node(self, node: Node) -> None:
        """SIGKILL the whole node: its main process and its pool children (one process group,
        start_new_session), as when its machine goes away."""
        os.killpg(node.process.pid, signal.SIGKILL)
        node.process.wait(10)
        self.nodes.remove(node)

    def stop(self) -> None:
        for node in list(self.nodes):
            self.stop_node(node)
        self.app.close()

    def marks(self):
        return self.redis.client(2)  # type: ignore[attr-defined]


def make_cluster(redis_server, base: Path, smtp_port: int, nodes: tuple[str, ...] = ("w1", "w2"),
                 **extra: str) -> Cluster:
    for db in (0, 1, 2):
        redis_server.client(db).flushdb()
    env = {"SMTPX_TEST_BROKER": redis_server.url(0), "SMTPX_TEST_BACKEND": redis_server.url(1),
           "SMTPX_TEST_MARKS": redis_server.url(2), "SMTPX_TEST_SMTP_PORT": str(smtp_port), **extra}
    cluster = Cluster(redis_server, env, base)
    try:
        for name in nodes:
            cluster.start_node(name)
    except Exception:
        cluster.stop()
        raise
    return cluster


@pytest.fixture(scope="module")
def target():
    """The SMTP server the workers send to (aiosmtpd, tests/servers/scripted.py), one per module."""
    with ScriptedServer() as server:
        yield server
