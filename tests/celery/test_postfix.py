"""smtpx.celery with a real Postfix smtpd as the target: two worker nodes send over STARTTLS
with SASL AUTH (the settings come from the app's config, as in production), every accepted
message is delivered into Postfix's mbox exactly once (counted there by Message-ID), and a
message Postfix refuses with 5xx (reject@example.test) fails alone, with Postfix's reply; a
queue file pushed to the workers keeps its recipient's DSN request."""
from __future__ import annotations

import collections
import json
import re
import secrets
import time

import pytest

import smtpx
import smtpx.celery
from smtpx.celery.push import push_queue
from tests.celery.conftest import make_cluster
from tests.servers.postfix import SASL_PASSWORD, SASL_USER, split_mbox

pytestmark = [pytest.mark.redis, pytest.mark.postfix]

COUNT = 40


def test_chunks_over_starttls_and_auth_arrive_once_in_postfix_and_a_5xx_fails_alone(redis_server, postfix,
                                                                                       tmp_path):
    tag = secrets.token_hex(6)  # the session's Postfix mbox holds other tests' mail too
    settings = {"ssl_start_mode": 2, "user": SASL_USER, "password": SASL_PASSWORD,  # 2: SSLStartMode.EXPLICIT
                "config": {"SSLServerCACerts": postfix.ca_pem}}
    cluster = make_cluster(redis_server, tmp_path, postfix.smtp_port, SMTPX_TEST_SMTPX=json.dumps(settings))
    try:
        messages = [("sender@example.test", [f"reader{n}@example.test"],
                     f"From: sender@example.test\r\nTo: reader{n}@example.test\r\nSubject: celery {tag} {n}\r\n"
                     f"\r\n.leading dot {n}\r\n".encode()) for n in range(COUNT)]
        messages.insert(7, ("sender@example.test", ["reject@example.test"],
                            f"Subject: celery {tag} refused\r\n\r\nno\r\n".encode()))
        run = smtpx.celery.send_messages(cluster.app, messages, chunk_size=9)
        total = run.wait(timeout=60)
        # A queue file whose recipient asks for a DSN (RFC 3461), through `smtpx queue push`'s
        # bridge: the options travel with the task and reach Postfix on the RCPT line.
        queue_dir = tmp_path / "queue"
        queue_dir.mkdir()
        queued = smtpx.SMTP(from_="sender@example.test", subject=f"queued dsn {tag}", message_text="dsn")
        queued.message_recipients.append(smtpx.MessageRecipient(
            address="dsn-reader@example.test", options=f"NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;{tag}@example.test"))
        queued.queue(str(queue_dir))
        pushed = push_queue(queue_dir, cluster.app)
        assert len(pushed.pushed) == 1 and not pushed.failed and not list(queue_dir.iterdir())
        postfix.wait_for_log(f"ORCPT=rfc822;{tag}@example.test")
        report = postfix.wait_for_delivery("Successful Mail Delivery Report", f"{tag}@example.test")
        assert "Action: delivered" in report
    finally:
        cluster.stop()
    assert total["sent"] == COUNT and total["skipped"] == 0
    [failed] = total["failed"]
    assert failed["reply_code"] >= 500 and "reject@example.test" in failed["reply"] + failed["error"]
    deadline = time.monotonic() + 30  # Postfix's local(8) delivers after the 250
    mine: list[str] = []
    while time.monotonic() < deadline:
        mine = [m for m in split_mbox(postfix.mailbox_text()) if f"Subject: celery {tag} " in m]
        if len(mine) >= COUNT:
            break
        time.sleep(0.2)
    subjects = collections.Counter(re.search(rf"Subject: celery {tag} (\S+)", m).group(1) for m in mine)
    assert subjects == collections.Counter(str(n) for n in range(COUNT))  # each once; the refused one never
    ids = [re.search(r"(?im)^message-id:\s*(\S+)", m).group(1) for m in mine]
    assert len(set(ids)) == COUNT
    assert all(f"\n.leading dot " in m.replace("\r\n", "\n") for m in mine)  # dot-stuffing undone by Postfix
    log = postfix.log_text()
    assert "STARTTLS" in log and f"sasl_username={SASL_USER}" in log
