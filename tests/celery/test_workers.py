"""smtpx.celery on real worker nodes (prefork, two nodes standing in for two machines),
a real Redis broker, and a real SMTP server (the scripted aiosmtpd server, in this process,
reached over TCP): delivery exactly once, redelivery, retries, failures, the queue bridge."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from email.message import EmailMessage

import pytest

import smtpx.celery
from tests.celery.conftest import make_cluster

pytestmark = [pytest.mark.redis, pytest.mark.postfix]


@pytest.fixture(scope="module")
def cluster(redis_server, target, tmp_path_factory):
    cluster = make_cluster(redis_server, tmp_path_factory.mktemp("cluster"), target.port)
    yield cluster
    cluster.stop()


@pytest.fixture
def server(target, cluster):
    """The module's server, emptied for this test (its rules too)."""
    target.messages.clear()
    target.commands.clear()
    target._rules.clear()
    yield target
    target._rules.clear()


def message_ids(server) -> list[str]:
    ids = []
    for received in server.messages:
        found = re.search(rb"(?im)^message-id:\s*(\S+)", received.data)
        ids.append(found.group(1).decode() if found else "")
    return ids


def newsletter(n: int, to: str | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "news@example.com"
    msg["To"] = to or f"reader{n}@example.org"
    msg["Subject"] = f"issue {n}"
    msg.set_content(f"Hello {n}.\n")
    return msg


def test_chunks_through_two_nodes_arrive_exactly_once(cluster, server):
    run = smtpx.celery.send_messages(cluster.app, (newsletter(n) for n in range(60)), chunk_size=7)
    assert run.enqueued == 60 and len(run.results) == 9 and not run.rejected
    total = run.wait(timeout=60)
    assert total["sent"] == 60 and total["failed"] == [] and total["skipped"] == 0
    ids = message_ids(server)
    assert len(ids) == 60 and len(set(ids)) == 60 and all(ids)
    assert sorted(m.rcpt_tos[0] for m in server.messages) == sorted(f"reader{n}@example.org" for n in range(60))
    # Both nodes took tasks (two machines' worth of workers).
    nodes = {line.decode().split()[2].split("@")[0] for line in cluster.marks().lrange("test:running", 0, -1)}
    assert nodes == {"w1", "w2"}


def test_a_redelivered_chunk_sends_nothing_the_marks_cover(cluster, server):
    chunk = [smtpx.celery.encode_message(newsletter(n)) for n in range(5)]
    task = cluster.app.signature(smtpx.celery.SEND_CHUNK)
    first = task.clone(args=(chunk,)).apply_async().get(timeout=30)
    # The same task again, as the broker redelivers it after a worker died after its work.
    again = task.clone(args=(chunk,)).apply_async().get(timeout=30)
    assert first["sent"] == 5 and again == {**again, "sent": 0, "skipped": 5, "failed": []}
    assert len(server.messages) == 5
    marks = cluster.marks()
    assert all(marks.get(f"smtpx:sent:{item['key']}") == item["message_id"].encode() for item in chunk)


def test_4xx_is_retried_with_backoff_then_delivered(cluster, server):
    server.reply("RCPT", "451 4.3.0 try again later", when="later@", times=2)
    run = smtpx.celery.send_messages(cluster.app, [newsletter(1, "later@example.org"), newsletter(2)], chunk_size=2)
    total = run.wait(timeout=60)
    assert total["sent"] == 2 and total["failed"] == []
    assert [m.rcpt_tos for m in server.messages].count(["later@example.org"]) == 1
    rcpts = [c for c in server.commands if c.startswith("RCPT") and "later@" in c]
    assert len(rcpts) == 3  # refused twice, then taken
    result = run.results[0].get()
    assert result["attempts"] == 3


def test_5xx_fails_with_the_reply_and_is_not_retried(cluster, server):
    server.reply("RCPT", "550 5.1.1 no such user", when="nobody@", times=None)
    items = [smtpx.celery.encode_message(newsletter(1, "nobody@example.org")), smtpx.celery.encode_message(newsletter(2))]
    run = smtpx.celery.send_messages(cluster.app, items, chunk_size=2)
    total = run.wait(timeout=60)
    assert total["sent"] == 1
    [failed] = total["failed"]
    assert failed["reply_code"] == 550 and "no such user" in failed["reply"]
    assert len([c for c in server.commands if c.startswith("RCPT") and "nobody@" in c]) == 1
    assert run.results[0].get()["attempts"] == 1
    # Marked only after a 2xx: the refused message has no mark, the delivered one has.
    assert cluster.marks().get(f"smtpx:sent:{items[0]['key']}") is None
    assert cluster.marks().get(f"smtpx:sent:{items[1]['key']}") is not None


def test_a_message_that_cannot_be_decoded_fails_alone(cluster, server):
    good = [smtpx.celery.encode_message(newsletter(n)) for n in range(3)]
    broken = dict(good[1], data="not base64 at all!", message_id="<broken@example.com>")
    result = cluster.app.signature(smtpx.celery.SEND_CHUNK).clone(
        args=([good[0], broken, "garbage", good[2]],)).apply_async().get(timeout=30)
    assert result["sent"] == 2
    assert [f["message_id"] for f in result["failed"]] == ["<broken@example.com>", None]
    assert all(isinstance(f["code"], int) and "encoded message" in f["error"] for f in result["failed"])
    assert len(server.messages) == 2


def test_the_pool_is_kept_across_tasks(cluster, server):
    task = cluster.app.signature(smtpx.celery.SEND_MESSAGE)
    for n in range(12):  # one after the other: each task meets an idle worker process
        assert task.clone(args=(smtpx.celery.encode_message(newsletter(n)),)).apply_async().get(timeout=30)["sent"] == 1
    # 2 nodes x 2 processes x 2 connections at most; a pool per task would have made 12.
    assert len(server.messages) == 12
    assert server.verbs().count("EHLO") <= 8


def _queue_files(folder, count):
    import smtpx

    paths = []
    for n in range(count):
        smtp = smtpx.SMTP(from_="queue@example.com", send_to=f"queued{n}@example.org",
                          subject=f"queued {n}", message_text=f"body {n}")
        paths.append(smtp.queue(str(folder)))
    return paths


def _smtpx(*args):
    return subprocess.run([sys.executable, "-m", "smtpx", *args], capture_output=True, text=True, timeout=60)


def test_queue_push_publishes_then_removes_each_file(cluster, server, tmp_path, redis_server):
    paths = _queue_files(tmp_path, 4)
    result = _smtpx("queue", "push", str(tmp_path), "--broker", redis_server.url(0))
    assert result.returncode == 0, result.stderr
    assert "4 pushed, 0 failed" in result.stdout
    assert not any(os.path.exists(p) for p in paths) and not os.listdir(tmp_path)
    deadline = time.monotonic() + 30
    while len(server.messages) < 4 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sorted(m.rcpt_tos[0] for m in server.messages) == [f"queued{n}@example.org" for n in range(4)]
    # SMTP.queue wrote a Message-ID: kept, none added.
    assert all(len(re.findall(rb"(?im)^message-id:", m.data)) == 1 for m in server.messages)
    assert len(set(message_ids(server))) == 4


def test_queue_push_with_the_broker_down_keeps_every_file(tmp_path):
    from tests.servers.sockets import free_port

    paths = _queue_files(tmp_path, 2)
    result = _smtpx("queue", "push", str(tmp_path), "--broker", f"redis://127.0.0.1:{free_port()}/0")
    assert result.returncode == 4, (result.stdout, result.stderr)
    assert "broker did not accept" in result.stderr
    left = sorted(os.listdir(tmp_path))
    assert len(left) == 2 and all(name.endswith((".queued", ".sending")) for name in left)
    assert {os.path.basename(p).rsplit(".", 1)[0] for p in paths} == {n.rsplit(".", 1)[0] for n in left}
