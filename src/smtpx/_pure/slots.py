"""Making an instance of a plain slotted class from its field values, without a Python-level
``__init__`` call (the specification of the compiled twin smtpx._core.slots).

Every message makes a handful of the engine's slotted dataclasses (its Content, its
SendResult, a RecipientResult for each recipient; a mailing also an Envelope and an
EnvelopeRecipient). Calling such a class costs CPython a type call, a look-up and a call of
``__init__``, and a generic attribute store per field; the compiled twin fills the slots
straight from C, in half to two thirds of the class call's time (timeit, three of the
engine's classes).

``slot_maker(cls, untrack=False)`` checks ``cls`` once and returns ``make(*values)``, which
makes an instance as ``object.__new__(cls)`` and stores ``values`` into ``cls.__slots__``, in
that order (a dataclass's slots are its fields, in order), and nothing else: no ``__init__``,
no ``__post_init__``, no defaults. ``untrack=True`` leaves the instance out of the cyclic
collector's view (smtpx._pure.untracked; the pure twin cannot). ``cls`` must be a class whose
only base is object, which keeps object's ``__new__``, and whose ``__slots__`` are all plain
slots (not ``__dict__`` or ``__weakref__``): TypeError otherwise, at ``slot_maker``. ``make``
given another number of values raises TypeError and makes nothing.
"""
from __future__ import annotations

from typing import Any, Callable, TypeVar

__all__ = ["slot_maker", "checked_slots"]

T = TypeVar("T")
_MEMBER = type(type("_Probe", (), {"__slots__": ("x",)}).__dict__["x"])  # (types.MemberDescriptorType)


def checked_slots(cls: type) -> tuple[str, ...]:
    """The slot names of ``cls`` when slot_maker can fill them, else TypeError (shared by both
    twins, so that they accept and refuse the same classes)."""
    new: object = cls.__new__ if isinstance(cls, type) else None
    if not isinstance(cls, type) or cls.__bases__ != (object,) or new is not object.__new__:
        raise TypeError(f"slot_maker needs a class of its own slots, with object as its only base: {cls!r}")
    names = cls.__dict__.get("__slots__")
    if isinstance(names, str) or not isinstance(names, (tuple, list)) or not names:
        raise TypeError(f"slot_maker needs a class with a tuple of slot names: {cls.__name__}")
    for name in names:
        if not isinstance(cls.__dict__.get(name), _MEMBER):
            raise TypeError(f"slot_maker: {cls.__name__}.{name} is not a plain slot")
    return tuple(names)


def slot_maker(cls: type[T], untrack: bool = False) -> Callable[..., T]:
    names = checked_slots(cls)
    count = len(names)
    new = object.__new__

    def make(*values: Any) -> T:
        if len(values) != count:
            raise TypeError(f"{cls.__name__} has {count} slots, {len(values)} values given")
        instance = new(cls)
        for name, value in zip(names, values):
            setattr(instance, name, value)
        return instance

    return make
