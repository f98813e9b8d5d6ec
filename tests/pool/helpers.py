"""Messages for the pool tests, each with its index in its Subject, and what the server stored."""
from __future__ import annotations

import re
from collections import Counter

SENDER = "sender@example.com"


def message(n: int, sender: str = SENDER, to: str = "rcpt@example.com") -> tuple[str, list[str], bytes]:
    return (sender, [to], b"Subject: pool-%d\r\n\r\nbody %d\r\n" % (n, n))


def arrivals(server) -> Counter:
    """How many times the server stored each message index."""
    found: Counter = Counter()
    for stored in server.messages:
        match = re.search(rb"Subject: pool-(\d+)\r\n", stored.data)
        assert match, stored.data[:80]
        found[int(match.group(1))] += 1
    return found


def connections(server) -> int:
    return server.verbs().count("EHLO")


class CountingInput:
    """A generator of messages that counts how many were read from it."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.pulled = 0

    def __iter__(self):
        for n in range(self.total):
            self.pulled += 1
            yield message(n)
