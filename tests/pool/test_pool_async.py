"""smtpx.aio.AsyncSMTPPool against the same real servers as test_pool_sync.py: the async twins
of its main cases (order, FAULTS 43, retries, reconnects, laziness, task-safe single sends)."""
from __future__ import annotations

import asyncio

import pytest

import smtpx
import smtpx.aio
from smtpx.engine import SendResult
from smtpx.errors import SMTPConnectError, SMTPConnectionDropped, SMTPNotConnectedError, SMTPSenderRefused
from tests.servers.scripted import CLOSE
from tests.pool.helpers import CountingInput, arrivals, connections, message
from tests.servers.sockets import free_port


def make_pool(server, size=3, **options):
    options.setdefault("window", 2)
    return smtpx.aio.AsyncSMTPPool(size, mail_server=server.host, mail_port=server.port, **options)


def run(coroutine):
    return asyncio.run(coroutine)


def test_results_come_in_input_order_and_each_message_arrives_once(server):
    async def main():
        async with make_pool(server, size=3) as pool:
            return await pool.send_batch(message(n) for n in range(40))

    results = run(main())
    assert len(results) == 40 and all(isinstance(r, SendResult) for r in results)
    assert arrivals(server) == {n: 1 for n in range(40)}
    assert server.verbs().count("QUIT") == connections(server) >= 1


def test_iter_batch_yields_every_index_once(server):
    async def main():
        async with make_pool(server, size=2) as pool:
            return sorted([index async for index, _ in pool.iter_batch([message(n) for n in range(25)])])

    assert run(main()) == list(range(25))


def test_a_drop_after_an_end_of_data_is_reported_unknown_and_the_rest_go_elsewhere(server):
    """FAULTS 43, async: as the sync twin."""
    server.reply("DATA_END", CLOSE, times=1)

    async def main():
        async with make_pool(server, size=2, window=4) as pool:
            return await pool.send_batch(message(n) for n in range(30))

    results = run(main())
    unknown = [n for n, r in enumerate(results) if isinstance(r, SMTPConnectionDropped)]
    assert len(unknown) == 1 and results[unknown[0]].delivery_unknown is True
    assert all(isinstance(r, SendResult) for n, r in enumerate(results) if n not in unknown)
    assert arrivals(server) == {n: 1 for n in range(30)}


def test_a_421_mid_batch_sends_the_unsent_again_exactly_once(server):
    server.reply("RCPT", "421 4.3.2 shutting down", times=2)

    async def main():
        async with make_pool(server, size=2, window=3) as pool:
            return await pool.send_batch(message(n) for n in range(30))

    results = run(main())
    assert all(isinstance(r, SendResult) for r in results), results
    assert arrivals(server) == {n: 1 for n in range(30)}


def test_a_connection_that_cannot_connect_leaves_its_work_to_the_others(server):
    server.reply("EHLO", "421 4.7.0 too many connections", times=2)

    async def main():
        async with make_pool(server, size=3) as pool:
            return await pool.send_batch(message(n) for n in range(30))

    results = run(main())
    assert all(isinstance(r, SendResult) for r in results), results
    assert arrivals(server) == {n: 1 for n in range(30)}


def test_when_the_server_cannot_be_reached_every_message_fails_with_the_connect_error():
    async def main():
        async with smtpx.aio.AsyncSMTPPool(3, mail_server="127.0.0.1", mail_port=free_port()) as pool:
            return await pool.send_batch(message(n) for n in range(500))

    results = run(main())
    assert len(results) == 500 and all(isinstance(r, SMTPConnectError) for r in results)


def test_4xx_is_retried_and_5xx_is_not(server):
    server.reply("MAIL", "451 4.3.0 try again later", when="retry-me", times=2)
    server.reply("MAIL", "550 5.7.1 never", when="refuse-me", times=None)

    async def main():
        async with make_pool(server, size=2, retries=2, backoff=0.01) as pool:
            return await pool.send_batch([message(0, sender="retry-me@example.com"),
                                          message(1, sender="refuse-me@example.com"), message(2)])

    results = run(main())
    assert isinstance(results[0], SendResult) and isinstance(results[2], SendResult)
    assert isinstance(results[1], SMTPSenderRefused) and results[1].reply_code == 550
    mails = [c for c in server.commands if c.startswith("MAIL")]
    assert sum("retry-me" in c for c in mails) == 3 and sum("refuse-me" in c for c in mails) == 1
    assert arrivals(server) == {0: 1, 2: 1}


def test_messages_per_connection_reconnects(server):
    async def main():
        async with make_pool(server, size=2, messages_per_connection=5) as pool:
            return await pool.send_batch(message(n) for n in range(20))

    assert all(isinstance(r, SendResult) for r in run(main()))
    assert connections(server) == 4 and server.verbs().count("QUIT") == 4
    assert arrivals(server) == {n: 1 for n in range(20)}


def test_iter_batch_reads_a_generator_lazily(server):
    source = CountingInput(100_000)

    async def main():
        async with make_pool(server, size=2, window=2, rate_limit=5000.0) as pool:
            batch = pool.iter_batch(source)
            await batch.__anext__()
            assert source.pulled <= pool.options.ahead
            await batch.aclose()
            return pool.options

    options = run(main())
    assert source.pulled <= options.ahead + options.chunk * options.size
    assert len(server.messages) < 100


def test_send_raw_from_many_tasks(server):
    async def main():
        async with make_pool(server, size=3) as pool:
            async def sender(base):
                for n in range(base, base + 8):
                    assert isinstance(await pool.send_raw(*message(n)), SendResult)

            await asyncio.gather(*(sender(100 * t) for t in range(6)))
            async with pool.connection() as smtp:
                assert isinstance(smtp, smtpx.aio.AsyncSMTP) and smtp.connected
                await smtp.send_raw(*message(999))

    run(main())
    expected = {100 * t + n: 1 for t in range(6) for n in range(8)}
    expected[999] = 1
    assert arrivals(server) == expected
    assert connections(server) <= 3


def test_a_closed_pool_refuses_work(server):
    async def main():
        pool = make_pool(server)
        await pool.close()
        with pytest.raises(SMTPNotConnectedError):
            await pool.send_raw(*message(0))
        with pytest.raises(SMTPNotConnectedError):
            await pool.send_batch([message(0)])

    run(main())
    assert connections(server) == 0
