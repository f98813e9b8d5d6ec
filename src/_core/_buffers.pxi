# Shared by the byte kernels (textually included): accepting bytes-like input and handing
# out exact-size bytes objects. Kept in one place so every kernel treats input the same.
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from cpython.object cimport PyObject
from cpython.ref cimport Py_XDECREF

cdef extern from "Python.h":
    int _PyBytes_Resize(PyObject**, Py_ssize_t) except -1


cdef object _as_bytes(object chunk):
    """bytes and bytearray as they are, a memoryview copied; anything else is a TypeError
    (as base64 / binascii do)."""
    if isinstance(chunk, (bytes, bytearray)):
        return chunk
    if isinstance(chunk, memoryview):
        return bytes(chunk)
    raise TypeError(f"expected bytes, bytearray or memoryview, not {type(chunk).__name__}")


cdef inline const unsigned char* _pointer(object data, Py_ssize_t* size):
    """Start and size of a bytes or bytearray (after _as_bytes)."""
    if isinstance(data, bytes):
        size[0] = PyBytes_GET_SIZE(data)
        return <const unsigned char*>PyBytes_AS_STRING(data)
    size[0] = PyByteArray_GET_SIZE(data)
    return <const unsigned char*>PyByteArray_AS_STRING(data)


cdef object _shrink(PyObject* raw, Py_ssize_t length):
    """The bytes object ``raw`` (a new reference we own) cut to ``length``."""
    _PyBytes_Resize(&raw, length)
    result = <object>raw
    Py_XDECREF(raw)
    return result
