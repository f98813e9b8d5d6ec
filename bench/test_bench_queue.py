"""process_queue against the loop a smtplib user writes over a folder of messages (read the
file, sendmail, unlink), to Postfix's smtp-sink on loopback, 1 KB messages.

Both start from the same folder contents (N copies of one message: smtpx's queue files for
process_queue, the bare message files for the smtplib loop), refilled before every timed run
and not timed. process_queue claims each file (flock + rename), sends windows of files
pipelined over one connection and deletes each file from its own final reply; the smtplib loop
has no claim and no crash recovery. The issue's floor: process_queue at 4x the loop.
SMTPPool(4).process_queue runs four such connections on the folder at once.

Beside them, the least file work a queue with process_queue's guarantees does, with no SMTP at
all: per file open, flock, rename to *.sending, one read, unlink and close, and a folder fsync
per window. Deleting a file is most of it (the smtplib loop deletes too), which bounds what any
durable queue can reach against the loop on this disk.
Server and client are pinned to different CPUs as in bench/test_bench_throughput.py.
"""
from __future__ import annotations

import fcntl
import os
import smtplib
import statistics
import time
from pathlib import Path

import pytest

import smtpx
from test_bench_throughput import FROM, TO, make_message, sink  # noqa: F401  (fixture)
from smtpx.queue.files import QUEUE_WINDOW, TRAILER_TAG

COUNT = 400
FILE_WORK = "file work alone (no SMTP)"
ROUNDS = 5


def queue_file_bytes(size: int) -> bytes:
    """One queue file of a message of about ``size`` bytes (FROM -> TO), as SMTP.queue()
    writes it."""
    body = make_message(size).split(b"\r\n\r\n", 1)[1].decode()
    client = smtpx.SMTP(from_=FROM, send_to=TO, subject="throughput", message_text=body)
    text = client.queue("*").encode("utf-8", "surrogateescape")
    assert text.startswith(b"SMTPXQ 1\n") and TRAILER_TAG in text
    return text


def fill(folder: Path, name: str, data: bytes, count: int) -> None:
    for entry in folder.iterdir():
        entry.unlink()
    for index in range(count):
        (folder / f"{index:06d}{name}").write_bytes(data)


def smtplib_loop(folder: Path, port: int) -> None:
    with smtplib.SMTP("127.0.0.1", port) as client:
        for entry in sorted(folder.iterdir()):
            client.sendmail(FROM, [TO], entry.read_bytes())
            entry.unlink()


def file_work_alone(folder: Path) -> None:
    """The file system work of a durable queue run, without sending (see the module doc)."""
    path = str(folder)
    names = sorted(os.listdir(path))
    for start in range(0, len(names), QUEUE_WINDOW):
        for name in names[start:start + QUEUE_WINDOW]:
            full = os.path.join(path, name)
            fd = os.open(full, os.O_RDONLY)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            sending = full[:-len(".queued")] + ".sending"
            os.rename(full, sending)
            os.pread(fd, 1 << 16, 0)
            os.unlink(sending)
            os.close(fd)
        directory = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        os.fsync(directory)
        os.close(directory)


def process_queue(folder: Path, port: int) -> None:
    run = smtpx.SMTP(mail_server="127.0.0.1", mail_port=port).process_queue(str(folder))
    assert len(run.sent) == COUNT and not run.failed, run


def pool_process_queue(folder: Path, port: int) -> None:
    with smtpx.SMTPPool(4, mail_server="127.0.0.1", mail_port=port) as pool:
        run = pool.process_queue(str(folder))
    assert len(run.sent) == COUNT and not run.failed, run


def test_process_queue_throughput(benchmark, ratios, sink, tmp_path):  # noqa: F811
    queued = queue_file_bytes(1024)
    # the message inside the queue file is the one the smtplib loop sends
    body = queued.split(b"\n", 2)[2].rsplit(TRAILER_TAG, 1)[0]
    folders = {"smtplib loop": tmp_path / "eml", "smtpx process_queue": tmp_path / "queue",
               "smtpx SMTPPool(4).process_queue": tmp_path / "pool", FILE_WORK: tmp_path / "bare"}
    for folder in folders.values():
        folder.mkdir()
    runs = {
        "smtplib loop": lambda: smtplib_loop(folders["smtplib loop"], sink.port),
        "smtpx process_queue": lambda: process_queue(folders["smtpx process_queue"], sink.port),
        "smtpx SMTPPool(4).process_queue": lambda: pool_process_queue(folders["smtpx SMTPPool(4).process_queue"],
                                                                      sink.port),
        FILE_WORK: lambda: file_work_alone(folders[FILE_WORK]),
    }
    contents = {"smtplib loop": (".eml", body), "smtpx process_queue": (".queued", queued),
                "smtpx SMTPPool(4).process_queue": (".queued", queued), FILE_WORK: (".queued", queued)}
    times: dict[str, list[float]] = {name: [] for name in runs}
    order = list(runs)

    def one_round() -> None:
        order.append(order.pop(0))
        for name in order:
            suffix, data = contents[name]
            fill(folders[name], suffix, data, COUNT)
            os.sync()
            start = time.perf_counter()
            runs[name]()
            times[name].append(time.perf_counter() - start)
            assert not any(folders[name].iterdir()), f"{name} left files behind"

    benchmark.group = "queue folder to smtp-sink, 1 KB"
    benchmark.pedantic(one_round, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    if getattr(benchmark, "stats", None) is None:
        return
    for name in runs:
        per_message = statistics.median(times[name][1:]) / COUNT
        benchmark.extra_info[f"{name} messages/s"] = round(1 / per_message)
        role = ({"baseline": True} if name == "smtplib loop" else {"reference": True} if name == FILE_WORK
                else {"floor": 4.0})
        ratios.record_seconds(benchmark.group, name, per_message, **role)
