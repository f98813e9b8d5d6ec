# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled twin of smtpx._pure.replies (read that module for the rules).

Lines are found with memchr and checked with C pointers straight in the caller's bytes; only
the partial line at the end of a feed is copied (into a C buffer of max_line + 2 bytes,
allocated the first time a line is split across feeds). Python objects are made once per
line (its decoded text) and once per reply. The Reply class and the error type are the pure
module's, so both twins return equal objects.
"""
cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.list cimport PyList_Append, PyList_GET_ITEM, PyList_GET_SIZE
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdint cimport uint64_t
from libc.string cimport memchr, memcmp, memcpy

from smtpx._pure.replies import RECENT, RECENT_LINE, Reply, sanitise
from smtpx.errors import SMTPProtocolError

cdef extern from "Python.h":
    object PyUnicode_New(Py_ssize_t, Py_UCS4)
    void* PyUnicode_DATA(object)

# A Reply is made for every reply line group on the hot path, so its slots are filled from C
# (_slots.pxi: about three quarters of a reply's cost went to the Python-level calls and
# look-ups). Reply is the pure module's class; it is checked once, here, to be what that
# needs, and its offsets read.
include "_slots.pxi"
from smtpx._pure.slots import checked_slots

if checked_slots(Reply) != ("code", "enhanced", "lines"):
    raise TypeError("smtpx._core.replies builds Reply from its three slots; the class changed")
cdef Py_ssize_t _CODE_AT = _slot_offset(Reply, "code")
cdef Py_ssize_t _ENHANCED_AT = _slot_offset(Reply, "enhanced")
cdef Py_ssize_t _LINES_AT = _slot_offset(Reply, "lines")
cdef PyTypeObject* _REPLY_TYPE = <PyTypeObject*>Reply


# The pure module's rule for repeated one-line replies (read there), its numbers as C ints.
cdef Py_ssize_t _RECENT = RECENT
cdef Py_ssize_t _RECENT_LINE = RECENT_LINE


cdef inline object _reply(int code, object enhanced, list lines):
    """Reply(code, enhanced, lines), made as the comment above says, and with its lines out of
    the cyclic collector's view (smtpx._pure.untracked says why: a batch keeps its replies)."""
    reply = _new_instance(_REPLY_TYPE, True)
    PyObject_GC_UnTrack(<void*>lines)
    _set_slot(reply, _CODE_AT, code)
    _set_slot(reply, _ENHANCED_AT, enhanced)
    _set_slot(reply, _LINES_AT, lines)
    return reply


cdef inline object _text(const unsigned char* p, Py_ssize_t n):
    """UTF-8 text with replacement; ASCII (the usual case) is copied straight in."""
    cdef Py_ssize_t i = 0
    cdef uint64_t acc = 0, word
    cdef object s
    while i + 8 <= n:  # eight bytes at a time: any high bit means not ASCII
        memcpy(&word, p + i, 8)
        acc |= word
        i += 8
    while i < n:
        acc |= p[i]
        i += 1
    if acc & 0x8080808080808080ULL:
        return PyUnicode_DecodeUTF8(<const char*>p, n, "replace")
    s = PyUnicode_New(n, 127)
    memcpy(PyUnicode_DATA(s), p, n)
    return s


cdef inline bint _digit(unsigned char c):
    return 0x30 <= c <= 0x39


cdef object _enhanced(const unsigned char* text, Py_ssize_t n, int reply_class):
    """"x.y.z" at the start of text (up to the first space), class digit == reply_class."""
    cdef Py_ssize_t i = 0, j
    cdef Py_ssize_t head = 0
    while head < n and text[head] != 0x20:
        head += 1
    if head < 5 or not (text[0] == 0x32 or text[0] == 0x34 or text[0] == 0x35):
        return None
    if text[0] - 0x30 != reply_class or text[1] != 0x2E:
        return None
    i = 2
    j = i
    while j < head and _digit(text[j]):
        j += 1
    if j - i < 1 or j - i > 3 or j >= head or text[j] != 0x2E:
        return None
    i = j + 1
    j = i
    while j < head and _digit(text[j]):
        j += 1
    if j - i < 1 or j - i > 3 or j != head:
        return None
    return (<const char*>text)[:head].decode("ascii")


@cython.final
cdef class ReplyScanner:
    """Feed raw bytes; get back every reply they complete. Partial data waits for more."""

    cdef readonly Py_ssize_t max_line
    cdef readonly Py_ssize_t max_reply
    cdef readonly Py_ssize_t max_lines
    cdef unsigned char* _buf      # the partial line (at most max_line + 1 bytes)
    cdef Py_ssize_t _buf_len
    cdef int _code                # code of the reply in progress, -1 between replies
    cdef list _lines
    cdef object _enh              # enhanced code of the first line (str or None)
    cdef Py_ssize_t _reply_size
    cdef bint _failed
    cdef bint _ready
    cdef list _recent             # [line bytes, Reply] * RECENT: one-line replies seen lately
    cdef Py_ssize_t _recent_next  # the pair the next new one-line reply replaces

    def __cinit__(self, *args, **kwargs):
        self._buf = NULL
        self._ready = False

    def __init__(self, max_line=8192, max_reply=65536, max_lines=1000):
        for limit in (max_line, max_reply, max_lines):
            if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
                raise ValueError("ReplyScanner limits must be positive ints")
        self.max_line = max_line
        self.max_reply = max_reply
        self.max_lines = max_lines
        PyMem_Free(self._buf)
        self._buf = NULL  # allocated when a partial line first has to wait
        self._buf_len = 0
        self._ready = True
        self._code = -1
        self._lines = []
        self._enh = None
        self._reply_size = 0
        self._failed = False
        self._recent = [b"", None] * _RECENT
        self._recent_next = 0

    def __dealloc__(self):
        PyMem_Free(self._buf)

    @property
    def has_pending(self):
        """True while part of a reply waits for more data."""
        return self._buf_len > 0 or PyList_GET_SIZE(self._lines) > 0

    def feed(self, data):
        cdef list replies = []
        if not self._ready:
            raise ValueError("ReplyScanner was not initialised")
        if type(data) is bytes:
            pass
        elif isinstance(data, (bytes, bytearray, memoryview)):
            data = bytes(data)
        else:
            raise TypeError("ReplyScanner.feed() needs bytes")
        if self._failed:
            raise SMTPProtocolError("the reply scanner already failed; the connection must be dropped")
        try:
            self._feed(data, replies)
        except SMTPProtocolError as exc:
            self._failed = True
            exc.replies = replies
            raise
        return replies

    cdef int _feed(self, bytes data, list replies) except -1:
        cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(data)
        cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
        cdef const unsigned char* end = p + n
        cdef const unsigned char* lf
        cdef Py_ssize_t take, size, content
        cdef Py_ssize_t limit = self.max_line
        if self._buf_len:
            # Finish the partial line first, in the C buffer.
            lf = <const unsigned char*>memchr(p, 0x0A, n)
            take = (lf - p + 1) if lf != NULL else n
            if self._buf_len + take > limit + 2:
                self._too_long()
            memcpy(self._buf + self._buf_len, p, take)
            self._buf_len += take
            p += take
            if lf == NULL:
                self._check_partial(self._buf, self._buf_len)
                return 0
            size = self._buf_len
            self._buf_len = 0
            self._line(self._buf, size, replies)
        while p < end:
            lf = <const unsigned char*>memchr(p, 0x0A, end - p)
            if lf == NULL:
                self._check_partial(p, end - p)
                if self._buf == NULL:
                    self._buf = <unsigned char*>PyMem_Malloc(self.max_line + 2)
                    if self._buf == NULL:
                        raise MemoryError()
                memcpy(self._buf, p, end - p)
                self._buf_len = end - p
                return 0
            self._line(p, lf - p + 1, replies)
            p = lf + 1
        return 0

    cdef int _check_partial(self, const unsigned char* p, Py_ssize_t n) except -1:
        # A partial line may hold max_line bytes plus the CR of its CRLF.
        if n > self.max_line + 1 or (n == self.max_line + 1 and p[n - 1] != 0x0D):
            self._too_long()
        return 0

    cdef int _too_long(self) except -1:
        raise SMTPProtocolError(f"reply line longer than {self.max_line} bytes")

    cdef inline int _line(self, const unsigned char* p, Py_ssize_t size, list replies) except -1:
        """One line of ``size`` bytes, LF included."""
        cdef Py_ssize_t n = size - 1
        cdef int code
        cdef object text
        cdef list lines
        if n > 0 and p[n - 1] == 0x0D:
            n -= 1
        if n > self.max_line:
            self._too_long()
        if n < 3 or not (0x32 <= p[0] <= 0x35 and _digit(p[1]) and _digit(p[2])):
            raise SMTPProtocolError(f"malformed reply code in line {sanitise((<const char*>p)[:n])!r}")
        if n > 3 and p[3] != 0x20 and p[3] != 0x2D:
            raise SMTPProtocolError(f"malformed reply code in line {sanitise((<const char*>p)[:n])!r}")
        code = (p[0] - 0x30) * 100 + (p[1] - 0x30) * 10 + (p[2] - 0x30)
        if self._code >= 0 and code != self._code:
            raise SMTPProtocolError(f"multi-line reply changed its code from {self._code} to {code}")
        self._reply_size += size
        if self._reply_size > self.max_reply:
            raise SMTPProtocolError(f"reply larger than {self.max_reply} bytes")
        if PyList_GET_SIZE(self._lines) >= self.max_lines:
            raise SMTPProtocolError(f"reply has more than {self.max_lines} lines")
        if self._code < 0 and (n <= 3 or p[3] != 0x2D):  # a one-line reply
            return self._one_line(p, n, code, replies)
        text = _text(p + 4, n - 4) if n > 4 else ""
        if self._code < 0:
            self._code = code
            self._enh = _enhanced(p + 4, n - 4, code // 100) if n > 4 else None
        PyList_Append(self._lines, text)
        if n > 3 and p[3] == 0x2D:
            return 0
        lines = self._lines
        enhanced = self._enh
        if enhanced is None and PyList_GET_SIZE(lines) > 1 and n > 4:
            enhanced = _enhanced(p + 4, n - 4, code // 100)
        self._code = -1
        self._lines = []
        self._enh = None
        self._reply_size = 0
        PyList_Append(replies, _reply(code, enhanced, lines))
        return 0

    cdef int _one_line(self, const unsigned char* p, Py_ssize_t n, int code, list replies) except -1:
        """A one-line reply of ``n`` bytes (line end left out): the Reply made for the same
        bytes lately, or a new one, remembered when short."""
        cdef list recent = self._recent
        cdef Py_ssize_t i
        cdef bytes seen
        cdef object reply
        self._reply_size = 0
        for i in range(0, 2 * _RECENT, 2):
            seen = <bytes>PyList_GET_ITEM(recent, i)
            if PyBytes_GET_SIZE(seen) == n and memcmp(PyBytes_AS_STRING(seen), p, n) == 0:
                reply = <object>PyList_GET_ITEM(recent, i + 1)
                PyList_Append(replies, reply)
                return 0
        reply = _reply(code, _enhanced(p + 4, n - 4, code // 100) if n > 4 else None,
                       [_text(p + 4, n - 4) if n > 4 else ""])
        PyList_Append(replies, reply)
        if n <= _RECENT_LINE:
            i = self._recent_next
            recent[i] = (<const char*>p)[:n]
            recent[i + 1] = reply
            self._recent_next = (i + 2) % (2 * _RECENT)
        return 0
