"""process_queue on a pool (sync and async) against the real aiosmtpd server of the facade
tests: every connection runs its own process_queue on one folder at the same time, so each
file must still go out exactly once (the claim is atomic), a refused file becomes *.failed
while the others go, and the merged QueueRun says what every connection did."""
from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

import smtpx
from smtpx.aio import AsyncSMTPPool
from smtpx.errors import SMTPConnectError
from tests.pool.helpers import arrivals, connections
from tests.servers.sockets import free_port

FILES = 60


def fill_queue(folder: Path, count: int = FILES) -> None:
    composer = smtpx.SMTP(from_="sender@example.com", send_to="rcpt@example.com")
    for n in range(count):
        composer.subject = f"pool-{n}"
        composer.message_text = f"body {n}\r\n"
        composer.queue(str(folder))


def left(folder: Path, suffix: str) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.endswith(suffix))


def pool_args(server) -> dict:
    return {"mail_server": server.host, "mail_port": server.port}


def test_each_file_goes_once_over_several_connections(server, tmp_path):
    fill_queue(tmp_path)
    with smtpx.SMTPPool(3, **pool_args(server)) as pool:
        run = pool.process_queue(str(tmp_path))
    assert arrivals(server) == {n: 1 for n in range(FILES)}
    assert len(run.sent) == FILES and len(set(run.sent)) == FILES and not run.failed
    assert os.listdir(tmp_path) == []
    assert connections(server) == 3  # every connection took part


def test_a_refused_file_fails_alone(server, tmp_path):
    fill_queue(tmp_path)
    server.reply("MAIL", "550 5.7.1 not from you", times=1)
    with smtpx.SMTPPool(2, **pool_args(server)) as pool:
        run = pool.process_queue(str(tmp_path))
    assert len(run.failed) == 1 and len(run.sent) == FILES - 1
    assert len(left(tmp_path, ".failed")) == 1 and left(tmp_path, ".queued") == []
    assert sum(arrivals(server).values()) == FILES - 1


def test_no_server_raises_with_the_merged_run_and_keeps_every_file(tmp_path):
    fill_queue(tmp_path, 5)
    pool = smtpx.SMTPPool(2, mail_server="127.0.0.1", mail_port=free_port())
    with pytest.raises(SMTPConnectError) as info:
        pool.process_queue(str(tmp_path))
    assert info.value.queue_run.sent == []  # type: ignore[attr-defined]
    assert len(left(tmp_path, ".queued")) + len(left(tmp_path, ".sending")) == 5
    pool.close()


def test_async_pool_each_file_goes_once(server, tmp_path):
    fill_queue(tmp_path)

    async def main():
        async with AsyncSMTPPool(3, **pool_args(server)) as pool:
            return await pool.process_queue(str(tmp_path))

    run = asyncio.run(main())
    assert arrivals(server) == {n: 1 for n in range(FILES)}
    assert len(run.sent) == FILES and not run.failed
    assert os.listdir(tmp_path) == []
