"""slot_maker (smtpx._pure.slots and its compiled twin): an instance of a plain slotted class
made from its field values, equal to what the class makes, on both implementations; the
classes it refuses, and a wrong number of values, raise TypeError and make nothing."""
from __future__ import annotations

import gc
import sys
from dataclasses import dataclass

import pytest

from smtpx.engine.envelope import Content, Envelope, EnvelopeRecipient, RecipientResult, SendResult
from smtpx.enums import RecipientType
from smtpx.kernels import Reply


def _values():
    reply = Reply(250, "2.1.5", ["ok"])
    return [
        (Content, ([b"x\r\n"], 3, False, False, False, True)),
        (Envelope, ("a@example.com", [EnvelopeRecipient("b@example.com")], "MAIL")),
        (EnvelopeRecipient, ("b@example.com", RecipientType.BCC, "NOTIFY=NEVER")),
        (RecipientResult, ("b@example.com", RecipientType.TO, reply)),
        (SendResult, ([], [], reply)),
        (Reply, (550, None, ["no"])),
    ]


@pytest.mark.parametrize("cls, values", _values(), ids=lambda v: getattr(v, "__name__", ""))
def test_what_it_makes_is_what_the_class_makes(kernel_impl, cls, values):
    made = kernel_impl.slot_maker(cls)(*values)
    assert type(made) is cls
    assert made == cls(*values)
    assert [getattr(made, name) for name in cls.__slots__] == list(values)
    assert all(getattr(made, name) is value for name, value in zip(cls.__slots__, values))


def test_the_instance_is_an_ordinary_one(kernel_impl):
    reply = Reply(250, None, ["ok"])
    made = kernel_impl.slot_maker(RecipientResult)("b@example.com", RecipientType.TO, reply)
    made.address = "c@example.com"  # the slots stay writable attributes
    assert made.address == "c@example.com" and repr(made).startswith("RecipientResult(")
    assert gc.is_tracked(made)  # without untrack, as the class makes it
    before = sys.getrefcount(reply)
    del made
    assert sys.getrefcount(reply) == before - 1  # freed, and its reference to the value with it


def test_untrack_leaves_it_out_of_the_collectors_view_when_compiled(kernel_impl):
    made = kernel_impl.slot_maker(SendResult, untrack=True)([], [], None)
    compiled = kernel_impl.slot_maker.__module__ == "smtpx._core.slots"
    assert gc.is_tracked(made) is not compiled
    assert made == SendResult()


@pytest.mark.parametrize("count", [0, 2, 4])
def test_a_wrong_number_of_values_is_a_type_error(kernel_impl, count):
    make = kernel_impl.slot_maker(RecipientResult)
    with pytest.raises(TypeError, match="RecipientResult has 3 slots"):
        make(*["x"] * count)


class _NoSlots:
    pass


class _WithDict:
    __slots__ = ("a", "__dict__")


class _Base:
    __slots__ = ("a",)


class _Derived(_Base):
    __slots__ = ("b",)


class _OwnNew:
    __slots__ = ("a",)

    def __new__(cls):
        return super().__new__(cls)


class _OneString:
    __slots__ = "a"


@dataclass
class _PlainDataclass:
    a: int = 0


@pytest.mark.parametrize("cls", [_NoSlots, _WithDict, _Derived, _OwnNew, _OneString, _PlainDataclass, int, "Content"],
                         ids=lambda c: getattr(c, "__name__", str(c)))
def test_a_class_it_cannot_fill_is_refused_at_once(kernel_impl, cls):
    with pytest.raises(TypeError, match="slot_maker"):
        kernel_impl.slot_maker(cls)
