# Compiled, Batch is an extension type (batch.py stays the pure twin and the specification).
cdef class Batch:
    cdef public object window, signers, messages, results, positions, composed, _converted, _first, _sending

    cpdef _next_item(self)

# Called for every message of a batch (batch_item): a C call inside this module.
cpdef signed_item(object signers, object item)
