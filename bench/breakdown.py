"""Where one message's time goes, in parts that the wall-clock benchmarks do not separate.

    .venv/bin/python bench/breakdown.py [busy] [memory] [multiplex]

``memory``: the engine and the sync driver alone, over an in-memory stream that answers each
Write at once with the replies smtp-sink would give (no system call, no waiting, no facade):
µs a 1 KB message for ``send_mail`` (as ``send_raw`` runs it: ``raw_message``, then the
engine operation driven by ``smtpx.session.sync.run``) and for ``send_batch`` (the engine's,
pipelined). This is the CPU the protocol logic costs in a warm loop; set it beside the time a
message takes on a socket (bench/test_bench_throughput.py).

``busy``: the bare two-round-trip client of bench/test_bench_throughput.py against smtp-sink,
with 0, 30 and 60 µs of busy work added to each message, before it ("before") or in halves
after each of its two writes, before the read of their replies ("waits"). When the time a
message grows by about the work added before it, a client's own CPU time is on the critical
path: what smtpx takes beyond the bare client is then its CPU, not waiting. What the same
work costs in the waits is what a client gains by doing it there (the engine's ``meanwhile``,
docs/internals.md, "Work while the server answers").

``multiplex``: N connections to smtp-sink (N = 4, 16), each running the bare engine's
``send_batch`` on its share, driven by one thread over one ``poll()`` (a connection whose
reply has not come waits while the others go on), beside ``SMTPPool(N)`` and
``smtp-source -d -s N``, in the same round. Not a pool: no retries, reconnects or rate limit,
no facade, only the sending. Measured in the thirteenth session before SMTPPool was built
this way (then it ran a thread per connection); since the fourteenth, SMTPPool is the same
design with the pool's and the facade's work on top, which the gap between the two shows.

Not part of the test command. Times move from run to run on these VMs: each part runs three
rounds and prints them all. docs/benchmarks.md (eleventh session) has the figures and what
they showed.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from test_bench_throughput import FROM, TO, make_message, pinned, send_bare  # noqa: E402

import select  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402

import smtpx  # noqa: E402
from smtpx.engine import Engine, Read, WriteParts  # noqa: E402
from smtpx.message.raw import raw_message  # noqa: E402
from smtpx.session.sync import run  # noqa: E402

ROUNDS = 3
EHLO_REPLY = b"250-sink.example.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 8BITMIME\r\n"
ENVELOPE_REPLIES = b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
END_REPLY = b"250 2.0.0 Ok: queued as 1\r\n"


class ScriptedSink:
    """The sync stream interface the driver uses (smtpx.transport.byte_stream), answering each
    Write as smtp-sink would for what the engine sends here: EHLO; MAIL / RCPT / DATA; the
    content and "."; both in one Write (send_batch's lane); QUIT. Its own work per Write is a
    few byte comparisons, so the time measured is the engine's and the driver's."""

    max_reply_time = 0  # no reply deadline to track

    def __init__(self) -> None:
        self._pending = b"220 sink.example.test ESMTP\r\n"

    def track_reply(self, begun: bool, in_last_read: bool) -> None:
        pass

    def read(self) -> bytes:
        data, self._pending = self._pending, b""
        if not data:
            raise AssertionError("the engine read with no reply due: the script is out of step")
        return data

    def write(self, data: bytes) -> None:
        if data.endswith(b"DATA\r\n"):  # MAIL / RCPT / DATA, maybe after the last content's "."
            self._pending += (END_REPLY if b"\r\n.\r\n" in data else b"") + ENVELOPE_REPLIES
        elif data.endswith(b"\r\n.\r\n"):
            self._pending += END_REPLY
        elif data.startswith(b"EHLO"):
            self._pending += EHLO_REPLY
        elif data.startswith(b"QUIT"):
            self._pending += b"221 2.0.0 Bye\r\n"
        else:
            raise AssertionError(f"unexpected write {data[:40]!r}")

    def write_parts(self, parts: tuple[bytes, ...]) -> None:
        self.write(b"".join(parts))


def _engine() -> tuple[Engine, ScriptedSink]:
    engine, stream = Engine(), ScriptedSink()
    run(engine.greeting(), stream)
    run(engine.hello("client.example.test"), stream)
    return engine, stream


def memory(count: int = 20000) -> None:
    message = make_message(1024)
    engine, stream = _engine()
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(count):
            result = run(engine.send_mail(*raw_message(FROM, [TO], message, "send_raw")), stream)
        elapsed = time.perf_counter() - start
        assert result.all_accepted, result  # (the last one: the loop checks nothing, as send_raw's caller)
        print(f"memory   send_mail  {elapsed / count * 1e6:6.1f} µs a message")
    for _ in range(ROUNDS):
        items = [raw_message(FROM, [TO], message, "send_batch") for _ in range(count)]
        start = time.perf_counter()
        outcomes = run(engine.send_batch(items), stream)
        elapsed = time.perf_counter() - start
        assert len(outcomes) == count and not any(isinstance(o, Exception) for o in outcomes)
        print(f"memory   send_batch {elapsed / count * 1e6:6.1f} µs a message")


def busy(count: int = 3000) -> None:
    from tests.servers.postfix import start_smtp_sink

    message = make_message(1024)
    sink = start_smtp_sink()
    try:
        with pinned([sink.process.pid]):  # the sink on one CPU, this client on another
            for _ in range(ROUNDS):
                cells = []
                for work_us, where in ((0, "before"), (30, "before"), (30, "waits"), (60, "before"), (60, "waits")):
                    start = time.perf_counter()
                    send_bare(sink.port, message, count, pipelined=False, work=work_us / 1e6,
                              in_waits=where == "waits")
                    cells.append(f"+{work_us} µs {where}: {(time.perf_counter() - start) / count * 1e6:6.1f}")
                print("busy     bare client, µs a message: " + ", ".join(cells))
    finally:
        sink.stop()


def multiplexed_send(port: int, connections: int, count: int, message: bytes) -> list[object]:
    """``count`` messages over ``connections`` connections from this one thread: each
    connection's engine ``send_batch`` on its share, every Write made at once (small), every
    Read answered from the socket when poll() says it has bytes. The outcomes, connection by
    connection."""
    clients = []
    try:
        for _ in range(connections):
            client = smtpx.SMTP(mail_server="127.0.0.1", mail_port=port)
            client.config("SpinWait=0")
            client.connect()
            clients.append(client)
        poller = select.poll()
        running: dict[int, tuple] = {}  # fd -> (engine operation, stream, its outcomes' slot)
        outcomes: list[object] = []
        shares = [count // connections + (1 if n < count % connections else 0) for n in range(connections)]
        for client, share in zip(clients, shares):
            session = client._session  # the facade's connection (a private attribute: bench only)
            items = [raw_message(FROM, [TO], message, "multiplex") for _ in range(share)]
            fd = session.stream.raw_socket.fileno()
            running[fd] = (session.engine.send_batch(items), session.stream, len(outcomes))
            outcomes.append(None)
            poller.register(fd, select.POLLIN)

        def advance(fd: int, value: bytes | None) -> None:
            operation, stream, slot = running[fd]
            while True:
                try:
                    action = operation.send(value)
                except StopIteration as stop:
                    outcomes[slot] = stop.value
                    del running[fd]
                    poller.unregister(fd)
                    return
                if type(action) is Read:
                    value = stream.read_nowait()
                    if value is None:
                        return  # poll() says when its bytes come
                elif type(action) is WriteParts:
                    stream.write_parts(action.parts)
                    value = None
                else:
                    stream.write(action.data)
                    value = None

        for fd in list(running):
            advance(fd, None)
        while running:
            for fd, _ in poller.poll():
                if fd in running:
                    data = running[fd][1].read_nowait()
                    if data is not None:
                        advance(fd, data)
        return [outcome for share in outcomes for outcome in share]  # type: ignore[union-attr]
    finally:
        for client in clients:
            client.disconnect()


def multiplex(count: int = 8000) -> None:
    from tests.servers.postfix import start_smtp_sink

    message = make_message(1024)
    source = shutil.which("smtp-source") or "/usr/sbin/smtp-source"
    sink = start_smtp_sink()
    try:
        with pinned([sink.process.pid]):
            for connections in (4, 16):
                for _ in range(ROUNDS):
                    times = {}
                    start = time.perf_counter()
                    outcomes = multiplexed_send(sink.port, connections, count, message)
                    times["one thread, poll()"] = time.perf_counter() - start
                    assert len(outcomes) == count and not any(isinstance(o, Exception) for o in outcomes)
                    with smtpx.SMTPPool(connections, mail_server="127.0.0.1", mail_port=sink.port) as pool:
                        start = time.perf_counter()
                        pool.send_batch([(FROM, [TO], message)] * count)
                        times["SMTPPool"] = time.perf_counter() - start
                    start = time.perf_counter()
                    subprocess.run([source, "-d", "-s", str(connections), "-m", str(count), "-l", "1024",
                                    "-f", FROM, "-t", TO, f"127.0.0.1:{sink.port}"], check=True,
                                   stdout=subprocess.DEVNULL)
                    times["smtp-source"] = time.perf_counter() - start
                    cells = [f"{name} {elapsed / count * 1e6:6.1f} µs ({times['smtp-source'] / elapsed:.2f}x)"
                             for name, elapsed in times.items()]
                    print(f"multiplex N={connections:<2} µs a message (vs smtp-source): " + ", ".join(cells))
    finally:
        sink.stop()


# busy first: the memory part leaves a large heap behind it, which slows a Python client after it.
PARTS: dict[str, Callable[[], None]] = {"busy": busy, "memory": memory, "multiplex": multiplex}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("parts", nargs="*", help="busy, memory, multiplex (default: all)")
    args = parser.parse_args()
    unknown = [part for part in args.parts if part not in PARTS]
    if unknown:
        parser.error(f"unknown part {unknown[0]!r}: choose from {', '.join(PARTS)}")
    for part in args.parts or list(PARTS):
        PARTS[part]()


if __name__ == "__main__":
    main()
