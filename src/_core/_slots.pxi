# Shared by the kernels that make instances of plain slotted classes from C (textually
# included: replies.pyx's Reply, slots.pyx's slot_maker): the instance comes from the type's own
# allocator and each slot is written at the offset its member descriptor gives, what
# object.__new__ and a setattr per field would do without the Python-level calls and look-ups.
from cpython.object cimport PyObject, PyTypeObject
from cpython.ref cimport Py_INCREF


cdef extern from "Python.h":
    ctypedef struct PyMemberDef:
        Py_ssize_t offset
    ctypedef struct PyMemberDescrObject:
        PyMemberDef* d_member
    void _release "Py_DECREF"(PyObject*)
    void PyObject_GC_UnTrack(void*)

cdef extern from *:
    """
    static PyObject* _smtpx_type_alloc(PyTypeObject* type) { return type->tp_alloc(type, 0); }
    """
    # (the allocator slot, which Cython's PyTypeObject does not declare)
    PyObject* _type_alloc "_smtpx_type_alloc"(PyTypeObject*)


cdef Py_ssize_t _slot_offset(type cls, str name) except -1:
    """Where slot ``name`` of ``cls`` lives in an instance (the caller checked it is a plain
    slot: smtpx._pure.slots.checked_slots)."""
    return (<PyMemberDescrObject*>cls.__dict__[name]).d_member.offset


cdef inline object _new_instance(PyTypeObject* cls, bint untrack):
    """A new instance with every slot empty (tp_alloc zero-fills them), as an owned object."""
    cdef PyObject* instance = _type_alloc(cls)
    if instance == NULL:
        raise MemoryError()
    if untrack:
        PyObject_GC_UnTrack(instance)
    made = <object>instance  # a reference of its own, so tp_alloc's is given back
    _release(instance)
    return made


cdef inline void _set_slot(object instance, Py_ssize_t offset, object value):
    """Store a new reference to ``value`` in an empty slot."""
    Py_INCREF(value)
    (<PyObject**>((<char*><PyObject*>instance) + offset))[0] = <PyObject*>value
