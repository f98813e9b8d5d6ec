"""AsyncSMTP.interrupt() against real servers: from another thread and from the loop's own
thread it aborts the running method with SMTPInterrupted (301) without waiting for the server,
drops the connection and leaves the object usable; when idle it does nothing; a user's
task.cancel() still raises CancelledError."""
from __future__ import annotations

import asyncio
import socket
import sys
import threading

import pytest

import smtpx
from smtpx.aio import AsyncSMTP

from tests.servers.sockets import LoopbackServer

from .helpers import HoldingServer, arun, interrupt_when, trail_of

MESSAGE = b"Subject: held\r\n\r\nthe server holds the reply to this one\r\n"
SECOND = b"Subject: after\r\n\r\nsent on a new connection\r\n"


needs_cancel_counting = pytest.mark.skipif(
    sys.version_info < (3, 11),
    reason="Python 3.10 counts no cancel requests (Task.uncancel/cancelling are 3.11+): a user's "
           "cancel in the same instant as an interrupt is reported as the interrupt there")


def _client(srv: HoldingServer) -> AsyncSMTP:
    return AsyncSMTP(mail_server=srv.host, mail_port=srv.port, timeout=30)


def test_interrupt_from_another_thread_aborts_a_send_waiting_for_the_reply():
    statuses: list[str] = []

    async def go(srv: HoldingServer):
        client = _client(srv)
        client.on_connection_status = lambda event: statuses.append(event.connection_event)
        await client.connect()
        thread = interrupt_when(srv.arrived, client)
        with pytest.raises(smtpx.SMTPInterrupted) as info:
            await client.send_raw("a@example.com", ["b@example.com"], MESSAGE)
        # The reply to "." is still held by the server: the method did not wait for it.
        assert not srv.release.is_set() and srv.released_replies == 0
        assert info.value.code == 301
        assert not client.connected and client.idle
        assert statuses[-1] == "Remote host disconnected"
        thread.join(5)
        srv.release.set()
        result = await client.send_raw("a@example.com", ["c@example.com"], SECOND)
        assert result.all_accepted and not client.connected  # connected for the call, then quit

    with HoldingServer() as srv:
        arun(lambda: go(srv))
    assert srv.messages == [SECOND]
    assert srv.rcpt_lists == [["c@example.com"]]


def test_interrupt_from_the_loops_own_thread_aborts_the_method():
    async def go(srv: HoldingServer):
        client = _client(srv)
        task = asyncio.ensure_future(client.send_raw("a@example.com", ["b@example.com"], MESSAGE))
        await asyncio.get_running_loop().run_in_executor(None, srv.arrived.wait, 30)
        assert not client.idle
        client.interrupt()  # another task on the same loop
        with pytest.raises(smtpx.SMTPInterrupted):
            await task
        assert srv.released_replies == 0
        assert not client.connected and client.idle
        srv.release.set()
        await client.send_raw("a@example.com", ["b@example.com"], SECOND)

    with HoldingServer() as srv:
        arun(lambda: go(srv))
    assert srv.messages == [SECOND]


def test_interrupt_while_waiting_for_the_greeting():
    accepted = threading.Event()
    read_after: list[bytes] = []

    def silent(conn: socket.socket) -> None:
        accepted.set()  # says nothing: the client waits for a greeting that never comes
        read_after.append(conn.recv(100))

    async def go(port: int):
        client = AsyncSMTP(mail_server="127.0.0.1", mail_port=port, timeout=30)
        interrupt_when(accepted, client)
        with pytest.raises(smtpx.SMTPInterrupted):
            await client.connect()
        assert not client.connected and client.idle

    with LoopbackServer(silent, max_connections=1) as server:
        arun(lambda: go(server.port))
    assert read_after == [b""]  # the client closed without sending anything


def test_interrupt_when_idle_does_nothing_and_does_not_hit_the_next_method(server):
    async def go():
        client = AsyncSMTP(mail_server=server.host, mail_port=server.port, timeout=30)
        trail = trail_of(client)
        client.interrupt()  # not connected, nothing running
        await client.connect()
        thread = threading.Thread(target=client.interrupt)  # idle, from another thread
        thread.start()
        thread.join(5)
        client.interrupt()  # idle, from the loop's thread
        for _ in range(3):
            await asyncio.sleep(0)  # anything the interrupts scheduled has run now
        assert client.connected and client.idle
        result = await client.send_raw("a@example.com", ["b@example.com"], SECOND)
        assert result.all_accepted and client.connected
        await client.disconnect()
        return [line for _, line in trail if line.startswith("EHLO")]

    ehlos = arun(go)
    assert len(ehlos) == 1  # the same connection all along
    assert [m.data for m in server.messages] == [SECOND]


def test_a_users_task_cancel_still_raises_cancelled_error():
    async def go(srv: HoldingServer):
        client = _client(srv)
        task = asyncio.ensure_future(client.send_raw("a@example.com", ["b@example.com"], MESSAGE))
        await asyncio.get_running_loop().run_in_executor(None, srv.arrived.wait, 30)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not client.connected and client.idle
        srv.release.set()
        await client.send_raw("a@example.com", ["b@example.com"], SECOND)

    with HoldingServer() as srv:
        arun(lambda: go(srv))
    assert srv.messages == [SECOND]


@needs_cancel_counting
def test_a_users_cancel_wins_over_an_interrupt_at_the_same_time():
    async def go(srv: HoldingServer):
        client = _client(srv)
        task = asyncio.ensure_future(client.send_raw("a@example.com", ["b@example.com"], MESSAGE))
        await asyncio.get_running_loop().run_in_executor(None, srv.arrived.wait, 30)
        client.interrupt()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not client.connected and client.idle

    with HoldingServer() as srv:
        arun(lambda: go(srv))


@needs_cancel_counting
def test_an_interrupted_method_leaves_no_cancellation_behind():
    # After SMTPInterrupted the caller's task is not "being cancelled" any more: its own
    # asyncio.timeout blocks and awaits keep working.
    async def go(srv: HoldingServer):
        client = _client(srv)
        interrupt_when(srv.arrived, client)
        with pytest.raises(smtpx.SMTPInterrupted):
            await client.send_raw("a@example.com", ["b@example.com"], MESSAGE)
        assert asyncio.current_task().cancelling() == 0
        await asyncio.sleep(0)  # no CancelledError pending
        srv.release.set()
        async with asyncio.timeout(30):
            await client.send_raw("a@example.com", ["b@example.com"], SECOND)

    with HoldingServer() as srv:
        arun(lambda: go(srv))
    assert srv.messages == [SECOND]
