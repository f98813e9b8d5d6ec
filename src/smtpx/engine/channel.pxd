# Compiled, Channel is an extension type: its methods read these from a C struct (channel.py
# stays the pure twin and the specification).
cdef class Channel:
    cdef public object _options, _sink, closed, dirty, last_reply, server_masker, tracing
    cdef public object _scanner, _ready, _reply_progress, _kept

    # The methods that are not generators, called through C from the others.
    cpdef check_no_leftover(self, when)
    cpdef lost(self)
    cpdef plain_read(self)
    cpdef keep_plain(self, data, expect, after)
    cpdef reply_read(self)
    cpdef received(self, data, after)
    cpdef take_reply(self, after)
    cpdef take_kept(self, labels)
    cpdef _check_open(self, data, after)
    cpdef _take_reply(self, after, tracing)
    cpdef _feed(self, data)
    cpdef _trace_reply(self, reply)
    cpdef _trace_lines(self, reply)
    cpdef _trace_leftover(self)
