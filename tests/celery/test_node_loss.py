"""FAULTS 44, a whole worker node lost: its main process and its pool children SIGKILLed at
once (its machine gone), mid-run. The broker still holds the node's unacknowledged tasks; with
a short visibility_timeout (VISIBILITY seconds, kombu looking every second) they come back and
the other node delivers them. Nothing is lost, and the duplicates, counted at the server, stay
within the bound of docs/celery.md for one node: concurrency x the messages one process has in
flight (at most the rate-limit slice, here RATE)."""
from __future__ import annotations


import pytest

import smtpx.celery
from tests.celery.conftest import make_cluster
from tests.celery.helpers import duplicates_within, numbered_message, wait_until
from tests.servers.scripted import ScriptedServer

pytestmark = [pytest.mark.redis, pytest.mark.postfix]

RATE = 10  # messages per second, shared by every worker process: the run lasts about 6 s
CHUNK = 15  # above RATE: a chunk is sent over several rate windows, so the kill lands mid-chunk
CHUNKS = 4  # one for each worker process (2 nodes x -c 2): all start at once
VISIBILITY = 10  # above the longest task (about 6 s), so only a dead node's tasks come back
CONCURRENCY = 2  # make_cluster's nodes: -c 2
BOUND = CONCURRENCY * min(CHUNK, RATE)


def _runs(marks) -> list[tuple[str, str]]:
    """(task id, node name) of every task run so far, in order."""
    lines = [line.decode().split() for line in marks.lrange("test:running", 0, -1)]
    return [(task_id, host.split("@")[0]) for _, task_id, host in lines]


def test_a_whole_node_killed_mid_run_its_tasks_go_to_the_other_node(redis_server, tmp_path):
    with ScriptedServer() as target:
        cluster = make_cluster(redis_server, tmp_path, target.port, SMTPX_TEST_RATE=str(RATE),
                               SMTPX_TEST_VISIBILITY=str(VISIBILITY), SMTPX_TEST_RESTORE="1")
        try:
            marks = cluster.marks()
            chunks = [[smtpx.celery.encode_message(numbered_message(c, n, "n")) for n in range(CHUNK)] for c in range(CHUNKS)]
            task = cluster.app.signature(smtpx.celery.SEND_CHUNK)
            results = [task.clone(args=(chunk,)).apply_async() for chunk in chunks]
            by_id = {result.id: chunk for result, chunk in zip(results, chunks)}
            expected = {item["message_id"] for chunk in chunks for item in chunk}

            # The victim: node w1, once a chunk it runs is partly delivered (some marked, not all).
            def w1_partly_done() -> bool:
                for task_id in [t for t, node in _runs(marks) if node == "w1" and not marks.get(f"test:done:{t}")]:
                    marked = sum(v is not None for v in marks.mget([f"smtpx:sent:{i['key']}" for i in by_id[task_id]]))
                    if 0 < marked < CHUNK:
                        return True
                return False

            wait_until(w1_partly_done, 30, "a chunk on w1 to be partly delivered")
            victim = next(node for node in cluster.nodes if node.name == "w1")
            cluster.kill_node(victim)
            on_w1 = {task_id for task_id, node in _runs(marks) if node == "w1"}
            finished_on_w1 = {task_id for task_id in on_w1 if marks.get(f"test:done:{task_id}")}
            values = [result.get(timeout=60) for result in results]
            duplicates = duplicates_within(target, expected, BOUND)
            print(f"node w1 killed with {len(on_w1)} tasks: {duplicates} duplicates (bound {BOUND})")
            # Every task w1 had not finished ran again, on w2, and skipped what w1 had marked.
            again = on_w1 - finished_on_w1
            assert again, "w1 was killed with no task of its own in flight"
            runs = _runs(marks)
            for task_id in again:
                assert (task_id, "w2") in runs
            assert sum(values[i]["skipped"] for i, r in enumerate(results) if r.id in again) >= 1
            assert sum(v["sent"] + v["skipped"] for v in values) >= len(expected)
            broker = redis_server.client(0)
            wait_until(lambda: broker.llen("celery") == 0 and broker.hlen("unacked") == 0, 30, "the broker to be empty")
        finally:
            cluster.stop()
