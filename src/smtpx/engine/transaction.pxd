# Compiled, Transaction and Message are extension types: their methods read these from a C
# struct (transaction.py stays the pure twin and the specification).
from smtpx.engine.planning cimport Plan
from smtpx.engine.transfer cimport ContentSource


cdef class Message


cdef class Transaction:
    cdef public Message message
    cdef public object recipients, more_may_follow, early, accepted, deferred
    cdef public object accepted_before_first_deferral, failing

cdef class Message:
    cdef public Plan plan
    cdef public ContentSource source
    cdef public object index, result, unacknowledged_end, outcome
    cdef public object _options, _sink, _pending, _limit, lane_fit
