# cython: language_level=3
"""Compiled twin of smtpx._pure.sockio (read that module for the rules): one ``recv`` with
MSG_DONTWAIT into a buffer of this call, then one bytes object of what came. The GIL is
released around the system call, as socket.recv does: a stream that spins on this must not
starve the other threads (a pool's connections, the application's)."""
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.exc cimport PyErr_CheckSignals
from cpython.mem cimport PyMem_RawFree, PyMem_RawMalloc
from libc.errno cimport EAGAIN, EINTR, errno
from libc.string cimport strerror

cdef extern from "errno.h":
    int EWOULDBLOCK  # (libc.errno does not declare it; equal to EAGAIN on Linux)

cdef extern from "sys/socket.h" nogil:
    ssize_t recv(int sockfd, void *buf, size_t length, int flags)
    int MSG_DONTWAIT

cdef enum:
    _MAX_SIZE = 65536  # a larger size reads at most this much (fewer bytes are allowed)


def recv_nowait(int fd, Py_ssize_t size):
    if size < 1:
        raise ValueError("recv_nowait: size must be >= 1")
    if size > _MAX_SIZE:
        size = _MAX_SIZE
    cdef char* buffer = <char*>PyMem_RawMalloc(<size_t>size)
    if buffer == NULL:
        raise MemoryError()
    cdef ssize_t n
    cdef int error
    try:
        while True:
            with nogil:
                n = recv(fd, buffer, <size_t>size, MSG_DONTWAIT)
                error = errno
            if n >= 0:
                return PyBytes_FromStringAndSize(buffer, n)
            if error == EAGAIN or error == EWOULDBLOCK:
                return None
            if error != EINTR:  # OSError picks the subclass (ConnectionResetError, ...)
                raise OSError(error, strerror(error).decode("utf-8", "replace"))
            PyErr_CheckSignals()  # a handler that raises ends the call, as in socket.recv
    finally:
        PyMem_RawFree(buffer)
