"""Compiled kernels (Cython). Each module is a fast copy of its twin in smtpx._pure."""
