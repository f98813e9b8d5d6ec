"""Issue 8, point 5 on the asyncio side, against real servers: coroutines sharing one AsyncSMTP
take turns instead of failing with SMTPBusyError; disconnect() during a send ends it cleanly;
the errors fit Python's classes and the TLS errors say what happened."""
from __future__ import annotations

import asyncio
import smtplib
import socket

import pytest

import smtpx
from smtpx.aio import AsyncSMTP
from smtpx.enums import SSLStartMode
from tests.servers.plaintext import GreetsAfterClientHello, InjectsAfterClientHello
from tests.servers.scripted import RawServer

from .helpers import HoldingServer, arun, client_for


def _raw_message(n: int) -> bytes:
    return f"Subject: message {n}\r\n\r\nbody of message {n}\r\n".encode()


# ------------------------------------------------------------------------------ turns
def test_two_coroutines_sending_on_one_client_both_succeed(server):
    async def go():
        client = client_for(server)
        return await asyncio.gather(
            client.send_raw("a@example.com", ["one@example.com"], _raw_message(1)),
            client.send_raw("b@example.com", ["two@example.com"], _raw_message(2)),
        )

    first, second = arun(go)
    assert [r.address for r in first.accepted] == ["one@example.com"]
    assert [r.address for r in second.accepted] == ["two@example.com"]
    got = sorted((m.mail_from, m.rcpt_tos, m.data) for m in server.messages)
    assert got == [("a@example.com", ["one@example.com"], _raw_message(1)),
                   ("b@example.com", ["two@example.com"], _raw_message(2))]


def test_many_coroutines_on_one_connected_client_run_one_after_another(server):
    async def go():
        async with client_for(server) as client:
            results = await asyncio.gather(
                *(client.send_raw("s@example.com", [f"r{n}@example.com"], _raw_message(n)) for n in range(5)),
                client.verify("r0@example.com"),
            )
            assert client.connected
        return results

    results = arun(go)
    assert [r.accepted[0].address for r in results[:5]] == [f"r{n}@example.com" for n in range(5)]
    assert results[5].code == 250  # the scripted server's VRFY answer
    assert [m.rcpt_tos for m in server.messages] == [[f"r{n}@example.com"] for n in range(5)]
    assert server.verbs().count("EHLO") == 1  # one connection, five transactions on it


def test_the_same_client_takes_turns_on_one_loop_after_another(server):
    client = client_for(server)

    async def go(tag):
        return await asyncio.gather(*(client.send_raw("s@example.com", [f"{tag}{n}@example.com"], _raw_message(n))
                                      for n in range(2)))

    arun(lambda: go("a"))
    arun(lambda: go("b"))  # a new event loop: the turns are not tied to the first one
    assert sorted(m.rcpt_tos[0] for m in server.messages) == ["a0@example.com", "a1@example.com",
                                                               "b0@example.com", "b1@example.com"]
    assert client.idle


def test_a_coroutine_cancelled_while_waiting_for_its_turn_leaves_the_others_alone():
    with HoldingServer(holds=1) as srv:
        async def go():
            client = client_for(srv)
            first = asyncio.ensure_future(client.send_raw("s@example.com", ["one@example.com"], _raw_message(1)))
            await asyncio.get_running_loop().run_in_executor(None, srv.arrived.wait, 30)
            waiting = asyncio.ensure_future(client.send_raw("s@example.com", ["two@example.com"], _raw_message(2)))
            third = asyncio.ensure_future(client.send_raw("s@example.com", ["three@example.com"], _raw_message(3)))
            await asyncio.sleep(0)
            assert not client.idle
            waiting.cancel()
            srv.release.set()
            with pytest.raises(smtpx.SMTPReplyError):  # the held reply is a 451
                await first
            with pytest.raises(asyncio.CancelledError):
                await waiting
            result = await third
            assert client.idle
            return result

        result = arun(go)
        assert [r.address for r in result.accepted] == ["three@example.com"]
        assert srv.rcpt_lists == [["three@example.com"]]


# ------------------------------------------------------------------------------ disconnect() during a send
def test_disconnect_during_a_held_send_ends_it_and_the_client_is_usable_again():
    with HoldingServer(holds=1) as srv:
        async def go():
            client = client_for(srv)
            await client.connect()
            sending = asyncio.ensure_future(client.send_raw("s@example.com", ["one@example.com"], _raw_message(1)))
            await asyncio.get_running_loop().run_in_executor(None, srv.arrived.wait, 30)
            await client.disconnect()
            with pytest.raises(smtpx.SMTPInterrupted) as info:
                await sending
            assert "disconnect()" in str(info.value) and info.value.code == 301
            assert not client.connected and client.idle
            srv.release.set()
            await client.connect()
            result = await client.send_raw("s@example.com", ["two@example.com"], _raw_message(2))
            await client.disconnect()
            return result

        result = arun(go)
        assert [r.address for r in result.accepted] == ["two@example.com"]
        assert srv.rcpt_lists == [["two@example.com"]]  # the interrupted one never got its 250


def _disconnect_when_the_content_starts(client: AsyncSMTP) -> list:
    """When the message content starts going out, another task calls client.disconnect()."""
    tasks: list = []
    client.on_start_transfer = lambda event: tasks or tasks.append(
        asyncio.get_running_loop().create_task(client.disconnect()))
    return tasks


def test_disconnect_while_a_big_message_is_stuck_on_a_slow_server_ends_the_send(server):
    big = b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 12000  # 12 MB: more than the socket buffers
    script = [("send", b"220 raw.test ESMTP\r\n"), ("expect", b"EHLO"), ("send", b"250 raw.test\r\n"),
              ("expect", b"MAIL"), ("send", b"250 ok\r\n"), ("expect", b"RCPT"), ("send", b"250 ok\r\n"),
              ("expect", b"DATA"), ("send", b"354 go ahead\r\n"), ("wait", 2)]  # then reads nothing for a while
    with RawServer(script) as raw:
        async def go():
            client = AsyncSMTP(mail_server=raw.host, mail_port=raw.port, timeout=20)
            disconnects = _disconnect_when_the_content_starts(client)
            with pytest.raises(smtpx.SMTPInterrupted) as info:
                await client.send_raw("s@example.com", ["big@example.com"], big)
            assert "disconnect()" in str(info.value) and info.value.code == 301
            await disconnects[0]
            assert not client.connected and client.idle
            client.on_start_transfer = None
            client.mail_port = server.port  # usable again: connect and send elsewhere
            await client.connect()
            result = await client.send_raw("s@example.com", ["small@example.com"], _raw_message(1))
            await client.disconnect()
            return result

        result = arun(go)
    assert b"\r\n.\r\n" not in bytes(raw.received)  # the end of data never went out
    assert [r.address for r in result.accepted] == ["small@example.com"]
    assert [m.rcpt_tos for m in server.messages] == [["small@example.com"]]


def test_disconnect_during_a_throttled_send_ends_it(server):
    # MaxTransferRate: the send waits for tokens; those waits must let the other tasks run.
    big = b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 4000  # 4 MB: 4 s at 1 MB/s

    async def go():
        client = client_for(server)
        client.config("MaxTransferRate=1000000")
        disconnects = _disconnect_when_the_content_starts(client)
        with pytest.raises(smtpx.SMTPInterrupted):
            await client.send_raw("s@example.com", ["big@example.com"], big)
        await disconnects[0]
        assert not client.connected and client.idle
        client.on_start_transfer = None
        return await client.send_raw("s@example.com", ["small@example.com"], _raw_message(1))

    result = arun(go)
    assert [r.address for r in result.accepted] == ["small@example.com"]
    assert [m.rcpt_tos for m in server.messages] == [["small@example.com"]]  # the big one never ended


# ------------------------------------------------------------------------------ errors fit Python
def test_errors_fit_the_standard_classes(server):
    server.reply("RCPT", "550 5.1.1 no such user")

    async def go():
        client = client_for(server)
        with pytest.raises(smtplib.SMTPException) as refused:
            await client.send()
        assert isinstance(refused.value, smtpx.SMTPRecipientsRefused) and refused.value.smtp_code == 550
        with pytest.raises(ValueError):
            client.send_to = "a@b@c"
        client.mail_port = _closed_port()
        with pytest.raises(ConnectionError) as connect:
            await client.send()
        assert isinstance(connect.value, OSError) and connect.value.code == 10061

    arun(go)
    assert server.messages == []


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_silent_server_is_a_timeout_error():
    with RawServer([("wait", 4)]) as raw:
        async def go():
            client = AsyncSMTP(mail_server=raw.host, mail_port=raw.port, timeout=1,
                               from_="a@example.com", send_to="b@example.com")
            with pytest.raises(TimeoutError) as info:
                await client.send()
            assert isinstance(info.value, smtpx.SMTPTimeoutError) and info.value.code == 301

        arun(go)


# ------------------------------------------------------------------------------ TLS messages
def test_implicit_tls_against_a_plaintext_port_says_so(server):
    async def go():
        client = client_for(server, ssl_start_mode=SSLStartMode.IMPLICIT)
        with pytest.raises(smtpx.SMTPTLSError) as info:
            await client.send()
        return str(info.value)

    text = arun(go)
    assert "did not answer in TLS" in text and "plaintext SMTP port" in text
    assert "ssl_start_mode=SSLStartMode.EXPLICIT" in text
    assert "version in common" not in text
    assert server.messages == []


def test_implicit_tls_against_a_plaintext_port_says_so_when_the_handshake_fails():
    with GreetsAfterClientHello() as srv:
        async def go():
            client = client_for(srv, ssl_start_mode=SSLStartMode.IMPLICIT)
            with pytest.raises(smtpx.SMTPTLSError) as info:
                await client.send()
            return str(info.value)

        text = arun(go)
    assert srv.first_bytes[:1] == b"\x16"
    assert "did not answer in TLS" in text and "plaintext SMTP port" in text


def test_injection_met_inside_the_tls_handshake_says_injection():
    with InjectsAfterClientHello() as srv:
        async def go():
            client = client_for(srv, ssl_start_mode=SSLStartMode.EXPLICIT)
            with pytest.raises(smtpx.SMTPTLSError) as info:
                await client.connect()
            assert not client.connected
            return str(info.value)

        text = arun(go)
    assert srv.hello[:1] == b"\x16"
    assert "injection" in text and "version in common" not in text


def test_injection_right_after_the_220_says_injection():
    script = [("send", b"220 raw.test ESMTP\r\n"), ("expect", b"EHLO"),
              ("send", b"250-raw.test\r\n250 STARTTLS\r\n"), ("expect", b"STARTTLS"),
              ("send", b"220 go ahead\r\n250 injected\r\n"), ("wait", 0.5)]
    with RawServer(script) as raw:
        async def go():
            client = AsyncSMTP(mail_server=raw.host, mail_port=raw.port, timeout=5,
                               ssl_start_mode=SSLStartMode.EXPLICIT)
            with pytest.raises(smtpx.SMTPTLSError) as info:
                await client.connect()
            return str(info.value)

        assert "inject" in arun(go)
    assert raw.received.count(b"\n") == 2  # EHLO and STARTTLS: nothing after

