"""FAULTS.md items 4, 5, 36 and 37 met through SMTP.queue() / SMTP.process_queue(): a message
whose fate is unknown is parked as *.failed (never deleted, never sent twice), and the run
goes on with the rest."""
from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

import smtpx
from tests.servers.scripted import CLOSE, RawServer

from tests.faults.raw import GREET, ehlo


def _suffixes(folder) -> list[str]:
    return sorted(name.rsplit(".", 1)[1] for name in os.listdir(folder))


def test_4_drop_after_the_final_dot_parks_the_file_as_failed_and_says_delivery_is_unknown(server, make_smtp, tmp_path):
    errors = []
    smtp = make_smtp(server, subject="first", on_error=errors.append)
    first = smtp.queue(str(tmp_path))
    smtp.subject = "second"
    smtp.queue(str(tmp_path))
    server.reply("DATA_END", CLOSE)  # only the first message's end of data gets no reply
    run = smtp.process_queue(str(tmp_path))
    assert len(run.failed) == 1 and len(run.sent) == 1
    name, error = run.failed[0]
    assert name == os.path.basename(first).replace(".queued", ".failed")
    assert isinstance(error, smtpx.SMTPConnectionDropped) and error.delivery_unknown is True
    assert "may or may not" in str(error)
    assert _suffixes(tmp_path) == ["failed"]  # the unknown one is kept, the delivered one is gone
    with open(tmp_path / name, "rb") as kept:
        assert b"Subject: first" in kept.read()  # the whole message is still there
    assert len(errors) == 1 and "may or may not" in errors[0].description
    # The server did store it: sending it again from the queue would be a duplicate, so the
    # file stays *.failed and a second run does not touch it.
    again = smtp.process_queue(str(tmp_path))
    assert again.sent == [] and again.failed == [] and again.recovered == []
    assert [m.data.split(b"Subject: ")[1][:6] for m in server.messages] == [b"first\r", b"second"]


def test_5_no_reply_to_the_final_dot_in_a_queue_run_parks_the_file_as_failed(tmp_path):
    smtp = smtpx.SMTP(from_="a@example.com", send_to="b@example.com", message_text="hello")
    smtp.queue(str(tmp_path))
    script = [GREET, *ehlo(), ("expect", b"MAIL"), ("send", b"250 ok\r\n"), ("expect", b"RCPT"),
              ("send", b"250 ok\r\n"), ("expect", b"DATA"), ("send", b"354 go\r\n"), ("wait", 2)]
    with RawServer(script) as raw:
        smtp.mail_server, smtp.mail_port, smtp.timeout = raw.host, raw.port, 1
        run = smtp.process_queue(str(tmp_path))
    assert run.sent == [] and len(run.failed) == 1
    assert isinstance(run.failed[0][1], smtpx.SMTPTimeoutError)
    assert _suffixes(tmp_path) == ["failed"]
    assert not smtp.connected and smtp.idle


def test_36_two_objects_in_two_threads_claim_each_file_once(server, make_smtp, tmp_path):
    smtp = make_smtp(server)
    for i in range(30):
        smtp.subject = f"n{i:02d}"
        smtp.queue(str(tmp_path))
    runs = []
    workers = [threading.Thread(target=lambda: runs.append(make_smtp(server).process_queue(str(tmp_path))))
               for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert len(runs) == 2 and all(not r.failed for r in runs)
    sent = runs[0].sent + runs[1].sent
    assert len(sent) == len(set(sent)) == 30
    subjects = sorted(m.data.split(b"Subject: ")[1][:3] for m in server.messages)
    assert subjects == sorted(f"n{i:02d}".encode() for i in range(30))  # each exactly once
    assert os.listdir(tmp_path) == []


def test_37_truncated_file_becomes_failed_and_the_run_goes_on(server, make_smtp, tmp_path):
    smtp = make_smtp(server, message_text="x" * 5000)
    damaged = smtp.queue(str(tmp_path))
    smtp.message_text = "fine"
    smtp.queue(str(tmp_path))
    size = os.path.getsize(damaged)
    with open(damaged, "r+b") as f:
        f.truncate(size // 2)
    run = smtp.process_queue(str(tmp_path))
    assert len(run.sent) == 1 and len(run.failed) == 1
    assert run.failed[0][0] == os.path.basename(damaged).replace(".queued", ".failed")
    assert _suffixes(tmp_path) == ["failed"]
    assert [m.data.endswith(b"\r\n\r\nfine\r\n") for m in server.messages] == [True]  # no half message sent


FULL_DISK = r"""
import os, resource, signal, sys
import smtpx
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead
folder = sys.argv[1]
smtp = smtpx.SMTP(from_="a@example.com", send_to="b@example.com", message_text="y" * 200000)
resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))
try:
    smtp.queue(folder)
except smtpx.SMTPError as exc:
    print("ERROR", type(exc).__name__, exc.code, exc)
else:
    print("NO ERROR")
"""


def test_37_a_full_disk_during_queue_is_a_clear_error_and_leaves_no_file(tmp_path):
    """The file-size limit stands in for a full disk: the write fails part way."""
    out = subprocess.run([sys.executable, "-c", FULL_DISK, str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ERROR SMTPError 303"), out.stdout
    assert os.listdir(tmp_path) == []  # neither a half *.queued file nor the temp file


KILLED_RUN = r"""
import sys
import smtpx
smtp = smtpx.SMTP(mail_server="127.0.0.1", mail_port=int(sys.argv[2]), timeout=60)
smtp.process_queue(sys.argv[1])
"""


def test_35_process_queue_killed_mid_send_is_recovered_by_the_next_run(server, make_smtp, tmp_path):
    """A run SIGKILLed while the message is on the wire (the server never answers its end of
    data): the *.sending file it leaves is sent by the next run of another SMTP object."""
    import signal
    import time

    smtp = make_smtp(server, subject="survivor", message_text="body\n")
    smtp.queue(str(tmp_path))
    script = [("send", b"220 raw\r\n"), *ehlo(), ("expect", b"MAIL"), ("send", b"250 ok\r\n"), ("expect", b"RCPT"),
              ("send", b"250 ok\r\n"), ("expect", b"DATA"), ("send", b"354 go\r\n")]
    with RawServer(script) as raw:  # after the script: reads (and keeps) all until the client dies
        child = subprocess.Popen([sys.executable, "-c", KILLED_RUN, str(tmp_path), str(raw.port)])
        try:
            deadline = time.monotonic() + 30
            while b"\r\n.\r\n" not in bytes(raw.received):
                assert time.monotonic() < deadline and child.poll() is None
                time.sleep(0.02)
            os.kill(child.pid, signal.SIGKILL)
            child.wait(30)
        finally:
            if child.poll() is None:
                child.kill()
    assert _suffixes(tmp_path) == ["sending"]
    run = make_smtp(server).process_queue(str(tmp_path))
    assert len(run.recovered) == 1 and len(run.sent) == 1 and run.failed == []
    assert os.listdir(tmp_path) == []
    assert len(server.messages) == 1 and b"Subject: survivor\r\n" in server.messages[0].data
