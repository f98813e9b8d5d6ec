# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled twin of smtpx._pure.classify (read that module for the rules): one pass that
jumps from line end to line end, 16 bytes at a time where SSE2 is available."""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE

from smtpx._pure.classify import BodyClass  # the same type, so results compare equal

include "_buffers.pxi"

__all__ = ["BodyClass", "classify_body"]

cdef enum:
    MAX_LINE = 998
    NOGIL_FROM = 65536

cdef extern from *:
    r"""
    #include <stdint.h>
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

    /* One pass: jump from line end to line end (16 bytes at a time with SSE2), noting on
       the way whether any byte is over 127 or NUL; each line end is a CRLF or a bare one. */
    static void smtpx_classify(const unsigned char *p, Py_ssize_t n, int *high, int *nul,
                               int *bare, Py_ssize_t *longest) {
        Py_ssize_t i = 0, start = 0, best = 0;
        int hi = 0, zero = 0, bare_end = 0;
    #if SMTPX_SSE2
        const __m128i vlf = _mm_set1_epi8(10), vcr = _mm_set1_epi8(13), vzero = _mm_setzero_si128();
        uint32_t hi_bits = 0, zero_bits = 0;
    #endif
        for (;;) {
    #if SMTPX_SSE2
            uint32_t m = 0;
            while (i + 16 <= n) {
                __m128i v = _mm_loadu_si128((const __m128i *)(p + i));
                /* whole blocks: bytes past the line end are seen again later, harmlessly */
                hi_bits |= (uint32_t)_mm_movemask_epi8(v);
                zero_bits |= (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, vzero));
                m = (uint32_t)_mm_movemask_epi8(
                    _mm_or_si128(_mm_cmpeq_epi8(v, vlf), _mm_cmpeq_epi8(v, vcr)));
                if (m)
                    break;
                i += 16;
            }
            if (m) {
                i += smtpx_ctz(m);
            } else
    #endif
            {
                while (i < n && p[i] != 10 && p[i] != 13) {
                    hi |= p[i] >> 7;
                    zero |= p[i] == 0;
                    i++;
                }
            }
            if (i >= n)
                break;
            if (i - start > best)
                best = i - start;
            if (p[i] == 13 && i + 1 < n && p[i + 1] == 10) {
                i += 2;
            } else {
                bare_end = 1;
                i += 1;
            }
            start = i;
        }
        if (n - start > best)
            best = n - start;
    #if SMTPX_SSE2
        hi |= hi_bits != 0;
        zero |= zero_bits != 0;
    #endif
        *high = hi;
        *nul = zero;
        *bare = bare_end;
        *longest = best;
    }
    """
    void _scan "smtpx_classify"(const unsigned char* p, Py_ssize_t n, int* high, int* nul,
                                int* bare, Py_ssize_t* longest) noexcept nogil


def classify_body(data) -> BodyClass:
    """Classify ``data`` in one pass."""
    cdef Py_ssize_t n, longest = 0
    cdef const unsigned char* p
    cdef int high = 0, nul = 0, bare = 0
    data = _as_bytes(data)
    if isinstance(data, bytes):
        n = PyBytes_GET_SIZE(data)
        p = <const unsigned char*>PyBytes_AS_STRING(data)
        if n >= NOGIL_FROM:
            with nogil:
                _scan(p, n, &high, &nul, &bare, &longest)
        else:
            _scan(p, n, &high, &nul, &bare, &longest)
    else:
        n = PyByteArray_GET_SIZE(data)
        p = <const unsigned char*>PyByteArray_AS_STRING(data)
        _scan(p, n, &high, &nul, &bare, &longest)
    cdef bint binary = nul or bare or longest > MAX_LINE
    cdef bint eight_bit = high and not binary
    return BodyClass(not binary and not eight_bit, eight_bit, binary, longest)
