"""Messages per second through the sans-IO engine alone, over a plain socket, against Postfix's
smtp-sink (PIPELINING, DATA): smtplib.sendmail in a loop (the baseline) vs Engine.send_mail in
a loop (2 round trips per message) vs Engine.send_batch (1 round trip per message: each content
goes out with the next message's commands). 1 KB messages, 400 per connection.
"""
from __future__ import annotations

import os
import smtplib
import socket

import pytest

from tests.servers.postfix import start_smtp_sink
from smtpx.engine import Content, Engine, Envelope, EnvelopeRecipient, NullSink, Write
from _rounds import rotating_rounds

FROM, TO = "sender@example.test", "rcpt@example.test"
COUNT = 400
GROUP = "engine msgs/s on smtp-sink, 1 KB"


def make_message(size: int = 1024) -> bytes:
    head = f"From: <{FROM}>\r\nTo: <{TO}>\r\nSubject: batch\r\n\r\n".encode()
    line = b"The quick brown fox jumps over the lazy dog, again and again.\r\n"
    return head + (line * (size // len(line) + 1))[: size - len(head) - 2] + b"\r\n"


def drive(sock: socket.socket, operation):
    """The whole sync driver: perform each action the engine yields, send back its result."""
    result = None
    while True:
        try:
            action = operation.send(result)
        except StopIteration as done:
            return done.value
        if isinstance(action, Write):
            sock.sendall(action.data)
            result = None
        else:  # Read (no StartTLS on this plain connection)
            result = sock.recv(65536)


def engine_session(port: int, message: bytes, batch: bool) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        engine = Engine(sink=NullSink())
        drive(sock, engine.greeting())
        drive(sock, engine.hello("bench.example"))
        envelope, content = Envelope(FROM, [EnvelopeRecipient(TO)]), Content.from_bytes(message)
        if batch:
            results = drive(sock, engine.send_batch([(envelope, content)] * COUNT))
            assert all(result.reply.code == 250 for result in results)
        else:
            for _ in range(COUNT):
                drive(sock, engine.send_mail(envelope, content))
        drive(sock, engine.quit())


def smtplib_session(port: int, message: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port) as client:
        for _ in range(COUNT):
            client.sendmail(FROM, [TO], message)


@pytest.fixture(scope="module")
def sink():
    """smtp-sink on one core and this process on another (when there are two): a server is
    normally another machine, and where the scheduler puts the two processes otherwise
    changes every client's time by 2-3x from one round to the next."""
    server = start_smtp_sink()
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    saved = set(cpus)
    if len(cpus) >= 2:
        os.sched_setaffinity(server.process.pid, {cpus[1]})
        os.sched_setaffinity(0, {cpus[0]})
    try:
        yield server
    finally:
        if len(cpus) >= 2:
            os.sched_setaffinity(0, saved)
        server.stop()


CASES = {
    "smtplib": (lambda port, message: smtplib_session(port, message), {"baseline": True}),
    "engine send_mail": (lambda port, message: engine_session(port, message, batch=False), {}),
    "engine send_batch": (lambda port, message: engine_session(port, message, batch=True), {"floor": 3}),
}


def test_engine_batch_throughput(benchmark, ratios, sink):
    """One round runs every case once, in a rotating order, so that load from other processes
    on the machine falls on all of them alike; each case's median round gives its ratio."""
    message = make_message()
    runners = {name: (lambda run=run: run(sink.port, message)) for name, (run, _) in CASES.items()}
    roles = {name: role for name, (_, role) in CASES.items()}
    rotating_rounds(benchmark, ratios, GROUP, runners, COUNT, 9, roles)
