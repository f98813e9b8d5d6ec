"""The durable queue signs when it sends, not when it queues: process_queue on SMTP, AsyncSMTP
and both pools applies ``dkim`` to every file as its window goes out, and dkimpy verifies what
the real aiosmtpd server stored. The queue files themselves stay unsigned, so ``t=`` and the
``x=`` expiry count from the send. A file the signer refuses (no From) is parked ``*.failed``
alone; the others go."""
from __future__ import annotations

import asyncio
import os
import re
import time
from dataclasses import dataclass

import pytest

import smtpx
from smtpx.aio import AsyncSMTP, AsyncSMTPPool
from smtpx.dkim import DKIMSigner
from smtpx.engine import Envelope, EnvelopeRecipient
from smtpx.enums import RecipientType
from smtpx.errors import SMTPInputError
from smtpx.queue.files import QUEUE_WINDOW, write_queue_file
from tests.dkim.test_signer import MESSAGES, key, verify
from tests.servers.scripted_fixtures import server  # noqa: F401  (fixture)

DOMAIN = "example.com"


@dataclass
class RawQueued:
    """What write_queue_file needs of a composed message, for exact bytes of our own."""

    data: bytes
    eight_bit: bool = False
    binary: bool = False
    needs_smtputf8: bool = False
    rcpt: str = "bob@example.org"

    @property
    def envelope(self) -> Envelope:
        return Envelope("alice@example.com", [EnvelopeRecipient(self.rcpt, RecipientType.TO, "")])

    def iter_bytes(self):
        # in small pieces: the file is written (and so read back) whatever the chunking
        return [self.data[i:i + 7] for i in range(0, len(self.data), 7)] or [b""]


@pytest.fixture
def signers():
    return [DKIMSigner(domain=DOMAIN, selector="rsa", private_key=key("rsa2048"), expire=3600),
            DKIMSigner(domain=DOMAIN, selector="ed", private_key=key("ed25519"), canonicalization="simple/simple")]


def queue_cases(folder) -> list[bytes]:
    """Files of every awkward kind (the 150 KB one spans several reads of the file), and a
    message whose last line has no line end; returns the messages as queued."""
    names = ["plain", "folded", "trailing_ws", "empty_body", "no_final_crlf", "bare_lf", "eight_bit", "utf8",
             "dots", "large"]
    messages = []
    for name in names:
        data = MESSAGES[name]
        write_queue_file(folder, RawQueued(data, eight_bit=name in ("eight_bit", "utf8"),
                                           needs_smtputf8=name == "utf8"))
        messages.append(data)
    return messages


def check_stored(stored: list[bytes], queued: list[bytes], signers, not_before: int) -> None:
    assert len(stored) == len(queued)
    for data in stored:
        assert verify(data, *signers, index=0) and verify(data, *signers, index=1)
        # t= is the send's time, not the queueing's; x= counts from it
        t = int(re.search(rb"t=(\d+)", data).group(1))
        assert t >= not_before
        x = re.search(rb"x=(\d+)", data)
        assert x is not None and int(x.group(1)) == t + 3600
    # every message arrived whole, behind its two signatures (a last line gets its CRLF)
    bodies = sorted(data.split(b"\r\n", 1)[1] for data in stored)
    assert all(data.count(b"DKIM-Signature:") == 2 for data in stored)
    for message in queued:
        wanted = message if message.endswith((b"\n", b"\r")) else message + b"\r\n"
        wanted = wanted.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        assert any(body.endswith(wanted) for body in bodies), message[:60]


def test_process_queue_signs_when_sending(server, signers, tmp_path):
    queued = queue_cases(tmp_path)
    smtp = smtpx.SMTP(mail_server=server.host, mail_port=server.port, timeout=15, dkim=signers)
    smtp.from_, smtp.send_to, smtp.subject, smtp.message_text = "alice@example.com", "bob@example.org", "q", "x"
    path = smtp.queue(str(tmp_path))  # queue() does not sign: the file holds the message as composed
    with open(path, "rb") as handle:
        assert b"DKIM-Signature" not in handle.read()
    not_before = int(time.time())
    run = smtp.process_queue(str(tmp_path))
    assert len(run.sent) == len(queued) + 1 and run.failed == [] and os.listdir(tmp_path) == []
    stored = [message.data for message in server.messages]
    queued.append(b"")  # the composed one: checked by its signatures only
    check_stored([data for data in stored if b"Subject: q\r\n" not in data], queued[:-1], signers, not_before)
    [composed] = [data for data in stored if b"Subject: q\r\n" in data]
    assert verify(composed, *signers, index=0) and verify(composed, *signers, index=1)


def test_a_file_the_signer_refuses_is_parked_alone(server, signers, tmp_path):
    write_queue_file(tmp_path, RawQueued(MESSAGES["plain"]))
    write_queue_file(tmp_path, RawQueued(b"Subject: no From\r\n\r\nbody\r\n"))
    write_queue_file(tmp_path, RawQueued(MESSAGES["dots"]))
    errors = []
    smtp = smtpx.SMTP(mail_server=server.host, mail_port=server.port, timeout=15, dkim=signers[0])
    smtp.on_error = lambda event: errors.append(event)
    run = smtp.process_queue(str(tmp_path))
    assert len(run.sent) == 2 and len(run.failed) == 1
    name, error = run.failed[0]
    assert isinstance(error, SMTPInputError) and "no From" in str(error)
    assert [n.rsplit(".", 1)[1] for n in os.listdir(tmp_path)] == ["failed"]
    assert len(server.messages) == 2 and all(verify(m.data, signers[0]) for m in server.messages)
    assert errors  # on_error fired for the parked file


def test_a_window_the_signer_refuses_whole_sends_nothing(server, signers, tmp_path):
    for _ in range(3):
        write_queue_file(tmp_path, RawQueued(b"Subject: no From\r\n\r\nbody\r\n"))
    smtp = smtpx.SMTP(mail_server=server.host, mail_port=server.port, timeout=15, dkim=signers[0])
    run = smtp.process_queue(str(tmp_path))
    assert run.sent == [] and len(run.failed) == 3
    assert server.commands == []  # no connection was opened for nothing


def test_more_than_a_window_signed_and_async(server, signers, tmp_path):
    count = QUEUE_WINDOW + 3
    for i in range(count):
        write_queue_file(tmp_path, RawQueued(MESSAGES["plain"].replace(b"Hello.", f"Hello {i}.".encode())))

    async def main():
        smtp = AsyncSMTP(mail_server=server.host, mail_port=server.port, timeout=15, dkim=signers)
        return await smtp.process_queue(str(tmp_path))

    run = asyncio.run(asyncio.wait_for(main(), 60))
    assert len(run.sent) == count and run.failed == []
    assert len(server.messages) == count
    for message in server.messages:
        assert verify(message.data, *signers, index=0) and verify(message.data, *signers, index=1)


def test_pools_sign_the_queue(server, signers, tmp_path):
    for name in ("plain", "folded", "dots", "utf8"):
        write_queue_file(tmp_path, RawQueued(MESSAGES[name], eight_bit=name == "utf8", needs_smtputf8=name == "utf8"))
    with smtpx.SMTPPool(2, mail_server=server.host, mail_port=server.port, timeout=15, dkim=signers[0]) as pool:
        run = pool.process_queue(str(tmp_path))
    assert len(run.sent) == 4
    for name in ("large", "eight_bit"):
        write_queue_file(tmp_path, RawQueued(MESSAGES[name], eight_bit=name == "eight_bit"))

    async def main():
        async with AsyncSMTPPool(2, mail_server=server.host, mail_port=server.port, timeout=15,
                                 dkim=signers[1]) as pool:
            return await pool.process_queue(str(tmp_path))

    assert len(asyncio.run(asyncio.wait_for(main(), 60)).sent) == 2
    assert len(server.messages) == 6
    by_rsa = [m.data for m in server.messages if b"a=rsa-sha256" in m.data]
    by_ed = [m.data for m in server.messages if b"a=ed25519-sha256" in m.data]
    assert len(by_rsa) == 4 and len(by_ed) == 2
    assert all(verify(data, signers[0]) for data in by_rsa) and all(verify(data, signers[1]) for data in by_ed)
