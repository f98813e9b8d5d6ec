"""AsyncSMTP.queue() and process_queue() against real aiosmtpd servers: queue files that the
sync facade delivers byte for byte, runs that settle every file as smtpx.SMTP's do (the same
run, smtpx.queue.runner), on_error on the loop's thread, and interrupt / cancel leaving the
files being sent as *.sending for the next run."""
from __future__ import annotations

import asyncio
import json
import os
import stat
import threading

import pytest

import smtpx
from smtpx.aio import AsyncSMTP
from smtpx.queue.files import MAGIC, read_queue_file

from .helpers import HoldingServer, arun, client_for, interrupt_when

PROPS = dict(from_="Jörg <sender@example.com>", send_to="rcpt@example.com", cc="cc@example.com",
             subject="Grüße", message_text="Zeile eins\r\n.punkt am Anfang\r\nEnde\r\n")


def _message_bytes(path: str) -> tuple[list[str], bytes]:
    """The recipients and the message bytes a queue file holds (checked by smtpx.queue)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        queued = read_queue_file(fd)
        return [r.address for r in queued.envelope.recipients], os.pread(fd, queued.length, queued.offset)
    finally:
        os.close(fd)


def _names(folder) -> list[str]:
    return sorted(os.listdir(folder))


def _queue_some(srv, folder, addresses: list[str]) -> list[str]:
    """Queue one message per address with AsyncSMTP.queue; the paths, oldest first."""

    async def go():
        paths = []
        for n, address in enumerate(addresses):  # a new object each: setting send_to adds (reference)
            client = AsyncSMTP(mail_server=srv.host, mail_port=srv.port, from_="a@example.com",
                               send_to=address, subject=f"message {n}", message_text=f"body {n}\r\n")
            paths.append(await client.queue(str(folder)))
        return paths

    return arun(go)


def test_queue_writes_a_file_that_the_sync_facade_delivers_byte_for_byte(server, tmp_path):
    async def go():
        client = client_for(server, **PROPS)
        path = await client.queue(str(tmp_path))
        return path, client.connected

    path, connected = arun(go)
    assert not connected  # queueing needs no server
    assert os.path.dirname(path) == str(tmp_path) and path.endswith(".queued")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    recipients, content = _message_bytes(path)
    assert recipients == ["rcpt@example.com", "cc@example.com"]
    assert b"\r\n..punkt" not in content and b"\r\n.punkt am Anfang\r\n" in content  # not dot-stuffed

    run = smtpx.SMTP(mail_server=server.host, mail_port=server.port).process_queue(str(tmp_path))
    assert len(run.sent) == 1 and run.failed == []
    [received] = server.messages
    assert received.data == content
    assert received.rcpt_tos == recipients
    assert received.mail_from == "sender@example.com"
    assert _names(tmp_path) == []


def test_queue_star_returns_the_file_text_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    async def go():
        return await AsyncSMTP(**PROPS).queue("*")

    text = arun(go)
    assert _names(tmp_path) == []
    data = text.encode("utf-8", "surrogateescape")
    assert data.startswith(MAGIC)
    envelope = json.loads(data.split(b"\n")[1])
    assert envelope["mail_from"] == "sender@example.com"
    assert [r[0] for r in envelope["recipients"]] == ["rcpt@example.com", "cc@example.com"]
    copy = tmp_path / "copy.queued"
    copy.write_bytes(data)
    recipients, content = _message_bytes(str(copy))  # a valid queue file (length, checksum)
    assert b"Subject: =?" in content and content.endswith(b"Ende\r\n")


def test_queue_refuses_a_missing_folder_and_bad_input_before_writing(tmp_path):
    async def go():
        client = AsyncSMTP(**PROPS)
        with pytest.raises(smtpx.SMTPInputError):
            await client.queue(str(tmp_path / "missing"))
        client.from_ = ""
        with pytest.raises(smtpx.SMTPError):
            await client.queue(str(tmp_path))
        assert client.idle

    arun(go)
    assert _names(tmp_path) == []


def test_process_queue_sends_every_file_and_parks_the_refused_one(server, tmp_path):
    paths = _queue_some(server, tmp_path, ["one@example.com", "bad@example.com", "three@example.com"])
    expected = {p: _message_bytes(p)[1] for p in paths}
    server.reply("RCPT", "550 5.1.1 no such user", when="bad@")
    errors: list[tuple[str, int]] = []
    threads: list[int] = []

    async def go():
        client = client_for(server)

        def on_error(event):
            threads.append(threading.get_ident())
            errors.append((event.description, event.error_code))

        client.on_error = on_error
        run = await client.process_queue(str(tmp_path))
        return run, client.connected, threading.get_ident()

    run, connected, loop_thread = arun(go)
    assert not connected  # connected for the run, then quit
    stems = [os.path.basename(p).rsplit(".", 1)[0] for p in paths]
    assert len(run.sent) == 2 and run.recovered == []
    assert [name for name, _ in run.failed] == [f"{stems[1]}.failed"]
    assert _names(tmp_path) == [f"{stems[1]}.failed"]
    assert [m.data for m in server.messages] == [expected[paths[0]], expected[paths[2]]]
    assert [m.rcpt_tos for m in server.messages] == [["one@example.com"], ["three@example.com"]]
    assert server.verbs().count("EHLO") == 1  # one connection for the whole run
    [(description, code)] = errors
    assert description.startswith(f"{stems[1]}.failed: ") and "550" in description and code
    assert threads == [loop_thread]  # on_error fired on the loop's thread


def test_process_queue_keep_queue_and_an_open_connection_stays_open(server, tmp_path):
    paths = _queue_some(server, tmp_path, ["one@example.com", "two@example.com"])

    async def go():
        client = client_for(server)
        client.config("KeepQueue=True")
        await client.connect()
        run = await client.process_queue(str(tmp_path))
        assert client.connected  # it was open before the run: kept
        await client.disconnect()
        return run

    run = arun(go)
    stems = [os.path.basename(p).rsplit(".", 1)[0] for p in paths]
    assert run.sent == [f"{s}.sent" for s in stems]
    assert _names(tmp_path) == [f"{s}.sent" for s in stems]
    assert len(server.messages) == 2


def test_interrupt_stops_the_run_and_the_next_run_recovers_the_file(tmp_path):
    with HoldingServer(holds=1) as srv:
        paths = _queue_some(srv, tmp_path, ["one@example.com", "two@example.com"])
        expected = [_message_bytes(p)[1] for p in paths]
        stems = [os.path.basename(p).rsplit(".", 1)[0] for p in paths]

        async def go():
            client = AsyncSMTP(mail_server=srv.host, mail_port=srv.port, timeout=30)
            interrupt_when(srv.arrived, client)
            with pytest.raises(smtpx.SMTPInterrupted):
                await client.process_queue(str(tmp_path))
            assert srv.released_replies == 0  # it did not wait for the held reply
            assert not client.connected and client.idle
            # Not settled: the window being sent (both files: SMTP.process_queue's windows) is
            # left for recovery.
            assert _names(tmp_path) == [f"{stems[0]}.sending", f"{stems[1]}.sending"]
            srv.release.set()
            return await client.process_queue(str(tmp_path))

        run = arun(go)
    assert run.recovered == [f"{stems[0]}.sending", f"{stems[1]}.sending"] and len(run.sent) == 2
    assert run.failed == []
    assert _names(tmp_path) == []
    assert srv.messages == expected


def test_a_users_cancel_stops_the_run_and_releases_the_file(tmp_path):
    with HoldingServer(holds=1) as srv:
        paths = _queue_some(srv, tmp_path, ["one@example.com"])
        stem = os.path.basename(paths[0]).rsplit(".", 1)[0]

        async def go():
            client = AsyncSMTP(mail_server=srv.host, mail_port=srv.port, timeout=30)
            task = asyncio.ensure_future(client.process_queue(str(tmp_path)))
            await asyncio.get_running_loop().run_in_executor(None, srv.arrived.wait, 30)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert not client.connected and client.idle
            assert _names(tmp_path) == [f"{stem}.sending"]
            srv.release.set()

        arun(go)
        # The lock was released: the sync facade recovers and sends the file.
        run = smtpx.SMTP(mail_server=srv.host, mail_port=srv.port).process_queue(str(tmp_path))
    assert run.recovered == [f"{stem}.sending"] and len(run.sent) == 1
    assert len(srv.messages) == 1


def test_two_runs_on_one_loop_never_send_a_file_twice(server, tmp_path):
    addresses = [f"r{n}@example.com" for n in range(12)]
    _queue_some(server, tmp_path, addresses)

    async def go():
        first, second = client_for(server), client_for(server)
        return await asyncio.gather(first.process_queue(str(tmp_path)), second.process_queue(str(tmp_path)))

    runs = arun(go)
    sent = [name for run in runs for name in run.sent]
    assert len(sent) == len(set(sent)) == len(addresses)
    assert sorted(r for m in server.messages for r in m.rcpt_tos) == sorted(addresses)
    assert _names(tmp_path) == []


@pytest.mark.parametrize("how", ["cancel", "interrupt"])
def test_a_cancelled_or_interrupted_queue_leaves_no_file(tmp_path, how):
    async def go():
        client = AsyncSMTP(**PROPS)
        task = asyncio.ensure_future(client.queue(str(tmp_path)))
        await asyncio.sleep(0)  # the task is now waiting for the write in its worker thread
        assert not client.idle
        if how == "cancel":
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        else:
            client.interrupt()
            with pytest.raises(smtpx.SMTPInterrupted):
                await task
        assert client.idle
        path = await client.queue(str(tmp_path))  # still usable
        return os.path.basename(path)

    name = arun(go)
    assert _names(tmp_path) == [name]
