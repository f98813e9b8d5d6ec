# cython: language_level=3
"""Compiled twin of smtpx._pure.untracked (read that module for why): the object leaves the
cyclic collector's list (PyObject_GC_UnTrack, a no-op for an object it does not track)."""

cdef extern from "Python.h":
    bint PyObject_IS_GC(object)
    void PyObject_GC_UnTrack(void*)


def untracked(obj):
    if PyObject_IS_GC(obj):
        PyObject_GC_UnTrack(<void*>obj)
    return obj
