# Compiled, PlannedRecipient, Lane, Plan and PlanCache are extension types: made without a
# Python-level __init__ call, read from a C struct (planning.py stays the pure twin and the
# specification).
cdef class PlannedRecipient:
    cdef public object recipient, command, label

cdef class Lane:
    cdef public object commands, wire, labels, expect, held_expect

cdef class Plan:
    cdef public object mail, recipients, pipelining, use_bdat, _data_envelope, _lane, utf8

    # Called through C by the runner on every message.
    cpdef lane(self)
    cpdef data_envelope(self)

cdef class PlanCache:
    cdef public object _head, _recipients
    cdef public Plan _plan

# Read once per operation by the runner (a C call from it: runner.pxd cimports it).
cpdef tuple plan_settings(caps, options)
