# Compiled, PlanCache is an extension type (planning.py stays the pure twin and the
# specification).
cdef class PlanCache:
    cdef public object _head, _recipients, _plan
