"""FAULTS.md item 31 through the facade: a 1 GB message from a stream (set_message_stream)
goes to a real local socket sink while memory stays flat. This is a memory assertion, not a
timing one; the send runs in a fresh process so its peak RSS is its own."""
from __future__ import annotations

import json
import os
import subprocess
import sys

WORKER = os.path.join(os.path.dirname(__file__), "_big_stream_worker.py")
REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the worker imports tests.servers
GIB = 1 << 30
BOUND = 64 << 20  # flat: far below the message size, and what a whole-message copy would add


def test_31_one_gigabyte_stream_through_the_facade_keeps_memory_flat():
    path = os.pathsep.join(filter(None, [REPOSITORY, os.environ.get("PYTHONPATH")]))
    out = subprocess.run([sys.executable, WORKER, str(GIB)], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": path})
    assert out.returncode == 0, out.stderr[-2000:]
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    assert figures["stream_left"] == 0 and figures["accepted"] == ["b@example.com"]
    assert figures["received"] > GIB  # headers + the whole body + the end of data reached the sink
    assert figures["stream_closed"] is True  # CloseStreamAfterTransfer (default True)
    assert figures["rss_growth"] < BOUND, figures
    assert figures["traced_peak"] < BOUND, figures
