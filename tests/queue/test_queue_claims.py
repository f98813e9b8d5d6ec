"""The batch-oriented queue API (QueueClaims: claim a window, commit each file from its own
outcome, leave the unsent) and SMTP.process_queue, which pipelines with it, across processes
against a real SMTP server (aiosmtpd): concurrent runs never send a file twice, and a run
SIGKILLed mid-window loses nothing."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from tests.queue.queue_helpers import composed, wire_bytes

from smtpx.errors import SMTPConnectionDropped, SMTPRecipientsRefused
from smtpx.queue.files import QueueClaims, commit_after_session_failure, commit_window, write_queue_file


def _suffixes(folder) -> list[str]:
    return sorted(name.rsplit(".", 1)[1] for name in os.listdir(folder))


def _queue(folder, count: int) -> list[str]:
    return [write_queue_file(folder, composed(i)) for i in range(count)]


def test_claim_takes_a_window_oldest_first_and_renames_it_sending(tmp_path):
    paths = _queue(tmp_path, 5)
    claims = QueueClaims(tmp_path)
    window = claims.claim(3)
    assert [e.stem for e in window] == [os.path.basename(p)[:-len(".queued")] for p in paths[:3]]
    assert _suffixes(tmp_path) == ["queued", "queued", "sending", "sending", "sending"]
    assert [e.envelope.mail_from for e in window] == ["sender0@example.com", "sender1@example.com",
                                                      "sender2@example.com"]
    assert b"".join(window[1].content.chunks) == wire_bytes(composed(1))
    rest = claims.claim(10)
    assert len(rest) == 2 and claims.claim(10) == []
    for entry in window + rest:
        claims.leave(entry)


def test_a_second_claimer_never_gets_a_claimed_file(tmp_path):
    _queue(tmp_path, 6)
    first, second = QueueClaims(tmp_path), QueueClaims(tmp_path)
    mine = first.claim(4)
    theirs = second.claim(10)
    assert len(theirs) == 2 and not {e.stem for e in mine} & {e.stem for e in theirs}
    for entry in mine + theirs:
        first.leave(entry)


def test_commit_window_settles_each_file_from_its_own_outcome(tmp_path):
    _queue(tmp_path, 3)
    errors = []
    claims = QueueClaims(tmp_path, keep_queue=True, on_error=lambda name, exc: errors.append(name))
    window = claims.claim(3)
    refused = SMTPRecipientsRefused("refused")
    commit_window(claims, window, [object(), refused, object()])  # SendResult stand-ins, an error
    names = {n.rsplit(".", 1)[0]: n.rsplit(".", 1)[1] for n in os.listdir(tmp_path)}
    assert names == {window[0].stem: "sent", window[1].stem: "failed", window[2].stem: "sent"}
    assert claims.run.failed == [(f"{window[1].stem}.failed", refused)] and errors == [f"{window[1].stem}.failed"]
    assert all(entry.fd == -1 for entry in window)  # every lock released


def test_session_failure_commits_the_known_parks_the_unknown_returns_the_unsent(tmp_path):
    _queue(tmp_path, 4)
    claims = QueueClaims(tmp_path)
    window = claims.claim(4)
    error = SMTPConnectionDropped("the server closed the connection")
    error.results = [object(), SMTPConnectionDropped("message 1: ...", delivery_unknown=True), None]
    error.unsent = [2, 3]
    unsent = commit_after_session_failure(claims, window, error)
    assert unsent == window[2:]  # None, and the one the engine never took
    names = {n.rsplit(".", 1)[0]: n.rsplit(".", 1)[1] for n in os.listdir(tmp_path)}
    assert names == {window[1].stem: "failed", window[2].stem: "sending", window[3].stem: "sending"}
    parked = claims.run.failed[0][1]
    assert parked.delivery_unknown is True and "may or may not" in str(parked) and parked.__cause__ is error
    for entry in unsent:
        claims.leave(entry)
    again = QueueClaims(tmp_path)
    recovered = again.claim(10)  # the unsent ones are recovered by the next run; the unknown one never
    assert [e.stem for e in recovered] == [e.stem for e in window[2:]] and len(again.run.recovered) == 2
    for entry in recovered:
        again.leave(entry)


def test_a_corrupt_file_is_parked_during_claim_and_the_window_fills_on(tmp_path):
    paths = _queue(tmp_path, 3)
    with open(paths[0], "r+b") as damaged:
        damaged.truncate(os.path.getsize(paths[0]) - 10)
    claims = QueueClaims(tmp_path)
    window = claims.claim(2)
    assert [e.stem for e in window] == [os.path.basename(p)[:-len(".queued")] for p in paths[1:]]
    assert [name for name, _ in claims.run.failed] == [os.path.basename(paths[0]).replace(".queued", ".failed")]
    for entry in window:
        claims.leave(entry)


RUN_SMTP = r"""
import sys
import smtpx
smtp = smtpx.SMTP(mail_server="127.0.0.1", mail_port=int(sys.argv[2]), timeout=60)
run = smtp.process_queue(sys.argv[1])
print(len(run.sent), len(run.failed))
"""


def _run_smtp(qdir, port) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", RUN_SMTP, str(qdir), str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_pipelined_runs_send_each_file_exactly_once(tmp_path, sink):
    msgs = [composed(i) for i in range(80)]
    for m in msgs:
        write_queue_file(tmp_path, m)
    workers = [_run_smtp(tmp_path, sink.port) for _ in range(2)]
    counts = []
    for w in workers:
        out, err = w.communicate(timeout=120)
        assert w.returncode == 0, err
        counts.append([int(x) for x in out.split()])
    assert sum(c[0] for c in counts) == 80 and all(c[1] == 0 for c in counts)
    assert sorted(d for _, _, d in sink.messages) == sorted(wire_bytes(m) for m in msgs)  # each exactly once
    assert os.listdir(tmp_path) == []


@pytest.mark.timeout(120)
def test_sigkill_mid_window_loses_nothing(tmp_path, sink):
    """A pipelined run killed while the server holds one message: files whose final reply had
    come in are gone, the rest are *.sending or *.queued, and the next run delivers them; at
    least once for every file, and the held one (never accepted) exactly once."""
    msgs = [composed(i, body=f"message {i}\nKILLME\n" if i == 5 else None) for i in range(12)]
    for m in msgs:
        write_queue_file(tmp_path, m)
    sink.handler.hold_marker = b"KILLME"
    worker = _run_smtp(tmp_path, sink.port)
    try:
        assert sink.handler.held.wait(60), "the worker never reached the held message"
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(30)
    finally:
        if worker.poll() is None:
            worker.kill()
    sink.handler.release.set()
    left = os.listdir(tmp_path)
    assert left and all(n.endswith((".sending", ".queued")) for n in left)
    assert len(left) + len(sink.messages) >= 12  # nothing lost
    out = _run_smtp(tmp_path, sink.port).communicate(timeout=60)[0]
    assert out.split() == [str(len(left)), "0"] and os.listdir(tmp_path) == []
    received = [d for _, _, d in sink.messages]
    assert set(received) == {wire_bytes(m) for m in msgs}  # every message delivered
    assert received.count(wire_bytes(msgs[5])) == 1
