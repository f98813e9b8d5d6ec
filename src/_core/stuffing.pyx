# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled twin of smtpx._pure.stuffing (read that module for the rules).

Two passes over each chunk: an exact count of the output size (SSE2 byte counters: bare
line ends and dots at line starts), then one pass that copies 16 bytes at a time (SSE2;
else 8 with integer tricks) up to each CR or LF, straight into a bytes object of that
size. Allocating the exact size costs less than shrinking a worst-case buffer. A bytes chunk
that needs no change (CRLF line ends, no line starting with ".") is handed back after the count.
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from cpython.object cimport PyObject
from cpython.ref cimport Py_XDECREF

from smtpx.errors import SMTPInputError

include "_buffers.pxi"

cdef extern from "Python.h":
    PyObject* _bytes_alloc_raw "PyBytes_FromStringAndSize"(const char*, Py_ssize_t)
    char* _bytes_buffer "PyBytes_AS_STRING"(PyObject*) noexcept nogil

# Large bytes input is processed without the GIL (bytes cannot change under us).
cdef enum:
    NOGIL_FROM = 65536


cdef extern from *:
    r"""
    #include <stdint.h>
    #include <string.h>
    #if defined(__SSE2__) || defined(_M_X64) || (defined(_M_IX86_FP) && _M_IX86_FP >= 2)
    #include <emmintrin.h>
    #define SMTPX_SSE2 1
    #else
    #define SMTPX_SSE2 0
    #endif
    #if defined(_MSC_VER)
    #include <intrin.h>
    static inline int smtpx_ctz(uint32_t m) { unsigned long k; _BitScanForward(&k, m); return (int)k; }
    #else
    static inline int smtpx_ctz(uint32_t m) { return __builtin_ctz(m); }
    #endif

    /* Copy src to dst up to the first CR or LF; return how many bytes came before it (n if
       none). May write up to 15 bytes past that point, so dst needs 16 bytes of slack.
       With dst NULL, only find it. */
    static Py_ssize_t smtpx_copy_to_line_end(const unsigned char *src, Py_ssize_t n,
                                             unsigned char *dst) {
        Py_ssize_t i = 0;
    #if SMTPX_SSE2
        const __m128i lf = _mm_set1_epi8(10), cr = _mm_set1_epi8(13);
        while (i + 16 <= n) {
            __m128i v = _mm_loadu_si128((const __m128i *)(src + i));
            uint32_t m = (uint32_t)_mm_movemask_epi8(
                _mm_or_si128(_mm_cmpeq_epi8(v, lf), _mm_cmpeq_epi8(v, cr)));
            if (dst)
                _mm_storeu_si128((__m128i *)(dst + i), v);
            if (m)
                return i + smtpx_ctz(m);
            i += 16;
        }
    #elif defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        /* eight bytes at a time: a byte equal to c makes ((x ^ c*ONES) - ONES) & ~(x ^ c*ONES)
           & HIGHS set its top bit, and the lowest such bit is exact (a borrow only reaches
           bytes above a true match) */
        const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
        while (i + 8 <= n) {
            uint64_t w, a, b, m;
            memcpy(&w, src + i, 8);
            if (dst)
                memcpy(dst + i, &w, 8);
            a = w ^ (ones * 10);
            b = w ^ (ones * 13);
            m = ((a - ones) & ~a & highs) | ((b - ones) & ~b & highs);
            if (m)
                return i + (__builtin_ctzll(m) >> 3);
            i += 8;
        }
    #endif
        while (i < n && src[i] != 10 && src[i] != 13) {
            if (dst)
                dst[i] = src[i];
            i++;
        }
        return i;
    }

    /* The exact size smtpx_normalise will write for this chunk and state, counted without
       following the lines one by one: every bare CR or LF grows by one byte, a CR that ends
       the chunk is held back, and a "." that starts a line gets one more. */
    static Py_ssize_t smtpx_normalised_size(const unsigned char *p, Py_ssize_t n, int stuff,
                                            int line_start, int pending_cr) {
        Py_ssize_t size = 0, lf = 0, cr = 0, pairs = 0, dots = 0, j;
        const unsigned char *q = p;
        Py_ssize_t m = n;
        if (pending_cr) {
            size = 2;
            line_start = 1;
            if (q[0] == 10) { q++; m--; }
        }
        if (m == 0)
            return size;
        /* first byte: its line start comes from the state */
        lf += q[0] == 10;
        cr += q[0] == 13;
        dots += line_start && q[0] == 46;
        j = 1;
    #if SMTPX_SSE2
        {
            /* per-byte counters (a match is -1, so subtracting counts it), summed every 255
               blocks before they can overflow */
            const __m128i vlf = _mm_set1_epi8(10), vcr = _mm_set1_epi8(13), vdot = _mm_set1_epi8(46);
            const __m128i zero = _mm_setzero_si128();
            while (j + 16 <= m) {
                __m128i a_lf = zero, a_cr = zero, a_pairs = zero, a_dots = zero;
                int k;
                uint64_t sums[2];
                for (k = 0; k < 255 && j + 16 <= m; k++, j += 16) {
                    __m128i v = _mm_loadu_si128((const __m128i *)(q + j));
                    __m128i prev = _mm_loadu_si128((const __m128i *)(q + j - 1));
                    __m128i is_lf = _mm_cmpeq_epi8(v, vlf);
                    __m128i prev_cr = _mm_cmpeq_epi8(prev, vcr);
                    __m128i prev_end = _mm_or_si128(prev_cr, _mm_cmpeq_epi8(prev, vlf));
                    a_lf = _mm_sub_epi8(a_lf, is_lf);
                    a_cr = _mm_sub_epi8(a_cr, _mm_cmpeq_epi8(v, vcr));
                    a_pairs = _mm_sub_epi8(a_pairs, _mm_and_si128(is_lf, prev_cr));
                    a_dots = _mm_sub_epi8(a_dots, _mm_and_si128(_mm_cmpeq_epi8(v, vdot), prev_end));
                }
    #define SMTPX_SUM(acc, total) \
                _mm_storeu_si128((__m128i *)sums, _mm_sad_epu8(acc, zero)); \
                total += (Py_ssize_t)(sums[0] + sums[1]);
                SMTPX_SUM(a_lf, lf)
                SMTPX_SUM(a_cr, cr)
                SMTPX_SUM(a_pairs, pairs)
                SMTPX_SUM(a_dots, dots)
    #undef SMTPX_SUM
            }
        }
    #endif
        for (; j < m; j++) {
            unsigned char c = q[j], b = q[j - 1];
            lf += c == 10;
            cr += c == 13;
            pairs += (c == 10) & (b == 13);
            dots += (c == 46) & ((b == 10) | (b == 13));
        }
        size += m + (lf - pairs) + (cr - pairs) + (stuff ? dots : 0);
        if (q[m - 1] == 13)
            size -= 2;   /* held back, and not a bare CR (yet) */
        return size;
    }

    /* Write the chunk p[0..n) (n > 0) to out normalised, and dot-stuffed if `stuff`; out
       needs room for the result plus 16 bytes of slack. With out NULL, only count (the
       same code both times, so the count is exact). Returns the length. The state carried
       between chunks: *line_start (the next byte starts a line) and *pending_cr (the last
       chunk ended with a CR that may be half of a CRLF). Branch-light on purpose: line
       ends of mixed kinds would otherwise cost a mispredicted branch each. */
    static Py_ssize_t smtpx_normalise(const unsigned char *p, Py_ssize_t n, unsigned char *out,
                                      int stuff, int *line_start, int *pending_cr) {
        const unsigned char *cur = p, *end = p + n;
        Py_ssize_t o = 0;
        int at_start = *line_start;
        if (*pending_cr) {   /* a line end whatever follows */
            *pending_cr = 0;
            if (out) { out[0] = 13; out[1] = 10; }
            o = 2;
            at_start = 1;
            if (cur[0] == 10)
                cur++;
        }
        while (cur < end) {
            Py_ssize_t run;
            const unsigned char *stop;
            int crlf, next;
            if (out)
                out[o] = 46;   /* the extra dot, kept only for a line that starts with "." */
            o += stuff & at_start & (cur[0] == 46);
            run = smtpx_copy_to_line_end(cur, end - cur, out ? out + o : NULL);
            o += run;
            at_start &= (run == 0);
            stop = cur + run;
            if (stop == end)
                break;
            if (stop + 1 == end && stop[0] == 13) {
                *pending_cr = 1;   /* wait for the next chunk */
                break;
            }
            next = stop + 1 < end ? stop[1] : 0;
            crlf = (stop[0] == 13) & (next == 10);
            cur = stop + 1 + crlf;
            if (out) { out[o] = 13; out[o + 1] = 10; }
            o += 2;
            at_start = 1;
        }
        *line_start = at_start;
        return o;
    }
    """
    Py_ssize_t _normalised_size "smtpx_normalised_size"(
        const unsigned char* p, Py_ssize_t n, int stuff, int line_start,
        int pending_cr) noexcept nogil
    Py_ssize_t _normalise_c "smtpx_normalise"(
        const unsigned char* p, Py_ssize_t n, unsigned char* out, int stuff,
        int* line_start, int* pending_cr) noexcept nogil


cdef inline Py_ssize_t _normalise(const unsigned char* p, Py_ssize_t n, unsigned char* out,
                                  bint stuff, bint* line_start, bint* pending_cr) noexcept nogil:
    return _normalise_c(p, n, out, stuff, <int*>line_start, <int*>pending_cr)


cdef object _run(object data, bint stuff, bint* line_start, bint* pending_cr):
    """``data``: bytes or bytearray. Count the exact size, then write into a new bytes object
    of that size (shrinking a bigger one afterwards, realloc, costs more than the count).

    Bytes that need no change come back as they are, without the second pass or a copy: with
    no CR held back at either end, every change only adds bytes (a bare CR or LF becomes
    CRLF, a line's leading dot is doubled), so an output of the input's size is the input."""
    cdef Py_ssize_t n, size, length
    cdef const unsigned char* p
    cdef PyObject* raw = NULL
    cdef bint without_gil
    p = _pointer(data, &n)
    if n == 0:
        return b""
    without_gil = n >= NOGIL_FROM and isinstance(data, bytes)
    if without_gil:
        with nogil:
            size = _normalised_size(p, n, stuff, line_start[0], pending_cr[0])
    else:
        size = _normalised_size(p, n, stuff, line_start[0], pending_cr[0])
    if size == n and not pending_cr[0] and p[n - 1] != 13 and type(data) is bytes:
        line_start[0] = p[n - 1] == 10  # it ends with CRLF or mid-line, as _normalise says
        return data
    raw = _bytes_alloc_raw(NULL, size + 16)
    if raw == NULL:
        raise MemoryError()
    if without_gil:
        with nogil:
            length = _normalise(p, n, <unsigned char*>_bytes_buffer(raw), stuff, line_start, pending_cr)
    else:
        length = _normalise(p, n, <unsigned char*>_bytes_buffer(raw), stuff, line_start, pending_cr)
    if length != size:  # the count is exact; never hand out a bad result
        Py_XDECREF(raw)
        raise SystemError("DotStuffer: output size miscounted")
    return _shrink(raw, length)  # only the 16 bytes of slack go: cheap


cdef class CRLFNormalizer:
    """Line-end normalisation for BDAT: no dot-stuffing and no terminator.

    ``finish()`` only flushes a CR held back from the last chunk (as CRLF); it adds no line
    end of its own, so data that did not end with a line end still does not.
    """

    cdef bint _line_start
    cdef bint _pending_cr
    cdef bint _finished

    def __init__(self):
        self._line_start = True
        self._pending_cr = False
        self._finished = False

    def feed(self, chunk) -> bytes:
        data = _as_bytes(chunk)
        if self._finished:
            raise SMTPInputError("CRLFNormalizer.feed() called after finish()")
        return _run(data, False, &self._line_start, &self._pending_cr)

    def finish(self) -> bytes:
        if self._finished:
            raise SMTPInputError("CRLFNormalizer.finish() called twice")
        self._finished = True
        return b"\r\n" if self._pending_cr else b""


cdef class DotStuffer:
    """Line-end normalisation plus dot-stuffing for DATA, and the end-of-data terminator.

    Every line that starts with "." gets one more "." in front. ``finish()`` adds a CRLF when
    the data did not end with a line end, then ``.\\r\\n``. Empty data counts as not ending
    with a line end, so it finishes as ``\\r\\n.\\r\\n`` (one empty line), exactly as
    smtplib's ``SMTP.data(b"")`` does.
    """

    cdef bint _line_start
    cdef bint _pending_cr
    cdef bint _empty
    cdef bint _finished

    def __init__(self):
        self._line_start = True
        self._pending_cr = False
        self._empty = True
        self._finished = False

    def feed(self, chunk) -> bytes:
        data = _as_bytes(chunk)
        if self._finished:
            raise SMTPInputError("DotStuffer.feed() called after finish()")
        out = _run(data, True, &self._line_start, &self._pending_cr)
        if len(data):
            self._empty = False
        return out

    def finish(self) -> bytes:
        if self._finished:
            raise SMTPInputError("DotStuffer.finish() called twice")
        self._finished = True
        if self._pending_cr or self._empty or not self._line_start:
            return b"\r\n.\r\n"
        return b".\r\n"
