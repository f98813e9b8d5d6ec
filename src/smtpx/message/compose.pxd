# Compiled, the kept message's two steps are C functions, called from the template's methods
# without a Python call (compose.py stays the pure twin and the specification).
cpdef _fresh_date_and_id(template, fields, lines)
cpdef _copy(template, fields, text, envelope, smtputf8, spec)
