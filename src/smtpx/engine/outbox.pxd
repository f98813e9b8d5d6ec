# Compiled, Outbox is an extension type (outbox.py stays the pure twin and the specification).
from smtpx.engine.channel cimport Channel
from smtpx.engine.transaction cimport Message


cdef class Outbox:
    cdef public Channel channel
    cdef public object parts, size, _ends, _writing
    cdef public Message _lane_end
    cdef public Py_ssize_t _lane_end_at

    cpdef take_write(self)
    cpdef lane_write(self, data, Message message, end)
    cpdef wrote(self)
    cpdef failed(self, error)
