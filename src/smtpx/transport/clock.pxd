# Compiled, TimeoutClock is an extension type: its methods read these from a C struct (clock.py
# stays the pure twin and the specification). AsyncStream, a Python subclass, works either way.
cdef class TimeoutClock:
    cdef public object timeout, absolute, max_reply_time
    cdef public object _deadline, _call_deadline, _last_activity, _read_at
    cdef public object _reply_deadline, _call_reply_deadline

    cpdef _check_usable(self)
    cpdef _touch(self)
    cpdef _got_data(self)
    cpdef _start_call(self, reading=*)
    cpdef _remaining(self)
