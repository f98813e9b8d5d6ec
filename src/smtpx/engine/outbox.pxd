# Compiled, Outbox is an extension type (outbox.py stays the pure twin and the specification).
from smtpx.engine.channel cimport Channel


cdef class Outbox:
    cdef public Channel channel
    cdef public object parts, size, _ends, _writing

    cpdef take_write(self)
    cpdef wrote(self)
    cpdef failed(self, error)
