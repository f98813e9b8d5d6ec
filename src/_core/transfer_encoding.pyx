# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled twin of smtpx._pure.transfer_encoding (read that module for the rules).

base64: a 4096-entry table turns 12 input bits into two output characters, written
straight into a bytes object of the exact final size. Quoted-printable: one pass in C that
tracks the output column, into a bytes object sized by a quick upper bound.
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from cpython.object cimport PyObject
from cpython.ref cimport Py_XDECREF
from libc.string cimport memcpy

from smtpx.errors import SMTPInputError

include "_buffers.pxi"

cdef extern from "Python.h":
    PyObject* _bytes_alloc "PyBytes_FromStringAndSize"(const char*, Py_ssize_t) except NULL
    char* _bytes_buffer "PyBytes_AS_STRING"(PyObject*)

cdef enum:
    MAX_LINE = 996
    NOGIL_FROM = 65536


cdef object _steal(PyObject* raw):
    result = <object>raw
    Py_XDECREF(raw)
    return result


cpdef int check_line_len(object line_len) except -1:
    if isinstance(line_len, bool) or not isinstance(line_len, int):
        raise TypeError(f"line_len must be an int, not {type(line_len).__name__}")
    if line_len < 4 or line_len > MAX_LINE or line_len % 4:
        raise SMTPInputError(f"line_len must be a multiple of 4 from 4 to {MAX_LINE}, not {line_len}")
    return line_len


# --- base64 -------------------------------------------------------------------------------

cdef const char* _ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
cdef unsigned char _PAIRS[4096 * 2]   # 12 bits -> two characters


cdef void _init_pairs() noexcept:
    cdef int v
    for v in range(4096):
        _PAIRS[2 * v] = _ALPHABET[v >> 6]
        _PAIRS[2 * v + 1] = _ALPHABET[v & 63]

_init_pairs()


cdef inline Py_ssize_t _b64_size(Py_ssize_t n, Py_ssize_t line_len) noexcept nogil:
    cdef Py_ssize_t group = line_len // 4 * 3
    cdef Py_ssize_t rest = n % group
    cdef Py_ssize_t size = (n // group) * (line_len + 2)
    if rest:
        size += (rest + 2) // 3 * 4 + 2
    return size


cdef void _b64_lines(const unsigned char* p, Py_ssize_t n, Py_ssize_t line_len,
                     unsigned char* out) noexcept nogil:
    """Base64 lines of ``line_len`` characters, each with CRLF, into ``out`` (see _b64_size)."""
    cdef Py_ssize_t group = line_len // 4 * 3
    cdef const unsigned char* end = p + n
    cdef const unsigned char* line_end
    cdef unsigned int v
    while p < end:
        line_end = p + group if end - p > group else end
        while line_end - p >= 3:
            v = (p[0] << 16) | (p[1] << 8) | p[2]
            memcpy(out, &_PAIRS[2 * (v >> 12)], 2)
            memcpy(out + 2, &_PAIRS[2 * (v & 0xfff)], 2)
            out += 4
            p += 3
        if line_end - p == 2:
            v = (p[0] << 16) | (p[1] << 8)
            out[0] = _ALPHABET[v >> 18]
            out[1] = _ALPHABET[(v >> 12) & 63]
            out[2] = _ALPHABET[(v >> 6) & 63]
            out[3] = 61
            out += 4
            p += 2
        elif line_end - p == 1:
            v = p[0] << 16
            out[0] = _ALPHABET[v >> 18]
            out[1] = _ALPHABET[(v >> 12) & 63]
            out[2] = 61
            out[3] = 61
            out += 4
            p += 1
        out[0] = 13
        out[1] = 10
        out += 2


cdef object _b64(const unsigned char* p, Py_ssize_t n, Py_ssize_t line_len, bint may_release):
    cdef Py_ssize_t size = _b64_size(n, line_len)
    cdef PyObject* raw
    cdef unsigned char* out
    if size == 0:
        return b""
    raw = _bytes_alloc(NULL, size)
    out = <unsigned char*>_bytes_buffer(raw)
    if may_release and n >= NOGIL_FROM:
        with nogil:
            _b64_lines(p, n, line_len, out)
    else:
        _b64_lines(p, n, line_len, out)
    return _steal(raw)


def b64_encode_wrapped(data, line_len=76) -> bytes:
    """Base64 of ``data`` in lines of ``line_len`` characters, each ending with CRLF."""
    cdef Py_ssize_t n
    data = _as_bytes(data)
    cdef int length = check_line_len(line_len)
    cdef const unsigned char* p = _pointer(data, &n)
    return _b64(p, n, length, isinstance(data, bytes))


cdef class Base64Encoder:
    """Streaming ``b64_encode_wrapped``: feed() returns the complete lines so far."""

    cdef Py_ssize_t _line_len
    cdef Py_ssize_t _group
    cdef bytes _pending
    cdef bint _finished

    def __init__(self, line_len=76):
        self._line_len = check_line_len(line_len)
        self._group = self._line_len // 4 * 3
        self._pending = b""
        self._finished = False

    def feed(self, chunk) -> bytes:
        cdef Py_ssize_t n, full
        cdef const unsigned char* p
        data = _as_bytes(chunk)
        if self._finished:
            raise SMTPInputError("Base64Encoder.feed() called after finish()")
        if self._pending:
            data = self._pending + data
        p = _pointer(data, &n)
        full = n - n % self._group
        self._pending = bytes(data[full:]) if full < n else b""
        return _b64(p, full, self._line_len, isinstance(data, bytes))

    def finish(self) -> bytes:
        cdef Py_ssize_t n
        if self._finished:
            raise SMTPInputError("Base64Encoder.finish() called twice")
        self._finished = True
        cdef const unsigned char* p = _pointer(self._pending, &n)
        return _b64(p, n, self._line_len, False)


# --- quoted-printable ---------------------------------------------------------------------
#
# The core is plain C: a byte-at-a-time rule (the same rule as the pure twin), with a
# shortcut for runs of bytes that the rule sends out unchanged, tested eight at a time.

cdef extern from *:
    r"""
    #include <stdint.h>
    #include <string.h>

    static unsigned char smtpx_qp_safe[256];   /* 33..126 but "=" */
    static unsigned char smtpx_qp_ws[256];     /* space, tab */
    static const char smtpx_hex[] = "0123456789ABCDEF";

    static void smtpx_qp_init(void) {
        int b;
        for (b = 0; b < 256; b++) {
            smtpx_qp_safe[b] = (b >= 33 && b <= 126 && b != 61);
            smtpx_qp_ws[b] = (b == 9 || b == 32);
        }
    }

    #if defined(_MSC_VER) || (defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__)
    #define SMTPX_QP_BLOCKS 1
    /* How many of the 8 bytes at p go out unchanged, counted from the first: each of
       32..126 but "=" (so no CR, no tab). A byte that fails sets its top bit in `bad`; the
       lowest set bit is exact (a borrow or carry only reaches bytes above a failing one),
       so on a little-endian load it gives the first failing byte. */
    static int smtpx_qp_plain_prefix(const unsigned char *p) {
        const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
        uint64_t w, e, bad;
        memcpy(&w, p, 8);
        e = w ^ (ones * 61);
        bad = (((w - ones * 32) & ~w)       /* byte < 32 */
             | ((w + ones) | w)             /* byte > 126 */
             | ((e - ones) & ~e)) & highs;  /* byte == "=" */
        if (!bad)
            return 8;
    #if defined(__GNUC__) || defined(__clang__)
        return __builtin_ctzll(bad) >> 3;
    #else
        { int k = 0; while (!(bad & 0x80)) { bad >>= 8; k++; } return k; }
    #endif
    }
    #else
    #define SMTPX_QP_BLOCKS 0
    #endif

    /* An upper bound on the encoded size of p[0..n), from one quick pass: every byte that
       may need an escape (outside 32..126, or "=") counts 2 more; space before a CRLF is
       covered by the CR's 2, one at the very end by the +2; soft breaks come at most every
       73 columns. Over-counting is harmless (the result is shrunk), under-counting is not:
       the tests below have no false negatives. Sizing the output close to the result keeps
       large outputs out of fresh mmap'd memory (a page fault per page). */
    static Py_ssize_t smtpx_qp_bound(const unsigned char *p, Py_ssize_t n) {
        const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
        Py_ssize_t i = 0, flagged = 0, content;
        for (; i + 8 <= n; i += 8) {
            uint64_t w, e, bad;
            memcpy(&w, p + i, 8);
            e = w ^ (ones * 61);
            bad = (((w - ones * 32) & ~w) | ((w + ones) | w) | ((e - ones) & ~e)) & highs;
            bad >>= 7;   /* one bit per flagged byte, in the low bit of each byte */
            bad = (bad * ones) >> 56;   /* the sum of the bytes: the count */
            flagged += (Py_ssize_t)bad;
        }
        for (; i < n; i++)
            flagged += p[i] < 32 || p[i] > 126 || p[i] == 61;
        content = n + 2 * flagged + 2;
        return content + 3 * (content / 73 + 1) + 16;
    }

    /* Encode p[0..n) from column *col into out (room: smtpx_qp_bound). Unless final, the
       last two bytes are left (encoding a byte needs to know whether a CRLF follows it);
       *used gets the number of bytes consumed. Returns the output length. */
    static Py_ssize_t smtpx_qp_core(const unsigned char *p, Py_ssize_t n, unsigned char *out,
                                    Py_ssize_t *col_io, int final, Py_ssize_t *used) {
        Py_ssize_t limit = final ? n : n - 2;
        Py_ssize_t i = 0, o = 0, col = *col_io, no_tests_until = 0;
        int misses = 0;
        while (i < limit) {
            unsigned char c;
            int last, width, escape;
    #if SMTPX_QP_BLOCKS
            /* shortcut: a run of bytes that go out as they are, eight tested at a time */
            if (col < 75 && i + 8 < n && i + 8 <= limit && i >= no_tests_until) {
                int k = smtpx_qp_plain_prefix(p + i);
                /* binary-looking data: stop testing blocks for a while */
                misses = k ? 0 : misses + 1;
                if (misses > 1)
                    no_tests_until = i + 8;
                /* a space right before a CR may end its line: the rule decides */
                if (k > 0 && p[i + k] == 13 && p[i + k - 1] == 32)
                    k--;
                if (k > 75 - col)
                    k = (int)(75 - col);
                memcpy(out + o, p + i, 8);   /* out has room to spare; only k count */
                o += k; i += k; col += k;
                if (k == 8)
                    continue;
            }
    #endif
            /* the rule, byte by byte */
            c = p[i];
            if (c == 13 && i + 1 < n && p[i + 1] == 10) {   /* a hard break */
                out[o] = 13; out[o + 1] = 10;
                o += 2; i += 2; col = 0;
                continue;
            }
            /* the last byte of its line: the data ends after it, or a CRLF does */
            if (i + 2 < n)
                last = (p[i + 1] == 13) & (p[i + 2] == 10);
            else
                last = i + 1 >= n;
            /* branch-free choice between c and =XX: in binary data it is a coin toss */
            escape = !(smtpx_qp_safe[c] | (smtpx_qp_ws[c] & !last));
            width = 1 + 2 * escape;
            if (col + width > 75 && !(last && col + width <= 76)) {
                out[o] = 61; out[o + 1] = 13; out[o + 2] = 10;
                o += 3; col = 0;
            }
            out[o] = escape ? 61 : c;     /* the two hex digits land after a plain byte too, */
            out[o + 1] = smtpx_hex[c >> 4];   /* where the next byte overwrites them (room */
            out[o + 2] = smtpx_hex[c & 15];   /* for them: the bound's slack) */
            o += width; col += width; i++;
        }
        *col_io = col;
        *used = i > 0 ? i : 0;
        return o;
    }
    """
    void _qp_init "smtpx_qp_init"() noexcept nogil
    Py_ssize_t _qp_bound "smtpx_qp_bound"(const unsigned char* p, Py_ssize_t n) noexcept nogil
    Py_ssize_t _qp_core "smtpx_qp_core"(const unsigned char* p, Py_ssize_t n,
                                        unsigned char* out, Py_ssize_t* col_io, int final,
                                        Py_ssize_t* used) noexcept nogil

_qp_init()


cdef object _qp(const unsigned char* p, Py_ssize_t n, Py_ssize_t* col, bint final,
                Py_ssize_t* used, bint may_release):
    cdef PyObject* raw
    cdef unsigned char* out
    cdef Py_ssize_t length, room = _qp_bound(p, n)
    raw = _bytes_alloc(NULL, room)
    out = <unsigned char*>_bytes_buffer(raw)
    if may_release and n >= NOGIL_FROM:
        with nogil:
            length = _qp_core(p, n, out, col, final, used)
    else:
        length = _qp_core(p, n, out, col, final, used)
    if length > room - 8:  # cannot happen (see smtpx_qp_bound); never hand out a bad result
        Py_XDECREF(raw)
        raise SystemError("qp_encode: output bound exceeded")
    return _shrink(raw, length)


def qp_encode(data) -> bytes:
    """Quoted-printable of ``data`` (see smtpx._pure.transfer_encoding for the rules)."""
    cdef Py_ssize_t n, col = 0, used
    data = _as_bytes(data)
    cdef const unsigned char* p = _pointer(data, &n)
    return _qp(p, n, &col, True, &used, isinstance(data, bytes))


cdef class QPEncoder:
    """Streaming ``qp_encode``: at most two input bytes wait between feeds."""

    cdef Py_ssize_t _col
    cdef bytes _pending
    cdef bint _finished

    def __init__(self):
        self._col = 0
        self._pending = b""
        self._finished = False

    def feed(self, chunk) -> bytes:
        cdef Py_ssize_t n, used
        cdef const unsigned char* p
        data = _as_bytes(chunk)
        if self._finished:
            raise SMTPInputError("QPEncoder.feed() called after finish()")
        if self._pending:
            data = self._pending + data
        p = _pointer(data, &n)
        out = _qp(p, n, &self._col, False, &used, isinstance(data, bytes))
        self._pending = bytes(data[used:]) if used < n else b""
        return out

    def finish(self) -> bytes:
        cdef Py_ssize_t n, used
        if self._finished:
            raise SMTPInputError("QPEncoder.finish() called twice")
        self._finished = True
        cdef const unsigned char* p = _pointer(self._pending, &n)
        return _qp(p, n, &self._col, True, &used, False)
