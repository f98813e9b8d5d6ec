"""smtpx.celery against Postfix's smtp-sink as a counting target (its -D dump holds every
message received): N messages in chunk tasks over two worker nodes arrive exactly once;
and a worker node stopped (warm shutdown) closes its processes' pools (QUIT)."""
from __future__ import annotations

import collections
import re
import time

import pytest

import smtpx.celery
from tests.celery.conftest import make_cluster

pytestmark = [pytest.mark.redis, pytest.mark.postfix]


def test_300_messages_arrive_exactly_once_at_smtp_sink(redis_server, smtp_sink, tmp_path):
    cluster = make_cluster(redis_server, tmp_path, smtp_sink.port)
    try:
        messages = [("f@example.com", [f"r{n}@example.org"], f"Subject: s{n}\r\n\r\nbody {n}\r\n".encode())
                    for n in range(300)]
        run = smtpx.celery.send_messages(cluster.app, messages, chunk_size=25)
        total = run.wait(timeout=60)
    finally:
        cluster.stop()
    assert total == {"sent": 300, "skipped": 0, "failed": [], "refused": [], "tasks": 12}
    deadline = time.monotonic() + 10
    while smtp_sink.dump_text().count("Subject: s") < 300 and time.monotonic() < deadline:
        time.sleep(0.1)
    dump = smtp_sink.dump_text()
    subjects = collections.Counter(re.findall(r"Subject: (s\d+)\r?\n", dump))
    assert subjects == collections.Counter(f"s{n}" for n in range(300))
    assert len(set(re.findall(r"(?im)^message-id:\s*(\S+)", dump))) == 300
