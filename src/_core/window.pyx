# cython: language_level=3, boundscheck=False, wraparound=False
"""Compiled twin of smtpx._pure.window (read that module for the rules): the same loops over
a window's messages and replies in C, with the compiled stuffing kernels, and each buffer
assembled in one allocation."""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.string cimport memcpy

from smtpx._core.stuffing import CRLFNormalizer, DotStuffer

cdef enum:
    EXPECT_2XX = 50  # b"2"
    EXPECT_354 = 51  # b"3"


cdef bytes _join(list parts, Py_ssize_t size):
    """``parts`` (bytes) in one new bytes object of ``size`` bytes."""
    cdef bytes out = PyBytes_FromStringAndSize(NULL, size)
    cdef char* at = PyBytes_AS_STRING(out)
    cdef Py_ssize_t n
    cdef bytes part
    for part in parts:
        n = PyBytes_GET_SIZE(part)
        memcpy(at, PyBytes_AS_STRING(part), n)
        at += n
    return out


# (``bytes(x)`` of a bytes object returns it, but through the type call's argument parsing:
# about 500 instructions, several times a message; the type test first skips that.)

def data_window(body, envelope):
    if type(envelope) is not bytes:
        envelope = bytes(envelope)
    if body is None:
        return envelope, 0
    stuffer = DotStuffer()
    cdef list parts = [stuffer.feed(chunk) for chunk in body]
    parts.append(stuffer.finish())
    cdef Py_ssize_t end = 0
    cdef bytes part
    for part in parts:
        end += PyBytes_GET_SIZE(part)
    parts.append(envelope)
    return _join(parts, end + PyBytes_GET_SIZE(envelope)), end


def bdat_window(envelopes, bodies, normalise):
    if not len(envelopes) == len(bodies) == len(normalise):
        raise ValueError("bdat_window: envelopes, bodies and normalise differ in length")
    cdef list parts = []
    cdef list ends = []
    cdef Py_ssize_t size = 0
    cdef Py_ssize_t i, count = len(envelopes)
    cdef bytes envelope, head, content
    for i in range(count):
        envelope = envelopes[i] if type(envelopes[i]) is bytes else bytes(envelopes[i])
        body = bodies[i]
        if normalise[i]:
            normaliser = CRLFNormalizer()
            pieces = [normaliser.feed(chunk) for chunk in body]
            pieces.append(normaliser.finish())
            content = b"".join(pieces)
        else:
            content = b"".join(body)
        head = b"BDAT %d LAST\r\n" % PyBytes_GET_SIZE(content)
        parts.append(envelope)
        parts.append(head)
        parts.append(content)
        size += PyBytes_GET_SIZE(envelope) + PyBytes_GET_SIZE(head) + PyBytes_GET_SIZE(content)
        ends.append(size)
    return _join(parts, size), ends


def match_window(replies, expected):
    cdef Py_ssize_t total = 0
    for expectation in expected:
        total += len(expectation)
    if total != len(replies):
        raise ValueError(f"match_window: {len(replies)} replies for {total} expected")
    cdef list verdicts = []
    cdef Py_ssize_t at = 0
    cdef bint good
    cdef int code
    cdef bytes expectation_bytes
    cdef const unsigned char* p
    cdef Py_ssize_t j, n
    for expectation in expected:
        expectation_bytes = expectation if type(expectation) is bytes else bytes(expectation)
        p = <const unsigned char*> PyBytes_AS_STRING(expectation_bytes)
        n = PyBytes_GET_SIZE(expectation_bytes)
        good = True
        for j in range(n):
            if p[j] != EXPECT_2XX and p[j] != EXPECT_354:
                raise ValueError(f"match_window: an expectation byte is b'2' or b'3', not {bytes([p[j]])!r}")
            code = replies[at].code
            at += 1
            if good and not (code == 354 if p[j] == EXPECT_354 else 200 <= code < 300):
                good = False
        verdicts.append(good)
    return verdicts


def plain_replies(data, expect, Py_ssize_t max_line):
    cdef bytes data_bytes = data if type(data) is bytes else bytes(data)
    cdef bytes expect_bytes = expect if type(expect) is bytes else bytes(expect)
    cdef const unsigned char* d = <const unsigned char*> PyBytes_AS_STRING(data_bytes)
    cdef const unsigned char* e = <const unsigned char*> PyBytes_AS_STRING(expect_bytes)
    cdef Py_ssize_t size = PyBytes_GET_SIZE(data_bytes)
    cdef Py_ssize_t count = PyBytes_GET_SIZE(expect_bytes)
    cdef Py_ssize_t at = 0, end, i, j
    cdef unsigned char want, c
    for i in range(count):
        want = e[i]
        if want != EXPECT_2XX and want != EXPECT_354:
            raise ValueError(f"plain_replies: an expectation byte is b'2' or b'3', not {bytes([want])!r}")
        end = -1  # the line's CRLF (a CR or LF anywhere else: not a plain reply)
        j = at
        while j < size:
            c = d[j]
            if c == 13:  # CR
                if j + 1 < size and d[j + 1] == 10:
                    end = j
                break
            if c == 10:  # a bare LF
                break
            j += 1
        if end < 0 or end - at < 3 or end - at > max_line:
            return False
        if not (48 <= d[at + 1] <= 57 and 48 <= d[at + 2] <= 57):
            return False
        if want == EXPECT_354:
            if not (d[at] == 51 and d[at + 1] == 53 and d[at + 2] == 52):
                return False
        elif d[at] != 50:
            return False
        if end - at > 3 and d[at + 3] != 32:  # "-": a multi-line reply
            return False
        at = end + 2
    return at == size
