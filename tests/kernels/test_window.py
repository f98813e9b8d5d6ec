"""The window kernels (data_window, bdat_window, match_window): what a window puts on the
wire and which messages its replies deliver, on both implementations, and agreement of the
two on random windows."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.kernels.test_stuffing import PIECES, reference_normalise, unstuff

hypothesis_settings = settings(max_examples=150, deadline=None,
                               suppress_health_check=[HealthCheck.function_scoped_fixture])
bodies = st.lists(st.lists(st.sampled_from(PIECES), max_size=12).map(b"".join), max_size=4)
ENVELOPE = b"MAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n"


def reply(kernel_impl, code: int):
    return kernel_impl.Reply(code, None, [f"{code} x"])


# -- data_window ---------------------------------------------------------------------------

def test_data_window_stuffs_the_body_then_appends_the_next_envelope(kernel_impl):
    buffer, end = kernel_impl.data_window([b"Subject: x\r\n\r\n.hidden", b"\nlast"], ENVELOPE)
    assert buffer == b"Subject: x\r\n\r\n..hidden\r\nlast\r\n.\r\n" + ENVELOPE
    assert buffer[:end].endswith(b"\r\n.\r\n") and buffer[end:] == ENVELOPE


def test_data_window_without_a_body_is_the_envelope(kernel_impl):
    assert kernel_impl.data_window(None, ENVELOPE) == (ENVELOPE, 0)


def test_data_window_empty_body_is_one_empty_line(kernel_impl):
    # As DotStuffer (and smtplib's data(b"")): an empty message is one empty line.
    assert kernel_impl.data_window([], b"") == (b"\r\n.\r\n", 5)
    assert kernel_impl.data_window([b""], b"QUIT\r\n") == (b"\r\n.\r\nQUIT\r\n", 5)


def test_data_window_refuses_what_is_not_bytes(kernel_impl):
    with pytest.raises(TypeError):
        kernel_impl.data_window(["text"], ENVELOPE)


@hypothesis_settings
@given(body=bodies)
def test_data_window_body_is_what_the_dot_stuffer_makes(kernel_impl, body):
    buffer, end = kernel_impl.data_window(body, ENVELOPE)
    assert buffer[end:] == ENVELOPE
    stuffer = kernel_impl.DotStuffer()
    assert buffer[:end] == b"".join([stuffer.feed(chunk) for chunk in body]) + stuffer.finish()
    raw = reference_normalise(b"".join(body))
    assert unstuff(buffer[:end]) in (raw, raw + b"\r\n", raw[:-2] if raw.endswith(b"\r\n") else raw)


# -- bdat_window ---------------------------------------------------------------------------

def test_bdat_window_frames_each_message_and_reports_its_end(kernel_impl):
    envelopes = [b"MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\n", b"MAIL FROM:<c@x>\r\nRCPT TO:<d@x>\r\n"]
    buffer, ends = kernel_impl.bdat_window(envelopes, [[b"one\nline"], [b"two\r", b"\n"]], [True, True])
    first = envelopes[0] + b"BDAT 9 LAST\r\none\r\nline"
    assert buffer == first + envelopes[1] + b"BDAT 5 LAST\r\ntwo\r\n"
    assert ends == [len(first), len(buffer)]


def test_bdat_window_sends_content_as_is_when_asked(kernel_impl):
    buffer, ends = kernel_impl.bdat_window([b"M\r\n"], [[b"a\nb\r"]], [False])
    assert buffer == b"M\r\nBDAT 4 LAST\r\na\nb\r" and ends == [len(buffer)]


def test_bdat_window_empty_content_is_bdat_0_last(kernel_impl):
    assert kernel_impl.bdat_window([b"M\r\n"], [[]], [True]) == (b"M\r\nBDAT 0 LAST\r\n", [16])
    assert kernel_impl.bdat_window([], [], []) == (b"", [])


def test_bdat_window_refuses_lists_of_different_lengths(kernel_impl):
    with pytest.raises(ValueError, match="differ in length"):
        kernel_impl.bdat_window([b"M\r\n", b"M\r\n"], [[b"x"]], [True])


@hypothesis_settings
@given(messages=st.lists(st.tuples(bodies, st.booleans()), max_size=5))
def test_bdat_window_chunk_sizes_match_their_content(kernel_impl, messages):
    envelopes = [b"MAIL FROM:<%d@x>\r\n" % i for i in range(len(messages))]
    buffer, ends = kernel_impl.bdat_window(envelopes, [m[0] for m in messages], [m[1] for m in messages])
    at = 0
    for envelope, (body, crlf), end in zip(envelopes, messages, ends):
        assert buffer[at:at + len(envelope)] == envelope
        at += len(envelope)
        head_end = buffer.index(b"\r\n", at) + 2
        size = int(buffer[at:head_end].split()[1])
        assert buffer[at:head_end] == b"BDAT %d LAST\r\n" % size and head_end + size == end
        raw = b"".join(body)
        assert buffer[head_end:end] == (reference_normalise(raw) if crlf else raw)
        at = end
    assert at == len(buffer)


# -- match_window --------------------------------------------------------------------------

def test_match_window_says_which_messages_got_a_delivery(kernel_impl):
    codes = [250, 250, 354,   # message 0: MAIL, RCPT, DATA
             250, 550, 354,   # message 1: a refused recipient
             250,             # message 2: a final reply
             251, 250, 250]   # message 3: BDAT, 251 counts as 2xx
    replies = [reply(kernel_impl, code) for code in codes]
    assert kernel_impl.match_window(replies, [b"223", b"223", b"2", b"222"]) == [True, False, True, True]


def test_match_window_wants_354_exactly_where_asked(kernel_impl):
    replies = [reply(kernel_impl, code) for code in (250, 250, 250)]
    assert kernel_impl.match_window(replies, [b"223"]) == [False]
    replies = [reply(kernel_impl, code) for code in (354, 250)]
    assert kernel_impl.match_window(replies, [b"2", b"3"]) == [False, False]


def test_match_window_counts_must_agree(kernel_impl):
    replies = [reply(kernel_impl, 250)]
    with pytest.raises(ValueError, match="1 replies for 2 expected"):
        kernel_impl.match_window(replies, [b"22"])
    with pytest.raises(ValueError, match="b'2' or b'3'"):
        kernel_impl.match_window(replies, [b"5"])
    assert kernel_impl.match_window([], []) == []


@hypothesis_settings
@given(window=st.lists(st.lists(st.tuples(st.sampled_from([200, 250, 251, 299, 300, 354, 421, 452, 550]),
                                          st.sampled_from(b"23")), min_size=1, max_size=5), max_size=6))
def test_match_window_agrees_between_implementations(both_kernel_impls, window):
    pure, compiled = both_kernel_impls
    expected = [bytes(want for _, want in message) for message in window]
    codes = [code for message in window for code, _ in message]
    verdicts = pure.match_window([pure.Reply(c, None, [""]) for c in codes], expected)
    assert verdicts == compiled.match_window([compiled.Reply(c, None, [""]) for c in codes], expected)
    assert verdicts == [all(c == 354 if w == ord("3") else 200 <= c < 300 for c, w in message) for message in window]


@hypothesis_settings
@given(body=bodies, crlf=st.booleans())
def test_encoders_agree_between_implementations(both_kernel_impls, body, crlf):
    pure, compiled = both_kernel_impls
    assert pure.data_window(body, ENVELOPE) == compiled.data_window(body, ENVELOPE)
    assert pure.bdat_window([ENVELOPE], [body], [crlf]) == compiled.bdat_window([ENVELOPE], [body], [crlf])


# -- plain_replies -------------------------------------------------------------------------

PLAIN_CASES = [
    # (bytes, expect, plain?)
    (b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n", b"223", True),
    (b"250 2.0.0 Ok: queued\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go\r\n", b"2223", True),
    (b"250\r\n354\r\n", b"23", True),  # a code alone on its line
    (b"299 x\r\n", b"2", True),
    (b"", b"", True),
    (b"250 Ok\r\n354 go\r\n", b"22", False),  # 354 where any 2xx is expected
    (b"250 Ok\r\n355 go\r\n", b"23", False),  # only exactly 354 is DATA's go-ahead
    (b"250 Ok\r\n550 no\r\n", b"22", False),
    (b"421 closing\r\n", b"2", False),
    (b"250-first\r\n250 last\r\n", b"2", False),  # a multi-line reply
    (b"250 Ok\r\n250 Ok", b"22", False),  # the second reply is not complete
    (b"250 Ok\r\n", b"22", False),  # one reply short
    (b"250 Ok\r\n250 Ok\r\n", b"2", False),  # one reply more than asked for
    (b"250 Ok\n", b"2", False),  # a bare LF ends a line for the scanner: not plain
    (b"250 O\rk\r\n", b"2", False),  # a CR inside the text
    (b"250 O\nk\r\n", b"2", False),
    (b"25 Ok\r\n", b"2", False),
    (b"2a0 Ok\r\n", b"2", False),
    (b"250Ok\r\n", b"2", False),  # no space after the code
    (b"\r\n", b"2", False),
    (b"250 " + b"x" * 60 + b"\r\n", b"2", True),
    (b"250 " + b"x" * 61 + b"\r\n", b"2", False),  # longer than max_line (64) before its CRLF
]


@pytest.mark.parametrize("data, expect, plain", PLAIN_CASES)
def test_plain_replies_accepts_only_a_deliverys_one_line_replies(kernel_impl, data, expect, plain):
    assert kernel_impl.plain_replies(data, expect, 64) is plain


def test_plain_replies_refuses_an_expectation_it_does_not_know(kernel_impl):
    with pytest.raises(ValueError):
        kernel_impl.plain_replies(b"250 Ok\r\n", b"4", 64)


def _scanned(kernel_impl, data: bytes, max_line: int):
    """What the reply scanner makes of ``data``: the replies and whether part of one is left;
    None when it refuses the bytes."""
    from smtpx.errors import SMTPProtocolError

    scanner = kernel_impl.ReplyScanner(max_line=max_line)
    try:
        return scanner.feed(data), scanner.has_pending
    except SMTPProtocolError:
        return None


reply_lines = st.lists(st.tuples(st.sampled_from(["250", "251", "354", "221", "550", "25", "2x0", "250-"]),
                                 st.sampled_from(["", " ", " Ok", " 2.1.0 Ok", " \x00\xff", " a\rb", " a\nb"]),
                                 st.sampled_from(["\r\n", "\n", ""])),
                       max_size=5)


@hypothesis_settings
@given(lines=reply_lines, expect=st.text(alphabet="23", max_size=5), max_line=st.sampled_from([4, 8, 64]))
def test_what_plain_replies_accepts_the_scanner_reads_as_those_replies(kernel_impl, lines, expect, max_line):
    """The lane acts on bytes plain_replies accepts before they are parsed: the scanner must
    then read exactly len(expect) complete replies from them, with the codes expected."""
    data = "".join(code + text + end for code, text, end in lines).encode("latin-1")
    expect_bytes = expect.encode()
    if not kernel_impl.plain_replies(data, expect_bytes, max_line):
        return
    scanned = _scanned(kernel_impl, data, max_line)
    assert scanned is not None
    replies, pending = scanned
    assert not pending and len(replies) == len(expect_bytes)
    assert kernel_impl.match_window(replies, [expect_bytes]) == [True]
    assert all(len(reply.lines) == 1 for reply in replies)


@hypothesis_settings
@given(lines=reply_lines, expect=st.text(alphabet="23", max_size=5), max_line=st.sampled_from([4, 8, 64]))
def test_plain_replies_agrees_between_implementations(both_kernel_impls, lines, expect, max_line):
    pure, compiled = both_kernel_impls
    data = "".join(code + text + end for code, text, end in lines).encode("latin-1")
    assert pure.plain_replies(data, expect.encode(), max_line) == compiled.plain_replies(data, expect.encode(), max_line)


@hypothesis_settings
@given(lines=st.lists(st.tuples(st.sampled_from(["250", "251", "299", "354"]),
                                st.sampled_from(["", " ", " Ok", " 2.1.0 Ok", " \x00\xff\x7f", " " + "y" * 70])),
                      max_size=6))
def test_a_deliverys_replies_are_plain_and_read_as_such(kernel_impl, lines):
    """Replies built to match their expectation: plain (unless a line is longer than
    max_line), and the scanner reads each as one complete reply with its code."""
    data = "".join(code + text + "\r\n" for code, text in lines).encode("latin-1")
    expect = bytes(ord("3") if code == "354" else ord("2") for code, _ in lines)
    too_long = any(len(code + text) > 64 for code, text in lines)
    assert kernel_impl.plain_replies(data, expect, 64) is not too_long
    if not too_long:
        replies, pending = _scanned(kernel_impl, data, 64)
        assert not pending and [r.code for r in replies] == [int(code) for code, _ in lines]
