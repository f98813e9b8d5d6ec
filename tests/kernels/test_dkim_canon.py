"""DKIM canonicalization kernels, both implementations (ids py and c): the RFC 6376 rules and
its example, line ends of every kind, state across chunks, agreement of the twins, and
dkimpy's canonicalization as an independent oracle on wire-form input."""
from __future__ import annotations

import hashlib
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smtpx.errors import SMTPInputError

try:  # dkimpy (the test extra) is the oracle of two tests; the rest need nothing
    from dkim import canonicalization as dkim_canonicalization
except ImportError:  # pragma: no cover
    dkim_canonicalization = None
needs_dkimpy = pytest.mark.skipif(dkim_canonicalization is None, reason="dkimpy is not installed")

PIECES = [b"\r", b"\n", b"\r\n", b" ", b"\t", b"  \t ", b".", b"a", b"xyz", b"\x00", b"\xff",
          b"\xc3\xa9", b"y" * 37, b":", b"\r\n\r\n", b" \r\n"]
bodies = st.one_of(st.lists(st.sampled_from(PIECES), max_size=50).map(b"".join), st.binary(max_size=300))
hypothesis_settings = settings(max_examples=150, deadline=None,
                               suppress_health_check=[HealthCheck.function_scoped_fixture])


def canon_body(impl, data: bytes, relaxed: bool, cuts=()) -> bytes:
    canon = impl.DKIMBodyCanonicalizer(relaxed)
    out, previous = [], 0
    for cut in sorted(cuts) + [len(data)]:
        out.append(canon.feed(data[previous:cut]))
        previous = cut
    out.append(canon.finish())
    return b"".join(out)


def wire(data: bytes) -> bytes:
    """Line ends as smtpx sends them, and the final CRLF DATA adds."""
    data = re.sub(rb"\r\n|\n|\r", b"\r\n", data)
    return data if not data or data.endswith(b"\r\n") else data + b"\r\n"


# --- body -----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "data, simple, relaxed",
    [
        (b"", b"\r\n", b""),                                   # empty body (RFC 6376 3.4.3 / 3.4.4)
        (b"\r\n", b"\r\n", b""),
        (b"\r\n\r\n\r\n", b"\r\n", b""),
        (b"a", b"a\r\n", b"a\r\n"),                            # no final line end: one is added
        (b"a\r\n\r\n\r\n", b"a\r\n", b"a\r\n"),                # empty lines at the end go
        (b"a\r\n\r\nb\r\n", b"a\r\n\r\nb\r\n", b"a\r\n\r\nb\r\n"),  # inner empty lines stay
        (b"a  \t b \r\n", b"a  \t b \r\n", b"a b\r\n"),        # relaxed: runs -> SP, none at the end
        (b"  lead\r\n", b"  lead\r\n", b" lead\r\n"),           # leading white space is one SP
        (b"a\r\n \t \r\n\r\n", b"a\r\n \t \r\n", b"a\r\n"),    # white-space-only line is empty (relaxed)
        (b"a\nb\rc\r\r\n", b"a\r\nb\r\nc\r\n", b"a\r\nb\r\nc\r\n"),  # bare LF / CR are line ends
        (b"a \r", b"a \r\n", b"a\r\n"),                        # a final CR is a line end
        (b".dot\r\n..\r\n", b".dot\r\n..\r\n", b".dot\r\n..\r\n"),  # no dot-stuffing here
        (b"\xc3\xa9 \xff\r\n", b"\xc3\xa9 \xff\r\n", b"\xc3\xa9 \xff\r\n"),
        # RFC 6376 section 3.4.5
        (b" C \r\nD \t E\r\n\r\n\r\n", b" C \r\nD \t E\r\n", b" C\r\nD E\r\n"),
    ],
)
def test_body_rules(kernel_impl, data, simple, relaxed):
    assert canon_body(kernel_impl, data, False) == simple
    assert canon_body(kernel_impl, data, True) == relaxed


@pytest.mark.parametrize("relaxed", [False, True])
def test_body_every_cut(kernel_impl, relaxed):
    data = b"a \t\r\n\r\n  b\r\r\n\n c  \r\n\r\n\r"
    whole = canon_body(kernel_impl, data, relaxed)
    for i in range(len(data) + 1):
        for j in range(i, len(data) + 1):
            assert canon_body(kernel_impl, data, relaxed, (i, j)) == whole, (i, j)


def test_body_byte_by_byte_many_empty_lines(kernel_impl):
    data = b"x\r\n" + b"\r\n" * 1000 + b"y"
    cuts = range(1, len(data))
    assert canon_body(kernel_impl, data, True, cuts) == b"x\r\n" + b"\r\n" * 1000 + b"y\r\n"
    assert canon_body(kernel_impl, b"x" + b"\n" * 1000, False, cuts) == b"x\r\n"


def test_body_inputs(kernel_impl):
    canon = kernel_impl.DKIMBodyCanonicalizer(True)
    assert canon.feed(bytearray(b"a ")) == b"a"
    assert canon.feed(memoryview(b" b")) == b" b"
    assert canon.feed(b"") == b""
    with pytest.raises(TypeError):
        canon.feed("text")
    assert canon.finish() == b"\r\n"
    with pytest.raises(SMTPInputError):
        canon.feed(b"x")
    with pytest.raises(SMTPInputError):
        canon.finish()


@pytest.mark.parametrize("relaxed", [False, True])
@hypothesis_settings
@given(data=bodies, cuts=st.lists(st.integers(0, 300), max_size=6))
def test_body_chunking_never_changes_the_hash(kernel_impl, relaxed, data, cuts):
    cuts = [c for c in cuts if c <= len(data)]
    assert (hashlib.sha256(canon_body(kernel_impl, data, relaxed, cuts)).digest()
            == hashlib.sha256(canon_body(kernel_impl, data, relaxed)).digest())


@pytest.mark.parametrize("relaxed", [False, True])
@hypothesis_settings
@given(data=bodies, cuts=st.lists(st.integers(0, 300), max_size=6))
def test_body_twins_agree(both_kernel_impls, relaxed, data, cuts):
    pure, compiled = both_kernel_impls
    cuts = [c for c in cuts if c <= len(data)]
    assert canon_body(pure, data, relaxed, cuts) == canon_body(compiled, data, relaxed, cuts)


@needs_dkimpy
@pytest.mark.parametrize("relaxed", [False, True])
@hypothesis_settings
@given(data=bodies)
def test_body_matches_dkimpy(kernel_impl, relaxed, data):
    data = wire(data)
    algorithm = dkim_canonicalization.Relaxed if relaxed else dkim_canonicalization.Simple
    assert canon_body(kernel_impl, data, relaxed) == algorithm.canonicalize_body(data)


# --- header ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "field, simple, relaxed",
    [
        (b"A: X", b"A: X\r\n", b"a:X\r\n"),                     # RFC 6376 section 3.4.5
        (b"B : Y\t\r\n\tZ  \r\n", b"B : Y\t\r\n\tZ  \r\n", b"b:Y Z\r\n"),
        (b"Subject:no space", b"Subject:no space\r\n", b"subject:no space\r\n"),
        (b"To: a@x,\n b@y", b"To: a@x,\r\n b@y\r\n", b"to:a@x, b@y\r\n"),   # bare LF folding
        (b"X-Empty:", b"X-Empty:\r\n", b"x-empty:\r\n"),
        (b"X-Ws:   \t ", b"X-Ws:   \t \r\n", b"x-ws:\r\n"),
        (b"X-Colon: a:b : c", b"X-Colon: a:b : c\r\n", b"x-colon:a:b : c\r\n"),  # first colon only
        (b"Subject: caf\xc3\xa9 \xff", b"Subject: caf\xc3\xa9 \xff\r\n", b"subject:caf\xc3\xa9 \xff\r\n"),
        (b"NoColon", b"NoColon\r\n", b"nocolon:\r\n"),
        (b"MIXED-Case-\xc3\x89: v\r", b"MIXED-Case-\xc3\x89: v\r\n", b"mixed-case-\xc3\x89:v\r\n"),  # ASCII only
    ],
)
def test_header_rules(kernel_impl, field, simple, relaxed):
    assert kernel_impl.dkim_canonicalize_header(field, False) == simple
    assert kernel_impl.dkim_canonicalize_header(field, True) == relaxed


def test_header_inputs(kernel_impl):
    assert kernel_impl.dkim_canonicalize_header(bytearray(b"A: b"), True) == b"a:b\r\n"
    assert kernel_impl.dkim_canonicalize_header(memoryview(b"A: b"), False) == b"A: b\r\n"
    with pytest.raises(TypeError):
        kernel_impl.dkim_canonicalize_header("A: b", True)


HEADER_PIECES = [b"Name", b"X-Y", b":", b" ", b"\t", b"\r\n ", b"\r\n\t", b"\n ", b"\r", b"v", b"\xc3\xa9", b"AB"]
fields = st.one_of(st.lists(st.sampled_from(HEADER_PIECES), max_size=25).map(b"".join), st.binary(max_size=120))


@pytest.mark.parametrize("relaxed", [False, True])
@hypothesis_settings
@given(field=fields)
def test_header_twins_agree(both_kernel_impls, relaxed, field):
    pure, compiled = both_kernel_impls
    assert pure.dkim_canonicalize_header(field, relaxed) == compiled.dkim_canonicalize_header(field, relaxed)


@needs_dkimpy
@hypothesis_settings
@given(name=st.from_regex(rb"\A[!-9;-~]{1,20}\Z"),
       value=st.lists(st.sampled_from([b" ", b"\t", b"\r\n ", b"\r\n\t", b"v", b":", b"\xff", b"w x"]),
                      max_size=15).map(b"".join))
def test_header_relaxed_matches_dkimpy(kernel_impl, name, value):
    ours = kernel_impl.dkim_canonicalize_header(name + b":" + value + b"\r\n", True)
    [(theirs_name, theirs_value)] = dkim_canonicalization.Relaxed.canonicalize_headers([(name, value + b"\r\n")])
    assert ours == theirs_name + b":" + theirs_value


@pytest.mark.parametrize("relaxed", [False, True])
def test_body_long_runs_every_offset(both_kernel_impls, relaxed):
    """The compiled kernel scans 16 bytes at a time: white space and line ends at every
    offset of a block, and lone spaces (kept) beside runs (collapsed)."""
    pure, compiled = both_kernel_impls
    for offset in range(40):
        for special in (b" ", b"  ", b"\t", b" \t", b"\r\n", b"\n", b"\r", b" \r\n", b"\t\r\n"):
            data = b"a" * offset + special + b"b" * 20 + b" c d" * 9 + special + b"e" * (40 - offset)
            for cuts in ((), (offset,), (offset + 1, len(data) - 3)):
                assert canon_body(pure, data, relaxed, cuts) == canon_body(compiled, data, relaxed, cuts), \
                    (offset, special, cuts)
