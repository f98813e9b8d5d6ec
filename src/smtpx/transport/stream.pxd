# Compiled, SyncStream is an extension type: its methods read these from a C struct (stream.py
# stays the pure twin and the specification).
from smtpx.transport.clock cimport TimeoutClock


cdef class SyncStream(TimeoutClock):
    cdef public object _sock, max_transfer_rate, _bucket, _interrupted, _closed, _tls_info
    cdef public object _fd, _wake_r, _wake_w, _wake_fd, _polls, spin_wait, _poll_first
    cdef public object _spin_misses, _spin_skip, local_address, remote_address

    cpdef _check_usable(self)
    cpdef _spin(self, look)
    cpdef _wait(self, for_write)
