"""DotStuffer and CRLFNormalizer: the rules of RFC 5321 section 4.5.2, chunking, smtplib's
quoting where they overlap, and agreement of the two implementations."""
from __future__ import annotations

import re
import smtplib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smtpx.errors import SMTPInputError

# Pieces that hit every rule: line ends of each kind, dots, plain text, long runs.
PIECES = [b"\r", b"\n", b"\r\n", b".", b"..", b"a", b"xyz", b" ", b"\x00", b"\xff", b"y" * 37]
messages = st.one_of(st.lists(st.sampled_from(PIECES), max_size=40).map(b"".join), st.binary(max_size=300))
hypothesis_settings = settings(max_examples=150, deadline=None,
                               suppress_health_check=[HealthCheck.function_scoped_fixture])


def reference_normalise(data: bytes) -> bytes:
    """Line ends the way smtplib reads them: CRLF, then a bare LF, then a bare CR."""
    return re.sub(rb"\r\n|\n|\r", b"\r\n", data)


def smtplib_data(text: str) -> bytes:
    """What smtplib.SMTP.data(text) sends after the 354 reply."""
    quoted = smtplib.quotedata(text).encode("latin-1")
    if quoted[-2:] != b"\r\n":
        quoted += b"\r\n"
    return quoted + b".\r\n"


def unstuff(wire: bytes) -> bytes:
    """The receiver's side (RFC 5321 4.5.2): cut the terminator, drop one leading dot."""
    assert wire.endswith(b"\r\n.\r\n") or wire == b".\r\n"
    body = wire[:-3]
    lines = body.split(b"\r\n")
    return b"\r\n".join(line[1:] if line.startswith(b".") else line for line in lines)


def run(factory, data: bytes, cuts=()) -> bytes:
    """Feed ``data`` cut at ``cuts``, then finish."""
    stuffer = factory()
    out, previous = [], 0
    for cut in sorted(cuts) + [len(data)]:
        out.append(stuffer.feed(data[previous:cut]))
        previous = cut
    out.append(stuffer.finish())
    return b"".join(out)


# --- DotStuffer -----------------------------------------------------------------------------

@pytest.mark.parametrize(
    "data, wire",
    [
        (b"a\r\nb\r\n", b"a\r\nb\r\n.\r\n"),
        (b"a\r\nb", b"a\r\nb\r\n.\r\n"),                      # no final line end: one is added
        (b"a\nb\n", b"a\r\nb\r\n.\r\n"),                      # bare LF
        (b"a\rb\r", b"a\r\nb\r\n.\r\n"),                      # bare CR
        (b"a\r\r\nb", b"a\r\n\r\nb\r\n.\r\n"),                # bare CR, then CRLF: two line ends
        (b"a\n\rb", b"a\r\n\r\nb\r\n.\r\n"),                  # LF then CR: two line ends
        (b".a", b"..a\r\n.\r\n"),                             # dot at the very start
        (b".", b"..\r\n.\r\n"),
        (b"\n.\n", b"\r\n..\r\n.\r\n"),
        (b"a\r.b\n..c\r\n.", b"a\r\n..b\r\n...c\r\n..\r\n.\r\n"),
        (b"a.b\r\n x.\r\n", b"a.b\r\n x.\r\n.\r\n"),          # dots not at a line start stay
        (b"\r\n", b"\r\n.\r\n"),
        (b"", b"\r\n.\r\n"),                                  # empty: as smtplib, one empty line
    ],
)
def test_dot_stuffer_rules(kernel_impl, data, wire):
    assert run(kernel_impl.DotStuffer, data) == wire


@pytest.mark.parametrize("text", ["", "a", ".", "..\n.", "a\rb", "a\r\r\nb\n", "x\n.\r.\n", "\r\n\r\n"])
def test_dot_stuffer_equals_smtplib(kernel_impl, text):
    assert run(kernel_impl.DotStuffer, text.encode("latin-1")) == smtplib_data(text)


def test_cr_and_lf_in_different_chunks(kernel_impl):
    stuffer = kernel_impl.DotStuffer()
    assert stuffer.feed(b"a\r") == b"a"  # the CR waits: it may be half of a CRLF
    assert stuffer.feed(b"\n.b") == b"\r\n..b"
    assert stuffer.finish() == b"\r\n.\r\n"


def test_held_back_cr_survives_empty_chunks(kernel_impl):
    stuffer = kernel_impl.DotStuffer()
    assert stuffer.feed(b"a\r") == b"a"
    assert stuffer.feed(b"") == b""
    assert stuffer.feed(b"\n") == b"\r\n"
    assert stuffer.finish() == b".\r\n"


def test_bare_cr_at_chunk_end_then_dot(kernel_impl):
    stuffer = kernel_impl.DotStuffer()
    assert stuffer.feed(b"a\r") == b"a"
    assert stuffer.feed(b".") == b"\r\n.."
    assert stuffer.finish() == b"\r\n.\r\n"


def test_dot_at_start_of_next_chunk(kernel_impl):
    stuffer = kernel_impl.DotStuffer()
    assert stuffer.feed(b"a\r\n") == b"a\r\n"
    assert stuffer.feed(b".") == b".."
    assert stuffer.feed(b".x\r\n") == b".x\r\n"  # the line already has its extra dot
    assert stuffer.finish() == b".\r\n"


@pytest.mark.parametrize("name", ["DotStuffer", "CRLFNormalizer"])
def test_chunks_that_need_no_change_keep_the_line_state(kernel_impl, name):
    # Each of these chunks comes out as it went in (the compiled kernel hands such bytes back
    # without a copy); what matters is the state it leaves for the next chunk.
    stuffer = getattr(kernel_impl, name)()
    dot = b".." if name == "DotStuffer" else b"."
    assert stuffer.feed(b"a\r\nb\r\n") == b"a\r\nb\r\n"
    assert stuffer.feed(b".c") == dot + b"c"  # the last chunk ended a line: this one starts one
    assert stuffer.feed(b" d\r\ne") == b" d\r\ne"
    assert stuffer.feed(b".f\r\n") == b".f\r\n"  # mid-line: no dot added
    assert stuffer.feed(b"g\r") == b"g"  # ends with a CR: held back, never handed back as is
    assert stuffer.feed(b"\nh\r\n") == b"\r\nh\r\n"
    assert stuffer.feed(b"\r\n") == b"\r\n"
    assert stuffer.feed(b".") == dot
    if type(stuffer).__module__ == "smtpx._core.stuffing":  # the compiled twin
        clean = b"x\r\n" * 100
        assert stuffer.feed(clean) is clean


def test_trailing_cr_is_finished_as_a_line_end(kernel_impl):
    assert run(kernel_impl.DotStuffer, b"a\r") == b"a\r\n.\r\n"
    assert run(kernel_impl.DotStuffer, b"\r") == b"\r\n.\r\n"


def test_accepts_bytearray_and_memoryview(kernel_impl):
    stuffer = kernel_impl.DotStuffer()
    assert stuffer.feed(bytearray(b".a\n")) == b"..a\r\n"
    assert stuffer.feed(memoryview(b"b\r")) == b"b"
    out = stuffer.feed(memoryview(b"\n.").cast("B"))
    assert out == b"\r\n.." and type(out) is bytes


@pytest.mark.parametrize("bad", ["text", 5, None, [46]])
def test_refuses_what_is_not_bytes(kernel_impl, bad):
    with pytest.raises(TypeError):
        kernel_impl.DotStuffer().feed(bad)
    with pytest.raises(TypeError):
        kernel_impl.CRLFNormalizer().feed(bad)


@pytest.mark.parametrize("name", ["DotStuffer", "CRLFNormalizer"])
def test_no_use_after_finish(kernel_impl, name):
    stuffer = getattr(kernel_impl, name)()
    stuffer.feed(b"a")
    stuffer.finish()
    with pytest.raises(SMTPInputError):
        stuffer.feed(b"b")
    with pytest.raises(SMTPInputError):
        stuffer.finish()


def test_large_input_matches_small_chunks(kernel_impl):
    # over 64 KiB: the compiled kernel runs without the GIL there
    data = (b".line one\r\nline\ttwo\n\r..three\r" + bytes(range(256))) * 3000
    whole = run(kernel_impl.DotStuffer, data)
    assert whole == run(kernel_impl.DotStuffer, data, cuts=range(0, len(data), 4093))
    assert whole == run(kernel_impl.DotStuffer, bytearray(data))
    assert unstuff(whole) == reference_normalise(data) + (b"" if data.endswith((b"\n", b"\r")) else b"\r\n")


# --- CRLFNormalizer -------------------------------------------------------------------------

@pytest.mark.parametrize(
    "data, out",
    [
        (b"", b""),
        (b".a\n.b", b".a\r\n.b"),                 # no stuffing, no terminator, no added line end
        (b"a\r\r\nb\rc\n", b"a\r\n\r\nb\r\nc\r\n"),
        (b"a\r", b"a\r\n"),                        # a trailing CR is a line end
        (b"\n\n", b"\r\n\r\n"),
    ],
)
def test_normalizer_rules(kernel_impl, data, out):
    assert run(kernel_impl.CRLFNormalizer, data) == out


def test_normalizer_holds_back_cr(kernel_impl):
    normalizer = kernel_impl.CRLFNormalizer()
    assert normalizer.feed(b"x\r") == b"x"
    assert normalizer.feed(b"\ny\r") == b"\r\ny"
    assert normalizer.finish() == b"\r\n"


# --- properties -----------------------------------------------------------------------------

@hypothesis_settings
@given(data=messages)
def test_dot_stuffer_matches_smtplib_and_round_trips(kernel_impl, data):
    wire = run(kernel_impl.DotStuffer, data)
    assert wire == smtplib_data(data.decode("latin-1"))
    normalised = reference_normalise(data)
    if not normalised.endswith(b"\r\n"):
        normalised += b"\r\n"
    assert unstuff(wire) == normalised
    assert b"\r\n.\r\n" not in wire[:-3]  # exactly one end of data, at the end


@hypothesis_settings
@given(data=messages, raw_cuts=st.lists(st.integers(min_value=0), max_size=6))
def test_output_is_the_same_however_the_input_is_split(kernel_impl, data, raw_cuts):
    cuts = [c % (len(data) + 1) for c in raw_cuts]
    assert run(kernel_impl.DotStuffer, data, cuts) == run(kernel_impl.DotStuffer, data)
    assert run(kernel_impl.CRLFNormalizer, data, cuts) == reference_normalise(data)


@hypothesis_settings
@given(data=messages, raw_cuts=st.lists(st.integers(min_value=0), max_size=6))
def test_pure_and_compiled_agree(both_kernel_impls, data, raw_cuts):
    pure, compiled = both_kernel_impls
    cuts = [c % (len(data) + 1) for c in raw_cuts]
    for name in ("DotStuffer", "CRLFNormalizer"):
        a, b = getattr(pure, name)(), getattr(compiled, name)()
        previous = 0
        for cut in sorted(cuts) + [len(data)]:  # chunk by chunk, not only the joined result
            assert a.feed(data[previous:cut]) == b.feed(data[previous:cut])
            previous = cut
        assert a.finish() == b.finish()
