# Compiled, Batch is an extension type (batch.py stays the pure twin and the specification).
cdef class Batch:
    cdef public object window, signers, messages, results, positions, composed, _converted, _first

    cpdef _next_item(self)
