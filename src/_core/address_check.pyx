# cython: language_level=3, boundscheck=False, wraparound=False
"""Compiled twin of smtpx._pure.address_check (read that module for the rules): one pass over
the str's ASCII bytes, with a table per character class, where the twin runs a regular
expression."""
from libc.string cimport memset

__all__ = ["is_plain_address"]

cdef extern from "Python.h":
    bint PyUnicode_IS_ASCII(object)
    Py_ssize_t PyUnicode_GET_LENGTH(object)
    unsigned char* PyUnicode_1BYTE_DATA(object)

cdef unsigned char _ATEXT[128]   # RFC 5321 atext
cdef unsigned char _LET_DIG[128]  # a label's letters and digits


cdef void _tables():
    cdef int c
    memset(_ATEXT, 0, sizeof(_ATEXT))
    memset(_LET_DIG, 0, sizeof(_LET_DIG))
    for c in range(128):
        if (0x30 <= c <= 0x39) or (0x41 <= c <= 0x5A) or (0x61 <= c <= 0x7A):
            _LET_DIG[c] = 1
            _ATEXT[c] = 1
    for c in b"!#$%&'*+/=?^_`{|}~-":
        _ATEXT[c] = 1


_tables()


def is_plain_address(text) -> bool:
    if type(text) is not str or not PyUnicode_IS_ASCII(text):
        return False
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(text), i = 0, start
    cdef const unsigned char* p = PyUnicode_1BYTE_DATA(text)
    while True:  # the local part: atoms joined by single dots
        start = i
        while i < n and _ATEXT[p[i]]:
            i += 1
        if i == start:
            return False
        if i < n and p[i] == 0x2E:  # "."
            i += 1
            continue
        break
    if i >= n or p[i] != 0x40:  # "@"
        return False
    i += 1
    while True:  # the domain: labels joined by single dots
        if i >= n or not _LET_DIG[p[i]]:
            return False
        i += 1
        while i < n and (_LET_DIG[p[i]] or p[i] == 0x2D):  # "-" inside a label only
            i += 1
        if not _LET_DIG[p[i - 1]]:
            return False
        if i < n and p[i] == 0x2E:
            i += 1
            continue
        break
    return i == n
