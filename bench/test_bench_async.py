"""asyncio clients, messages per second on one connection: smtpx's AsyncSMTP against
aiosmtplib (the baseline), 1 KB messages to Postfix's smtp-sink on loopback.

Each round: connect, EHLO, N messages, QUIT, on a fresh event loop; time per message = round
time / N. ``send_raw`` waits for each message's reply like aiosmtplib's ``sendmail``;
``send_batch`` pipelines across messages (RFC 2920), which aiosmtplib cannot do.
"""
from __future__ import annotations

import asyncio

import pytest

from tests.servers.postfix import start_smtp_sink
from smtpx.aio import AsyncSMTP

aiosmtplib = pytest.importorskip("aiosmtplib")

FROM = "sender@example.test"
TO = "rcpt@example.test"
SIZE, COUNT = 1024, 400
GROUP = "async msgs/s on smtp-sink, 1 KB"


def make_message(size: int) -> bytes:
    headers = (f"From: <{FROM}>\r\nTo: <{TO}>\r\nSubject: async throughput\r\n"
               "Message-ID: <bench@example.test>\r\nDate: Sat, 28 Nov 2026 12:00:00 +0000\r\n\r\n").encode()
    line = b"The quick brown fox jumps over the lazy dog, again and again and again.\r\n"
    return headers + (line * (size // len(line) + 1))[:size - 2] + b"\r\n"


async def send_aiosmtplib(port: int, message: bytes, count: int) -> None:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, use_tls=False)
    await client.connect()
    for _ in range(count):
        await client.sendmail(FROM, [TO], message)
    await client.quit()


async def send_smtpx(port: int, message: bytes, count: int) -> None:
    async with AsyncSMTP(mail_server="127.0.0.1", mail_port=port) as client:
        for _ in range(count):
            await client.send_raw(FROM, [TO], message)


async def send_smtpx_batch(port: int, message: bytes, count: int) -> None:
    async with AsyncSMTP(mail_server="127.0.0.1", mail_port=port) as client:
        results = await client.send_batch([(FROM, [TO], message)] * count)
    assert not any(isinstance(r, Exception) for r in results)


CLIENTS = {
    "aiosmtplib": send_aiosmtplib,
    "smtpx AsyncSMTP.send_raw": send_smtpx,
    "smtpx AsyncSMTP.send_batch": send_smtpx_batch,
}


@pytest.fixture(scope="module")
def sink():
    server = start_smtp_sink()
    yield server
    server.stop()


@pytest.mark.parametrize("client", list(CLIENTS))
def test_async_sink_throughput(benchmark, ratios, sink, client):
    benchmark.group = GROUP
    message = make_message(SIZE)
    send = CLIENTS[client]
    benchmark.pedantic(lambda: asyncio.run(send(sink.port, message, COUNT)), rounds=5, iterations=1,
                       warmup_rounds=1)
    if getattr(benchmark, "stats", None) is None:
        return
    per_message = benchmark.stats.stats.median / COUNT
    benchmark.extra_info["messages_per_second"] = 1 / per_message
    ratios.record_seconds(GROUP, client, per_message, baseline=(client == "aiosmtplib"))
