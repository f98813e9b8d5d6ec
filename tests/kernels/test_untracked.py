"""untracked (smtpx._pure.untracked and its compiled twin): the object comes back as it was, the
compiled twin takes it out of the cyclic collector's view, and reference counting still frees
it and what it holds."""
from __future__ import annotations

import gc
import weakref

import pytest


class _Slotted:
    __slots__ = ("value", "__weakref__")

    def __init__(self, value: object) -> None:
        self.value = value


def test_the_same_object_comes_back_unchanged(kernel_impl):
    items = [1, "two", None]
    assert kernel_impl.untracked(items) is items
    assert items == [1, "two", None]
    holder = _Slotted(items)
    assert kernel_impl.untracked(holder) is holder and holder.value is items


@pytest.mark.parametrize("value", [7, "text", b"bytes", None, 2.5])
def test_an_object_the_collector_never_tracks_comes_back(kernel_impl, value):
    assert kernel_impl.untracked(value) is value


def test_the_compiled_twin_untracks_and_the_pure_one_cannot(kernel_impl):
    items, holder = [], _Slotted(None)
    assert gc.is_tracked(items) and gc.is_tracked(holder)
    kernel_impl.untracked(items)
    kernel_impl.untracked(holder)
    compiled = kernel_impl.untracked.__module__ == "smtpx._core.untracked"
    assert gc.is_tracked(items) is not compiled
    assert gc.is_tracked(holder) is not compiled


def test_untracked_twice_is_harmless(kernel_impl):
    items = kernel_impl.untracked(kernel_impl.untracked([1]))
    assert items == [1]


def test_reference_counting_still_frees_it_and_its_contents(kernel_impl):
    inner = _Slotted("inner")
    outer = kernel_impl.untracked([kernel_impl.untracked(_Slotted(inner))])
    inner_ref, held_ref = weakref.ref(inner), weakref.ref(outer[0])
    del inner
    gc.collect()
    assert inner_ref() is not None and held_ref() is not None  # still held by the untracked list
    del outer
    assert inner_ref() is None and held_ref() is None  # freed at once, without a collection


def test_a_tracked_cycle_reached_from_an_untracked_container_lives_while_it_does(kernel_impl):
    """The collector sees the untracked container's reference as one from outside: what it
    holds is not collected under it, and is once the container is gone."""
    cycle = _Slotted(None)
    cycle.value = cycle
    ref = weakref.ref(cycle)
    holder = kernel_impl.untracked([cycle])
    del cycle
    gc.collect()
    assert ref() is holder[0]
    del holder
    gc.collect()
    assert ref() is None
