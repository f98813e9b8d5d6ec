# Compiled, Transaction and Message are extension types: their methods read these from a C
# struct (transaction.py stays the pure twin and the specification).
cimport cython

from smtpx.engine.planning cimport Plan, PlannedRecipient
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

    # Called through C by the runner on every message, with the transaction read from C.
    @cython.locals(planned=PlannedRecipient)
    cpdef judge(self, Transaction tx, replies)
    cpdef delivered(self, Transaction tx, reply)
    cpdef transaction_done(self, Transaction tx)
    cpdef final_outcome(self)
    @cython.locals(planned=PlannedRecipient)
    cpdef content_may_go_early(self, recipients)
