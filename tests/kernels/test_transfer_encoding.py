"""base64 and quoted-printable (RFC 2045): the rules, the streaming encoders, round trips
through the standard library's decoders, and agreement of the two implementations."""
from __future__ import annotations

import base64
import binascii
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smtpx.errors import SMTPInputError

PIECES = [b"\r", b"\n", b"\r\n", b" ", b"\t", b"=", b".", b"a", b"word", b"\x00", b"\xff",
          b"caf\xc3\xa9", b"x" * 70, b" \r\n", b"\t\r\n"]
payloads = st.one_of(st.lists(st.sampled_from(PIECES), max_size=40).map(b"".join), st.binary(max_size=400))
hypothesis_settings = settings(max_examples=150, deadline=None,
                               suppress_health_check=[HealthCheck.function_scoped_fixture])


def stream(encoder, data: bytes, cuts=()) -> bytes:
    out, previous = [], 0
    for cut in sorted(cuts) + [len(data)]:
        out.append(encoder.feed(data[previous:cut]))
        previous = cut
    out.append(encoder.finish())
    return b"".join(out)


def cut_points(data: bytes, raw_cuts: list[int]) -> list[int]:
    return [c % (len(data) + 1) for c in raw_cuts]


# --- base64 ---------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [0, 1, 2, 3, 56, 57, 58, 113, 114, 115, 1000])
def test_b64_is_encodebytes_with_crlf(kernel_impl, size):
    data = bytes((i * 37 + 11) % 256 for i in range(size))
    expected = base64.encodebytes(data).replace(b"\n", b"\r\n")
    assert kernel_impl.b64_encode_wrapped(data) == expected


def test_b64_empty_gives_nothing_and_last_line_has_crlf(kernel_impl):
    assert kernel_impl.b64_encode_wrapped(b"") == b""
    assert kernel_impl.b64_encode_wrapped(b"a") == b"YQ==\r\n"


@pytest.mark.parametrize("line_len", [4, 8, 72, 76, 996])
def test_b64_line_length(kernel_impl, line_len):
    data = bytes(range(256)) * 9
    out = kernel_impl.b64_encode_wrapped(data, line_len)
    assert out.endswith(b"\r\n")
    lines = out[:-2].split(b"\r\n")
    assert all(len(line) == line_len for line in lines[:-1])
    assert 0 < len(lines[-1]) <= line_len
    assert base64.b64decode(b"".join(lines), validate=True) == data


@pytest.mark.parametrize("line_len", [0, 3, 5, 75, -4, 1000])
def test_b64_refuses_bad_line_len(kernel_impl, line_len):
    with pytest.raises(SMTPInputError):
        kernel_impl.b64_encode_wrapped(b"abc", line_len)
    with pytest.raises(SMTPInputError):
        kernel_impl.Base64Encoder(line_len)


@pytest.mark.parametrize("line_len", ["76", 76.0, True, None])
def test_b64_refuses_line_len_of_wrong_type(kernel_impl, line_len):
    with pytest.raises(TypeError):
        kernel_impl.b64_encode_wrapped(b"abc", line_len)
    with pytest.raises(TypeError):
        kernel_impl.Base64Encoder(line_len)


@pytest.mark.parametrize("bad", ["text", 5, None])
def test_refuse_what_is_not_bytes(kernel_impl, bad):
    for call in (kernel_impl.b64_encode_wrapped, kernel_impl.qp_encode,
                 kernel_impl.Base64Encoder().feed, kernel_impl.QPEncoder().feed):
        with pytest.raises(TypeError):
            call(bad)


def test_accept_bytearray_and_memoryview(kernel_impl):
    data = b"hello = world \xff"
    for wrapped in (bytearray(data), memoryview(data)):
        assert kernel_impl.b64_encode_wrapped(wrapped) == kernel_impl.b64_encode_wrapped(data)
        assert kernel_impl.qp_encode(wrapped) == kernel_impl.qp_encode(data)
        assert stream(kernel_impl.QPEncoder(), wrapped) == kernel_impl.qp_encode(data)
        assert stream(kernel_impl.Base64Encoder(), wrapped) == kernel_impl.b64_encode_wrapped(data)


@pytest.mark.parametrize("name", ["Base64Encoder", "QPEncoder"])
def test_no_use_after_finish(kernel_impl, name):
    encoder = getattr(kernel_impl, name)()
    encoder.feed(b"abc")
    encoder.finish()
    with pytest.raises(SMTPInputError):
        encoder.feed(b"d")
    with pytest.raises(SMTPInputError):
        encoder.finish()


def test_base64_encoder_returns_whole_lines_only(kernel_impl):
    encoder = kernel_impl.Base64Encoder(8)
    assert encoder.feed(b"abcde") == b""          # 6 input bytes make a line of 8
    assert encoder.feed(b"fgh") == b"YWJjZGVm\r\n"
    assert encoder.finish() == b"Z2g=\r\n"


@hypothesis_settings
@given(data=payloads, raw_cuts=st.lists(st.integers(min_value=0), max_size=6),
       line_len=st.sampled_from([4, 8, 76, 100]))
def test_base64_stream_equals_one_shot_and_decodes(kernel_impl, data, raw_cuts, line_len):
    one_shot = kernel_impl.b64_encode_wrapped(data, line_len)
    assert stream(kernel_impl.Base64Encoder(line_len), data, cut_points(data, raw_cuts)) == one_shot
    assert base64.b64decode(one_shot) == data


# --- quoted-printable -----------------------------------------------------------------------

A73, A74, A75 = b"a" * 73, b"a" * 74, b"a" * 75


@pytest.mark.parametrize(
    "data, encoded",
    [
        (b"", b""),
        (b"plain text", b"plain text"),
        (b"a=b", b"a=3Db"),
        (b"caf\xc3\xa9", b"caf=C3=A9"),
        (b"\x00\x7f\x1b", b"=00=7F=1B"),
        (b"a b\tc", b"a b\tc"),                              # inner white space stays
        (b"a \r\nb\t\r\n", b"a=20\r\nb=09\r\n"),             # white space before a line break
        (b"end ", b"end=20"),                                # ... or at the end of the data
        (b"a \rb \nc", b"a =0Db =0Ac"),                      # only CRLF is a line break
        (b"a\r\n\r\nb\r\n", b"a\r\n\r\nb\r\n"),
        (b"a  \r", b"a  =0D"),
        (A75 + b"a", A75 + b"a"),                            # 76 fit on a last line
        (A75 + b"aa", A75 + b"=\r\naa"),                     # a soft break after 75
        (A75 + b"a\r\nb", A75 + b"a\r\nb"),
        (A73 + b"\xff", A73 + b"=FF"),                       # an escape ends the line at 76
        (A74 + b"\xff", A74 + b"=\r\n=FF"),                  # ... but is never split
        (A73 + b"\xffb", A73 + b"=\r\n=FFb"),
        (A74 + b" ", A74 + b"=\r\n=20"),
        (A75 + b" x", A75 + b"=\r\n x"),
        (A74 + b" \r\nx", A74 + b"=\r\n=20\r\nx"),
    ],
)
def test_qp_rules(kernel_impl, data, encoded):
    assert kernel_impl.qp_encode(data) == encoded
    assert binascii.a2b_qp(encoded) == data


def test_qp_encoder_holds_back_two_bytes(kernel_impl):
    encoder = kernel_impl.QPEncoder()
    assert encoder.feed(b"ab ") == b"a"   # is the space followed by CRLF? not known yet
    assert encoder.feed(b"\r") == b"b"
    assert encoder.feed(b"\n") == b"=20"  # now it is known to end its line
    assert encoder.feed(b"x") == b"\r\n"
    assert encoder.finish() == b"x"


def qp_lines_are_valid(encoded: bytes) -> None:
    assert all(32 <= b <= 126 or b in (9, 10, 13) for b in encoded)
    assert b"\r" not in encoded.replace(b"\r\n", b"") and b"\n" not in encoded.replace(b"\r\n", b"")
    for line in encoded.split(b"\r\n"):
        assert len(line) <= 76
        assert not line.endswith((b" ", b"\t"))
        # every "=" starts an escape of two upper-case hex digits, or is a soft break
        assert re.fullmatch(rb"(?:[^=]|=[0-9A-F]{2})*=?", line)


@hypothesis_settings
@given(data=payloads, raw_cuts=st.lists(st.integers(min_value=0), max_size=6))
def test_qp_round_trips_and_streams(kernel_impl, data, raw_cuts):
    encoded = kernel_impl.qp_encode(data)
    assert binascii.a2b_qp(encoded) == data
    qp_lines_are_valid(encoded)
    assert stream(kernel_impl.QPEncoder(), data, cut_points(data, raw_cuts)) == encoded


def test_qp_large_input(kernel_impl):
    # over 64 KiB: the compiled kernel runs without the GIL there
    data = (b"Some text, caf\xc3\xa9 = 1 \r\n\tindented line with trailing space \r\n" + bytes(range(256))) * 500
    encoded = kernel_impl.qp_encode(data)
    assert binascii.a2b_qp(encoded) == data
    qp_lines_are_valid(encoded)
    assert stream(kernel_impl.QPEncoder(), data, range(0, len(data), 1021)) == encoded


# --- agreement ------------------------------------------------------------------------------

@hypothesis_settings
@given(data=payloads, raw_cuts=st.lists(st.integers(min_value=0), max_size=6),
       line_len=st.sampled_from([4, 76, 996]))
def test_pure_and_compiled_agree(both_kernel_impls, data, raw_cuts, line_len):
    pure, compiled = both_kernel_impls
    assert pure.qp_encode(data) == compiled.qp_encode(data)
    assert pure.b64_encode_wrapped(data, line_len) == compiled.b64_encode_wrapped(data, line_len)
    cuts = sorted(cut_points(data, raw_cuts)) + [len(data)]
    pairs = [(pure.QPEncoder(), compiled.QPEncoder()),
             (pure.Base64Encoder(line_len), compiled.Base64Encoder(line_len))]
    for a, b in pairs:
        previous = 0
        for cut in cuts:  # chunk by chunk, not only the joined result
            assert a.feed(data[previous:cut]) == b.feed(data[previous:cut])
            previous = cut
        assert a.finish() == b.finish()
