"""The asyncio driver's fast path (smtpx.session.eager): engine operations advanced from the
stream's protocol callbacks while replies arrive. Real servers on real sockets: aiosmtpd (the
scripted server) and raw byte-level peers for replies that trickle, stall or stop."""
from __future__ import annotations

import asyncio
import contextvars

import pytest

from smtpx import SSLStartMode
from smtpx.aio import AsyncSMTP
from smtpx.aio.stream import AsyncStream
from smtpx.engine import SendResult
from smtpx.errors import SMTPConnectionDropped, SMTPTimeoutError
from smtpx.session import eager
from tests.aio.helpers import arun, client_for
from tests.servers.scripted import RawServer, ScriptedServer

MESSAGE = b"Subject: eager\r\n\r\nbody line\r\n"
GREETING = [("send", b"220 raw ESMTP\r\n"), ("expect", b"EHLO"), ("send", b"250-raw\r\n250 PIPELINING\r\n")]


def _raw_client(raw: RawServer, **props: object) -> AsyncSMTP:
    props.setdefault("timeout", 10)
    return AsyncSMTP(mail_server=raw.host, mail_port=raw.port, **props)


@pytest.fixture
def on_data_calls(monkeypatch):
    """How many times the protocol advanced an operation with the bytes that arrived."""
    calls = [0]
    original = eager._EagerRun.on_data

    def counting(run: eager._EagerRun, data: bytes) -> bool:
        calls[0] += 1
        return original(run, data)

    monkeypatch.setattr(eager._EagerRun, "on_data", counting)
    return calls


def test_a_batchs_replies_advance_it_from_the_protocol(server, on_data_calls):
    async def go():
        client = client_for(server)
        await client.connect()
        try:
            return await client.send_batch([("a@example.com", [f"r{i}@example.com"], MESSAGE) for i in range(20)])
        finally:
            await client.disconnect()

    results = arun(go)
    assert [isinstance(result, SendResult) and result.all_accepted for result in results] == [True] * 20
    assert len(server.messages) == 20
    assert on_data_calls[0] >= 20  # at least a reply a message came through data_received


def test_after_starttls_the_replies_still_advance_a_batch_from_the_protocol(tls, on_data_calls):
    # Over TLS the bytes reach the protocol through asyncio's SSL layer (and the transport,
    # with its own write buffer limits, is a new one): the fast path must still take them.
    server_ctx, ca_pem = tls
    with ScriptedServer(tls_context=server_ctx, require_starttls=True) as srv:
        async def go():
            client = client_for(srv, ssl_start_mode=SSLStartMode.EXPLICIT)
            client.config("SSLServerCACerts=" + ca_pem)
            await client.connect()
            on_data_calls[0] = 0
            try:
                return await client.send_batch([("a@example.com", [f"r{i}@example.com"], MESSAGE)
                                                for i in range(10)])
            finally:
                await client.disconnect()

        results = arun(go)
        assert srv.verbs()[:3] == ["EHLO", "STARTTLS", "EHLO"]
        assert len(srv.messages) == 10
    assert [isinstance(result, SendResult) and result.all_accepted for result in results] == [True] * 10
    assert on_data_calls[0] >= 10


def test_a_reply_trickled_a_byte_at_a_time_is_read_whole(on_data_calls):
    def trickled(reply: bytes) -> list:
        steps: list = []
        for byte in reply:
            steps += [("send", bytes([byte])), ("wait", 0.002)]
        return steps

    script = [("send", b"220 raw ESMTP\r\n"), ("expect", b"EHLO"), *trickled(b"250-raw\r\n250 PIPELINING\r\n"),
              ("expect", b"MAIL"), ("expect", b"RCPT"), ("expect", b"DATA"),
              *trickled(b"250 sender ok\r\n250 rcpt ok\r\n354 go\r\n"),
              ("expect", b"SUBJECT"), ("expect", b""), ("expect", b"BODY"), ("expect", b"."),
              *trickled(b"250 2.0.0 queued as TRICKLE\r\n")]
    with RawServer(script) as raw:
        async def go():
            client = _raw_client(raw)
            await client.connect()
            try:
                return await client.send_raw("a@example.com", ["b@example.com"], MESSAGE)
            finally:
                await client.disconnect()

        result = arun(go)
    assert result.all_accepted
    assert result.reply is not None and result.reply.text == "2.0.0 queued as TRICKLE"
    assert on_data_calls[0] > 20  # parked again after each byte


def test_the_timeout_of_a_parked_read_is_not_restarted_when_the_task_takes_it_over(monkeypatch):
    # The reply to MAIL never comes. The read parks with a timer at its deadline; the timer
    # hands the read to the task (read_on), which must raise at once: restarting the read's
    # clock there would wait a second timeout. Seen without timing anything: the clock of a
    # read starts in _start_call(reading=True), once for the one read the send makes.
    reads_started = []
    original = AsyncStream._start_call

    def start_call(self, reading=False):
        if reading:
            reads_started.append(self)
        return original(self, reading)

    monkeypatch.setattr(AsyncStream, "_start_call", start_call)
    script = [*GREETING, ("expect", b"MAIL"), ("wait", 30)]
    with RawServer(script) as raw:
        async def go():
            client = _raw_client(raw, timeout=1)
            await client.connect()
            reads_started.clear()  # (the greeting's and EHLO's reads)
            with pytest.raises(SMTPTimeoutError) as raised:
                await client.send_raw("a@example.com", ["b@example.com"], MESSAGE)
            return raised.value, client.connected

        error, connected = arun(go)
    assert error.code == 301
    assert len(reads_started) == 1, reads_started  # one read, its clock started once: one timeout
    assert not connected


def test_a_connection_closed_while_a_read_is_parked_is_dropped():
    script = [*GREETING, ("expect", b"MAIL"), ("close", None)]
    with RawServer(script) as raw:
        async def go():
            client = _raw_client(raw)
            await client.connect()
            with pytest.raises(SMTPConnectionDropped) as raised:
                await client.send_raw("a@example.com", ["b@example.com"], MESSAGE)
            return raised.value, client.connected

        error, connected = arun(go, limit=15)
    assert error.code == 1120
    assert not connected


def test_cancelling_a_parked_operation_closes_it_and_the_connection():
    script = [*GREETING, ("expect", b"MAIL"), ("wait", 30)]
    with RawServer(script) as raw:
        async def go():
            client = _raw_client(raw)
            await client.connect()
            task = asyncio.ensure_future(client.send_raw("a@example.com", ["b@example.com"], MESSAGE))
            while not raw.received.count(b"MAIL"):
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)  # the read of MAIL's reply is parked by now
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return client.connected

        assert arun(go, limit=15) is False


REQUEST = contextvars.ContextVar("REQUEST", default="unset")


def test_event_handlers_of_reply_driven_steps_see_the_callers_context(server):
    seen: list[str] = []

    async def go():
        client = client_for(server)
        await client.connect()  # (the transport's callbacks keep the context of this moment)
        REQUEST.set("request-42")
        client.on_pi_trail = lambda event: seen.append(REQUEST.get())
        try:
            await client.send_batch([("a@example.com", ["b@example.com"], MESSAGE)] * 3)
        finally:
            client.on_pi_trail = None
            await client.disconnect()

    arun(go)
    assert seen and set(seen) == {"request-42"}


class _Stop(BaseException):
    """Not an Exception: what a handler might raise to stop everything."""


def test_a_base_exception_from_a_handler_mid_reply_reaches_the_caller(server, on_data_calls):
    async def go():
        client = client_for(server)
        await client.connect()
        on_data_calls[0] = 0

        def handler(event):
            if on_data_calls[0]:  # a step the protocol drives (the first, the reply to MAIL's)
                raise _Stop()

        client.on_pi_trail = handler
        try:
            await client.send_raw("a@example.com", ["b@example.com"], MESSAGE)
        finally:
            client.on_pi_trail = None
        return client.connected

    with pytest.raises(_Stop):
        arun(go, limit=15)
    assert on_data_calls[0] >= 1
