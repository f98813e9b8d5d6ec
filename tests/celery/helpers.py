"""What the Celery fault tests share: numbered messages, counting them at the server by
Message-ID, and waiting for a condition."""
from __future__ import annotations

import collections
import re
import time
from typing import Callable


def numbered_message(chunk: int, n: int, prefix: str) -> tuple[str, list[str], bytes]:
    """Message ``n`` of chunk ``chunk``, to <prefix><chunk>-<n>@example.org."""
    rcpt = f"{prefix}{chunk}-{n}@example.org"
    data = f"From: f@example.com\r\nTo: {rcpt}\r\nSubject: {chunk}/{n}\r\n\r\nbody\r\n".encode()
    return ("f@example.com", [rcpt], data)


def id_counts(server) -> collections.Counter[str]:
    """How many times the server got each Message-ID."""
    return collections.Counter(re.search(rb"(?im)^message-id:\s*(\S+)", m.data).group(1).decode()
                               for m in list(server.messages))


def wait_until(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def duplicates_within(server, expected: set[str], bound: int) -> int:
    """Nothing lost (every expected Message-ID arrived, nothing else) and at most ``bound``
    extra deliveries; returns how many duplicates there were."""
    counts = id_counts(server)
    assert set(counts) == expected  # nothing lost
    duplicates = sum(counts.values()) - len(counts)
    assert duplicates <= bound, f"{duplicates} duplicates, more than the bound of {bound}"
    return duplicates
