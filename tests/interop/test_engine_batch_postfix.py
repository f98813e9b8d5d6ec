"""The engine's send_batch against a real Postfix over a socket: the refused transactions in the
middle of a pipelined batch (BDAT and DATA) do not disturb the messages written right after
them, and every accepted message is delivered. (The engine's own tests, tests/engine, need no
server; this one needs Postfix, hence its place here and its marker.)"""
import socket
import uuid

import pytest

from smtpx.engine import Content, Engine, EngineOptions, Envelope, EnvelopeRecipient, SendResult, Write
from smtpx.errors import SMTPInputError, SMTPRecipientsRefused

pytestmark = pytest.mark.postfix


def drive(sock, operation):
    result = None
    while True:
        try:
            action = operation.send(result)
        except StopIteration as done:
            return done.value
        if isinstance(action, Write):
            sock.sendall(action.data)
            result = None
        else:
            result = sock.recv(65536)


@pytest.mark.parametrize("chunking", [True, False], ids=["BDAT", "DATA"])
def test_mixed_batch_against_postfix(postfix, chunking):
    tag = uuid.uuid4().hex[:12]
    items = []
    for i in range(6):
        to = "reject@example.test" if i == 1 else "user@example.test"  # Postfix refuses reject@ at RCPT
        sender = "<bad sender>" if i == 4 else "a@client.example"  # an input error: nothing written
        body = f"Subject: batch-{tag}-{i}\r\n\r\nhello {i}\r\n".encode()
        items.append((Envelope(sender, [EnvelopeRecipient(to)]), Content.from_bytes(body)))
    with socket.create_connection((postfix.host, postfix.smtp_port), timeout=20) as sock:
        engine = Engine(EngineOptions(use_chunking=chunking))
        drive(sock, engine.greeting())
        drive(sock, engine.hello("client.example"))
        assert engine.capabilities.has("PIPELINING") and engine.capabilities.has("CHUNKING")
        results = drive(sock, engine.send_batch(items, window=4))
        assert drive(sock, engine.quit()).code == 221
    assert [type(r) for r in results] == [SendResult, SMTPRecipientsRefused, SendResult, SendResult,
                                          SMTPInputError, SendResult]
    assert results[1].result.refused_addresses == ["reject@example.test"]
    for i in (0, 2, 3, 5):
        postfix.wait_for_delivery(f"batch-{tag}-{i}")
