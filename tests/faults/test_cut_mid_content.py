"""FAULTS.md item 40 (and item 4 next to it): the connection drops while a message's content is
being written, before its end of data. That message is not delivered: it is in ``unsent``
(its result None), the messages after it too; messages whose 250 came in are delivered, and
messages whose end of data was written without a reply are "delivery unknown". Through
process_queue its file stays for the next run (``*.sending``, never ``*.failed``), and a second
run against a good server delivers it exactly once.

A real server over a real socket: ``CuttingServer`` speaks just enough SMTP (EHLO with the
capabilities asked for, MAIL / RCPT / DATA / BDAT / RSET / NOOP / QUIT), stores each complete
message, and cuts the connection (with a reset) a few bytes into the content of every message
with a recipient that contains "cut". Its receive buffer is small and the big message is much
larger than what the kernel can hold for it, so the client is really cut mid-write.
"""
from __future__ import annotations

import os
import socket
import struct
from dataclasses import dataclass

import pytest

import smtpx
from tests.aio.helpers import arun
from tests.servers.sockets import LoopbackServer
from smtpx.aio import AsyncSMTP
from smtpx.engine import SendResult

SENDER = "sender@example.com"


def _big_size() -> int:
    """Several MB, and well beyond what the client's send buffer can grow to, so that the
    write of the content is what fails (not a read after it)."""
    try:
        with open("/proc/sys/net/ipv4/tcp_wmem") as f:
            wmem_max = int(f.read().split()[2])
    except (OSError, ValueError, IndexError):
        wmem_max = 4 << 20
    return max(8 << 20, wmem_max + (4 << 20))


BIG_SIZE = _big_size()


def small(n: int) -> tuple[str, list[str], bytes]:
    return SENDER, [f"r{n}@example.com"], b"Subject: m%d\r\n\r\nbody %d\r\n" % (n, n)


def big(n: int = 2) -> tuple[str, list[str], bytes]:
    line = b"x" * 76 + b"\r\n"
    head = b"Subject: big\r\n\r\n"
    return SENDER, [f"cut{n}@example.com"], head + line * ((BIG_SIZE - len(head)) // len(line))


def five() -> list[tuple[str, list[str], bytes]]:
    """Messages 0..4; message 2 is the big one the server cuts."""
    return [small(0), small(1), big(2), small(3), small(4)]


def _subject(data: bytes) -> bytes:
    return data.split(b"\r\n", 1)[0]


@dataclass
class Stored:
    mail_from: str
    rcpts: list[str]
    data: bytes


class CuttingServer(LoopbackServer):
    """See the module docstring. ``cut_after``: content bytes read before the reset."""

    def __init__(self, capabilities: tuple[str, ...], cut_after: int = 10) -> None:
        self.capabilities = capabilities
        self.cut_after = cut_after
        self.messages: list[Stored] = []
        self.cuts: list[int] = []  # content bytes read of each cut message
        super().__init__(timeout=20, receive_buffer=16384)

    def handle(self, conn: socket.socket) -> None:
        try:
            _Connection(self, conn).run()
        except _Cut:
            pass


class _Cut(Exception):
    pass


class _Connection:
    def __init__(self, server: CuttingServer, conn: socket.socket) -> None:
        self.server = server
        self.conn = conn
        self.buffer = bytearray()
        self.mail_from: str | None = None
        self.rcpts: list[str] = []
        self.chunks = bytearray()

    def _more(self) -> None:
        data = self.conn.recv(65536)
        if not data:
            raise OSError("EOF")
        self.buffer += data

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            self._more()
        line, _, rest = bytes(self.buffer).partition(b"\r\n")
        self.buffer = bytearray(rest)
        return line

    def _send(self, text: str) -> None:
        self.conn.sendall(text.encode() + b"\r\n")

    def _cutting(self) -> bool:
        return any("cut" in r for r in self.rcpts)

    def _cut(self) -> None:
        """Read a few bytes of the content, then close with a reset (unread bytes pending)."""
        while len(self.buffer) < self.server.cut_after:
            self._more()
        self.server.cuts.append(len(self.buffer))
        self.conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.conn.close()
        raise _Cut()

    def run(self) -> None:
        self._send("220 cut.test ESMTP")
        while True:
            line = self._line()
            verb, _, arg = line.decode("ascii", "replace").partition(" ")
            verb = verb.upper()
            if verb == "EHLO":
                lines = ["cut.test", *self.server.capabilities]
                for text in lines[:-1]:
                    self._send(f"250-{text}")
                self._send(f"250 {lines[-1]}")
            elif verb == "MAIL":
                self.mail_from, self.rcpts, self.chunks = arg.split(":", 1)[1].strip("<> "), [], bytearray()
                self._send("250 2.1.0 ok")
            elif verb == "RCPT":
                self.rcpts.append(arg.split(":", 1)[1].strip("<> "))
                self._send("250 2.1.5 ok")
            elif verb == "DATA":
                self._send("354 go ahead")
                if self._cutting():
                    self._cut()
                self._store(self._data())
                self._send("250 2.0.0 queued")
            elif verb == "BDAT":
                size, *last = arg.split()
                if self._cutting():
                    self._cut()
                while len(self.buffer) < int(size):
                    self._more()
                self.chunks += self.buffer[:int(size)]
                del self.buffer[:int(size)]
                if last:
                    self._store(bytes(self.chunks))
                    self._send("250 2.0.0 queued")
                else:
                    self._send(f"250 2.0.0 {size} octets")
            elif verb in ("RSET", "NOOP"):
                self._send("250 2.0.0 ok")
            elif verb == "QUIT":
                self._send("221 2.0.0 bye")
                return
            else:
                self._send("502 5.5.1 not implemented")

    def _data(self) -> bytes:
        start = 0
        while True:
            if self.buffer.startswith(b".\r\n"):
                end = 0
            else:
                end = self.buffer.find(b"\r\n.\r\n", start)
                end = -1 if end < 0 else end + 2
            if end >= 0:
                content = bytes(self.buffer[:end])
                del self.buffer[:end + 3]
                lines = content.split(b"\r\n")
                return b"\r\n".join(line[1:] if line.startswith(b".") else line for line in lines)
            start = max(0, len(self.buffer) - 4)
            self._more()

    def _store(self, data: bytes) -> None:
        self.server.messages.append(Stored(self.mail_from or "", list(self.rcpts), data))
        self.mail_from, self.rcpts = None, []


# --- the paths: with and without PIPELINING, over DATA and over BDAT ----------------------------

# (server capabilities, client config): BDAT in the default 1 MB chunks, and as one chunk (so
# that the BDAT LAST chunk itself is cut).
PATHS = {
    "data": (("8BITMIME",), ()),
    "data-pipelining": (("8BITMIME", "PIPELINING"), ()),
    "bdat": (("8BITMIME", "CHUNKING"), ()),
    "bdat-one-chunk": (("8BITMIME", "CHUNKING"), ("ChunkSize=1073741824",)),
    "bdat-pipelining": (("8BITMIME", "CHUNKING", "PIPELINING"), ()),
    "bdat-pipelining-one-chunk": (("8BITMIME", "CHUNKING", "PIPELINING"), ("ChunkSize=1073741824",)),
}


def _configure(client, settings) -> None:
    for setting in settings:
        client.config(setting)


def _check_batch_error(error, srv: CuttingServer, path: str) -> None:
    """The session error of a batch of five() whose message 2 was cut mid-content."""
    assert isinstance(error, smtpx.SMTPConnectionDropped)
    results = error.results
    assert len(results) == 5
    assert results[2] is None and results[3] is None and results[4] is None
    assert error.unsent == [2, 3, 4]
    for index in (0, 1):  # the server stored them
        outcome = results[index]
        # Their 250 was read before message 2's content went out: with PIPELINING and BDAT the
        # batch lane settles its window before a message too big for it (smtpx.engine.runner).
        assert isinstance(outcome, SendResult) and outcome.reply.code == 250
    assert [_subject(m.data) for m in srv.messages] == [b"Subject: m0", b"Subject: m1"]
    assert len(srv.cuts) == 1 and srv.cuts[0] < BIG_SIZE // 4  # cut early: the client was mid-write


@pytest.mark.parametrize("path", list(PATHS))
def test_40_sync_send_batch_reports_the_cut_message_as_unsent(path):
    caps, settings = PATHS[path]
    with CuttingServer(caps) as srv:
        client = smtpx.SMTP(mail_server=srv.host, mail_port=srv.port, timeout=20)
        _configure(client, settings)
        with pytest.raises(smtpx.SMTPConnectionDropped) as info:
            client.send_batch(five())
        assert not client.connected
    _check_batch_error(info.value, srv, path)


@pytest.mark.parametrize("path", list(PATHS))
def test_40_async_send_batch_reports_the_cut_message_as_unsent(path):
    caps, settings = PATHS[path]

    async def go():
        client = AsyncSMTP(mail_server=srv.host, mail_port=srv.port, timeout=20)
        _configure(client, settings)
        with pytest.raises(smtpx.SMTPConnectionDropped) as info:
            await client.send_batch(five())
        assert not client.connected
        return info.value

    with CuttingServer(caps) as srv:
        error = arun(go)
    _check_batch_error(error, srv, path)


@pytest.mark.parametrize("path", ["data", "bdat-one-chunk"])
def test_40_sync_send_of_the_cut_message_alone_is_not_delivered(path):
    caps, settings = PATHS[path]
    with CuttingServer(caps) as srv:
        client = smtpx.SMTP(mail_server=srv.host, mail_port=srv.port, timeout=20)
        _configure(client, settings)
        with pytest.raises(smtpx.SMTPConnectionDropped) as info:
            client.send_raw(*big())
    assert getattr(info.value, "delivery_unknown", False) is False
    assert srv.messages == [] and len(srv.cuts) == 1


# --- process_queue: the cut file stays for the next run ------------------------------------------

BIG_TEXT = "x" * 76 + "\r\n"


def _queue_five(folder):
    """Five queue files (SMTP.queue), oldest first; file 2 is the big one, to a "cut" recipient.
    The stems of their names."""
    stems = []
    for n in range(5):
        props = dict(from_=SENDER, send_to=f"r{n}@example.com", subject=f"m{n}", message_text=f"body {n}\r\n")
        if n == 2:
            props.update(send_to="cut2@example.com", subject="big",
                         message_text=BIG_TEXT * (BIG_SIZE // len(BIG_TEXT)))
        stems.append(os.path.basename(smtpx.SMTP(**props).queue(str(folder))).rsplit(".", 1)[0])
    return stems


def _suffix(folder, stem: str) -> str | None:
    found = [n for n in os.listdir(folder) if n.rsplit(".", 1)[0] == stem]
    return found[0].rsplit(".", 1)[1] if found else None


def _queued_message(folder, stem: str) -> bytes:
    from smtpx.queue.files import read_queue_file

    [name] = [n for n in os.listdir(folder) if n.rsplit(".", 1)[0] == stem]
    fd = os.open(os.path.join(folder, name), os.O_RDONLY)
    try:
        queued = read_queue_file(fd)
        return os.pread(fd, queued.length, queued.offset)
    finally:
        os.close(fd)


def _subject_of(data: bytes) -> str:
    for line in data.split(b"\r\n"):
        if line.startswith(b"Subject: "):
            return line[9:].decode()
    return ""


def _check_first_run(folder, stems, error, srv: CuttingServer, errors) -> None:
    """After a run against the cutting server: file 2 (and what came after it, unless the run
    got to them) stays for the next run, never *.failed; files 0 and 1 were delivered
    (deleted): on every path their replies are read before file 2's content goes out (over
    pipelined BDAT the batch lane settles its window before a message too big for it)."""
    assert isinstance(error, smtpx.SMTPConnectionDropped)
    assert _suffix(folder, stems[2]) == "sending"
    for stem in stems[3:]:
        assert _suffix(folder, stem) in ("sending", "queued")
    for n in (0, 1):
        assert _suffix(folder, stems[n]) is None
    assert dict(error.queue_run.failed) == {} and errors == []
    assert [_subject_of(m.data) for m in srv.messages] == ["m0", "m1"]
    assert srv.cuts  # the big one was cut (every time it was tried)


def _check_second_run(folder, stems, run, big: bytes, srv: CuttingServer, good) -> None:
    """The run against a good server delivers file 2 (and 3, 4) exactly once."""
    assert f"{stems[2]}.sending" in run.recovered
    assert run.failed == [] and len(run.sent) == 3
    delivered = [_subject_of(m.data) for m in srv.messages] + [_subject_of(m.data) for m in good.messages]
    assert sorted(delivered) == ["big", "m0", "m1", "m3", "m4"]  # each exactly once
    [stored] = [m.data for m in good.messages if _subject_of(m.data) == "big"]
    assert stored == big and len(stored) > BIG_SIZE // 2
    for n in (2, 3, 4):
        assert _suffix(folder, stems[n]) is None


QUEUE_PATHS = ["data", "data-pipelining", "bdat-one-chunk", "bdat-pipelining"]


@pytest.mark.parametrize("path", QUEUE_PATHS)
def test_40_sync_process_queue_leaves_the_cut_file_for_the_next_run(path, server, tmp_path):
    caps, settings = PATHS[path]
    stems = _queue_five(tmp_path)
    big = _queued_message(tmp_path, stems[2])
    errors = []
    with CuttingServer(caps) as srv:
        client = smtpx.SMTP(mail_server=srv.host, mail_port=srv.port, timeout=20, on_error=errors.append)
        _configure(client, settings)
        with pytest.raises(smtpx.SMTPConnectionDropped) as info:
            client.process_queue(str(tmp_path))
        assert not client.connected and client.idle
    _check_first_run(tmp_path, stems, info.value, srv, errors)
    client.mail_server, client.mail_port = server.host, server.port
    run = client.process_queue(str(tmp_path))
    _check_second_run(tmp_path, stems, run, big, srv, server)


@pytest.mark.parametrize("path", QUEUE_PATHS)
def test_40_async_process_queue_leaves_the_cut_file_for_the_next_run(path, server, tmp_path):
    caps, settings = PATHS[path]
    stems = _queue_five(tmp_path)
    big = _queued_message(tmp_path, stems[2])
    errors = []

    async def first(srv):
        client = AsyncSMTP(mail_server=srv.host, mail_port=srv.port, timeout=20, on_error=errors.append)
        _configure(client, settings)
        with pytest.raises(smtpx.SMTPConnectionDropped) as info:
            await client.process_queue(str(tmp_path))
        assert not client.connected and client.idle
        return info.value

    with CuttingServer(caps) as srv:
        error = arun(lambda: first(srv))
    _check_first_run(tmp_path, stems, error, srv, errors)
    # SMTP.process_queue's windows: all five claimed at once; files 0 and 1 settled, 2-4 tried
    # again on a second connection (which cut file 2 again), then left for the next run.
    assert [_suffix(tmp_path, s) for s in stems] == [None, None, "sending", "sending", "sending"]

    async def second():
        client = AsyncSMTP(mail_server=server.host, mail_port=server.port, timeout=20)
        _configure(client, settings)
        return await client.process_queue(str(tmp_path))

    run = arun(second)
    assert run.recovered == [f"{s}.sending" for s in stems[2:]]
    _check_second_run(tmp_path, stems, run, big, srv, server)


def test_40_async_process_queue_without_a_connection_leaves_every_file(tmp_path):
    """Connecting fails: nothing was sent, so no file is parked *.failed (as smtpx.SMTP)."""
    stems = _queue_five(tmp_path)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there now: the connection is refused

    async def go():
        client = AsyncSMTP(mail_server="127.0.0.1", mail_port=port, timeout=5)
        with pytest.raises(smtpx.SMTPConnectError) as info:
            await client.process_queue(str(tmp_path))
        return info.value

    error = arun(go)
    assert error.queue_run.failed == [] and error.queue_run.sent == []
    assert [_suffix(tmp_path, s) for s in stems] == ["sending"] * 5  # the window claimed, none sent


def test_4_async_process_queue_parks_a_file_whose_final_dot_got_no_reply(server, tmp_path):
    """Item 4 through AsyncSMTP.process_queue (its files go through the engine's send_batch):
    the connection drops after file 0's "." -> *.failed saying "may or may not", never sent
    again; file 1 goes out on a new connection."""
    from tests.servers.scripted import CLOSE

    stems = []
    for n in range(2):
        client = smtpx.SMTP(from_=SENDER, send_to=f"r{n}@example.com", subject=f"m{n}", message_text="x\r\n")
        stems.append(os.path.basename(client.queue(str(tmp_path))).rsplit(".", 1)[0])
    server.reply("DATA_END", CLOSE)  # only the first message's end of data gets no reply
    errors = []

    async def go():
        client = AsyncSMTP(mail_server=server.host, mail_port=server.port, timeout=20, on_error=errors.append)
        first = await client.process_queue(str(tmp_path))
        again = await client.process_queue(str(tmp_path))
        return first, again

    run, again = arun(go)
    [(name, error)] = run.failed
    assert name == f"{stems[0]}.failed" and len(run.sent) == 1
    assert isinstance(error, smtpx.SMTPConnectionDropped) and error.delivery_unknown is True
    assert "may or may not" in str(error) and len(errors) == 1 and "may or may not" in errors[0].description
    assert sorted(os.listdir(tmp_path)) == [f"{stems[0]}.failed"]
    assert again.sent == [] and again.failed == [] and again.recovered == []
    assert sorted(_subject_of(m.data) for m in server.messages) == ["m0", "m1"]  # each once
