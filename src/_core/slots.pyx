# cython: language_level=3
"""Compiled twin of smtpx._pure.slots (read that module for the rules): the class is checked
by the same function, then each instance is allocated and its slots filled from C
(_slots.pxi), the values taken from the call's own argument tuple."""
cimport cython

include "_slots.pxi"
from smtpx._pure.slots import checked_slots

cdef enum:
    _MOST_SLOTS = 16


@cython.final
cdef class _SlotMaker:
    cdef object _cls  # (holds the class while the maker lives)
    cdef PyTypeObject* _type
    cdef Py_ssize_t _count
    cdef Py_ssize_t _offsets[_MOST_SLOTS]
    cdef bint _untrack

    def __call__(self, *values):
        cdef Py_ssize_t i
        if len(values) != self._count:
            raise TypeError(f"{(<type>self._cls).__name__} has {self._count} slots, {len(values)} values given")
        instance = _new_instance(self._type, self._untrack)
        for i in range(self._count):
            _set_slot(instance, self._offsets[i], values[i])
        return instance

    def __repr__(self):
        return f"slot_maker({(<type>self._cls).__name__}, untrack={bool(self._untrack)})"


def slot_maker(cls, untrack=False):
    cdef Py_ssize_t i
    names = checked_slots(cls)
    if len(names) > _MOST_SLOTS:
        raise TypeError(f"slot_maker fills at most {_MOST_SLOTS} slots; {cls.__name__} has {len(names)}")
    cdef _SlotMaker maker = _SlotMaker.__new__(_SlotMaker)
    maker._cls = cls
    maker._type = <PyTypeObject*>cls
    maker._count = len(names)
    for i in range(len(names)):
        maker._offsets[i] = _slot_offset(cls, names[i])
    maker._untrack = bool(untrack)
    return maker
