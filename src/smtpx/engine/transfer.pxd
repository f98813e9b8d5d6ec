# Compiled, ContentSource and Progress are extension types (transfer.py stays the pure twin and
# the specification).
cdef class ContentSource:
    cdef public object content, one_shot, _spool, _used

cdef class Progress:
    cdef public object _sink, _size, sent
