"""The descriptors of committed queue files are closed by a helper thread
(smtpx.queue.closer), off the run's path, and all of them by the time a run returns: counted in
/proc/self/fd around real runs (SMTP, AsyncSMTP, process_queue_dir) against a real SMTP server
(aiosmtpd), for delivered, refused and kept (``KeepQueue``) files."""
from __future__ import annotations

import asyncio
import os

import pytest

import smtpx
from smtpx.aio import AsyncSMTP
from smtpx.queue.closer import DeferredCloser
from smtpx.queue.files import process_queue_dir, write_queue_file
from tests.queue.queue_helpers import composed

FILES = 70  # three windows of QUEUE_WINDOW (32), the last one short


def open_fds() -> set[int]:
    """This process's open descriptors of files and folders. Sockets are left out: the sink
    runs in this process, and it closes its side of a connection on its own thread, sometimes
    only after the client's run has returned."""
    found = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:  # closed meanwhile (the listing's own descriptor, another thread's)
            continue
        if not target.startswith("socket:"):
            found.add(int(name))
    return found


def is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def fill(queue_dir, count: int = FILES) -> None:
    for index in range(count):
        write_queue_file(queue_dir, composed(index))


def test_the_closer_closes_every_descriptor_it_was_given_by_join(tmp_path):
    fds = [os.open(tmp_path, os.O_RDONLY) for _ in range(5)]
    closer = DeferredCloser()
    closer.close_later(fds[:2])
    closer.close_later([])
    closer.close_later(fds[2:])
    closer.join()
    assert not any(is_open(fd) for fd in fds)
    again = os.open(tmp_path, os.O_RDONLY)  # usable again after join, with a new thread
    closer.close_later([again])
    closer.join()
    assert not is_open(again)
    closer.join()  # nothing pending: returns at once


def test_a_run_closes_every_descriptor_it_opened_before_it_returns(tmp_path, sink):
    fill(tmp_path)
    before = open_fds()
    run = smtpx.SMTP(mail_server="127.0.0.1", mail_port=sink.port).process_queue(str(tmp_path))
    assert len(run.sent) == FILES and not run.failed
    assert open_fds() <= before
    assert len(sink.handler.messages) == FILES
    assert not os.listdir(tmp_path)


def test_refused_and_kept_files_are_closed_too(tmp_path, sink):
    fill(tmp_path)
    write_queue_file(tmp_path, composed(999, body="refuse me\n"))
    sink.handler.hold_marker = b"refuse me"
    sink.handler.release.set()  # not held: refused with 451 at once
    before = open_fds()
    client = smtpx.SMTP(mail_server="127.0.0.1", mail_port=sink.port)
    client.config("KeepQueue=True")
    run = client.process_queue(str(tmp_path))
    assert len(run.sent) == FILES and len(run.failed) == 1
    assert open_fds() <= before
    names = os.listdir(tmp_path)
    assert sum(name.endswith(".sent") for name in names) == FILES
    assert sum(name.endswith(".failed") for name in names) == 1


def test_an_async_run_closes_every_descriptor_it_opened_before_it_returns(tmp_path, sink):
    fill(tmp_path)
    before = open_fds()

    async def main() -> smtpx.QueueRun:
        return await AsyncSMTP(mail_server="127.0.0.1", mail_port=sink.port).process_queue(str(tmp_path))

    run = asyncio.run(main())
    assert len(run.sent) == FILES
    assert open_fds() <= before


def test_process_queue_dir_closes_every_descriptor_before_it_returns(tmp_path, sink):
    fill(tmp_path, 5)
    before = open_fds()
    with smtpx.SMTP(mail_server="127.0.0.1", mail_port=sink.port) as client:
        run = process_queue_dir(tmp_path, lambda envelope, content: client.send_raw(
            envelope.mail_from, [r.address for r in envelope.recipients], b"".join(content.chunks)))
    assert len(run.sent) == 5
    assert open_fds() <= before


def test_a_run_stopped_by_an_error_still_closes_every_descriptor(tmp_path, sink):
    """File 40 (second window) is refused with 451; the on_error handler it fires raises, which
    stops the run there: what the run committed and what it still held are closed all the
    same, and the files after it stay queued for the next run."""
    for index in range(FILES):
        write_queue_file(tmp_path, composed(index, body="refuse me\n" if index == 40 else None))
    sink.handler.hold_marker = b"refuse me"
    sink.handler.release.set()  # not held: refused at once
    before = open_fds()
    client = smtpx.SMTP(mail_server="127.0.0.1", mail_port=sink.port)

    def stop(event) -> None:
        raise RuntimeError("the handler stops the run")

    client.on_error = stop
    with pytest.raises(RuntimeError):
        client.process_queue(str(tmp_path))
    assert open_fds() <= before
    names = os.listdir(tmp_path)
    assert sum(name.endswith(".failed") for name in names) == 1
    assert any(name.endswith((".queued", ".sending")) for name in names)
