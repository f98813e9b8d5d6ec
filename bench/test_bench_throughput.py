"""Messages per second on one connection: smtpx against smtplib and aiosmtplib (the
baselines it must beat) and Postfix's smtp-source (the C load generator: the reference point).

Every client sends the same prebuilt message over one connection: connect, EHLO, N
messages, QUIT; time per message = batch time / N.

- "sink": Postfix's smtp-sink on loopback (PIPELINING, no CHUNKING), 1 KB and 100 KB.
- "20ms link": a real Postfix smtpd (PIPELINING + CHUNKING) behind a relay that adds 20 ms
  of round-trip delay, which shows what pipelining and BDAT buy.
"""
from __future__ import annotations

import asyncio
import shutil
import subprocess

import pytest

import smtpx
from servers.delay_relay import DelayRelay
from servers.postfix import start_postfix, start_smtp_sink

aiosmtplib = pytest.importorskip("aiosmtplib")

FROM = "sender@example.test"
TO = "rcpt@example.test"


def make_message(size: int) -> bytes:
    headers = (
        f"From: <{FROM}>\r\nTo: <{TO}>\r\nSubject: throughput\r\n"
        "Message-ID: <bench@example.test>\r\nDate: Sat, 28 Nov 2026 12:00:00 +0000\r\n\r\n"
    ).encode()
    line = b"The quick brown fox jumps over the lazy dog, again and again and again.\r\n"
    body = (line * (size // len(line) + 1))[:size - 2] + b"\r\n"
    return headers + body


def send_smtplib(port: int, message: bytes, count: int) -> None:
    import smtplib

    with smtplib.SMTP("127.0.0.1", port) as client:
        for _ in range(count):
            client.sendmail(FROM, [TO], message)


def send_aiosmtplib(port: int, message: bytes, count: int) -> None:
    async def run() -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, use_tls=False)
        await client.connect()
        for _ in range(count):
            await client.sendmail(FROM, [TO], message)
        await client.quit()

    asyncio.run(run())


def send_smtpx(port: int, message: bytes, count: int) -> None:
    client = smtpx.SMTP(mail_server="127.0.0.1", mail_port=port)
    client.connect()
    try:
        for _ in range(count):
            client.send_raw(FROM, [TO], message)
    finally:
        client.disconnect()


def send_smtp_source(port: int, size: int, count: int) -> None:
    binary = shutil.which("smtp-source") or "/usr/sbin/smtp-source"
    subprocess.run(
        [binary, "-d", "-m", str(count), "-l", str(size), "-f", FROM, "-t", TO, f"127.0.0.1:{port}"],
        check=True,
        stdout=subprocess.DEVNULL,
    )


CLIENTS = {
    "smtplib": send_smtplib,
    "aiosmtplib": send_aiosmtplib,
    "smtpx": send_smtpx,
}


@pytest.fixture(scope="module")
def sink():
    server = start_smtp_sink()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def slow_postfix(tmp_path_factory):
    import os
    import tempfile
    from pathlib import Path

    base = Path(tempfile.mkdtemp(prefix="smtpx-bench-postfix-"))
    os.chmod(base, 0o755)
    server = start_postfix(base)
    relay = DelayRelay(("127.0.0.1", server.smtp_port), one_way_delay=0.010)
    yield relay
    relay.close()
    server.stop()
    shutil.rmtree(base, ignore_errors=True)


def _measure(benchmark, ratios, group, name, fn, count, rounds, floor=None):
    benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=1 if rounds > 2 else 0)
    if getattr(benchmark, "stats", None) is None:
        return
    per_message = benchmark.stats.stats.median / count
    benchmark.extra_info["messages_per_second"] = 1 / per_message
    role = {"smtplib": {"baseline": True}, "smtp-source": {"reference": True}}.get(name, {"floor": floor})
    ratios.record_seconds(group, name, per_message, **role)


SINK_CASES = [(1024, 400, 3.0), (100 * 1024, 100, None)]


@pytest.mark.parametrize("size,count,floor", SINK_CASES, ids=["1KB", "100KB"])
@pytest.mark.parametrize("client", [*CLIENTS, "smtp-source"])
def test_sink_throughput(benchmark, ratios, sink, client, size, count, floor):
    group = f"msgs/s on smtp-sink, {size // 1024} KB"
    benchmark.group = group
    if client == "smtp-source":
        fn = lambda: send_smtp_source(sink.port, size, count)  # noqa: E731
    else:
        message = make_message(size)
        fn = lambda: CLIENTS[client](sink.port, message, count)  # noqa: E731
    _measure(benchmark, ratios, group, client, fn, count, rounds=5, floor=floor if client == "smtpx" else None)


@pytest.mark.parametrize("client", [*CLIENTS, "smtp-source"])
def test_delayed_link_throughput(benchmark, ratios, slow_postfix, client):
    size, count = 1024, 25
    group = "msgs/s to Postfix over a 20 ms link, 1 KB"
    benchmark.group = group
    if client == "smtp-source":
        fn = lambda: send_smtp_source(slow_postfix.port, size, count)  # noqa: E731
    else:
        message = make_message(size)
        fn = lambda: CLIENTS[client](slow_postfix.port, message, count)  # noqa: E731
    _measure(benchmark, ratios, group, client, fn, count, rounds=3, floor=2.5 if client == "smtpx" else None)
