"""FAULTS.md items 1-12 (server replies) through smtpx.SMTP against real local servers:
a typed error, nothing written that should not be, and the object usable afterwards."""
from __future__ import annotations

import socket
import time

import pytest

import smtpx
from tests.servers.scripted import CLOSE, RawServer

from tests.faults.raw import GREET, ehlo, lines, smtp_for
from tests.servers.sockets import LoopbackServer, recv_until


def _still_usable(smtp: smtpx.SMTP, server) -> None:
    """After a failure the object is idle, not connected, and sends the next message."""
    assert smtp.idle and not smtp.connected
    before = len(server.messages)
    smtp.send()
    assert len(server.messages) == before + 1


# ---------------------------------------------------------------------------- item 1
@pytest.mark.parametrize("greeting", [b"120 wait a moment\r\n", b"199 soon\r\n"])
def test_1_a_1xx_greeting_is_a_protocol_error_and_no_ehlo_is_sent(greeting):
    with RawServer([("send", greeting)]) as raw:
        smtp = smtp_for(raw)
        with pytest.raises(smtpx.SMTPProtocolError):
            smtp.connect()
        assert not smtp.connected and smtp.idle
    assert b"EHLO" not in bytes(raw.received) and b"MAIL" not in bytes(raw.received)


def test_1_greeting_554_refuses_before_ehlo():
    with RawServer([("send", b"554 5.3.2 go away\r\n"), ("expect", b"QUIT"), ("send", b"221 bye\r\n")]) as raw:
        smtp = smtp_for(raw)
        with pytest.raises(smtpx.SMTPReplyError) as info:
            smtp.send()
        assert info.value.reply_code == 554
    assert b"EHLO" not in bytes(raw.received) and b"MAIL" not in bytes(raw.received)


# ---------------------------------------------------------------------------- item 2
def test_2_connection_closed_right_after_connect():
    with RawServer([("close", None)]) as raw:
        smtp = smtp_for(raw)
        with pytest.raises(smtpx.SMTPCommunicationError):
            smtp.send()
        assert not smtp.connected and smtp.idle


@pytest.mark.parametrize("verb", ["EHLO", "MAIL", "RCPT", "DATA"])
def test_2_connection_closed_after_a_command_is_typed_and_nothing_is_delivered(server, make_smtp, verb):
    server.reply(verb, CLOSE)
    smtp = make_smtp(server)
    with pytest.raises(smtpx.SMTPCommunicationError):
        smtp.send()
    assert server.messages == []
    _still_usable(smtp, server)


def test_2_connection_closed_after_354_says_delivery_is_unknown(server, make_smtp):
    server.reply("DATA_END", CLOSE)
    smtp = make_smtp(server)
    with pytest.raises(smtpx.SMTPConnectionDropped) as info:
        smtp.send()
    assert info.value.delivery_unknown is True
    assert "may or may not" in str(info.value)
    _still_usable(smtp, server)


# ---------------------------------------------------------------------------- item 3
@pytest.mark.parametrize("verb", ["MAIL", "RCPT", "DATA"])
def test_3_421_closes_the_session_without_rset_and_the_object_stays_usable(server, make_smtp, verb):
    server.reply(verb, "421 4.3.2 shutting down")
    errors = []
    smtp = make_smtp(server, on_error=errors.append)
    smtp.connect()
    with pytest.raises(smtpx.SMTPServiceClosing) as info:
        smtp.send()
    assert info.value.reply_code == 421
    verbs = server.verbs()
    assert "RSET" not in verbs and "QUIT" not in verbs  # the server has gone: say nothing more
    assert server.messages == []
    _still_usable(smtp, server)


# ---------------------------------------------------------------------------- item 5
def test_5_no_reply_to_the_final_dot_times_out_typed():
    script = [GREET, *ehlo(), ("expect", b"MAIL"), ("send", b"250 ok\r\n"), ("expect", b"RCPT"),
              ("send", b"250 ok\r\n"), ("expect", b"DATA"), ("send", b"354 go\r\n"), ("wait", 2)]
    with RawServer(script) as raw:
        smtp = smtp_for(raw, timeout=1)
        with pytest.raises(smtpx.SMTPTimeoutError) as info:
            smtp.send()
        assert info.value.code == 301
        assert not smtp.connected and smtp.idle
    assert bytes(raw.received).endswith(b"\r\n.\r\n")  # the end of data went out; no reply came


# ---------------------------------------------------------------------------- items 6, 7
def test_6_a_one_megabyte_reply_line_is_capped():
    with RawServer([("send", b"220 " + b"x" * (1 << 20) + b"\r\n")]) as raw:
        smtp = smtp_for(raw, timeout=10)
        with pytest.raises(smtpx.SMTPProtocolError):
            smtp.connect()
        assert not smtp.connected
    assert b"EHLO" not in bytes(raw.received)


def test_6_bytes_with_no_line_end_are_capped_without_waiting_for_the_timeout():
    with RawServer([("send", b"220 " + b"y" * 20000)]) as raw:
        smtp = smtp_for(raw, timeout=30)
        with pytest.raises(smtpx.SMTPProtocolError):  # not SMTPTimeoutError: the cap stops it
            smtp.connect()
    assert b"EHLO" not in bytes(raw.received)


def test_6_max_reply_line_length_config_moves_the_cap():
    long_line = b"220 " + b"z" * 9000 + b"\r\n"
    with RawServer([("send", long_line), *ehlo(), ("expect", b"QUIT"), ("send", b"221 bye\r\n")]) as raw:
        smtp = smtp_for(raw)
        # MaxLineLength is left at its default, so MaxReplyLineLength alone sets the cap.
        smtp.config("MaxReplyLineLength=16384")
        smtp.connect()
        smtp.disconnect()
    assert not raw.errors


def test_7_endless_continuation_lines_are_capped():
    flood = b"250-raw.test\r\n" + b"250-X\r\n" * 100_000 + b"250 OK\r\n"
    with RawServer([GREET, ("expect", b"EHLO"), ("send", flood)]) as raw:
        smtp = smtp_for(raw)
        with pytest.raises(smtpx.SMTPProtocolError):
            smtp.send()
        assert not smtp.connected
    assert b"MAIL" not in bytes(raw.received)


# ---------------------------------------------------------------------------- items 8, 9
BAD_GREETINGS = [b"2x0 hi\r\n", b"25 hi\r\n", b"2500 hi\r\n", b"2_5 hi\r\n", b"+25 hi\r\n", b" 25 hi\r\n",
                 "٢٢٠ hi\r\n".encode(), "２２０ hi\r\n".encode(), b"\r\n", b"-220 hi\r\n", b"220\x00hi\r\n"]


@pytest.mark.parametrize("greeting", BAD_GREETINGS, ids=[repr(g) for g in BAD_GREETINGS])
def test_8_malformed_codes_are_protocol_errors_and_nothing_follows(greeting):
    with RawServer([("send", greeting)]) as raw:
        smtp = smtp_for(raw)
        with pytest.raises(smtpx.SMTPProtocolError):
            smtp.connect()
        assert not smtp.connected and smtp.idle
    assert b"EHLO" not in bytes(raw.received)


def test_9_multi_line_reply_with_disagreeing_codes():
    with RawServer([GREET, ("expect", b"EHLO"), ("send", b"250-raw.test\r\n550 nope\r\n")]) as raw:
        smtp = smtp_for(raw)
        with pytest.raises(smtpx.SMTPProtocolError):
            smtp.send()
    assert b"MAIL" not in bytes(raw.received)


# ---------------------------------------------------------------------------- item 10
def test_10_non_utf8_nul_and_escape_bytes_are_sanitised_in_trace_error_and_last_reply():
    junk = b"554 5.7.1 \xff\xfe bad\x00\x1b[31m red \xc3\r\n"
    with RawServer([("send", junk), ("expect", b"QUIT"), ("send", b"221 bye\r\n")]) as raw:
        trail = []
        smtp = smtp_for(raw, on_pi_trail=trail.append)
        with pytest.raises(smtpx.SMTPReplyError) as info:
            smtp.connect()
    shown = [str(info.value), info.value.reply_text or "", *(e.message for e in trail)]
    for text in shown:
        assert "\x00" not in text and "\x1b" not in text and "\xff" not in text, repr(text)
    assert any("bad" in text for text in shown[2:])  # the readable part is kept


def test_10_junk_in_a_good_greeting_does_not_stop_the_session(server):
    with RawServer([("send", b"220 h\xffllo\x00 there\r\n"), *ehlo(), ("expect", b"QUIT"),
                    ("send", b"221 bye\r\n")]) as raw:
        smtp = smtp_for(raw)
        smtp.connect()
        assert smtp.connected
        smtp.disconnect()
    assert not raw.errors


# ---------------------------------------------------------------------------- item 11
def test_11_a_reply_arriving_while_idle_is_never_taken_as_the_next_commands_reply():
    script = [GREET, *ehlo(), ("wait", 0.1), ("send", b"250 2.0.0 UNSOLICITED\r\n"),
              ("expect", b"NOOP"), ("send", b"250 2.0.0 the real noop reply\r\n")]
    with RawServer(script) as raw:
        smtp = smtp_for(raw)
        smtp.connect()
        time.sleep(0.4)  # the stray reply is in our socket before NOOP is written
        try:
            reply = smtp.send_command("NOOP")
        except smtpx.SMTPProtocolError:
            return  # the stray reply was seen for what it is
        finally:
            smtp.reset()  # drops the connection so the raw server stops at once
        assert "UNSOLICITED" not in "\n".join(reply.lines), "a stray reply was matched to NOOP"


def test_11_do_events_drops_a_connection_that_received_a_stray_reply():
    script = [GREET, *ehlo(), ("wait", 0.1), ("send", b"250 2.0.0 UNSOLICITED\r\n")]
    with RawServer(script) as raw:
        errors = []
        smtp = smtp_for(raw, on_error=errors.append)
        smtp.connect()
        time.sleep(0.4)
        smtp.do_events()
        assert not smtp.connected and smtp.idle
        assert len(errors) == 1 and "unsolicited" in errors[0].description
    assert b"NOOP" not in bytes(raw.received) and b"MAIL" not in bytes(raw.received)


def test_11_extra_reply_after_the_greeting_in_the_same_packet():
    with RawServer([("send", b"220 raw.test\r\n250 extra\r\n")]) as raw:
        smtp = smtp_for(raw)
        with pytest.raises(smtpx.SMTPProtocolError):
            smtp.connect()
    assert b"EHLO" not in bytes(raw.received)


# ---------------------------------------------------------------------------- item 12
def test_12_enhanced_code_of_the_wrong_class_is_ignored(server, make_smtp):
    server.reply("RCPT", "550 2.1.5 odd but refused")
    smtp = make_smtp(server)
    with pytest.raises(smtpx.SMTPRecipientsRefused) as info:
        smtp.send()
    assert info.value.reply_code == 550
    assert info.value.enhanced is None
    refused = info.value.result.refused if getattr(info.value, "result", None) else []
    assert all(r.reply.enhanced is None for r in refused)


class IdleTimeoutThenOneTransaction:
    """Two connections, scripted: the first is greeted, answers EHLO, then times out idle
    (421 and close); the second takes one transaction, one command at a time, and QUIT. What
    each received is kept (``first_received``, ``second_received``)."""

    def __init__(self) -> None:
        self.first_received = bytearray()
        self.second_received = bytearray()
        self._scripts = [self._idle_timeout, self._one_transaction]

    def __call__(self, conn: socket.socket) -> None:
        self._scripts.pop(0)(conn)

    def _idle_timeout(self, conn: socket.socket) -> None:
        conn.sendall(b"220 raw.test ESMTP\r\n")
        self.first_received.extend(recv_until(conn, b"\n"))
        conn.sendall(b"250 raw.test\r\n")
        time.sleep(0.1)
        conn.sendall(b"421 4.4.2 raw.test idle timeout, closing\r\n")

    def _one_transaction(self, conn: socket.socket) -> None:
        conn.sendall(b"220 raw.test ESMTP\r\n")
        for answer in (b"250 raw.test\r\n", b"250 2.1.0 ok\r\n", b"250 2.1.5 ok\r\n", b"354 go\r\n"):
            self.second_received.extend(recv_until(conn, b"\n"))
            conn.sendall(answer)
        self.second_received.extend(recv_until(conn, b"\r\n.\r\n"))
        conn.sendall(b"250 2.0.0 queued\r\n")
        self.second_received.extend(recv_until(conn, b"\n"))
        conn.sendall(b"221 bye\r\n")


def test_11_an_idle_timeout_421_is_noticed_and_the_next_send_reconnects():
    """The server times the idle connection out (421, close). The next send() sees that
    before writing anything on the dead connection, fires on_error with the 421, and
    delivers over a new connection: the 421 is never taken as the reply to MAIL FROM."""
    peer = IdleTimeoutThenOneTransaction()
    with LoopbackServer(peer, max_connections=2) as raw:
        smtp = smtpx.SMTP(mail_server=raw.host, mail_port=raw.port, timeout=5, from_="sender@example.com",
                          send_to="rcpt@example.com", message_text="after the idle timeout")
        errors = []
        smtp.on_error = errors.append
        smtp.connect()
        time.sleep(0.4)  # the 421 and the close are waiting in our socket
        result = smtp.send()
        smtp.disconnect()
    assert [r.address for r in result.accepted] == ["rcpt@example.com"]
    assert errors and "421" in errors[0].description
    assert b"MAIL" not in bytes(peer.first_received)  # nothing was written on the dead connection
    assert b"after the idle timeout" in bytes(peer.second_received)


@pytest.mark.parametrize("method", ["send", "send_raw"])
def test_11_async_an_idle_timeout_421_before_a_send_on_an_open_connection_reconnects(method):
    """AsyncSMTP's send() and send_raw() on an open connection (their path without context
    managers) look at the idle connection first, as SMTP's do: the 421 fires on_error, nothing
    is written on the dead connection, and the message goes over a new one."""
    import asyncio

    from smtpx.aio import AsyncSMTP

    peer = IdleTimeoutThenOneTransaction()
    errors: list = []
    with LoopbackServer(peer, max_connections=2) as raw:
        async def go():
            smtp = AsyncSMTP(mail_server=raw.host, mail_port=raw.port, timeout=5, from_="sender@example.com",
                             send_to="rcpt@example.com", message_text="after the idle timeout",
                             on_error=errors.append)
            await smtp.connect()
            await asyncio.sleep(0.4)  # the 421 and the close are waiting in our socket
            if method == "send":
                result = await smtp.send()
            else:
                result = await smtp.send_raw("sender@example.com", ["rcpt@example.com"],
                                             b"Subject: x\r\n\r\nafter the idle timeout\r\n")
            await smtp.disconnect()
            return result
        result = asyncio.run(go())
    assert [r.address for r in result.accepted] == ["rcpt@example.com"]
    assert errors and "421" in errors[0].description
    assert b"MAIL" not in bytes(peer.first_received)
    assert b"after the idle timeout" in bytes(peer.second_received)


def test_11_async_a_reply_arriving_while_idle_is_a_protocol_error_before_anything_is_written():
    """AsyncSMTP runs the same idle check as SMTP before each method (one implementation in
    the facade base): the stray reply is never matched to NOOP, and NOOP is never written."""
    import asyncio

    from smtpx.aio import AsyncSMTP

    script = [GREET, *ehlo(), ("wait", 0.1), ("send", b"250 2.0.0 UNSOLICITED\r\n"),
              ("expect", b"NOOP"), ("send", b"250 2.0.0 the real noop reply\r\n")]
    with RawServer(script) as raw:
        async def go() -> None:
            smtp = AsyncSMTP(mail_server=raw.host, mail_port=raw.port, timeout=5)
            await smtp.connect()
            await asyncio.sleep(0.4)  # the stray reply is in our socket before NOOP is written
            try:
                with pytest.raises(smtpx.SMTPProtocolError, match="unsolicited"):
                    await smtp.send_command("NOOP")
                assert not smtp.connected
            finally:
                await smtp.reset()
        asyncio.run(go())
    assert b"NOOP" not in bytes(raw.received)


def test_11_async_an_idle_timeout_421_is_noticed_and_the_next_send_reconnects():
    import asyncio

    from smtpx.aio import AsyncSMTP

    script = [GREET, *ehlo(), ("wait", 0.1), ("send", b"421 4.4.2 idle timeout\r\n"), ("close",)]
    with RawServer(script) as raw:
        errors = []

        async def go() -> None:
            smtp = AsyncSMTP(mail_server=raw.host, mail_port=raw.port, timeout=5, on_error=errors.append)
            await smtp.connect()
            await asyncio.sleep(0.4)
            with pytest.raises(smtpx.SMTPNotConnectedError):
                await smtp.send_command("NOOP")  # the 421 dropped the connection while idle
            assert not smtp.connected
        asyncio.run(go())
    assert len(errors) == 1 and "idle timeout" in errors[0].description
    assert b"NOOP" not in bytes(raw.received)
