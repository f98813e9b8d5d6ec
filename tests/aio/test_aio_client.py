"""AsyncSMTP against real aiosmtpd servers (their own thread and loop) and byte-level peers:
delivery, pipelining, methods, input errors, busy, timeouts, cancellation, events."""
from __future__ import annotations

import asyncio
import threading

import pytest

import smtpx
from tests.servers.scripted import RawServer
from smtpx.aio import AsyncSMTP
from smtpx.engine import SendResult

from .helpers import arun, client_for, trail_of

GREETING = b"220 raw.test ESMTP\r\n"
EHLO_REPLY = b"250-raw.test\r\n250 PIPELINING\r\n"


def test_send_raw_delivers_the_bytes_exactly(server):
    message = (b"From: a@example.com\r\nTo: b@example.com\r\nSubject: exact\r\n\r\n"
               b".leading dot\r\n..two dots\r\nline with trailing space \r\n\r\n.\r\nend\r\n")

    async def go():
        async with client_for(server) as client:
            return await client.send_raw("a@example.com", ["b@example.com", "c@example.com"], message)

    result = arun(go)
    assert isinstance(result, SendResult) and result.all_accepted
    [received] = server.messages
    assert received.data == message
    assert (received.mail_from, received.rcpt_tos) == ("a@example.com", ["b@example.com", "c@example.com"])


def _without_volatile(data: bytes) -> bytes:
    return b"\r\n".join(line for line in data.split(b"\r\n")
                        if not line.startswith((b"Date:", b"Message-ID:")))


def test_send_composes_the_same_message_as_the_sync_facade(server):
    props = dict(from_="Jörg <sender@example.com>", send_to="rcpt@example.com", cc="cc@example.com",
                 subject="Grüße aus Köln", message_text="Zeile eins\r\n.punkt\r\n")

    async def go():
        client = client_for(server, **props)
        result = await client.send()
        return result, client.config("MessageHeadersString")

    result, headers = arun(go)
    smtpx.SMTP(mail_server=server.host, mail_port=server.port, **props).send()
    first, second = server.messages
    assert [r.address for r in result.accepted] == ["rcpt@example.com", "cc@example.com"]
    assert _without_volatile(first.data) == _without_volatile(second.data)
    assert first.data.startswith(headers.encode().split(b"\r\n")[0])


def test_a_loop_of_send_on_an_open_connection_composes_each_message_and_keeps_the_last(server):
    """send() on an open connection (its path without context managers): each message is
    composed from the properties as they are (a fresh Message-ID each time, a changed subject
    taken), all on one connection, and config("MessageHeadersString") is the last one's."""
    async def go():
        client = client_for(server, from_="sender@example.com", send_to="rcpt@example.com",
                            subject="first", message_text="body\r\n")
        await client.connect()
        await client.send()
        await client.send()
        client.subject = "second"
        await client.send()
        headers = client.config("MessageHeadersString")
        await client.disconnect()
        return headers

    headers = arun(go)
    first, again, second = server.messages
    ids = [[line for line in m.data.split(b"\r\n") if line.startswith(b"Message-ID:")][0]
           for m in (first, again, second)]
    assert len(set(ids)) == 3
    assert b"Subject: first" in first.data and b"Subject: first" in again.data
    assert b"Subject: second" in second.data
    assert "Subject: second" in headers and ids[2].decode() in headers
    assert server.verbs().count("EHLO") == 1  # one connection


def test_a_loop_of_send_sends_the_message_made_while_the_server_answered(server, monkeypatch):
    """As the sync facade: the engine's ``meanwhile`` makes the next message during send(), and
    the next send() with unchanged properties sends that very message."""
    import time
    import types

    from smtpx.message import compose

    clock = types.SimpleNamespace(time=lambda: 1_800_000_000.5, localtime=time.localtime)
    monkeypatch.setattr(compose, "time", clock)  # one second throughout: a made-ahead Date stays fit

    async def go():
        client = client_for(server, from_="sender@example.com", send_to="rcpt@example.com",
                            subject="first", message_text="body\r\n")
        await client.connect()
        await client.send()
        made = client._ahead
        await client.send()
        await client.disconnect()
        return made

    made = arun(go)
    assert made is not None
    made_id = [line for line in made.message.headers_string.encode().split(b"\r\n") if line.startswith(b"Message-ID:")]
    sent_ids = [[line for line in m.data.split(b"\r\n") if line.startswith(b"Message-ID:")] for m in server.messages]
    assert sent_ids[1] == made_id and sent_ids[0] != made_id


def test_commands_are_pipelined_and_visible_in_pi_trail(server):
    async def go():
        client = client_for(server, send_to="a@example.com, b@example.com", message_text="x")
        trail = trail_of(client)
        await client.send()
        return trail

    trail = arun(go)
    mail = next(i for i, (d, m) in enumerate(trail) if d == 0 and m.startswith("MAIL FROM"))
    # MAIL and both RCPTs went out before the server's first reply (DATA waits for the RCPT
    # replies here: with two To recipients a refusal must be able to stop the send).
    assert [(d, m.split(":")[0]) for d, m in trail[mail:mail + 4]] == [
        (0, "MAIL FROM"), (0, "RCPT TO"), (0, "RCPT TO"), (1, "250 OK")]


def test_use_pipelining_off_waits_for_each_reply(server):
    async def go():
        client = client_for(server, message_text="x")
        client.config("UsePipelining=False")
        trail = trail_of(client)
        await client.send()
        return trail

    trail = arun(go)
    mail = next(i for i, (d, m) in enumerate(trail) if d == 0 and m.startswith("MAIL FROM"))
    assert trail[mail + 1][0] == 1  # the reply to MAIL came before RCPT was sent


def test_verify_expand_send_command_and_events(server):
    server.expansions["staff"] = ["<ann@example.com>", "<bob@example.com>"]
    expanded = []

    async def go():
        async with client_for(server, on_expand=lambda e: expanded.append(e.address)) as client:
            vrfy = await client.verify("someone@example.com")
            members = await client.expand("staff")
            noop = await client.send_command("NOOP")
            return vrfy, members, noop, client.last_reply

    vrfy, members, noop, last = arun(go)
    assert vrfy.code == 250 and "someone@example.com" in vrfy.text
    assert members == ["<ann@example.com>", "<bob@example.com>"] == expanded
    assert noop.code == 250 and last.startswith("250")
    assert server.verbs()[-4:] == ["VRFY", "EXPN", "NOOP", "QUIT"]


def test_send_batch_sends_every_message_on_one_connection(server):
    raw = [("a@example.com", [f"r{i}@example.com"], f"Subject: batch {i}\r\n\r\nbody {i}\r\n".encode())
           for i in range(4)]
    errors = []

    async def go():
        async with client_for(server, subject="composed", message_text="composed body\r\n",
                              on_error=errors.append) as client:
            composed = await client.compose()
            messages = [raw[0], raw[1], ("bad\r\naddress", ["x@example.com"], b"x"), composed, raw[2], raw[3]]
            return await client.send_batch(messages, window=3)

    results = arun(go)
    assert isinstance(results[2], smtpx.SMTPInputError)
    assert all(isinstance(r, SendResult) and r.all_accepted for i, r in enumerate(results) if i != 2)
    stored = [m.data for m in server.messages]
    assert stored[:2] + stored[3:] == [m[2] for m in raw]
    assert b"composed body" in stored[2]
    assert server.verbs().count("EHLO") == 1 and server.verbs().count("MAIL") == 5
    assert len(errors) == 1  # the bad message fired on_error


def test_send_batch_refuses_one_message_and_a_bad_window(server):
    async def go():
        client = client_for(server)
        with pytest.raises(smtpx.SMTPInputError):
            await client.send_batch(("a@example.com", ["b@example.com"], b"x"))
        with pytest.raises(smtpx.SMTPInputError):
            await client.send_batch([("a@example.com", ["b@example.com"], b"x")], window=0)

    arun(go)
    assert server.commands == []


def test_do_events_notices_an_idle_421_and_drops_the_connection():
    script = [("send", GREETING), ("expect", b"EHLO"), ("send", EHLO_REPLY), ("wait", 0.2),
              ("send", b"421 4.4.2 idle timeout\r\n"), ("close", None)]
    errors = []

    async def go(raw):
        client = AsyncSMTP(mail_server=raw.host, mail_port=raw.port, timeout=5, on_error=errors.append)
        await client.connect()
        for _ in range(100):
            await asyncio.sleep(0.02)
            if not client.connected:  # asyncio sees the close at once
                break
        assert not client.connected
        await client.do_events()
        return client.last_reply

    with RawServer(script) as raw:
        last = arun(lambda: go(raw))
    assert len(errors) == 1 and "idle timeout" in errors[0].description
    assert last.startswith("421")


def test_bad_input_is_a_typed_error_and_nothing_is_written(server):
    async def go():
        client = client_for(server)
        with pytest.raises(smtpx.SMTPInputError):
            await client.send_raw("a@example.com\r\nRCPT TO:<evil@example.com>", ["b@example.com"], b"x")
        with pytest.raises(smtpx.SMTPInputError):
            await client.send_raw("a@example.com", ["b@example.com"], "not bytes")
        with pytest.raises(smtpx.SMTPInputError):
            await client.send_raw("a@example.com", [], b"x")
        await client.connect()
        with pytest.raises(smtpx.SMTPInputError):
            await client.send_command("NOOP\r\nRSET")
        with pytest.raises(smtpx.SMTPInputError):
            await client.verify("a@example.com\nb")
        assert client.connected
        await client.disconnect()
        with pytest.raises(smtpx.SMTPInputError) as info:
            await AsyncSMTP(from_="a@example.com", send_to="b@example.com").send()
        assert info.value.code == 163

    arun(go)
    assert server.verbs() == ["EHLO", "QUIT"]


def test_send_command_needs_a_connection():
    async def go():
        with pytest.raises(smtpx.SMTPNotConnectedError):
            await AsyncSMTP(mail_server="127.0.0.1").send_command("NOOP")

    arun(go)


def test_a_second_call_while_one_runs_waits_for_its_turn(server):
    async def go():
        client = client_for(server)
        connect = asyncio.ensure_future(client.connect())
        await asyncio.sleep(0)  # connect() is now running (in the connect thread)
        assert not client.idle
        reply = await client.verify("x@example.com")  # waits for connect(), then runs on its connection
        assert connect.done() and connect.exception() is None
        assert reply.code == 250
        assert client.idle and client.connected
        await client.disconnect()

    arun(go)
    assert server.verbs() == ["EHLO", "VRFY", "QUIT"]


def test_connection_status_fires_on_the_loop_thread_in_order(server):
    seen = []

    async def go():
        loop_thread = threading.get_ident()
        client = client_for(server, on_connection_status=lambda e: seen.append(
            (e.connection_event, threading.get_ident() == loop_thread)))
        await client.send()

    arun(go)
    assert seen[0] == ("Remote host connection complete", True)
    assert seen[-1] == ("Remote host disconnected", True)


def test_a_status_handler_error_reaches_the_caller_and_nothing_is_sent(server):
    def boom(event):
        raise RuntimeError("handler refused")

    async def go():
        client = client_for(server, on_connection_status=boom)
        with pytest.raises(RuntimeError, match="handler refused"):
            await client.connect()
        assert not client.connected

    arun(go)
    assert server.commands == []


def test_inactivity_timeout_is_a_typed_error_and_drops_the_connection():
    script = [("send", GREETING), ("expect", b"EHLO"), ("wait", 1.5)]

    async def go(raw):
        client = AsyncSMTP(mail_server=raw.host, mail_port=raw.port, timeout=1)
        with pytest.raises(smtpx.SMTPTimeoutError) as info:
            await client.connect()
        assert info.value.code == 301
        assert not client.connected

    # The server thread is stopped outside the loop: joining it must not block the loop.
    with RawServer(script) as raw:
        arun(lambda: go(raw))


def _slow_greeting() -> list:
    # A greeting that trickles in over ~2.4 s: never 1 s without bytes, but longer than 1 s.
    parts = [b"220-raw.test one\r\n", b"220-two\r\n", b"220-three\r\n", b"220-four\r\n", b"220-five\r\n",
             b"220 six\r\n"]
    script: list = []
    for part in parts:
        script += [("send", part), ("wait", 0.4)]
    return script + [("expect", b"EHLO"), ("send", EHLO_REPLY), ("expect", b"QUIT"), ("send", b"221 bye\r\n")]


@pytest.mark.parametrize("absolute", [False, True], ids=["inactivity", "absolute"])
def test_absolute_timeout_bounds_the_whole_method_inactivity_does_not(absolute):
    async def go(raw):
        client = AsyncSMTP(mail_server=raw.host, mail_port=raw.port, timeout=1)
        client.config(f"AbsoluteTimeout={absolute}")
        if absolute:
            with pytest.raises(smtpx.SMTPTimeoutError):
                await client.connect()
            assert not client.connected
        else:
            await client.connect()
            assert client.connected
            await client.disconnect()

    with RawServer(_slow_greeting()) as raw:
        arun(lambda: go(raw))


def test_cancelling_a_method_drops_the_connection_and_the_object_stays_usable(server):
    script = [("send", GREETING), ("expect", b"EHLO"), ("send", EHLO_REPLY), ("expect", b"VRFY"), ("wait", 1.0)]

    async def go(raw):
        client = AsyncSMTP(mail_server=raw.host, mail_port=raw.port, timeout=30,
                           from_="a@example.com", send_to="b@example.com")
        await client.connect()
        task = asyncio.ensure_future(client.verify("x@example.com"))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not client.connected and client.idle
        client.mail_port = server.port
        await client.send()

    with RawServer(script) as raw:
        arun(lambda: go(raw))
    assert len(server.messages) == 1


def test_many_clients_on_one_loop_all_deliver(server):
    clients, per_client = 20, 10

    async def one(n: int):
        async with client_for(server) as client:
            for i in range(per_client):
                await client.send_raw("a@example.com", [f"c{n}@example.com"],
                                      f"Subject: {n}-{i}\r\n\r\nmessage {n}-{i}\r\n".encode())

    async def go():
        await asyncio.gather(*(one(n) for n in range(clients)))

    arun(go)
    got = sorted(m.data for m in server.messages)
    assert got == sorted(f"Subject: {n}-{i}\r\n\r\nmessage {n}-{i}\r\n".encode()
                         for n in range(clients) for i in range(per_client))


def test_server_closing_with_421_is_typed_and_drops_the_connection(server):
    server.reply("MAIL", "421 4.3.2 shutting down")

    async def go():
        client = client_for(server, message_text="x")
        await client.connect()
        with pytest.raises(smtpx.SMTPServiceClosing):
            await client.send()
        assert not client.connected

    arun(go)
    assert server.messages == []


def test_shares_the_sync_facades_properties_and_config():
    sync_props = {n for n in dir(smtpx.SMTP) if isinstance(getattr(smtpx.SMTP, n), property)}
    async_props = {n for n in dir(AsyncSMTP) if isinstance(getattr(AsyncSMTP, n), property)}
    assert sync_props <= async_props
    client = AsyncSMTP(subject="s", user="u")
    client.config("UseChunking=False")
    assert client.config("UseChunking").lower() == "false"
    with pytest.raises(smtpx.SMTPInputError):
        AsyncSMTP(no_such_property=1)
    client.interrupt()  # no method running: nothing to do (tests/aio/test_aio_interrupt.py)
    assert client.idle and not client.connected


def test_a_coroutine_event_handler_is_refused():
    async def handler(event):
        pass

    client = AsyncSMTP()
    with pytest.raises(smtpx.SMTPInputError):
        client.on_pi_trail = handler
    with pytest.raises(smtpx.SMTPInputError):
        AsyncSMTP(on_error=handler)
    assert client.on_pi_trail is None


def test_max_transfer_rate_sends_the_content_whole(server):
    """MaxTransferRate through AsyncSMTP: the throttled content arrives whole. (The pacing is
    tests/aio/test_aio_stream.py's, on a clock of its own: no test times the machine.)"""
    body = b"Subject: throttled\r\n\r\n" + (b"z" * 98 + b"\r\n") * 300

    async def go():
        client = client_for(server)
        client.config("MaxTransferRate=200000")
        async with client:
            await client.send_raw("a@example.com", ["b@example.com"], body)

    arun(go)
    assert server.messages[0].data == body


def test_config_changes_apply_to_the_next_method_on_an_open_connection(server):
    async def go():
        async with client_for(server, message_text="x") as client:
            trail = trail_of(client)
            await client.send()
            first = list(trail)
            trail.clear()
            client.config("UsePipelining=False")
            await client.send()
            return first, list(trail)

    first, second = arun(go)
    i = next(n for n, (d, m) in enumerate(first) if m.startswith("MAIL FROM"))
    j = next(n for n, (d, m) in enumerate(second) if m.startswith("MAIL FROM"))
    assert first[i + 1][0] == 0   # pipelined: RCPT followed MAIL at once
    assert second[j + 1][0] == 1  # not pipelined: the reply to MAIL came first
    assert server.verbs().count("EHLO") == 1
