"""process_queue_dir across processes against a real SMTP server (aiosmtpd): two concurrent
runs never send a file twice; a run killed with SIGKILL mid-send loses nothing."""
from __future__ import annotations

import json
import os
import signal
import smtplib
import subprocess
import sys
import time

from tests.queue.queue_helpers import composed, wire_bytes

from smtpx.queue.files import process_queue_dir, write_queue_file

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # "tests" importable in a child

WORKER = os.path.join(os.path.dirname(__file__), "_worker.py")


def _start_worker(queue_dir, port, result_file):
    return subprocess.Popen([sys.executable, WORKER, str(queue_dir), str(port), str(result_file)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_two_concurrent_runs_send_each_file_exactly_once(tmp_path, sink):
    qdir = tmp_path / "q"
    qdir.mkdir()
    msgs = [composed(i) for i in range(60)]
    for m in msgs:
        write_queue_file(qdir, m)
    workers = [_start_worker(qdir, sink.port, tmp_path / f"r{n}.json") for n in range(2)]
    for w in workers:
        out, err = w.communicate(timeout=120)
        assert w.returncode == 0, err.decode()
    results = [json.loads((tmp_path / f"r{n}.json").read_text()) for n in range(2)]
    assert results[0]["failed"] == results[1]["failed"] == []
    claimed = results[0]["sent"] + results[1]["sent"]
    print("files sent per run:", [len(r["sent"]) for r in results])
    assert len(claimed) == len(set(claimed)) == 60  # each file claimed by exactly one run
    received = sink.messages
    assert len(received) == 60
    # byte for byte as the server received them, each exactly once
    assert sorted(data for _, _, data in received) == sorted(wire_bytes(m) for m in msgs)
    for mail_from, rcpts, data in received:
        i = int(mail_from[len("sender"):].split("@")[0])
        assert rcpts == [f"to{i}@example.org", "cc@example.org", "hidden@example.org"]
        assert b"hidden@example.org" not in data  # BCc is envelope only
    assert os.listdir(qdir) == []


def test_sigkill_mid_send_then_next_run_recovers(tmp_path, sink):
    qdir = tmp_path / "q"
    qdir.mkdir()
    msgs = [composed(i, body=f"message {i}\nKILLME\n" if i == 2 else None) for i in range(5)]
    for m in msgs:
        write_queue_file(qdir, m)
    sink.handler.hold_marker = b"KILLME"
    worker = _start_worker(qdir, sink.port, tmp_path / "r.json")
    try:
        assert sink.handler.held.wait(60), "the worker never reached the held message"
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(30)
    finally:
        if worker.poll() is None:
            worker.kill()
    sink.handler.release.set()
    left = sorted(os.listdir(qdir))
    assert len([n for n in left if n.endswith(".sending")]) == 1  # the one being sent when killed
    assert len([n for n in left if n.endswith(".queued")]) == 2
    assert len(sink.messages) == 2  # messages 0 and 1 got through before the kill

    conn = smtplib.SMTP("127.0.0.1", sink.port, timeout=30)
    try:
        run = process_queue_dir(
            qdir, lambda env, content: conn.sendmail(env.mail_from, [r.address for r in env.recipients],
                                                     b"".join(content.chunks)))
    finally:
        conn.quit()
    assert len(run.recovered) == 1 and len(run.sent) == 3 and run.failed == []
    assert os.listdir(qdir) == []
    assert sorted(d for _, _, d in sink.messages) == sorted(wire_bytes(m) for m in msgs)


def test_a_live_runs_sending_file_is_not_recovered(tmp_path):
    """A *.sending file whose owner is alive (holds the lock) is left alone by another run."""
    qdir = tmp_path / "q"
    qdir.mkdir()
    write_queue_file(qdir, composed(1))
    started = tmp_path / "started"
    code = (
        "import sys, time, pathlib\n"
        "from smtpx.queue.files import process_queue_dir\n"
        "def send_one(env, content):\n"
        "    pathlib.Path(sys.argv[2]).write_text('x')\n"
        "    time.sleep(3)\n"
        "process_queue_dir(sys.argv[1], send_one)\n"
    )
    owner = subprocess.Popen([sys.executable, "-c", code, str(qdir), str(started)])
    try:
        deadline = time.monotonic() + 30
        while not started.exists():
            assert time.monotonic() < deadline and owner.poll() is None
            time.sleep(0.01)
        calls = []
        run = process_queue_dir(qdir, lambda e, c: calls.append(e))
        assert calls == [] and run.recovered == [] and run.sent == []
        assert [n.endswith(".sending") for n in os.listdir(qdir)] == [True]
    finally:
        owner.wait(30)
    assert owner.returncode == 0 and os.listdir(qdir) == []


def test_sigkill_during_queue_leaves_no_queued_file(tmp_path):
    """Killed while writing: at most a temporary file remains, never a half-written *.queued."""
    qdir = tmp_path / "q"
    qdir.mkdir()
    code = (
        "import sys, io, time\n"
        "sys.path.insert(0, sys.argv[2])\n"
        "from tests.queue.queue_helpers import Msg\n"
        "from smtpx.message.compose import compose_message\n"
        "from smtpx.queue.files import write_queue_file\n"
        "class Slow(io.RawIOBase):\n"
        "    def readable(self): return True\n"
        "    def readinto(self, b):\n"
        "        time.sleep(0.05)\n"
        "        b[:10] = b'slow line\\n'\n"
        "        return 10\n"
        "m = Msg(); m.from_ = 's@example.com'; m.send_to = 't@example.org'\n"
        "m.set_message_stream(Slow())\n"
        "write_queue_file(sys.argv[1], compose_message(m._message_spec()))\n"
    )
    writer = subprocess.Popen([sys.executable, "-c", code, str(qdir), REPOSITORY])
    try:
        deadline = time.monotonic() + 30
        while not any(n.endswith(".tmp") for n in os.listdir(qdir)):
            assert time.monotonic() < deadline and writer.poll() is None
            time.sleep(0.01)
        time.sleep(0.2)
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(30)
    finally:
        if writer.poll() is None:
            writer.kill()
    names = os.listdir(qdir)
    assert names and all(n.startswith(".") and n.endswith(".tmp") for n in names)
    run = process_queue_dir(qdir, lambda e, c: None)
    assert run.sent == run.failed == [] and os.listdir(qdir) == names
