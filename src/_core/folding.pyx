# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled twin of smtpx._pure.folding (read that module for the rules).

The hot case, an unstructured header (Subject, ...) in UTF-8, is done here in one pass over
the value's UTF-8 bytes with C pointers: tokenise, choose B or Q per run, cut encoded words at
character boundaries, lay out lines, all into one C buffer that becomes the result string.
Address lists in UTF-8 are folded here too (between addresses, display names encoded, the
trial layout of an address done on a copy of the output state). Other charsets, values with
"=?" (encoded-word lookalikes, rare) and every input the fast paths do not accept (bad types,
control characters, lines over 998, ...) go to the pure implementation, so results and exceptions are the pure module's by construction.
"""
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.unicode cimport PyUnicode_DecodeLatin1, PyUnicode_DecodeUTF8
from libc.string cimport memcpy

from smtpx._pure import folding as _pure
from smtpx.errors import SMTPInputError

cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object, Py_ssize_t*) except NULL

cdef enum:
    MAX_WORD = 75   # RFC 2047 encoded word
    MAX_LINE = 998  # RFC 5322 line
    OVERHEAD = 12   # len("=?utf-8?q?") + len("?=")

cdef unsigned char Q_SAFE[256]
cdef Py_ssize_t Q_COST[256]
cdef const char* HEX = b"0123456789ABCDEF"
cdef const char* B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

cdef int _k
for _k in range(256):
    Q_SAFE[_k] = 0
    Q_COST[_k] = 3
for _k in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/":
    Q_SAFE[_k] = 1
    Q_COST[_k] = 1
Q_COST[0x20] = 1

cdef dict _address_cache = {}
cdef set _utf8_names = {"utf-8"}


cdef struct Out:
    char* buf
    Py_ssize_t w
    Py_ssize_t line_len
    Py_ssize_t longest
    Py_ssize_t max_len
    Py_ssize_t folds
    bint first


cdef inline void _put(Out* o, const char* p, Py_ssize_t n) noexcept nogil:
    memcpy(o.buf + o.w, p, n)
    o.w += n


cdef inline void _newline(Out* o) noexcept nogil:
    if o.line_len > o.longest:
        o.longest = o.line_len
    o.buf[o.w] = 13
    o.buf[o.w + 1] = 10
    o.w += 2
    o.line_len = 0
    o.folds += 1


cdef inline Py_ssize_t _width(const char* p, Py_ssize_t n) noexcept nogil:
    """Characters in UTF-8 bytes (lengths are counted in characters of the result)."""
    cdef Py_ssize_t i, w = n
    for i in range(n):
        if (<unsigned char>p[i] & 0xC0) == 0x80:
            w -= 1
    return w


cdef inline void _plain(Out* o, const char* sep, Py_ssize_t seplen,
                        const char* word, Py_ssize_t wlen) noexcept nogil:
    cdef Py_ssize_t width = _width(word, wlen)
    if wlen and seplen and not o.first and o.line_len + seplen + width > o.max_len:
        _newline(o)
    _put(o, sep, seplen)
    _put(o, word, wlen)
    o.line_len += seplen + width
    o.first = False


cdef inline Py_ssize_t _take(const unsigned char* r, Py_ssize_t pos, Py_ssize_t end,
                             Py_ssize_t room, bint q) noexcept nogil:
    """End of the longest run of whole characters from pos whose payload fits in room."""
    cdef Py_ssize_t i = pos, j, cost, used = 0, limit
    if room <= 0:
        return pos
    if q:
        while i < end:
            j = i + 1
            cost = Q_COST[r[i]]
            while j < end and (r[j] & 0xC0) == 0x80:
                cost += Q_COST[r[j]]
                j += 1
            if used + cost > room:
                break
            used += cost
            i = j
    else:
        limit = room // 4 * 3
        while i < end:
            j = i + 1
            while j < end and (r[j] & 0xC0) == 0x80:
                j += 1
            if j - pos > limit:
                break
            i = j
    return i


cdef inline Py_ssize_t _word(char* out, const unsigned char* r, Py_ssize_t n, bint q) noexcept nogil:
    """Write one encoded word for r[:n]; return its length."""
    cdef Py_ssize_t w = 0, i = 0
    cdef unsigned int v
    memcpy(out, b"=?utf-8?", 8)
    out[8] = 113 if q else 98  # "q" / "b"
    out[9] = 63
    w = 10
    if q:
        for i in range(n):
            v = r[i]
            if Q_SAFE[v]:
                out[w] = <char>v
                w += 1
            elif v == 0x20:
                out[w] = 95  # "_"
                w += 1
            else:
                out[w] = 61  # "="
                out[w + 1] = HEX[v >> 4]
                out[w + 2] = HEX[v & 15]
                w += 3
    else:
        while i + 3 <= n:
            v = (r[i] << 16) | (r[i + 1] << 8) | r[i + 2]
            out[w] = B64[(v >> 18) & 63]
            out[w + 1] = B64[(v >> 12) & 63]
            out[w + 2] = B64[(v >> 6) & 63]
            out[w + 3] = B64[v & 63]
            w += 4
            i += 3
        if n - i == 1:
            v = r[i] << 16
            out[w] = B64[(v >> 18) & 63]
            out[w + 1] = B64[(v >> 12) & 63]
            out[w + 2] = 61
            out[w + 3] = 61
            w += 4
        elif n - i == 2:
            v = (r[i] << 16) | (r[i + 1] << 8)
            out[w] = B64[(v >> 18) & 63]
            out[w + 1] = B64[(v >> 12) & 63]
            out[w + 2] = B64[(v >> 6) & 63]
            out[w + 3] = 61
            w += 4
    out[w] = 63
    out[w + 1] = 61
    return w + 2


cdef bint _run(Out* o, const char* sep, Py_ssize_t seplen,
               const unsigned char* r, Py_ssize_t rn, bint keep_whole=False) noexcept nogil:
    """Place one run as encoded words; False when max_len cannot hold a single character.
    keep_whole: a display name that fits one word goes to a new line rather than split."""
    cdef Py_ssize_t qlen = 0, blen, i, pos = 0, k, cap, fresh
    cdef bint q
    for i in range(rn):
        qlen += Q_COST[r[i]]
    blen = (rn + 2) // 3 * 4
    q = qlen <= blen
    if keep_whole:
        cap = o.max_len - o.line_len - seplen
        if cap > MAX_WORD:
            cap = MAX_WORD
        fresh = o.max_len - seplen
        if fresh > MAX_WORD:
            fresh = MAX_WORD
        i = OVERHEAD + (qlen if q else blen)
        if cap < i <= fresh:
            _newline(o)
    while pos < rn:
        cap = o.max_len - o.line_len - seplen
        if cap > MAX_WORD:
            cap = MAX_WORD
        k = _take(r, pos, rn, cap - OVERHEAD, q)
        if k == pos:
            _newline(o)
            cap = o.max_len - seplen
            if cap > MAX_WORD:
                cap = MAX_WORD
            k = _take(r, pos, rn, cap - OVERHEAD, q)
            if k == pos:
                return False
        _put(o, sep, seplen)
        i = _word(o.buf + o.w, r + pos, k - pos, q)
        o.w += i
        o.line_len += seplen + i
        pos = k
        sep = b" "
        seplen = 1
    o.first = False
    return True


cdef inline bint _fast_path_ok(const unsigned char* s, Py_ssize_t n) noexcept:
    """False for input the pure path must see: controls, and "=?" (an encoded-word
    lookalike), which the pure path checks."""
    cdef Py_ssize_t i
    cdef unsigned char c
    for i in range(n):
        c = s[i]
        if (c < 0x20 and c != 0x09) or c == 0x7F or (c == 0x3D and i + 1 < n and s[i + 1] == 0x3F):
            return False
    return True


cdef inline Py_ssize_t _start_field(Out* o, const char* name, Py_ssize_t nlen, Py_ssize_t max_len,
                                    const unsigned char* s, Py_ssize_t n) noexcept nogil:
    """``Name:`` written into a fresh ``o``; returns where the value starts (past leading
    blanks)."""
    cdef Py_ssize_t i = 0
    o.w = 0
    o.longest = 0
    o.max_len = max_len
    o.first = True
    o.folds = 0
    _put(o, name, nlen)
    _put(o, b":", 1)
    o.line_len = nlen + 1
    while i < n and (s[i] == 0x20 or s[i] == 0x09):
        i += 1
    return i


cdef object _fold_unstructured(const char* name, Py_ssize_t nlen,
                               const unsigned char* s, Py_ssize_t n, Py_ssize_t max_len):
    """The folded field, or None when the input needs the pure path (which raises)."""
    cdef Py_ssize_t i, sep_start, sep_end, word_start, word_end
    cdef Py_ssize_t run_start = 0, run_end = 0, run_seplen = 0
    cdef const char* run_sep = NULL
    cdef const char* sep
    cdef Py_ssize_t seplen
    cdef bint needs, run_active = False, first_pair = True, ok = True
    cdef Out o
    if not _fast_path_ok(s, n):
        return None
    o.buf = <char*>PyMem_Malloc(nlen + 1 + 32 * n + 16)
    if o.buf == NULL:
        raise MemoryError()
    try:
        with nogil:
            i = _start_field(&o, name, nlen, max_len, s, n)
            while ok:
                sep_start = i
                while i < n and (s[i] == 0x20 or s[i] == 0x09):
                    i += 1
                sep_end = i
                word_start = i
                needs = False
                while i < n and s[i] != 0x20 and s[i] != 0x09:
                    if s[i] >= 0x80 or (s[i] == 0x3D and i + 1 < n and s[i + 1] == 0x3F):
                        needs = True
                    i += 1
                word_end = i
                if first_pair:
                    sep = b" "
                    seplen = 1
                else:
                    sep = <const char*>s + sep_start
                    seplen = sep_end - sep_start
                if word_end > word_start and needs:
                    if not run_active:
                        run_active = True
                        run_sep = sep
                        run_seplen = seplen
                        run_start = word_start
                    run_end = word_end
                else:
                    if run_active:
                        run_active = False
                        ok = _run(&o, run_sep, run_seplen, s + run_start, run_end - run_start)
                    if not (first_pair and word_end == word_start):
                        _plain(&o, sep, seplen, <const char*>s + word_start, word_end - word_start)
                first_pair = False
                if i >= n:
                    break
            if ok and run_active:
                ok = _run(&o, run_sep, run_seplen, s + run_start, run_end - run_start)
            if o.line_len > o.longest:
                o.longest = o.line_len
        if not ok or o.longest > MAX_LINE:
            return None
        return PyUnicode_DecodeLatin1(o.buf, o.w, NULL)
    finally:
        PyMem_Free(o.buf)


cdef void _plain_items(Out* o, const char* sep, Py_ssize_t seplen,
                      const char* t, Py_ssize_t tn) noexcept nogil:
    """Plain items of t (which starts with a non-space, or is empty), sep before the first."""
    cdef Py_ssize_t i = 0, ws, w0 = 0
    while i < tn and t[i] != 0x20 and t[i] != 0x09:
        i += 1
    if i == 0 and seplen == 0:
        if tn == 0:
            return
    else:
        _plain(o, sep, seplen, t, i)
    while i < tn:
        ws = i
        while i < tn and (t[i] == 0x20 or t[i] == 0x09):
            i += 1
        w0 = i
        while i < tn and t[i] != 0x20 and t[i] != 0x09:
            i += 1
        _plain(o, t + ws, w0 - ws, t + w0, i - w0)


cdef inline bint _needs_encoding(const unsigned char* p, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        if p[i] >= 0x80 or (p[i] == 0x3D and i + 1 < n and p[i + 1] == 0x3F):
            return True
    return False


cdef Py_ssize_t _phrase_text(const unsigned char* p, Py_ssize_t n, unsigned char* out) noexcept nogil:
    """The text a phrase stands for: quoted strings unquoted, backslash escapes resolved."""
    cdef Py_ssize_t i, w = 0
    cdef bint quoted = False, escape = False
    cdef unsigned char c
    for i in range(n):
        c = p[i]
        if escape:
            out[w] = c
            w += 1
            escape = False
        elif quoted and c == 0x5C:
            escape = True
        elif c == 0x22:
            quoted = not quoted
        else:
            out[w] = c
            w += 1
    return w


cdef bint _element(Out* o, const char* sep, Py_ssize_t seplen, const unsigned char* s,
                   Py_ssize_t body, Py_ssize_t angle, Py_ssize_t end,
                   unsigned char* scratch) noexcept nogil:
    """One address-list element s[body:end] (angle: its first top-level "<", or -1)."""
    cdef Py_ssize_t core, rn
    if angle >= 0:
        core = angle
        while core > body and (s[core - 1] == 0x20 or s[core - 1] == 0x09):
            core -= 1
        if core > body and _needs_encoding(s + body, core - body):
            rn = _phrase_text(s + body, core - body, scratch)
            if not _run(o, sep, seplen, scratch, rn, True):
                return False
            _plain_items(o, <const char*>s + core, angle - core, <const char*>s + angle, end - angle)
            return True
    _plain_items(o, sep, seplen, <const char*>s + body, end - body)
    return True


cdef object _fold_addresses(const char* name, Py_ssize_t nlen,
                            const unsigned char* s, Py_ssize_t n, Py_ssize_t max_len):
    """An address list in UTF-8: fold between addresses, encode non-ASCII display names.
    None when the input needs the pure path (which raises)."""
    cdef Py_ssize_t i, start, body, angle, k = 0
    cdef bint in_quote = False, in_angle = False, escape = False, ok = True, raw8 = False
    cdef int depth = 0
    cdef unsigned char c
    cdef const char* sep
    cdef Py_ssize_t seplen
    cdef unsigned char* scratch
    cdef Out o, trial
    if not _fast_path_ok(s, n):
        return None
    o.buf = <char*>PyMem_Malloc(nlen + 1 + 32 * n + 16 + n)
    if o.buf == NULL:
        raise MemoryError()
    scratch = <unsigned char*>o.buf + nlen + 1 + 32 * n + 16
    try:
        with nogil:
            i = _start_field(&o, name, nlen, max_len, s, n)
            start = i
            while ok and start < n:
                # the end of this element: just past a top-level comma, or the end
                angle = -1
                while i < n:
                    c = s[i]
                    i += 1
                    if escape:
                        escape = False
                    elif in_quote:
                        if c == 0x5C:
                            escape = True
                        elif c == 0x22:
                            in_quote = False
                    elif depth:
                        if c == 0x5C:
                            escape = True
                        elif c == 0x28:
                            depth += 1
                        elif c == 0x29:
                            depth -= 1
                    elif in_angle:
                        if c == 0x3E:
                            in_angle = False
                    elif c == 0x22:
                        in_quote = True
                    elif c == 0x28:
                        depth = 1
                    elif c == 0x3C:
                        in_angle = True
                        if angle < 0:
                            angle = i - 1
                    elif c == 0x2C:
                        break
                body = start
                while body < i and (s[body] == 0x20 or s[body] == 0x09):
                    body += 1
                if k == 0:
                    sep = b" "
                    seplen = 1
                else:
                    sep = <const char*>s + start
                    seplen = body - start
                if not o.first and seplen and o.line_len > 0:
                    # Keep the address on this line if it fits, else start it on a new one.
                    trial = o
                    _element(&trial, sep, seplen, s, body, angle, i, scratch)
                    if trial.folds != o.folds:
                        _newline(&o)
                ok = _element(&o, sep, seplen, s, body, angle, i, scratch)
                k += 1
                start = i
            if o.line_len > o.longest:
                o.longest = o.line_len
            for i in range(o.w):
                if <unsigned char>o.buf[i] >= 0x80:
                    raw8 = True
                    break
        if not ok or o.longest > MAX_LINE:
            return None
        if raw8:
            return PyUnicode_DecodeUTF8(o.buf, o.w, NULL)
        return PyUnicode_DecodeLatin1(o.buf, o.w, NULL)
    finally:
        PyMem_Free(o.buf)


cdef bint _name_ok(const char* p, Py_ssize_t n) noexcept:
    cdef Py_ssize_t i
    cdef unsigned char c
    if n == 0:
        return False
    for i in range(n):
        c = <unsigned char>p[i]
        if c < 0x21 or c > 0x7E or c == 0x3A:
            return False
    return True


cdef bint _is_utf8(str charset) except -1:
    if charset in _utf8_names:
        return True
    if _pure.resolve_charset(charset) == ("utf-8", "utf-8"):
        if len(_utf8_names) < 64:
            _utf8_names.add(charset)
        return True
    return False


def fold_header(name, value, max_len=80, charset="utf-8"):
    """``Name: value`` folded to ``max_len`` with CRLF + white space, no trailing CRLF."""
    cdef Py_ssize_t nlen, vlen, ml
    cdef const char* np
    cdef const char* vp
    if (type(name) is not str or type(value) is not str or type(max_len) is not int
            or type(charset) is not str):
        return _pure.fold_header(name, value, max_len, charset)
    if not 1 <= max_len <= MAX_LINE:
        return _pure.fold_header(name, value, max_len, charset)
    try:
        utf8 = _is_utf8(charset)
    except SMTPInputError:  # the pure path raises it, after its own checks of name and value
        utf8 = False
    if not utf8:
        return _pure.fold_header(name, value, max_len, charset)
    address = _address_cache.get(name)
    if address is None:
        address = _pure.is_address_header(name)
        if len(_address_cache) < 1024:
            _address_cache[name] = address
    ml = max_len
    try:
        np = PyUnicode_AsUTF8AndSize(name, &nlen)
        vp = PyUnicode_AsUTF8AndSize(value, &vlen)
    except UnicodeError:  # lone surrogates: the pure path says which
        return _pure.fold_header(name, value, max_len, charset)
    if not _name_ok(np, nlen):
        return _pure.fold_header(name, value, max_len, charset)
    if address:
        result = _fold_addresses(np, nlen, <const unsigned char*>vp, vlen, ml)
    else:
        result = _fold_unstructured(np, nlen, <const unsigned char*>vp, vlen, ml)
    if result is None:
        return _pure.fold_header(name, value, max_len, charset)
    return result
