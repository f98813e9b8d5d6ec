# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled twin of smtpx._pure.dkim_canon (read that module for the rules).

The body is one pass over each chunk: runs of ordinary bytes (found 16 at a time with SSE2)
are copied whole (memcpy), and
the line-end / white-space bytes drive a small state machine whose state is kept between
chunks. The output goes into a bytes object of an upper bound (twice the input plus the empty
lines held back), shrunk at the end.
"""
from cpython.object cimport PyObject

from smtpx.errors import SMTPInputError

include "_buffers.pxi"

cdef extern from "Python.h":
    PyObject* _bytes_alloc_raw "PyBytes_FromStringAndSize"(const char*, Py_ssize_t)
    char* _bytes_buffer "PyBytes_AS_STRING"(PyObject*) noexcept nogil


cdef extern from *:
    r"""
    #include <stdint.h>
    #include <string.h>
    #if defined(__SSE2__) || defined(_M_X64) || (defined(_M_IX86_FP) && _M_IX86_FP >= 2)
    #include <emmintrin.h>
    #define SMTPX_DKIM_SSE2 1
    #else
    #define SMTPX_DKIM_SSE2 0
    #endif
    #if defined(_MSC_VER)
    #include <intrin.h>
    static inline int smtpx_dkim_ctz(uint32_t m) { unsigned long k; _BitScanForward(&k, m); return (int)k; }
    #else
    static inline int smtpx_dkim_ctz(uint32_t m) { return __builtin_ctz(m); }
    #endif

    typedef struct {
        int relaxed, pending_cr, wsp, content, emitted;
        Py_ssize_t blank;
    } smtpx_dkim_state;

    #define SMTPX_ORDINARY(c, relaxed) \
        ((c) != 13 && (c) != 10 && (!(relaxed) || ((c) != 32 && (c) != 9)))

    static inline Py_ssize_t smtpx_dkim_line_end(smtpx_dkim_state *s, unsigned char *out,
                                                 Py_ssize_t o) {
        s->wsp = 0;
        if (s->content) {
            out[o] = 13; out[o + 1] = 10;
            s->content = 0;
            return o + 2;
        }
        s->blank++;
        return o;
    }

    /* The end of a run of content that starts at p[j - 1]: the first CR or LF at or after j,
       and in relaxed mode the first HTAB, or SP not followed by an ordinary byte (a lone SP
       between two ordinary bytes stays as it is). 16 bytes at a time with SSE2. */
    static Py_ssize_t smtpx_dkim_run_end(const unsigned char *p, Py_ssize_t j, Py_ssize_t n,
                                         int relaxed) {
    #if SMTPX_DKIM_SSE2
        const __m128i cr = _mm_set1_epi8(13), lf = _mm_set1_epi8(10);
        const __m128i sp = _mm_set1_epi8(32), tab = _mm_set1_epi8(9);
        while (j + 17 <= n) {
            __m128i v = _mm_loadu_si128((const __m128i *)(p + j));
            __m128i m = _mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, lf));
            uint32_t mask;
            if (relaxed) {
                __m128i w = _mm_loadu_si128((const __m128i *)(p + j + 1));
                __m128i next_special = _mm_or_si128(
                    _mm_or_si128(_mm_cmpeq_epi8(w, cr), _mm_cmpeq_epi8(w, lf)),
                    _mm_or_si128(_mm_cmpeq_epi8(w, sp), _mm_cmpeq_epi8(w, tab)));
                m = _mm_or_si128(m, _mm_or_si128(_mm_cmpeq_epi8(v, tab),
                                                 _mm_and_si128(_mm_cmpeq_epi8(v, sp), next_special)));
            }
            mask = (uint32_t)_mm_movemask_epi8(m);
            if (mask)
                return j + smtpx_dkim_ctz(mask);
            j += 16;
        }
    #endif
        while (j < n) {
            unsigned char d = p[j];
            if (SMTPX_ORDINARY(d, relaxed)) { j++; continue; }
            if (relaxed && d == 32 && j + 1 < n && SMTPX_ORDINARY(p[j + 1], 1)) { j += 2; continue; }
            break;
        }
        return j;
    }

    /* Canonicalize p[0..n) into out (room: 2 * s->blank + 2 * n + 4); returns the length. */
    static Py_ssize_t smtpx_dkim_body(const unsigned char *p, Py_ssize_t n, unsigned char *out,
                                      smtpx_dkim_state *s) {
        Py_ssize_t i = 0, o = 0, j;
        const int relaxed = s->relaxed;
        while (i < n) {
            unsigned char c = p[i];
            if (s->pending_cr) {
                s->pending_cr = 0;
                o = smtpx_dkim_line_end(s, out, o);
                if (c == 10) { i++; continue; }
            }
            if (c == 13) { s->pending_cr = 1; i++; continue; }
            if (c == 10) { o = smtpx_dkim_line_end(s, out, o); i++; continue; }
            if (relaxed && (c == 32 || c == 9)) { s->wsp = 1; i++; continue; }
            /* content: the empty lines and the white space held back come first */
            while (s->blank) { out[o] = 13; out[o + 1] = 10; o += 2; s->blank--; }
            if (s->wsp) { out[o++] = 32; s->wsp = 0; }
            /* a run of ordinary bytes; in relaxed mode a lone SP between two of them too */
            j = smtpx_dkim_run_end(p, i + 1, n, relaxed);
            memcpy(out + o, p + i, (size_t)(j - i));
            o += j - i;
            i = j;
            s->content = 1;
            s->emitted = 1;
        }
        return o;
    }

    /* One header field; out needs 2 * n + 3 bytes. */
    static Py_ssize_t smtpx_dkim_header(const unsigned char *p, Py_ssize_t n, unsigned char *out,
                                        int relaxed) {
        Py_ssize_t i = 0, o = 0;
        if (!relaxed) {
            for (i = 0; i < n; i++) {
                unsigned char c = p[i];
                if (c == 13) {
                    out[o++] = 13; out[o++] = 10;
                    if (i + 1 < n && p[i + 1] == 10) i++;
                } else if (c == 10) {
                    out[o++] = 13; out[o++] = 10;
                } else {
                    out[o++] = c;
                }
            }
            if (!(o >= 2 && out[o - 2] == 13 && out[o - 1] == 10)) { out[o++] = 13; out[o++] = 10; }
            return o;
        }
        /* the name: line ends removed, lower-cased, SP/HTAB before the colon removed */
        for (; i < n && p[i] != 58; i++) {
            unsigned char c = p[i];
            if (c == 13 || c == 10) continue;
            out[o++] = (c >= 65 && c <= 90) ? (unsigned char)(c + 32) : c;
        }
        while (o > 0 && (out[o - 1] == 32 || out[o - 1] == 9)) o--;
        out[o++] = 58;
        /* the value: line ends removed, white space runs as one SP, none at either end */
        {
            int pending = 0, written = 0;
            for (i = i + 1; i < n; i++) {
                unsigned char c = p[i];
                if (c == 13 || c == 10) continue;
                if (c == 32 || c == 9) { pending = 1; continue; }
                if (pending && written) out[o++] = 32;
                pending = 0;
                written = 1;
                out[o++] = c;
            }
        }
        out[o++] = 13; out[o++] = 10;
        return o;
    }
    """
    ctypedef struct smtpx_dkim_state:
        int relaxed, pending_cr, wsp, content, emitted
        Py_ssize_t blank
    Py_ssize_t _dkim_body "smtpx_dkim_body"(
        const unsigned char* p, Py_ssize_t n, unsigned char* out, smtpx_dkim_state* s) noexcept nogil
    Py_ssize_t _dkim_header "smtpx_dkim_header"(
        const unsigned char* p, Py_ssize_t n, unsigned char* out, int relaxed) noexcept nogil


cdef object _new_bytes(Py_ssize_t size, PyObject** raw):
    raw[0] = _bytes_alloc_raw(NULL, size)
    if raw[0] == NULL:
        raise MemoryError()
    return None


cdef class DKIMBodyCanonicalizer:
    """The canonical body, produced chunk by chunk (relaxed or simple)."""

    cdef smtpx_dkim_state _state
    cdef bint _finished

    def __init__(self, relaxed):
        self._state.relaxed = 1 if relaxed else 0
        self._state.pending_cr = 0
        self._state.wsp = 0
        self._state.content = 0
        self._state.emitted = 0
        self._state.blank = 0
        self._finished = False

    def feed(self, chunk) -> bytes:
        cdef Py_ssize_t n, length
        cdef const unsigned char* p
        cdef PyObject* raw = NULL
        data = _as_bytes(chunk)
        if self._finished:
            raise SMTPInputError("DKIMBodyCanonicalizer.feed() called after finish()")
        p = _pointer(data, &n)
        if n == 0:
            return b""
        _new_bytes(2 * self._state.blank + 2 * n + 4, &raw)
        length = _dkim_body(p, n, <unsigned char*>_bytes_buffer(raw), &self._state)
        return _shrink(raw, length)

    def finish(self) -> bytes:
        if self._finished:
            raise SMTPInputError("DKIMBodyCanonicalizer.finish() called twice")
        self._finished = True
        out = b""
        if self._state.pending_cr:
            self._state.pending_cr = 0
            if self._state.content:
                out = b"\r\n"
                self._state.content = 0
            else:
                self._state.blank += 1
        if self._state.content or (not self._state.relaxed and not self._state.emitted):
            out += b"\r\n"
        return out


def dkim_canonicalize_header(field, relaxed) -> bytes:
    """One header field in canonical form, ending with CRLF."""
    cdef Py_ssize_t n, length
    cdef const unsigned char* p
    cdef PyObject* raw = NULL
    data = _as_bytes(field)
    p = _pointer(data, &n)
    _new_bytes(2 * n + 3, &raw)
    length = _dkim_header(p, n, <unsigned char*>_bytes_buffer(raw), 1 if relaxed else 0)
    return _shrink(raw, length)
