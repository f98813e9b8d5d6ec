# Compiled, Command is an extension type: two fields in a C struct, made without a Python-level
# __init__ call (commands.py stays the pure twin and the specification).
cdef class Command:
    cdef public object wire, trace
