# Compiled, Engine is an extension type: its methods read these from a C struct (engine.py
# stays the pure twin and the specification).
from smtpx.engine.channel cimport Channel


cdef class Engine:
    cdef public object options, sink, capabilities, authenticated, _tls_active, _state, _busy
    cdef public object _plans
    cdef public Channel _channel

    cpdef _close(self)
