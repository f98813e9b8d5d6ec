"""SMTP.process_queue pipelined across files (RFC 2920) over one connection, against real
aiosmtpd servers: each file committed from its own final reply, and session failures (421,
EOF after the final dot) leave every file in a state that loses nothing and sends nothing twice."""
from __future__ import annotations

import os

import pytest

import smtpx
from tests.servers.scripted import CLOSE
from smtpx.queue.files import QUEUE_WINDOW, QueueCorrupt

FINAL_OK = "250 2.0.0 OK queued"  # the scripted server's reply to the final "." (its others say "250 OK")


def _suffixes(folder) -> list[str]:
    return sorted(name.rsplit(".", 1)[1] for name in os.listdir(folder))


def _queue_numbered(smtp, folder, count: int, bad: set[int] = frozenset()) -> list[str]:
    """``count`` files, file i to to<i>@example.com (bad<i>@... for i in ``bad``), subject n<i>."""
    paths = []
    for i in range(count):
        smtp.send_to = ""  # setting send_to adds to the list: clear it first
        smtp.send_to = f"{'bad' if i in bad else 'to'}{i}@example.com"
        smtp.subject = f"n{i:02d}"
        paths.append(smtp.queue(str(folder)))
    return paths


def _subjects(server) -> list[str]:
    return [m.data.split(b"Subject: ")[1].split(b"\r\n")[0].decode() for m in server.messages]


def test_files_are_pipelined_over_one_connection(server, make_smtp, tmp_path):
    smtp = make_smtp(server)
    _queue_numbered(smtp, tmp_path, 6)
    trail = []
    smtp.on_pi_trail = lambda event: trail.append((event.direction, event.message))
    run = smtp.process_queue(str(tmp_path))
    assert len(run.sent) == 6 and run.failed == [] and os.listdir(tmp_path) == []
    assert server.verbs().count("EHLO") == 1
    assert _subjects(server) == [f"n{i:02d}" for i in range(6)]  # oldest first, each once
    mails = [i for i, (direction, line) in enumerate(trail) if direction == 0 and line.startswith("MAIL FROM")]
    finals = [i for i, (direction, line) in enumerate(trail) if direction == 1 and line == FINAL_OK]
    assert len(mails) == len(finals) == 6
    # Pipelining across files: file k's MAIL went out before file k-1's final reply came in.
    assert all(mails[k] < finals[k - 1] for k in range(1, 6))


def test_more_files_than_a_window_all_go_once(server, make_smtp, tmp_path):
    smtp = make_smtp(server, message_text="short")
    count = QUEUE_WINDOW * 2 + 3
    _queue_numbered(smtp, tmp_path, count)
    run = smtp.process_queue(str(tmp_path))
    assert len(run.sent) == len(set(run.sent)) == count and run.failed == []
    assert sorted(_subjects(server)) == [f"n{i:02d}" for i in range(count)]
    assert os.listdir(tmp_path) == [] and server.verbs().count("EHLO") == 1


@pytest.mark.parametrize("keep_queue", [False, True])
def test_each_file_is_committed_by_its_own_reply(server, make_smtp, tmp_path, keep_queue):
    server.reply("RCPT", "550 5.1.1 no such user", when="bad2@", times=None)
    server.reply("DATA_END", "554 5.6.0 content refused")  # the first final reply: file 0's
    errors = []
    smtp = make_smtp(server, on_error=errors.append)
    if keep_queue:
        smtp.config("KeepQueue=True")
    paths = _queue_numbered(smtp, tmp_path, 5, bad={2})
    stems = [os.path.basename(p).rsplit(".", 1)[0] for p in paths]
    run = smtp.process_queue(str(tmp_path))
    assert sorted(name for name, _ in run.failed) == [f"{stems[0]}.failed", f"{stems[2]}.failed"]
    failures = dict(run.failed)
    assert isinstance(failures[f"{stems[0]}.failed"], smtpx.SMTPDataError)
    assert isinstance(failures[f"{stems[2]}.failed"], smtpx.SMTPRecipientsRefused)
    expected = {stems[0]: "failed", stems[2]: "failed"}
    if keep_queue:
        expected.update({stems[i]: "sent" for i in (1, 3, 4)})
    assert {n.rsplit(".", 1)[0]: n.rsplit(".", 1)[1] for n in os.listdir(tmp_path)} == expected
    assert len(run.sent) == 3
    assert sorted(e.description.split(":")[0] for e in errors) == sorted(failures)
    assert server.verbs().count("EHLO") == 1  # refusals keep the connection
    assert [m.rcpt_tos for m in server.messages][1:] == [["to1@example.com"], ["to3@example.com"], ["to4@example.com"]]


def test_a_421_mid_run_commits_the_known_and_resends_the_rest_on_a_new_connection(server, make_smtp, tmp_path):
    server.reply("RCPT", "421 4.3.2 going down", when="to2@")  # once, then the server is fine again
    smtp = make_smtp(server)
    _queue_numbered(smtp, tmp_path, 5)
    run = smtp.process_queue(str(tmp_path))
    assert len(run.sent) == 5 and run.failed == [] and os.listdir(tmp_path) == []
    assert server.verbs().count("EHLO") == 2  # the 421 ended the first connection
    assert sorted(_subjects(server)) == [f"n{i:02d}" for i in range(5)]  # nothing twice, nothing lost


def test_a_421_that_repeats_stops_the_run_and_leaves_the_unsent_files_for_the_next(server, make_smtp, tmp_path):
    server.reply("RCPT", "421 4.3.2 going down", when="to2@", times=2)
    smtp = make_smtp(server)
    paths = _queue_numbered(smtp, tmp_path, 5)
    with pytest.raises(smtpx.SMTPServiceClosing) as info:
        smtp.process_queue(str(tmp_path))
    run = info.value.queue_run
    assert len(run.sent) == 2 and run.failed == []  # files 0 and 1 got their final replies first
    assert _subjects(server) == ["n00", "n01"]
    left = sorted(os.listdir(tmp_path))
    assert [n.rsplit(".", 1)[0] for n in left] == [os.path.basename(p).rsplit(".", 1)[0] for p in paths[2:]]
    assert all(n.endswith(".sending") for n in left)  # certainly not delivered: kept for recovery
    assert not smtp.connected and smtp.idle
    again = smtp.process_queue(str(tmp_path))
    assert len(again.recovered) == 3 and len(again.sent) == 3 and os.listdir(tmp_path) == []
    assert sorted(_subjects(server)) == [f"n{i:02d}" for i in range(5)]


def test_eof_after_a_final_dot_mid_run_parks_that_file_as_delivery_unknown(server, make_smtp, tmp_path):
    server.reply("DATA_END", FINAL_OK, times=2)  # files 0 and 1 are answered...
    server.reply("DATA_END", CLOSE)  # ...then the connection drops after file 2's final dot
    errors = []
    smtp = make_smtp(server, on_error=errors.append)
    paths = _queue_numbered(smtp, tmp_path, 5)
    run = smtp.process_queue(str(tmp_path))
    unknown = os.path.basename(paths[2]).replace(".queued", ".failed")
    assert [name for name, _ in run.failed] == [unknown]
    error = run.failed[0][1]
    assert isinstance(error, smtpx.SMTPConnectionDropped) and error.delivery_unknown is True
    assert "may or may not" in str(error) and unknown.replace(".failed", ".sending") in str(error)
    assert len(errors) == 1 and "may or may not" in errors[0].description
    assert len(run.sent) == 4 and os.listdir(tmp_path) == [unknown]
    with open(tmp_path / unknown, "rb") as kept:
        assert b"Subject: n02\r\n" in kept.read()  # the whole message kept
    # The server stored file 2 before dropping; files 3 and 4 went on a second connection.
    assert sorted(_subjects(server)) == [f"n{i:02d}" for i in range(5)]
    assert server.verbs().count("EHLO") == 2
    again = smtp.process_queue(str(tmp_path))  # never resent automatically
    assert again.sent == [] and again.failed == [] and again.recovered == []
    assert os.listdir(tmp_path) == [unknown] and len(server.messages) == 5


def test_a_corrupt_file_among_good_ones_is_parked_without_being_sent(server, make_smtp, tmp_path):
    smtp = make_smtp(server)
    paths = _queue_numbered(smtp, tmp_path, 4)
    with open(paths[1], "r+b") as damaged:
        damaged.seek(-80, os.SEEK_END)
        damaged.write(b"X")
    run = smtp.process_queue(str(tmp_path))
    assert [name for name, _ in run.failed] == [os.path.basename(paths[1]).replace(".queued", ".failed")]
    assert isinstance(run.failed[0][1], QueueCorrupt)
    assert _subjects(server) == ["n00", "n02", "n03"]
    assert _suffixes(tmp_path) == ["failed"]


def test_an_empty_queue_does_not_connect(server, make_smtp, tmp_path):
    smtp = make_smtp(server)
    run = smtp.process_queue(str(tmp_path))
    assert run.sent == run.failed == run.recovered == []
    assert server.commands == []


def test_a_refused_connection_leaves_every_file_for_the_next_run(server, make_smtp, tmp_path):
    import socket

    smtp = make_smtp(server)
    _queue_numbered(smtp, tmp_path, 3)
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        smtp.mail_port = unused.getsockname()[1]  # bound, not listening: connection refused
        with pytest.raises(smtpx.SMTPError) as info:
            smtp.process_queue(str(tmp_path))
    assert info.value.queue_run.sent == [] and info.value.queue_run.failed == []
    assert _suffixes(tmp_path) == ["sending"] * 3  # not parked as failed: nothing was sent
    smtp.mail_port = server.port
    run = smtp.process_queue(str(tmp_path))
    assert len(run.recovered) == 3 and len(run.sent) == 3 and os.listdir(tmp_path) == []
