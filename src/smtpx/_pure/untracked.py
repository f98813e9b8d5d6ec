"""Objects the cyclic garbage collector need not follow (the specification of the compiled twin
smtpx._core.untracked).

A batch keeps every message's result until it returns: a SendResult, its two lists, a
RecipientResult and two Replies with their lists of lines, eight containers a message. CPython's
collector walks every container it tracks, and those that outlive a few collections are walked
again by each full collection, whose frequency grows with their number: in a batch of
thousands it was a sixth of the client's instructions (docs/internals.md). A result refers only to
strings, numbers and other results, so it can never be part of a reference cycle of its own
making, and reference counting alone frees it. ``untracked(obj)`` takes such a container out
of the collector's view, as CPython itself does with tuples and dicts of plain values, and
returns it.

The price: an object put into an untracked container later is a root to the collector, so a
cycle that runs through the container (a result appended to its own list) is never freed.
Nothing in smtpx does that. The pure twin cannot untrack (Python has no such call) and returns
the object as it is; the two differ only in what ``gc.is_tracked`` says.
"""
from __future__ import annotations

from typing import TypeVar

__all__ = ["untracked"]

T = TypeVar("T")


def untracked(obj: T) -> T:
    return obj
