"""FAULTS.md item 39: a reply that never ends. A server that sends the start of a reply and then
one byte every 0.3 s keeps the inactivity timer alive forever; MaxReplyTime bounds one whole
reply from its first byte, through smtpx.SMTP and smtpx.aio.AsyncSMTP, against a real socket
server that plays a normal dialogue and misbehaves at one chosen step.

No test asserts a duration. The trickling server stops by itself after ``limit`` seconds and
then closes the connection, so a client without the deadline would end with
SMTPConnectionDropped, not with the SMTPTimeoutError these tests expect."""
from __future__ import annotations

import socket
import time

import pytest

import smtpx
from smtpx.aio import AsyncSMTP

from tests.aio.helpers import arun
from tests.servers.sockets import LoopbackServer

NORMAL = {
    "greeting": b"220 trickle.test ESMTP\r\n",
    "EHLO": b"250 trickle.test\r\n",
    "MAIL": b"250 2.1.0 ok\r\n",
    "RCPT": b"250 2.1.5 ok\r\n",
    "DATA_END": b"250 2.0.0 stored\r\n",
}


class DialogueServer(LoopbackServer):
    """A one-connection SMTP server on 127.0.0.1 in a thread. It answers the greeting, EHLO
    (no extensions, so nothing is pipelined), MAIL, RCPT, DATA (354, then the content up to
    the end of data), RSET, NOOP and QUIT normally, except at step ``at`` (a key of NORMAL),
    where its reply is played as ``how`` says:

    - "trickle": the code and "-", then one byte every ``gap`` seconds; after ``limit`` seconds
      it gives up and closes the connection;
    - "trickle_then_end": the same, but after ``limit`` seconds the reply is ended properly
      and the dialogue goes on;
    - "stall": the code and "-", then nothing until ``limit``, then close;
    - "silent": nothing at all until ``limit``, then close;
    - "steady": ``lines`` continuation lines, one every ``gap`` seconds, then the normal reply.
    """

    def __init__(self, at: str, how: str, gap: float = 0.3, limit: float = 8.0, lines: int = 6) -> None:
        assert at in NORMAL
        self.at, self.how, self.gap, self.limit, self.lines = at, how, gap, limit, lines
        self.commands: list[bytes] = []  # command lines received, CRLF removed
        self.messages = 0  # ends of data received
        self.gave_up = False  # the misbehaving reply ran for its whole ``limit``
        self._buffer = b""
        super().__init__(max_connections=1)

    # ------------------------------------------------------------------ the dialogue
    def handle(self, conn: socket.socket) -> None:
        if not self._reply(conn, "greeting"):
            return
        while True:
            line = self._line(conn)
            if line is None:
                return
            self.commands.append(line)
            verb = line.split(b" ", 1)[0].split(b":", 1)[0].upper()
            if verb in (b"EHLO", b"HELO"):
                step = "EHLO"
            elif verb in (b"MAIL", b"RCPT"):
                step = verb.decode()
            elif verb == b"DATA":
                conn.sendall(b"354 go ahead\r\n")
                while b"\r\n.\r\n" not in self._buffer:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    self._buffer += chunk
                self._buffer = self._buffer.split(b"\r\n.\r\n", 1)[1]
                self.messages += 1
                step = "DATA_END"
            elif verb == b"QUIT":
                conn.sendall(b"221 bye\r\n")
                return
            elif verb in (b"RSET", b"NOOP"):
                conn.sendall(b"250 ok\r\n")
                continue
            else:
                conn.sendall(b"500 what\r\n")
                continue
            if not self._reply(conn, step):
                return

    def _line(self, conn: socket.socket) -> bytes | None:
        while b"\r\n" not in self._buffer:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\r\n", 1)
        return line

    def _reply(self, conn: socket.socket, step: str) -> bool:
        """Send the reply for ``step``; False when the connection is to be closed."""
        normal = NORMAL[step]
        if step != self.at:
            conn.sendall(normal)
            return True
        code, how = normal[:3], self.how
        until = time.monotonic() + self.limit
        if how == "steady":
            for index in range(self.lines):
                conn.sendall(code + b"-steady line %d\r\n" % index)
                self.stopping.wait(self.gap)
            conn.sendall(normal)
            return True
        if how == "silent":
            self.stopping.wait(self.limit)
            self.gave_up = not self.stopping.is_set()
            return False
        conn.sendall(code + b"-")
        if how == "stall":
            self.stopping.wait(self.limit)
            self.gave_up = not self.stopping.is_set()
            return False
        while time.monotonic() < until:  # "trickle" and "trickle_then_end"
            if self.stopping.wait(self.gap):
                return False
            conn.sendall(b"x")
        if how == "trickle_then_end":
            conn.sendall(b"\r\n" + normal)
            return True
        self.gave_up = True
        return False


def smtp_for(srv: DialogueServer, max_reply_time: int | None, **props) -> smtpx.SMTP:
    props.setdefault("from_", "sender@example.com")
    props.setdefault("send_to", "rcpt@example.com")
    props.setdefault("subject", "item 39")
    props.setdefault("message_text", "one line\r\nanother line\r\n")
    smtp = smtpx.SMTP(mail_server=srv.host, mail_port=srv.port, **props)
    if max_reply_time is not None:
        smtp.config(f"MaxReplyTime={max_reply_time}")
    return smtp


def async_for(srv: DialogueServer, max_reply_time: int | None, **props) -> AsyncSMTP:
    props.setdefault("from_", "sender@example.com")
    props.setdefault("send_to", "rcpt@example.com")
    props.setdefault("subject", "item 39")
    props.setdefault("message_text", "one line\r\nanother line\r\n")
    client = AsyncSMTP(mail_server=srv.host, mail_port=srv.port, **props)
    if max_reply_time is not None:
        client.config(f"MaxReplyTime={max_reply_time}")
    return client


def _is_reply_deadline(error: smtpx.SMTPTimeoutError) -> bool:
    return error.code == 301 and "MaxReplyTime" in str(error) and "did not complete" in str(error)


def _verbs(srv: DialogueServer) -> list[bytes]:
    return [line.split(b" ", 1)[0].split(b":", 1)[0].upper() for line in srv.commands]


# ---------------------------------------------------------------------------- the default
def test_39_max_reply_time_defaults_to_five_minutes():
    smtp = smtpx.SMTP()
    assert smtp.config("MaxReplyTime") == "300"  # RFC 5321 4.5.3.2: minutes, not hours
    with pytest.raises(smtpx.SMTPConfigError):
        smtp.config("MaxReplyTime=-1")


# ---------------------------------------------------------------------------- sync: smtpx.SMTP
def test_39_a_greeting_trickled_one_byte_at_a_time_ends_at_the_reply_deadline():
    with DialogueServer("greeting", "trickle") as srv:
        smtp = smtp_for(srv, 2, timeout=2)
        with pytest.raises(smtpx.SMTPTimeoutError) as info:
            smtp.send()
        assert _is_reply_deadline(info.value), info.value
        assert not smtp.connected and smtp.idle
    assert not srv.gave_up  # the client stopped it, not the server's own limit
    assert srv.commands == []  # not even EHLO went out: the greeting never completed


@pytest.mark.parametrize("step", ["MAIL", "RCPT", "DATA_END"])
def test_39_a_reply_trickled_after_a_normal_greeting_ends_at_the_reply_deadline(step):
    with DialogueServer(step, "trickle") as srv:
        smtp = smtp_for(srv, 1, timeout=2)
        with pytest.raises(smtpx.SMTPTimeoutError) as info:
            smtp.send()
        assert _is_reply_deadline(info.value), info.value
        assert not smtp.connected and smtp.idle  # dropped: the connection is unusable mid-reply
    assert not srv.gave_up
    verbs = _verbs(srv)
    expected = {"MAIL": [b"EHLO", b"MAIL"], "RCPT": [b"EHLO", b"MAIL", b"RCPT"],
                "DATA_END": [b"EHLO", b"MAIL", b"RCPT", b"DATA"]}[step]
    assert verbs == expected  # nothing after the cut reply: no RSET, no QUIT into a broken stream
    assert srv.messages == (1 if step == "DATA_END" else 0)


def test_39_the_object_sends_again_after_a_reply_deadline():
    with DialogueServer("MAIL", "trickle") as bad:
        smtp = smtp_for(bad, 1, timeout=2)
        with pytest.raises(smtpx.SMTPTimeoutError):
            smtp.send()
    with DialogueServer("MAIL", "steady", gap=0.0) as good:
        smtp.mail_port = good.port
        result = smtp.send()
        smtp.disconnect()
    assert result.accepted and good.messages == 1


def test_39_zero_turns_the_deadline_off_and_a_trickle_that_ends_is_read():
    # The trickle lasts longer than both the timeout and a 1 s deadline would allow, with gaps
    # shorter than the timeout: only MaxReplyTime could cut it.
    with DialogueServer("greeting", "trickle_then_end", gap=0.2, limit=1.6) as srv:
        smtp = smtp_for(srv, 0, timeout=1)
        smtp.send()
        smtp.disconnect()
    assert srv.messages == 1
    with DialogueServer("greeting", "trickle_then_end", gap=0.2, limit=1.6) as srv:
        smtp = smtp_for(srv, 1, timeout=1)
        with pytest.raises(smtpx.SMTPTimeoutError) as info:
            smtp.send()
        assert _is_reply_deadline(info.value), info.value
    assert srv.messages == 0


@pytest.mark.parametrize("step", ["greeting", "DATA_END"])
def test_39_a_long_but_steady_multi_line_reply_within_the_deadline_is_read(step):
    # Six lines 0.25 s apart: longer than the 1 s inactivity timeout in all, never silent for it.
    with DialogueServer(step, "steady", gap=0.25, lines=6) as srv:
        smtp = smtp_for(srv, 30, timeout=1)
        result = smtp.send()
        smtp.disconnect()
    assert result.accepted and srv.messages == 1
    assert _verbs(srv)[-1] == b"QUIT"


def test_39_a_silent_server_still_gets_the_inactivity_timeout_not_the_reply_deadline():
    # The deadline counts from a reply's first byte: a server that says nothing (scanning the
    # message before answering ".") is governed by the timeout alone, even a longer one.
    with DialogueServer("DATA_END", "silent") as srv:
        smtp = smtp_for(srv, 1, timeout=2)
        with pytest.raises(smtpx.SMTPTimeoutError) as info:
            smtp.send()
        assert "inactivity timeout" in str(info.value) and "MaxReplyTime" not in str(info.value)
        assert not smtp.connected and smtp.idle
    assert srv.messages == 1


def test_39_a_reply_that_stops_midway_gets_the_inactivity_timeout_when_it_is_shorter():
    with DialogueServer("MAIL", "stall") as srv:
        smtp = smtp_for(srv, 30, timeout=1)
        with pytest.raises(smtpx.SMTPTimeoutError) as info:
            smtp.send()
        assert "inactivity timeout" in str(info.value) and "MaxReplyTime" not in str(info.value)
    assert _verbs(srv) == [b"EHLO", b"MAIL"]


def test_39_the_reply_deadline_also_holds_with_an_absolute_timeout_and_with_no_timeout():
    for props in ({"timeout": 30}, {"timeout": 0}):
        with DialogueServer("RCPT", "trickle") as srv:
            smtp = smtp_for(srv, 1, **props)
            if props["timeout"]:
                smtp.config("AbsoluteTimeout=True")
            with pytest.raises(smtpx.SMTPTimeoutError) as info:
                smtp.send()
            assert _is_reply_deadline(info.value), info.value
        assert not srv.gave_up


# ---------------------------------------------------------------------------- async: AsyncSMTP
def test_39_async_a_greeting_trickled_one_byte_at_a_time_ends_at_the_reply_deadline():
    with DialogueServer("greeting", "trickle") as srv:
        client = async_for(srv, 2, timeout=2)
        with pytest.raises(smtpx.SMTPTimeoutError) as info:
            arun(client.send, limit=30)
        assert _is_reply_deadline(info.value), info.value
        assert not client.connected and client.idle
    assert not srv.gave_up
    assert srv.commands == []


@pytest.mark.parametrize("step", ["RCPT", "DATA_END"])
def test_39_async_a_reply_trickled_after_a_normal_greeting_ends_at_the_reply_deadline(step):
    with DialogueServer(step, "trickle") as srv:
        client = async_for(srv, 1, timeout=2)
        with pytest.raises(smtpx.SMTPTimeoutError) as info:
            arun(client.send, limit=30)
        assert _is_reply_deadline(info.value), info.value
        assert not client.connected and client.idle
    assert not srv.gave_up
    assert _verbs(srv)[-1] == {"RCPT": b"RCPT", "DATA_END": b"DATA"}[step]
    assert srv.messages == (1 if step == "DATA_END" else 0)


def test_39_async_zero_turns_the_deadline_off():
    with DialogueServer("greeting", "trickle_then_end", gap=0.2, limit=1.6) as srv:
        client = async_for(srv, 0, timeout=1)

        async def send_and_leave():
            await client.send()
            await client.disconnect()

        arun(send_and_leave, limit=30)
    assert srv.messages == 1


def test_39_async_a_long_but_steady_multi_line_reply_is_read():
    with DialogueServer("DATA_END", "steady", gap=0.25, lines=6) as srv:
        client = async_for(srv, 30, timeout=1)

        async def send_and_leave():
            result = await client.send()
            await client.disconnect()
            return result

        result = arun(send_and_leave, limit=30)
    assert result.accepted and srv.messages == 1


def test_39_async_a_silent_server_still_gets_the_inactivity_timeout():
    with DialogueServer("DATA_END", "silent") as srv:
        client = async_for(srv, 1, timeout=2)
        with pytest.raises(smtpx.SMTPTimeoutError) as info:
            arun(client.send, limit=30)
        assert "inactivity timeout" in str(info.value) and "MaxReplyTime" not in str(info.value)
        assert not client.connected
    assert srv.messages == 1
