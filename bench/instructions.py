"""Instructions per message, counted by valgrind: the noise-free A/B for one message per call.

    .venv/bin/python bench/instructions.py [--src DIR] [smtplib] [send_raw] [send] [send_batch] [pool]
        [aio_send_raw] [aio_send_batch] [aio_pool] [smtplib_distinct] [send_raw_distinct] [send_distinct] [send_batch_distinct]

Wall-clock benchmarks on this VM move by tens of percent from run to run, far more than most
single changes to the per-message path. This script counts instead: each client sends 1 KB
messages to Postfix's smtp-sink on loopback under ``valgrind --tool=cachegrind`` (user-space
instructions of the client process only; the sink is not counted), once with 200 messages
and once with 1,000, and prints (difference of the counts) / 800: the instructions one more
message costs, without start-up and imports. The hash seed is fixed (PYTHONHASHSEED=0); counts
still move by 1-3% between runs (whether a reply is already there when the client reads changes
its path), so compare changes over several runs.
smtpx runs with SpinWait=0, so waiting for a reply sleeps in poll() and counts nothing.

``--src DIR`` counts another checkout's ``src`` (e.g. a ``git worktree`` of the commit before
a change, built with ``setup.py build_ext --inplace`` and with ``src/smtpx/_core`` a link to its
``src/_core``: otherwise the editable install's kernels are imported) to compare two versions;
the client refuses to count when its kernels or compiled modules come from elsewhere. Needs valgrind
(``apt-get install valgrind``); not part of the test command. Instructions are not time (a
system call costs far more than its few user-space instructions: smtplib makes eight per
message, smtpx four or five), so this is for A/B of Python-level changes, next to the
wall-clock ratios of bench/test_bench_throughput.py, not instead of them.

``engine_batch`` needs no server: the engine's ``send_batch`` (with ``raw_message`` making each
item, the sync driver's ``run``) over bench/breakdown.py's scripted stream, which answers every
Write at once. Its count does not depend on when a reply arrives, so it repeats exactly: the
A/B for a change to the engine's batch lane (the socket kinds move by a few thousand
instructions between runs). The scripted stream's own work is in the count (about 4,500).
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

FROM, TO = "sender@example.test", "rcpt@example.test"
SMALL, LARGE = 200, 1000
KINDS = ("smtplib", "send_raw", "send", "send_batch", "pool", "aio_send_raw", "aio_send_batch", "aio_pool", "smtplib_distinct",
         "send_raw_distinct", "send_distinct", "send_batch_distinct", "engine_batch")


def client(kind: str, port: int, count: int) -> None:
    """Runs inside valgrind: ``count`` messages of 1 KB over one connection. A ``_distinct``
    kind sends each message to a recipient of its own (a bulk mailing: nothing learned about
    one address serves the next); the others send every message to the same one."""
    from test_bench_throughput import make_message, recipient_each

    _check_source(Path(os.environ["PYTHONPATH"]))
    message = make_message(1024)
    distinct = kind.endswith("_distinct")
    kind = kind.removesuffix("_distinct")
    recipients = recipient_each(count) if distinct else [TO] * count
    if kind == "smtplib":
        import smtplib

        with smtplib.SMTP("127.0.0.1", port) as lib:
            for recipient in recipients:
                lib.sendmail(FROM, [recipient], message)
        return
    import smtpx

    if kind == "engine_batch":  # no socket: the engine's send_batch over breakdown.py's scripted stream
        from breakdown import _engine
        from smtpx.message.raw import raw_message
        from smtpx.session.sync import run

        engine, stream = _engine()
        outcomes = run(engine.send_batch([raw_message(FROM, [recipient], message, "send_batch") for recipient in recipients]),
                       stream)
        assert all(isinstance(outcome, smtpx.SendResult) for outcome in outcomes)
        return
    if kind.startswith("aio_"):
        import asyncio

        asyncio.run(_aio_client(kind, port, [(FROM, [recipient], message) for recipient in recipients]))
        return
    if kind == "pool":  # SMTPPool(4).send_batch: four connections driven from one thread
        with smtpx.SMTPPool(4, mail_server="127.0.0.1", mail_port=port) as pool:
            pool.send_batch([(FROM, [recipient], message) for recipient in recipients])
        return
    if kind == "send":
        body = message.partition(b"\r\n\r\n")[2].decode("ascii")
        smtp = smtpx.SMTP(mail_server="127.0.0.1", mail_port=port, from_=f"<{FROM}>", send_to=f"<{TO}>",
                          subject="throughput", message_text=body)
        send = smtp.send
    else:
        smtp = smtpx.SMTP(mail_server="127.0.0.1", mail_port=port)
    smtp.config("SpinWait=0")
    smtp.connect()
    try:
        if kind == "send_batch":  # all of them in one call: the batch lane
            smtp.send_batch([(FROM, [recipient], message) for recipient in recipients])
            return
        if kind == "send_raw":
            for recipient in recipients:
                smtp.send_raw(FROM, [recipient], message)
            return
        if kind == "send" and distinct:  # a mail merge: the recipients cleared (as the reference says) and set
            for recipient in recipients:
                smtp.message_recipients.clear()
                smtp.send_to = f"<{recipient}>"
                send()
            return
        for _ in range(count):
            send()
    finally:
        smtp.disconnect()


async def _aio_client(kind: str, port: int, messages: list[tuple[str, list[str], bytes]]) -> None:
    """The asyncio clients: AsyncSMTP.send_raw or send_batch on one connection, or AsyncSMTPPool(4)."""
    from smtpx.aio import AsyncSMTP, AsyncSMTPPool

    if kind == "aio_pool":
        async with AsyncSMTPPool(4, mail_server="127.0.0.1", mail_port=port) as pool:
            await pool.send_batch(messages)
        return
    smtp = AsyncSMTP(mail_server="127.0.0.1", mail_port=port)
    await smtp.connect()
    try:
        if kind == "aio_send_raw":
            for message in messages:
                await smtp.send_raw(*message)
        else:
            await smtp.send_batch(messages)
    finally:
        await smtp.disconnect()


def _check_source(src: Path) -> None:
    """Every module smtpx loads comes from ``src``, the kernels compiled (a worktree without
    its own ``src/smtpx/_core`` would count this checkout's kernels)."""
    import smtpx.engine.runner
    import smtpx.kernels

    compiled = smtpx.kernels.load_compiled()
    if compiled is None:
        raise SystemExit(f"{src}: the compiled kernels do not load (build them, link src/smtpx/_core)")
    for module in (smtpx.engine.runner, sys.modules["smtpx._core.replies"]):
        if not Path(module.__file__ or "").resolve().is_relative_to(src.resolve()):
            raise SystemExit(f"{module.__name__} comes from {module.__file__}, not from {src}")


def count_instructions(kind: str, port: int, count: int, src: Path) -> int:
    env = dict(os.environ, PYTHONPATH=str(src), PYTHONHASHSEED="0")
    run = subprocess.run(
        ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
         sys.executable, __file__, "--client", kind, "--port", str(port), "--count", str(count)],
        env=env, capture_output=True, text=True, check=True)
    found = re.search(r"I\s+refs:\s+([\d,]+)", run.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{run.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("kinds", nargs="*", help=f"{', '.join(KINDS)} (default: all)")
    parser.add_argument("--src", type=Path, default=ROOT / "src", help="the smtpx source folder to count")
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client(args.client, args.port, args.count)
        return
    kinds = args.kinds or list(KINDS)
    unknown = [kind for kind in kinds if kind not in KINDS]
    if unknown:
        parser.error(f"unknown client {unknown[0]!r}: choose from {', '.join(KINDS)}")
    from tests.servers.postfix import start_smtp_sink

    sink = start_smtp_sink()
    try:
        for kind in kinds:
            small = count_instructions(kind, sink.port, SMALL, args.src)
            large = count_instructions(kind, sink.port, LARGE, args.src)
            print(f"{kind:19s} {(large - small) / (LARGE - SMALL):10,.0f} instructions a message")
    finally:
        sink.stop()


if __name__ == "__main__":
    main()
