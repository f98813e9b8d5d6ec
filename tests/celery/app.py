"""The Celery app the test workers run (``celery -A tests.celery.app worker ...``) and the
tests publish with. Its settings come from the environment the fixtures give the workers
(make_app reads them from a mapping, so the tests build the same app in-process)."""
from __future__ import annotations

import json
import os
from collections.abc import Mapping

from celery import Celery
from celery.signals import task_postrun, task_prerun

import smtpx.celery


def make_app(env: Mapping[str, str]) -> Celery:
    app = Celery("smtpx-tests", broker=env["SMTPX_TEST_BROKER"], backend=env["SMTPX_TEST_BACKEND"],
                 set_as_current=False)
    visibility = int(env.get("SMTPX_TEST_VISIBILITY", "4"))
    transport: dict[str, int] = {"visibility_timeout": visibility}  # a dead node's tasks come back soon
    if env.get("SMTPX_TEST_RESTORE"):
        # kombu looks for tasks older than visibility_timeout every interval x throttle seconds
        # (10 x 10 by default); the fault tests look every SMTPX_TEST_RESTORE seconds.
        transport.update(unacked_restore_interval=int(env["SMTPX_TEST_RESTORE"]), unacked_restore_throttle=1)
    app.conf.update(
        worker_prefetch_multiplier=1,  # a task waits in the broker, not in a busy worker
        broker_transport_options=transport,
        result_backend_transport_options={"visibility_timeout": visibility},
        broker_connection_retry_on_startup=True,
        result_backend_always_retry=True,  # a result written while Redis restarts is written after
        worker_hijack_root_logger=False,
        smtpx={
            "mail_server": "127.0.0.1",
            "mail_port": int(env["SMTPX_TEST_SMTP_PORT"]),
            "size": int(env.get("SMTPX_TEST_SIZE", "2")),
            "redis_url": env["SMTPX_TEST_MARKS"],
            "rate_limit": int(env["SMTPX_TEST_RATE"]) if env.get("SMTPX_TEST_RATE") else None,
            "max_retries": 4,
            "backoff": 0.2,
            # More settings for one test (TLS and AUTH to Postfix, DKIM), as JSON.
            **json.loads(env.get("SMTPX_TEST_SMTPX", "{}")),
        },
    )
    smtpx.celery.install(app)
    return app


app = make_app(os.environ) if "SMTPX_TEST_BROKER" in os.environ else None


@task_prerun.connect(weak=False)
def _record_process(task_id: str | None = None, task: object = None, **_: object) -> None:
    """For the kill tests: which worker process runs which task (a Redis list)."""
    url = os.environ.get("SMTPX_TEST_MARKS")
    if url:
        import redis

        redis.Redis.from_url(url).rpush("test:running", f"{os.getpid()} {task_id} {task.request.hostname}")  # type: ignore[attr-defined]


@task_postrun.connect(weak=False)
def _record_done(task_id: str | None = None, task: object = None, **_: object) -> None:
    """For the node-loss test: which tasks finished (their result is about to be acknowledged)."""
    url = os.environ.get("SMTPX_TEST_MARKS")
    if url:
        import redis

        redis.Redis.from_url(url).set(f"test:done:{task_id}", task.request.hostname)  # type: ignore[attr-defined]
