# Compiled, Runner is an extension type: its methods read these from a C struct instead of an
# instance dict (runner.py stays the pure twin and the specification).
from smtpx.engine.channel cimport Channel
from smtpx.engine.outbox cimport Outbox
from smtpx.engine.planning cimport plan_settings
from smtpx.engine.transaction cimport Message, Transaction


cdef class Runner:
    cdef public Channel channel
    cdef public Outbox outbox
    cdef public object options, sink, results, open, due
    cdef public object raises, in_flight, unacknowledged, window, total
    cdef public object caps, followups, _items, _prefetched, _exhausted, plans, plan_settings, lane_unread, meanwhile

    # The methods that are not generators, called through C from the others.
    cpdef send_one(self, Message message)
    cpdef _take(self)
    cpdef _prefetch(self)
    cpdef _prepare(self, index, item)
    cpdef _finish(self, Message message, outcome)
    cpdef _transaction_ended(self, Transaction tx, alone)
    cpdef _delivered(self, Transaction tx, reply, alone)
    cpdef _expect(self, entry)
    cpdef _commands(self, commands, wire=*)
    cpdef _queue_rset(self)
    cpdef _meanwhile(self)
    cpdef _end_of_data(self, Transaction tx, reply, alone)
    cpdef _fits_lane(self, Message message)
    cpdef _lane_carries(self, Message message)
    cpdef _next_for_lane(self)
    cpdef _next_lane_message(self)
    cpdef _lane(self, Message message)
    cpdef _window_ahead(self, Transaction current)
    cpdef _record_lane_read(self, Transaction held, got, Transaction current, labels=*)
    cpdef _transfer_events(self, piece)
    cpdef _bdat_trail(self, window, data, ends)
    cpdef _decide_read(self, window, got)
    cpdef _lose_stream(self)
