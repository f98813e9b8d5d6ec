"""Scale-out benchmark and soak for smtpx.celery (issue 12; docs/celery.md, "The numbers").

    .venv/bin/python bench/scaleout.py --workers N --messages M [--target HOST:PORT] [--kill-one]

A plain script, not a pytest benchmark: it starts its own redis-server (a free loopback port,
append-only file with fsync every second, as in production), N Celery worker nodes (separate
node names, ``--pool=prefork -c CONCURRENCY``, each a process group of its own), and, when no
--target is given, its own counting sink (an asyncio SMTP server in a child process that
counts every Message-ID it accepts). It then publishes M messages through
``smtpx.celery.send_messages`` and waits until every message is delivered or failed (or
--timeout passes with no progress), and prints one line:

    enqueued E, delivered D, failed F, lost L, duplicates U, R msgs/s

counted at the target: D distinct Message-IDs received, U receptions beyond the first, F
messages the tasks report failed, L = E - D - F, R = D / (last delivery - first publish).

--kill-one SIGKILLs one whole worker node (its main process and its pool children) when about
a third of the messages are delivered, and starts it again under the same node name; its
unacknowledged tasks come back after the broker's visibility_timeout (--visibility).

With --target HOST:PORT the messages go to that server, which this script cannot read:
D is then the number of messages with an idempotency mark in Redis (accepted by the server at
least once) and U what the tasks reported sending beyond that: a lower bound (a process killed
between a 250 and its mark reports nothing). A note on stderr says so.

Everything it started is stopped on the way out (SIGTERM, then SIGKILL of the process group).
The worker nodes import this file as their Celery app (``-A scaleout``, configured from the
SCALEOUT_* environment variables the script gives them).
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import multiprocessing
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SUMMARY = "enqueued {E}, delivered {D}, failed {F}, lost {L}, duplicates {U}, {R:.0f} msgs/s"


# ------------------------------------------------------------------------------ the app

def make_app(env: dict[str, str] | os._Environ[str]) -> Any:
    """The Celery app of the workers and of the producer (the same settings on both sides)."""
    from celery import Celery

    import smtpx.celery

    host, _, port = env["SCALEOUT_TARGET"].rpartition(":")
    visibility = int(env.get("SCALEOUT_VISIBILITY", "10"))
    app = Celery("smtpx-scaleout", broker=env["SCALEOUT_BROKER"], backend=env["SCALEOUT_BACKEND"],
                 set_as_current=False)
    transport = {"visibility_timeout": visibility,
                 # kombu scans for tasks of dead nodes every interval x throttle seconds (default
                 # 10 x 10): every second here, so they come back soon after visibility_timeout.
                 "unacked_restore_interval": 1, "unacked_restore_throttle": 1}
    app.conf.update(
        worker_prefetch_multiplier=1,
        broker_transport_options=transport,
        result_backend_transport_options={"visibility_timeout": visibility},
        broker_connection_retry_on_startup=True,
        result_backend_always_retry=True,
        worker_hijack_root_logger=False,
        smtpx={"mail_server": host, "mail_port": int(port), "size": int(env.get("SCALEOUT_SIZE", "2")),
               "redis_url": env["SCALEOUT_MARKS"], "max_retries": 8, "backoff": 0.5},
    )
    smtpx.celery.install(app)
    return app


app = make_app(os.environ) if "SCALEOUT_BROKER" in os.environ else None


# ------------------------------------------------------------------------------ the sink

_MESSAGE_ID = re.compile(rb"(?im)^message-id:[ \t]*(\S+)")


async def _session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, counts: collections.Counter[bytes],
                   progress: Any) -> None:
    """One SMTP session: PIPELINING, every message accepted, its Message-ID counted."""
    writer.write(b"220 scaleout-sink ESMTP\r\n")
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            verb = line[:4].upper()
            if verb == b"EHLO":
                writer.write(b"250-scaleout-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 104857600\r\n")
            elif verb == b"DATA":
                writer.write(b"354 go ahead\r\n")
                first = await reader.readline()
                data = b"" if first == b".\r\n" else first + await reader.readuntil(b"\r\n.\r\n")
                head = data.split(b"\r\n\r\n", 1)[0]
                found = _MESSAGE_ID.search(head)
                key = found.group(1) if found else b""
                counts[key] += 1
                progress[0] += 1
                if counts[key] == 1:
                    progress[1] += 1
                    progress[2] = time.monotonic()
                writer.write(b"250 2.0.0 queued\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 2.0.0 bye\r\n")
                break
            elif verb in (b"HELO", b"MAIL", b"RCPT", b"RSET", b"NOOP"):
                writer.write(b"250 2.0.0 ok\r\n")
            else:
                writer.write(b"502 5.5.2 not here\r\n")
            if not reader._buffer:  # type: ignore[attr-defined]  # answer a pipelined group at once
                await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.CancelledError):
        pass  # the client went, or the sink is stopping
    finally:
        writer.close()


def _sink_main(port: int, progress: Any, ready: Any, conn: Any) -> None:
    """The sink process: serve until asked for the counts (then send them and stop)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops it
    counts: collections.Counter[bytes] = collections.Counter()

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await asyncio.start_server(lambda r, w: _session(r, w, counts, progress), "127.0.0.1", port,
                                            limit=1 << 24)
        done = loop.create_future()
        loop.add_reader(conn.fileno(), lambda: done.done() or done.set_result(None))
        ready.set()
        await done
        conn.recv()
        server.close()
        conn.send(dict(counts))

    asyncio.run(serve())


class Sink:
    """The counting sink, in a child process (so it has a core of its own, not this one's GIL)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.progress = multiprocessing.Array("d", 3, lock=False)  # receptions, distinct, last new (monotonic)
        self._conn, child = multiprocessing.Pipe()
        ready = multiprocessing.Event()
        self.process = multiprocessing.Process(target=_sink_main, args=(self.port, self.progress, ready, child),
                                               daemon=True)
        self.process.start()
        if not ready.wait(15):
            raise RuntimeError("the counting sink did not start")

    @property
    def distinct(self) -> int:
        return int(self.progress[1])

    def counts(self) -> dict[bytes, int]:
        self._conn.send("report")
        if not self._conn.poll(30):
            raise RuntimeError("the counting sink did not report")
        counts: dict[bytes, int] = self._conn.recv()
        self.process.join(10)
        return counts

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)


# ------------------------------------------------------------------------------ processes

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on 127.0.0.1:{port}") from None
            time.sleep(0.05)


@dataclass
class Redis:
    base: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def url(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.process = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.base), "--appendonly", "yes",
             "--appendfsync", "everysec", "--save", "", "--daemonize", "no", "--protected-mode", "yes",
             "--logfile", str(self.base / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_for_port(self.port)

    def client(self, db: int) -> Any:
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, db=db)

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.process.pid if self.process else 0)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@dataclass
class Node:
    name: str
    log: Path
    process: subprocess.Popen[bytes]

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


class Workers:
    """Celery worker nodes, each a process group of its own (``start_new_session``)."""

    def __init__(self, base: Path, env: dict[str, str], concurrency: int) -> None:
        self.base, self.env, self.concurrency = base, env, concurrency
        self.nodes: dict[str, Node] = {}
        self.starts = 0

    def start(self, name: str) -> None:
        self.starts += 1
        log = self.base / f"{name}.{self.starts}.log"
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "scaleout", "worker", "--pool=prefork",
             "-c", str(self.concurrency), "-n", f"{name}@%h", "--without-gossip", "--without-mingle",
             "--without-heartbeat", "-l", "warning", "-f", str(log)],
            cwd=HERE, env={**os.environ, **self.env, "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT)])},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self.nodes[name] = Node(name, log, process)

    def kill(self, name: str) -> None:
        """SIGKILL the whole node: its main process and every pool child."""
        node = self.nodes.pop(name)
        try:
            os.killpg(node.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        node.process.wait(10)

    def stop(self) -> None:
        for node in self.nodes.values():
            if node.process.poll() is None:
                node.process.send_signal(signal.SIGTERM)
        for node in self.nodes.values():
            try:
                node.process.wait(20)
            except subprocess.TimeoutExpired:
                pass
            try:  # the pool children too, whatever became of the main process
                os.killpg(node.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            node.process.wait(5)
        self.nodes.clear()


# ------------------------------------------------------------------------------ the run

SENDER = "bench@example.com"


def envelope(n: int, domain: str) -> tuple[str, str]:
    """Message n's Message-ID and recipient."""
    return f"<scaleout.{n}.{os.getpid()}@example.com>", f"r{n}@{domain}"


def messages(count: int, size: int, domain: str) -> Iterator[tuple[str, list[str], bytes]]:
    filler = (b"x" * 75 + b"\r\n") * max(0, size // 77)
    for n in range(count):
        message_id, rcpt = envelope(n, domain)
        head = (f"From: {SENDER}\r\nTo: {rcpt}\r\nSubject: scaleout {n}\r\n"
                f"Message-ID: {message_id}\r\n\r\n").encode()
        yield (SENDER, [rcpt], head + filler)


def log(text: str) -> None:
    print(f"[scaleout {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    base = Path(tempfile.mkdtemp(prefix="smtpx-scaleout-"))
    redis_server = Redis(base)
    sink: Sink | None = None
    workers: Workers | None = None
    producer_app = None
    try:
        if args.target is None:
            sink = Sink()
            target = f"127.0.0.1:{sink.port}"
        else:
            target = args.target
        redis_server.start()
        env = {"SCALEOUT_BROKER": redis_server.url(0), "SCALEOUT_BACKEND": redis_server.url(1),
               "SCALEOUT_MARKS": redis_server.url(2), "SCALEOUT_TARGET": target,
               "SCALEOUT_VISIBILITY": str(args.visibility), "SCALEOUT_SIZE": str(args.size)}
        workers = Workers(base, env, args.concurrency)
        for n in range(args.workers):
            workers.start(f"w{n + 1}")
        broker = redis_server.client(0)
        _wait_consumers(workers, broker)
        log(f"{args.workers} nodes x {args.concurrency} processes on redis :{redis_server.port}, target {target}")

        import smtpx.celery

        producer_app = make_app(env)
        started = time.monotonic()
        chunk_run = smtpx.celery.send_messages(producer_app, messages(args.messages, args.bytes, args.domain),
                                               chunk_size=args.chunk)
        enqueued = chunk_run.enqueued
        log(f"enqueued {enqueued} in {time.monotonic() - started:.1f} s")

        marks = redis_server.client(2)
        keys = _keys(args.messages, args.domain)
        killed = False
        last_progress, last_seen = time.monotonic(), -1
        while True:
            done = sink.distinct if sink else _marked(marks, keys)
            if args.kill_one and not killed and done >= enqueued // 3:
                victim = f"w{args.workers}"
                workers.kill(victim)
                log(f"SIGKILLed node {victim} (main process and pool) at {done} delivered; starting it again")
                workers.start(victim)
                killed = True
            if done >= enqueued:
                break
            now = time.monotonic()
            if done != last_seen:
                last_seen, last_progress = done, now
            elif now - last_progress > 2 and chunk_run.ready():  # failures: every task has finished
                break
            elif now - last_progress > args.timeout:
                log(f"no progress for {args.timeout} s: giving up")
                break
            time.sleep(0.05 if sink else 0.5)
        finished = time.monotonic()

        sent, failed = _results(chunk_run, args.timeout)
        sink_cpu = cpu_seconds(sink.process.pid or 0) if sink is not None else 0.0
        if sink is not None:
            counts = sink.counts()
            distinct = len(counts)
            duplicates = sum(counts.values()) - distinct
            finished = sink.progress[2] or finished
        else:
            distinct = _marked(marks, keys)
            duplicates = max(0, sent - distinct)
            log("the target cannot be read: delivered = messages with a mark; duplicates = what the tasks "
                "reported sending beyond that (a lower bound: a process killed between a 250 and its mark "
                "reports nothing)")
        elapsed = max(finished - started, 1e-9)
        log(f"{elapsed:.1f} s from the first publish to the last delivery; redis-server used "
            f"{redis_server.cpu_seconds():.1f} CPU s" + (f", the sink {sink_cpu:.1f} CPU s" if sink else ""))
        print(SUMMARY.format(E=enqueued, D=distinct, F=len(failed), L=max(0, enqueued - distinct - len(failed)),
                             U=duplicates, R=distinct / elapsed), flush=True)
        return 0 if distinct + len(failed) == enqueued else 1
    finally:
        if producer_app is not None:
            producer_app.close()
        if workers is not None:
            workers.stop()
        if sink is not None:
            sink.stop()
        redis_server.stop()
        shutil.rmtree(base, ignore_errors=True)


def _wait_consumers(workers: Workers, broker: Any, timeout: float = 60.0) -> None:
    """Wait until every node's main process is consuming (a BRPOP on the queue is pending)."""
    deadline = time.monotonic() + timeout
    while True:
        dead = [n for n in workers.nodes.values() if n.process.poll() is not None]
        if dead:
            raise RuntimeError(f"worker {dead[0].name} exited:\n{dead[0].log_text()[-3000:]}")
        waiting = [c for c in broker.client_list() if c.get("cmd") in ("brpop", "blpop")]
        if len(waiting) >= len(workers.nodes):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the workers did not start in time ({len(waiting)} consuming)")
        time.sleep(0.2)


def _keys(count: int, domain: str) -> list[str]:
    from smtpx.celery.wire import idempotency_key

    keys = []
    for n in range(count):
        message_id, rcpt = envelope(n, domain)
        keys.append(f"smtpx:sent:{idempotency_key(message_id, SENDER, (rcpt,))}")
    return keys


def _marked(marks: Any, keys: list[str]) -> int:
    total = 0
    for start in range(0, len(keys), 5000):
        total += sum(value is not None for value in marks.mget(keys[start:start + 5000]))
    return total


def _results(chunk_run: Any, timeout: float) -> tuple[int, list[dict[str, Any]]]:
    """What the tasks reported: messages sent (every attempt) and the failure records."""
    sent, failed = 0, []
    deadline = time.monotonic() + timeout
    for result in chunk_run.results:
        try:
            value = result.get(timeout=max(0.1, deadline - time.monotonic()), disable_sync_subtasks=False)
        except Exception as exc:  # noqa: BLE001 - a task that raised or never finished: reported, not counted
            log(f"task {result.id}: {type(exc).__name__}: {exc}")
            continue
        sent += value["sent"]
        failed += value["failed"]
    return sent, failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2, help="worker nodes (default 2)")
    parser.add_argument("--messages", type=int, default=20000, help="messages to send (default 20000)")
    parser.add_argument("--target", metavar="HOST:PORT", help="an SMTP server to send to (default: own sink)")
    parser.add_argument("--kill-one", action="store_true", help="SIGKILL one node mid-run and start it again")
    parser.add_argument("--concurrency", type=int, default=1, help="prefork processes per node (default 1)")
    parser.add_argument("--size", type=int, default=2, help="connections per worker process (default 2)")
    parser.add_argument("--chunk", type=int, default=100, help="messages per task (default 100)")
    parser.add_argument("--bytes", type=int, default=1000, help="approximate message size (default 1000)")
    parser.add_argument("--domain", default="example.org", help="recipient domain (default example.org)")
    parser.add_argument("--visibility", type=int, default=10,
                        help="broker visibility_timeout, seconds: a dead node's tasks come back after it (default 10)")
    parser.add_argument("--timeout", type=float, default=120.0, help="give up after this long without progress")
    args = parser.parse_args(argv)
    if args.workers < 1 or args.messages < 1 or args.concurrency < 1 or args.chunk < 1:
        parser.error("--workers, --messages, --concurrency and --chunk must be >= 1")
    if args.target is not None and not re.fullmatch(r"[^:]+:\d+", args.target):
        parser.error("--target is HOST:PORT")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
