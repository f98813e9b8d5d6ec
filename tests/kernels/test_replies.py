"""ReplyScanner / Reply, both implementations (ids py and c): syntax, limits, FAULTS.md 6-12,
and hypothesis agreement between the twins and between any two splits of the same input."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smtpx._pure.replies import Reply as PureReply
from smtpx.errors import SMTPProtocolError


def scan(impl, data: bytes, **limits):
    return impl.ReplyScanner(**limits).feed(data)


def scan_all(impl, chunks, **limits):
    """Every reply the chunks give, the error type (or None) and, without an error, whether
    data is left pending. Replies completed before an error come from the error's ``replies``."""
    scanner = impl.ReplyScanner(**limits)
    replies = []
    for chunk in chunks:
        try:
            replies += scanner.feed(chunk)
        except SMTPProtocolError as exc:
            return replies + exc.replies, type(exc), None
    return replies, None, scanner.has_pending


# --- well-formed replies ----------------------------------------------------------------------


def test_single_line(kernel_impl):
    (reply,) = scan(kernel_impl, b"250 2.1.0 Sender ok\r\n")
    assert (reply.code, reply.enhanced, reply.lines) == (250, "2.1.0", ["2.1.0 Sender ok"])
    assert reply.text == "2.1.0 Sender ok"


def test_reply_class_is_shared(kernel_impl):
    assert kernel_impl.Reply is PureReply
    (reply,) = scan(kernel_impl, b"220 hi\r\n")
    assert type(reply) is PureReply


def test_a_scanned_reply_is_a_whole_reply_object(kernel_impl):
    """The compiled scanner fills Reply's slots from C: the object must be what the class's
    constructor makes, seen as such by the garbage collector, and freed when dropped. The
    compiled scanner leaves it and its lines out of the cyclic collector's list (a batch keeps
    its replies: smtpx._pure.untracked); the collector can still walk it."""
    import gc
    import sys

    (reply,) = scan(kernel_impl, b"250-first\r\n250 2.0.0 last\r\n")
    assert type(reply) is PureReply
    assert reply == PureReply(250, "2.0.0", ["first", "2.0.0 last"])
    compiled = kernel_impl.ReplyScanner.__module__ == "smtpx._core.replies"
    assert gc.is_tracked(reply) is not compiled and gc.is_tracked(reply.lines) is not compiled
    referents = gc.get_referents(reply)  # what the collector walks: the slots and the class
    assert any(item is reply.lines for item in referents) and PureReply in referents
    lines = reply.lines
    before = sys.getrefcount(lines)
    reply.lines = ["changed"]  # the slots stay ordinary, writable attributes
    assert sys.getrefcount(lines) == before - 1  # the scanner's reference went with the slot
    assert reply.text == "changed"
    del reply
    assert sys.getrefcount(lines) == before - 1


def test_multi_line_ehlo(kernel_impl):
    data = b"250-mx.example.org Hello\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 SMTPUTF8\r\n"
    (reply,) = scan(kernel_impl, data)
    assert reply.code == 250
    assert reply.lines == ["mx.example.org Hello", "PIPELINING", "SIZE 1000", "SMTPUTF8"]
    assert reply.text == "mx.example.org Hello\nPIPELINING\nSIZE 1000\nSMTPUTF8"
    assert reply.enhanced is None


def test_several_replies_in_one_feed(kernel_impl):
    replies = scan(kernel_impl, b"250 a\r\n251 b\r\n550-c\r\n550 d\r\n354 go\r\n")
    assert [(r.code, r.lines) for r in replies] == [
        (250, ["a"]),
        (251, ["b"]),
        (550, ["c", "d"]),
        (354, ["go"]),
    ]


def test_code_alone_and_code_with_empty_text(kernel_impl):
    replies = scan(kernel_impl, b"250\r\n250 \r\n220-\r\n220\r\n")
    assert [(r.code, r.lines) for r in replies] == [(250, [""]), (250, [""]), (220, ["", ""])]


def test_bare_lf_ends_a_line_and_cr_is_not_text(kernel_impl):
    replies = scan(kernel_impl, b"250-a\n250 b\r\n")
    assert replies[0].lines == ["a", "b"]


def test_cr_inside_a_line_stays_text(kernel_impl):
    (reply,) = scan(kernel_impl, b"250 a\rb\r\n")
    assert reply.lines == ["a\rb"]


def test_partial_data_waits(kernel_impl):
    scanner = kernel_impl.ReplyScanner()
    assert scanner.feed(b"25") == []
    assert scanner.feed(b"0-first\r") == []
    assert scanner.feed(b"\n250 sec") == []
    (reply,) = scanner.feed(b"ond\r\n220 next")
    assert reply.lines == ["first", "second"]
    assert [r.code for r in scanner.feed(b"\r\n")] == [220]


def test_has_pending(kernel_impl):
    scanner = kernel_impl.ReplyScanner()
    assert not scanner.has_pending
    scanner.feed(b"250-a\r\n")
    assert scanner.has_pending  # an unfinished multi-line reply
    scanner.feed(b"250 b\r\n")
    assert not scanner.has_pending
    scanner.feed(b"2")
    assert scanner.has_pending  # a partial line
    scanner.feed(b"50 c\r\n")
    assert not scanner.has_pending


def test_byte_by_byte(kernel_impl):
    data = b"250-a\r\n250-2.0.0 b\r\n250 c\r\n421 4.3.2 bye\r\n"
    scanner = kernel_impl.ReplyScanner()
    replies = []
    for i in range(len(data)):
        replies += scanner.feed(data[i : i + 1])
    assert replies == scan(kernel_impl, data)
    assert [r.code for r in replies] == [250, 421]


def test_feed_accepts_bytes_like_only(kernel_impl):
    scanner = kernel_impl.ReplyScanner()
    assert scanner.feed(bytearray(b"250 a\r\n"))[0].lines == ["a"]
    assert scanner.feed(memoryview(b"251 b\r\n"))[0].code == 251
    with pytest.raises(TypeError):
        scanner.feed("250 text\r\n")


@pytest.mark.parametrize("limits", [{"max_line": 0}, {"max_reply": -1}, {"max_lines": True}, {"max_line": 1.5}])
def test_bad_limits(kernel_impl, limits):
    with pytest.raises(ValueError):
        kernel_impl.ReplyScanner(**limits)


# --- enhanced status codes (FAULTS 12) ----------------------------------------------------------


@pytest.mark.parametrize(
    "data, enhanced",
    [
        (b"250 2.1.5 ok\r\n", "2.1.5"),
        (b"550 5.7.1 no\r\n", "5.7.1"),
        (b"451 4.123.456 later\r\n", "4.123.456"),
        (b"250 2.0.0\r\n", "2.0.0"),
        (b"550 2.1.5 class disagrees\r\n", None),  # FAULTS 12: ignored
        (b"250 5.0.0 class disagrees\r\n", None),
        (b"354 3.0.0 no class 3 in RFC 3463\r\n", None),
        (b"250 2.1 too short\r\n", None),
        (b"250 2.1.5.1 too long\r\n", None),
        (b"250 2.1234.5 part too long\r\n", None),
        (b"250 2..5 empty part\r\n", None),
        (b"250 2.x.5 letters\r\n", None),
        (b"250 2.1.5x glued\r\n", None),
        (b"250 2.1.5\tafter tab\r\n", None),
        (b"250 \xd9\xa2.1.5 arabic digit\r\n", None),
        (b"250 22.1.5 two digit class\r\n", None),
        (b"250 ok 2.1.5 later in line\r\n", None),
    ],
)
def test_enhanced_code(kernel_impl, data, enhanced):
    (reply,) = scan(kernel_impl, data)
    assert reply.enhanced == enhanced


def test_enhanced_code_from_first_line_else_last(kernel_impl):
    (first,) = scan(kernel_impl, b"550-5.1.1 first\r\n550 5.1.2 last\r\n")
    assert first.enhanced == "5.1.1"
    (last,) = scan(kernel_impl, b"550-no code here\r\n550 5.1.2 last\r\n")
    assert last.enhanced == "5.1.2"
    (middle_only,) = scan(kernel_impl, b"550-a\r\n550-5.1.1 m\r\n550 b\r\n")
    assert middle_only.enhanced is None


# --- malformed codes (FAULTS 8, 9) --------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        b"2x0 letters",
        b"2_5 underscore",
        b"+25 plus",
        b" 25 leading space",
        b"25",
        b"25 two digits",
        b"2500 four digits",
        b"250x glued",
        b"250\tok tab",
        b"\xd9\xa2\xd9\xa5\xd9\xa0 arabic-indic digits",
        "\uff12\uff15\uff10 fullwidth".encode(),
        b"",  # an empty line
        b"150 first digit 1",
        b"650 first digit 6",
        b"050",
        b"\x00\x00\x00",
        b"\xff\xfe\xfd",
    ],
)
def test_malformed_code_is_a_protocol_error(kernel_impl, line):
    with pytest.raises(SMTPProtocolError):
        scan(kernel_impl, line + b"\r\n")
    with pytest.raises(SMTPProtocolError):
        scan(kernel_impl, line + b"\n")


def test_multi_line_code_must_not_change(kernel_impl):
    with pytest.raises(SMTPProtocolError, match="250 to 550"):
        scan(kernel_impl, b"250-ok\r\n550 no\r\n")
    with pytest.raises(SMTPProtocolError):
        scan(kernel_impl, b"250-ok\r\n251 ok\r\n")


def test_error_keeps_earlier_replies_and_scanner_stays_failed(kernel_impl):
    scanner = kernel_impl.ReplyScanner()
    with pytest.raises(SMTPProtocolError) as info:
        scanner.feed(b"250 one\r\n251 two\r\n2x0 bad\r\n250 after\r\n")
    assert [r.code for r in info.value.replies] == [250, 251]
    with pytest.raises(SMTPProtocolError, match="already failed"):
        scanner.feed(b"250 fine\r\n")


def test_error_message_is_sanitised(kernel_impl):
    with pytest.raises(SMTPProtocolError) as info:
        scan(kernel_impl, b"2\x00\x1b[31m\xff" + b"x" * 500 + b"\r\n")
    message = str(info.value)
    assert "\x00" not in message and "\x1b" not in message
    assert len(message) < 200


# --- hostile bytes (FAULTS 10) ------------------------------------------------------------------


def test_non_utf8_nul_and_controls_never_crash(kernel_impl):
    (reply,) = scan(kernel_impl, b"250-\xff\xfe bad utf-8\r\n250-nul\x00here\r\n250 \xe2\x82 cut\r\n")
    assert reply.lines == ["\ufffd\ufffd bad utf-8", "nul\x00here", "\ufffd cut"]


def test_utf8_text_is_decoded(kernel_impl):
    (reply,) = scan(kernel_impl, "250 Grüße 日本\r\n".encode())
    assert reply.lines == ["Grüße 日本"]


# --- limits (FAULTS 6, 7) -----------------------------------------------------------------------


def test_line_limit_boundary(kernel_impl):
    ok = b"250 " + b"a" * 6
    assert scan(kernel_impl, ok + b"\r\n", max_line=10)[0].lines == ["a" * 6]
    with pytest.raises(SMTPProtocolError, match="longer than 10"):
        scan(kernel_impl, ok + b"a\r\n", max_line=10)
    with pytest.raises(SMTPProtocolError, match="longer than 10"):
        scan(kernel_impl, ok + b"a\n", max_line=10)


def test_partial_line_limit_allows_the_cr_of_crlf(kernel_impl):
    scanner = kernel_impl.ReplyScanner(max_line=10)
    assert scanner.feed(b"250 aaaaaa\r") == []  # 10 bytes + CR: may still be fine
    assert scanner.feed(b"\n")[0].lines == ["aaaaaa"]
    scanner = kernel_impl.ReplyScanner(max_line=10)
    with pytest.raises(SMTPProtocolError):
        scanner.feed(b"250 aaaaaab")  # 11 bytes, no line end yet: already too long


def test_megabyte_line_without_line_end_in_one_feed(kernel_impl):
    with pytest.raises(SMTPProtocolError, match="longer than 8192"):
        scan(kernel_impl, b"250 " + b"x" * (1 << 20))


def test_megabyte_line_in_chunks_is_refused_early(kernel_impl):
    scanner = kernel_impl.ReplyScanner()
    chunk = b"x" * 4096
    fed = 0
    with pytest.raises(SMTPProtocolError):
        for _ in range(256):  # 1 MB
            fed += 1
            scanner.feed(chunk)
    assert fed == 3  # 12288 bytes > 8193: refused at the first feed past the limit


def test_megabyte_line_with_line_end(kernel_impl):
    with pytest.raises(SMTPProtocolError, match="longer than 8192"):
        scan(kernel_impl, b"250 " + b"x" * (1 << 20) + b"\r\n")


def test_endless_continuation_lines_hit_the_line_count(kernel_impl):
    data = b"250-more\r\n" * 100_000
    with pytest.raises(SMTPProtocolError, match="more than 1000 lines"):
        scan(kernel_impl, data)


def test_endless_continuation_lines_in_chunks(kernel_impl):
    scanner = kernel_impl.ReplyScanner()
    chunk = b"250-more\r\n" * 100
    fed = 0
    with pytest.raises(SMTPProtocolError, match="more than 1000 lines"):
        for _ in range(1000):
            fed += 1
            scanner.feed(chunk)
    assert fed == 11  # line 1001 is in the 11th chunk


def test_line_count_boundary(kernel_impl):
    assert len(scan(kernel_impl, b"250-x\r\n" * 4 + b"250 x\r\n", max_lines=5)[0].lines) == 5
    with pytest.raises(SMTPProtocolError):
        scan(kernel_impl, b"250-x\r\n" * 5 + b"250 x\r\n", max_lines=5)


def test_reply_size_limit(kernel_impl):
    line = b"250-" + b"y" * 96 + b"\r\n"  # 102 bytes with its CRLF
    assert scan(kernel_impl, line * 9 + line.replace(b"-", b" ", 1), max_reply=1020)[0].code == 250
    with pytest.raises(SMTPProtocolError, match="larger than 1019"):
        scan(kernel_impl, line * 9 + line.replace(b"-", b" ", 1), max_reply=1019)
    with pytest.raises(SMTPProtocolError, match="larger than 65536"):
        scan(kernel_impl, (b"250-" + b"z" * 8000 + b"\r\n") * 9)


def test_limits_reset_between_replies(kernel_impl):
    data = (b"250-x\r\n" * 4 + b"250 x\r\n") * 3
    assert len(scan(kernel_impl, data, max_lines=5, max_reply=40)) == 3


def test_unsolicited_reply_is_returned_for_the_engine_to_judge(kernel_impl):
    # FAULTS 11 is the engine's rule (only it knows what is outstanding); the scanner must hand
    # every reply over, never drop or merge one.
    assert [r.code for r in scan(kernel_impl, b"421 4.4.2 idle\r\n250 late\r\n")] == [421, 250]


# --- repeated one-line replies: one shared Reply (smtpx._pure.replies.RECENT) ----------------------


def test_a_repeated_one_line_reply_is_the_same_object(kernel_impl):
    scanner = kernel_impl.ReplyScanner()
    first, again, other = scanner.feed(b"250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n250 2.1.0 Ok\r\n")
    assert first is again and first is not other
    assert first == PureReply(250, "2.1.5", ["2.1.5 Ok"]) and other == PureReply(250, "2.1.0", ["2.1.0 Ok"])
    # later reads, split anywhere, and a bare LF end: the same bytes still give the same object
    assert scanner.feed(b"250 2.1")[:] == []
    (later,) = scanner.feed(b".5 Ok\n")
    assert later is first


def test_only_short_one_line_replies_are_shared(kernel_impl):
    from smtpx._pure.replies import RECENT_LINE

    scanner = kernel_impl.ReplyScanner()
    multi = b"250-first\r\n250 last\r\n"
    a, b = scanner.feed(multi * 2)
    assert a == b and a is not b and a.lines is not b.lines
    # a multi-line reply's last line is not a one-line reply either
    (c,) = scanner.feed(b"250 last\r\n")
    d, e = scanner.feed(b"250-x\r\n250 last\r\n250 last\r\n")
    assert d.lines == ["x", "last"] and e is c
    long_line = b"250 " + b"x" * (RECENT_LINE - 4)
    longer = long_line + b"x"
    f, g = scanner.feed(long_line + b"\r\n" + long_line + b"\r\n")
    assert f is g
    h, i = scanner.feed(longer + b"\r\n" + longer + b"\r\n")
    assert h == i and h is not i


def test_the_scanner_remembers_the_last_few_one_line_replies(kernel_impl):
    from smtpx._pure.replies import RECENT

    scanner = kernel_impl.ReplyScanner()
    (first,) = scanner.feed(b"250 one\r\n")
    others = b"".join(b"250 other %d\r\n" % n for n in range(RECENT - 1))
    scanner.feed(others)
    (still,) = scanner.feed(b"250 one\r\n")
    assert still is first  # RECENT different ones in all: still kept
    scanner.feed(b"".join(b"250 new %d\r\n" % n for n in range(RECENT)))
    (forgotten,) = scanner.feed(b"250 one\r\n")
    assert forgotten == first and forgotten is not first


def test_scanners_share_nothing(kernel_impl):
    (a,) = kernel_impl.ReplyScanner().feed(b"250 ok\r\n")
    (b,) = kernel_impl.ReplyScanner().feed(b"250 ok\r\n")
    assert a == b and a is not b


def _identity_pattern(replies):
    """For each reply, the index of the first reply that is the same object."""
    return [next(j for j, other in enumerate(replies) if other is reply) for reply in replies]


_texts = st.sampled_from([b"", b"Ok", b"2.1.5 Ok", b"go ahead", b"x" * 130])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(replies=st.lists(st.tuples(st.sampled_from([b"250", b"354", b"550"]), st.lists(_texts, max_size=2), _texts),
                        min_size=1, max_size=30),
       cuts=st.lists(st.integers(min_value=0, max_value=2_000), max_size=8))
def test_twins_share_the_same_replies(both_kernel_impls, replies, cuts):
    """Which replies come back as one shared object is the same in both twins, however the
    bytes are split (the pure twin is the specification)."""
    pure, compiled = both_kernel_impls
    data = b"".join(b"".join(code + b"-" + text + b"\r\n" for text in more) + code + b" " + last + b"\r\n"
                    for code, more, last in replies)
    patterns = []
    for impl in (pure, compiled):
        for pieces in ([data], _split(data, cuts)):
            got, error, _pending = scan_all(impl, pieces)
            assert error is None and len(got) == len(replies)
            patterns.append(_identity_pattern(got))
    assert patterns[1:] == patterns[:-1]


# --- agreement and split independence (hypothesis) ----------------------------------------------

_codes = st.sampled_from([b"250", b"220", b"354", b"421", b"550", b"2x0", b"25", b"2500", b"150", b" 25", b"+25"])
_seps = st.sampled_from([b" ", b"-", b"-", b"", b"x"])
_texts = st.one_of(
    st.sampled_from([b"", b"ok", b"2.1.0 ok", b"5.7.1 no", b"4.4.2 bye", b"PIPELINING"]),
    st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"")),
)
_ends = st.sampled_from([b"\r\n", b"\r\n", b"\n"])
_lines = st.tuples(_codes, _seps, _texts, _ends).map(lambda t: b"".join(t))
_streams = st.lists(_lines, max_size=25).map(b"".join) | st.binary(max_size=200)
_limits = st.sampled_from(
    [{}, {"max_line": 12}, {"max_reply": 60}, {"max_lines": 3}, {"max_line": 20, "max_reply": 50, "max_lines": 4}]
)


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for p in points:
        pieces.append(data[last:p])
        last = p
    pieces.append(data[last:])
    return pieces


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=_streams, cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12), limits=_limits)
def test_twins_agree_and_splits_do_not_matter(both_kernel_impls, data, cuts, limits):
    pure, compiled = both_kernel_impls
    whole = scan_all(pure, [data], **limits)
    assert scan_all(compiled, [data], **limits) == whole
    pieces = _split(data, cuts)
    assert scan_all(pure, pieces, **limits) == whole
    assert scan_all(compiled, pieces, **limits) == whole


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.tuples(st.sampled_from([b"250", b"550", b"421"]), st.binary(max_size=40)), min_size=1, max_size=20))
def test_well_formed_stream_round_trips(kernel_impl, lines):
    """Replies built from (code, text) come back with exactly that code and decoded text."""
    expected = []
    data = b""
    for code, text in lines:
        text = text.replace(b"\n", b"").replace(b"\r", b"")
        data += code + b" " + text + b"\r\n"
        expected.append((int(code), [text.decode("utf-8", "replace")]))
    assert [(r.code, r.lines) for r in scan(kernel_impl, data)] == expected
