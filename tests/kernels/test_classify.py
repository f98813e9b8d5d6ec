"""classify_body: 7-bit / 8-bit / binary (RFC 2045 2.7-2.9) and the longest line."""
from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smtpx._pure.classify import BodyClass

PIECES = [b"\r", b"\n", b"\r\n", b"\x00", b"\xff", b"\xc3\xa9", b"a", b"text ", b"\x01",
          b"x" * 400, b"y" * 999]
bodies = st.one_of(st.lists(st.sampled_from(PIECES), max_size=30).map(b"".join), st.binary(max_size=300))
hypothesis_settings = settings(max_examples=150, deadline=None,
                               suppress_health_check=[HealthCheck.function_scoped_fixture])

SEVEN, EIGHT, BINARY = (True, False, False), (False, True, False), (False, False, True)


def reference(data: bytes) -> BodyClass:
    """The rules written another way: split with a regex, test each line."""
    lines = re.split(rb"\r\n|\r|\n", data)
    longest = max(len(line) for line in lines)
    bare = re.search(rb"\r(?!\n)|(?<!\r)\n", data) is not None
    binary = bare or b"\x00" in data or longest > 998
    eight = not binary and any(b > 127 for b in data)
    return BodyClass(not binary and not eight, eight, binary, longest)


@pytest.mark.parametrize(
    "data, kind, longest",
    [
        (b"", SEVEN, 0),
        (b"hello\r\nworld!\r\n", SEVEN, 6),
        (b"\x01\x7f control bytes are 7-bit\r\n", SEVEN, 26),
        (b"caf\xc3\xa9\r\n", EIGHT, 5),
        (b"a\x00b", BINARY, 3),
        (b"a\nb", BINARY, 1),                 # bare LF
        (b"a\rb", BINARY, 1),                 # bare CR
        (b"ab\r\r\ncd", BINARY, 2),           # bare CR, then CRLF
        (b"\xff\n", BINARY, 1),               # binary wins over 8-bit
        (b"x" * 998 + b"\r\n", SEVEN, 998),   # the longest a line may be
        (b"x" * 999 + b"\r\n", BINARY, 999),
        (b"x" * 999, BINARY, 999),            # the last line counts without a line end
        (b"\r\n" + b"\xe9" * 998, EIGHT, 998),
        (b"short\r\n" + b"l" * 50 + b"\r\nmid\r\n", SEVEN, 50),
    ],
)
def test_classify_rules(kernel_impl, data, kind, longest):
    result = kernel_impl.classify_body(data)
    assert (result.seven_bit, result.eight_bit, result.binary) == kind
    assert result.longest_line == longest
    assert result == reference(data)


def test_result_is_the_shared_bodyclass(kernel_impl):
    result = kernel_impl.classify_body(b"abc")
    assert isinstance(result, BodyClass)
    assert kernel_impl.BodyClass is BodyClass
    assert result == BodyClass(True, False, False, 3)


def test_accepts_bytearray_and_memoryview(kernel_impl):
    data = b"caf\xc3\xa9\r\nx"
    assert kernel_impl.classify_body(bytearray(data)) == kernel_impl.classify_body(memoryview(data)) == \
        BodyClass(False, True, False, 5)


@pytest.mark.parametrize("bad", ["text", 5, None])
def test_refuses_what_is_not_bytes(kernel_impl, bad):
    with pytest.raises(TypeError):
        kernel_impl.classify_body(bad)


def test_large_input(kernel_impl):
    # over 64 KiB: the compiled kernel runs without the GIL there
    data = (b"line of text\r\n" * 10000) + b"\xe9" * 1000 + b"\r\nend"
    assert kernel_impl.classify_body(data) == BodyClass(False, False, True, 1000)


@hypothesis_settings
@given(data=bodies)
def test_classify_matches_the_rules(kernel_impl, data):
    result = kernel_impl.classify_body(data)
    assert result == reference(data)
    assert result.seven_bit + result.eight_bit + result.binary == 1


@hypothesis_settings
@given(data=bodies)
def test_pure_and_compiled_agree(both_kernel_impls, data):
    pure, compiled = both_kernel_impls
    assert pure.classify_body(data) == compiled.classify_body(data)
