"""The pool (issue 10, item 3): messages per second with N connections to Postfix's smtp-sink,
1 KB messages, beside Postfix's C load generator ``smtp-source -d -s N`` (the floor's
reference: the pool must reach 1.5x its rate) and smtplib with N threads, in the same run.

One round runs every client once, in a rotating order (as bench/test_bench_throughput.py),
each sending COUNT messages over N connections from connect to QUIT; a client's time per
message is its median round / COUNT. The server runs on one CPU and this process (every
client, and smtp-source, which inherits it) on another (test_bench_throughput's ``pinned``).
The ratio table shows each pool against smtp-source (the baseline here, with the floor), against
smtplib, and against a bare pool written for the benchmark (``bare_pool``): the least a valid
Python client with N pipelining connections over one ``poll()`` does, the physical floor of a
pool in this process on this link.

``test_iter_batch_memory``: 1,000,000 messages (SMTPX_POOL_MEMORY_MESSAGES to change it)
through ``iter_batch`` from a generator, the resident set size read from /proc/self/status
while they run; the floor is growth below 50 MB. It records, it does not time.
"""
from __future__ import annotations

import asyncio
import os
import select
import socket
import shutil
import smtplib
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

import smtpx
import smtpx.aio
from _rounds import rotating_rounds
from test_bench_throughput import FROM, TO, _children, make_message, pinned, sink, slow_postfix  # noqa: F401
from tests.servers.postfix import start_postfix

SIZE, COUNT, ROUNDS = 1024, 4000, 7
FLOOR = 1.5  # the pool against smtp-source -d -s N
BARE_POOL = "bare pool (floor)"
MEMORY_FLOOR_MB = 50


def smtp_source(port: int, sessions: int, count: int) -> None:
    binary = shutil.which("smtp-source") or "/usr/sbin/smtp-source"
    subprocess.run([binary, "-d", "-s", str(sessions), "-m", str(count), "-l", str(SIZE), "-f", FROM,
                    "-t", TO, f"127.0.0.1:{port}"], check=True, stdout=subprocess.DEVNULL)


def smtplib_threads(port: int, sessions: int, count: int, message: bytes) -> None:
    def one(share: int) -> None:
        with smtplib.SMTP("127.0.0.1", port) as client:
            for _ in range(share):
                client.sendmail(FROM, [TO], message)

    shares = [count // sessions + (1 if n < count % sessions else 0) for n in range(sessions)]
    threads = [threading.Thread(target=one, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def bare_pool(port: int, sessions: int, count: int, message: bytes) -> int:
    """The least a valid pool can do, written for the benchmark: N non-blocking sockets in one
    ``poll()``, as SMTPPool's batches wait; the message stuffed once; one Write per message (its
    content and "." with the next MAIL / RCPT / DATA: RFC 2920 lets nothing go before DATA's
    354), the replies counted by their last lines and refused unless 2xx / 3xx; no parse, no
    results. Not a client anyone should use: it is the floor the pools are measured against.
    Returns how many messages the server accepted (the reply to their "." was counted)."""
    envelope = f"MAIL FROM:<{FROM}>\r\nRCPT TO:<{TO}>\r\nDATA\r\n".encode()
    content = message.replace(b"\r\n.", b"\r\n..") + b".\r\n"
    poller = select.poll()
    # per descriptor: [socket, envelopes still to send, replies owed, a partial line, a "." owed]
    connections: dict[int, list] = {}
    accepted = 0
    for share in [count // sessions + (1 if n < count % sessions else 0) for n in range(sessions)]:
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with sock.makefile("rb") as lines:  # the greeting and EHLO, blocking
            lines.readline()
            sock.sendall(b"EHLO bare.example.test\r\n")
            while lines.readline()[3:4] != b" ":
                pass
        sock.setblocking(False)
        sock.sendall(envelope)
        connections[sock.fileno()] = [sock, share - 1, 3, b"", False]
        poller.register(sock.fileno(), select.POLLIN)
    running = len(connections)
    while running:
        for fd, _events in poller.poll():
            state = connections[fd]
            data = state[0].recv(65536)
            if not data:
                raise ConnectionError("the sink closed a connection")
            buffer, owed, start = state[3] + data, state[2], 0
            while (end := buffer.find(b"\n", start)) >= 0:
                if buffer[start + 3:start + 4] == b" ":  # a reply's last line
                    if buffer[start:start + 1] not in (b"2", b"3"):
                        raise ConnectionError(buffer[start:end].decode(errors="replace"))
                    owed -= 1
                start = end + 1
            state[2], state[3] = owed, buffer[start:]
            if owed:
                continue
            accepted += state[4]  # every reply in, each 2xx / 3xx: the "." that went was accepted
            if state[1] > 0:  # (the socket buffer takes a 1 KB Write whole)
                state[0].send(content + envelope)
                state[1], state[2], state[4] = state[1] - 1, 4, True
            elif state[1] == 0:
                state[0].send(content)
                state[1], state[2], state[4] = -1, 1, True
            else:
                state[0].send(b"QUIT\r\n")
                poller.unregister(fd)
                state[0].close()
                running -= 1
    return accepted


def check(results: list) -> None:
    failed = [r for r in results if isinstance(r, smtpx.SMTPError)]
    assert not failed, failed[0]


def pool_sync(port: int, sessions: int, count: int, message: bytes) -> None:
    with smtpx.SMTPPool(sessions, mail_server="127.0.0.1", mail_port=port) as pool:
        check(pool.send_batch([(FROM, [TO], message)] * count))


def pool_async(port: int, sessions: int, count: int, message: bytes) -> None:
    async def main() -> None:
        async with smtpx.aio.AsyncSMTPPool(sessions, mail_server="127.0.0.1", mail_port=port) as pool:
            check(await pool.send_batch([(FROM, [TO], message)] * count))

    asyncio.run(main())


def smtplib_one(port: int, count: int, message: bytes) -> None:
    smtplib_threads(port, 1, count, message)


@pytest.fixture(scope="module")
def postfix():
    """A real Postfix (smtpd, cleanup, qmgr, local delivery to an mbox): its disk queue is the
    limit. Its master and children on one CPU, the clients on the other. (Its folder is
    directly under /tmp: Postfix's own processes must be able to reach it.)"""
    base = Path(tempfile.mkdtemp(prefix="smtpx-bench-pool-postfix-"))
    os.chmod(base, 0o755)
    server = start_postfix(base)
    master = int((base / "spool" / "pid" / "master.pid").read_text().split()[0])
    try:
        with pinned([master, *_children(master)]):
            yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("sessions", [4, 16], ids=["N=4", "N=16"])
def test_pool_throughput(benchmark, ratios, sink, sessions):
    message = make_message(SIZE)
    runners = {
        "smtp-source -d": lambda: smtp_source(sink.port, sessions, COUNT),
        "smtplib threads": lambda: smtplib_threads(sink.port, sessions, COUNT, message),
        "SMTPPool": lambda: pool_sync(sink.port, sessions, COUNT, message),
        "AsyncSMTPPool": lambda: pool_async(sink.port, sessions, COUNT, message),
        BARE_POOL: lambda: bare_pool(sink.port, sessions, COUNT, message),
    }
    _rounds(benchmark, ratios, f"pool msgs/s on smtp-sink, 1 KB, N={sessions}", runners, COUNT, ROUNDS,
            baseline="smtp-source -d", reference="smtplib threads", floor=FLOOR, floor_client=BARE_POOL)


@pytest.mark.timeout(900)  # bound by the server's disk, which differs between machines
def test_pool_to_postfix(benchmark, ratios, postfix):
    """Against a real Postfix the disk queue is the limit: the pool should be within 10% of
    the fastest peer (smtp-source -s 4, smtplib with 4 threads) or ahead."""
    count, message = 500, make_message(SIZE)
    runners = {
        "smtp-source -d": lambda: smtp_source(postfix.smtp_port, 4, count),
        "smtplib threads": lambda: smtplib_threads(postfix.smtp_port, 4, count, message),
        "SMTPPool": lambda: pool_sync(postfix.smtp_port, 4, count, message),
        "AsyncSMTPPool": lambda: pool_async(postfix.smtp_port, 4, count, message),
    }
    _rounds(benchmark, ratios, "pool msgs/s to Postfix (disk queue), 1 KB, N=4", runners, count, 3,
            baseline="smtp-source -d", reference="smtplib threads", floor=0.9)


@pytest.mark.timeout(900)  # bound by the server's disk, which differs between machines
def test_pool_over_delayed_link(benchmark, ratios, slow_postfix):  # noqa: F811
    """Postfix behind a relay adding 20 ms of round trip: the pool with N=4 against smtplib on
    one connection (the issue's floor: 40x), smtp-source -s 4 beside it, and the same pool
    straight to the same Postfix (no relay) as the ceiling: what this Postfix takes from it."""
    # smtplib pays 4 round trips a message: 30 messages give its rate. The pools send 200
    # messages per connection, as send_batch does on its one connection over this link, so
    # that connecting and QUIT (4 round trips, 80 ms) do not hide their rate; smtp-source,
    # one message per round trip, sends 100 per connection (more would only take longer).
    few, per_connection, message = 30, 200, make_message(SIZE)
    many = 4 * per_connection
    ceiling = "SMTPPool, no relay (ceiling)"
    runners = {
        "smtplib": lambda: smtplib_one(slow_postfix.port, few, message),
        "smtp-source -d": lambda: smtp_source(slow_postfix.port, 4, 400),
        "SMTPPool": lambda: pool_sync(slow_postfix.port, 4, many, message),
        "AsyncSMTPPool": lambda: pool_async(slow_postfix.port, 4, many, message),
        ceiling: lambda: pool_sync(slow_postfix.target[1], 4, many, message),
    }
    counts = {name: many for name in runners}
    counts.update({"smtplib": few, "smtp-source -d": 400})
    roles = {name: {"floor": 40.0} for name in ("SMTPPool", "AsyncSMTPPool")}
    roles.update({"smtplib": {"baseline": True}, "smtp-source -d": {"reference": True},
                  ceiling: {"reference": True}})
    rotating_rounds(benchmark, ratios, "pool msgs/s to Postfix over a 20 ms link, 1 KB, N=4", runners, counts, 3,
                    roles)


def _rounds(benchmark, ratios, group, runners, count, rounds, *, baseline, reference, floor, floor_client=None):
    roles = {name: {"floor": floor} for name in runners}
    roles.update({baseline: {"baseline": True}, reference: {"reference": True}})
    if floor_client is not None:
        roles[floor_client] = {"reference": True}
    rotating_rounds(benchmark, ratios, group, runners, count, rounds, roles)


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def messages(count: int, message: bytes):
    for _ in range(count):
        yield (FROM, [TO], message)


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_iter_batch_memory(benchmark, sink, kind):
    total = int(os.environ.get("SMTPX_POOL_MEMORY_MESSAGES", "1000000"))
    message = make_message(SIZE)
    found = {"start": 0.0, "peak": 0.0, "count": 0, "failed": 0}

    def note(count: int, outcome: object) -> None:
        found["count"] = count
        found["failed"] += isinstance(outcome, smtpx.SMTPError)
        if count % 10_000 == 0:
            found["peak"] = max(found["peak"], rss_mb())

    def run_sync() -> None:
        with smtpx.SMTPPool(4, mail_server="127.0.0.1", mail_port=sink.port) as pool:
            pool.send_batch(messages(20_000, message))  # warm: threads, buffers, caches
            found["start"] = found["peak"] = rss_mb()
            for count, (_index, outcome) in enumerate(pool.iter_batch(messages(total, message)), 1):
                note(count, outcome)

    async def run_async() -> None:
        async with smtpx.aio.AsyncSMTPPool(4, mail_server="127.0.0.1", mail_port=sink.port) as pool:
            await pool.send_batch(messages(20_000, message))
            found["start"] = found["peak"] = rss_mb()
            count = 0
            async for _index, outcome in pool.iter_batch(messages(total, message)):
                count += 1
                note(count, outcome)

    benchmark.group = "pool iter_batch memory"
    benchmark.pedantic(run_sync if kind == "sync" else lambda: asyncio.run(run_async()), rounds=1, iterations=1)
    growth = found["peak"] - found["start"]
    benchmark.extra_info.update(messages=found["count"], rss_start_mb=round(found["start"], 1),
                                rss_peak_mb=round(found["peak"], 1), growth_mb=round(growth, 1))
    print(f"\n{kind} iter_batch: {found['count']} messages, RSS {found['start']:.1f} MB -> peak "
          f"{found['peak']:.1f} MB (growth {growth:.1f} MB, floor < {MEMORY_FLOOR_MB} MB)")
    assert found["count"] == total and found["failed"] == 0
    assert growth < MEMORY_FLOOR_MB
