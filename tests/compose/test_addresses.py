"""Strict address parsing and formatting (smtpx.message.addresses)."""
from __future__ import annotations

import email.header

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smtpx.message.addresses import (
    Mailbox,
    _fast_parse,
    _Parser,
    format_address_list,
    format_display_name,
    format_mailbox,
    parse_address_list,
    parse_mailbox,
    parse_reverse_path,
)
from smtpx.errors import SMTPInputError


@pytest.mark.parametrize("text, expected", [
    ("a@b.c", [("", "a@b.c")]),
    ('"Friendly Name" <address@company.com>', [("Friendly Name", "address@company.com")]),
    ("Friendly Name <address@company.com>", [("Friendly Name", "address@company.com")]),
    ('"a@b"@c.d', [("", '"a@b"@c.d')]),
    ('"john smith"@example.com', [("", '"john smith"@example.com')]),
    ("John Q. Public <jqp@x.org>, b@c.d", [("John Q. Public", "jqp@x.org"), ("", "b@c.d")]),
    ('"Smith, John" <js@x.org>', [("Smith, John", "js@x.org")]),
    ('"say \\"hi\\"" <q@x.org>', [('say "hi"', "q@x.org")]),
    ("a (comment (nested)) @ b.c", [("", "a@b.c")]),
    ("x@[192.0.2.1]", [("", "x@[192.0.2.1]")]),
    (" a@b.c , , c@d.e,", [("", "a@b.c"), ("", "c@d.e")]),
    ("Jöhn Müller <jm@x.de>", [("Jöhn Müller", "jm@x.de")]),
    ("jörg@bücher.de", [("", "jörg@bücher.de")]),
    ("<a@b.c>", [("", "a@b.c")]),
    ("a+tag@b.c\t", [("", "a+tag@b.c")]),
])
def test_valid_addresses(text, expected):
    assert parse_address_list(text) == [Mailbox(*e) for e in expected]


@pytest.mark.parametrize("text, why", [
    ("a@b@c", "more than one '@'"),
    ("<a@b@c>", "more than one '@'"),
    ('"abc@d.e', "unbalanced quote"),
    ('"Name <a@b.c>', "unbalanced quote"),
    ("<a@b.c", "unbalanced angle"),
    ("a@b.c>", "unbalanced angle"),
    ("Name <a@b.c", "unbalanced angle"),
    ("(comment a@b.c", "unbalanced parenthesis"),
    ("x@[1.2.3.4", "unbalanced square"),
    ("a@b.c\r\nBcc: evil@x.org", "CR"),
    ("a@b.c\nx", "LF"),
    ("a\x00@b.c", "NUL"),
    ("a\x01@b.c", "control character"),
    ("a\x7f@b.c", "DEL"),
    ("a..b@c.d", "bad dots"),
    (".a@c.d", "bad dots"),
    ("a@c..d", "bad dots"),
    ("Team: a@b.c, d@e.f;", "group"),
    ("joe", "missing '@'"),
    ("Joe <joe>", "missing '@'"),
    ("<@relay.x:a@b.c>", "source route"),
    ("a b@c.d", "white space inside"),
    ("a@", "missing domain"),
    ("@b.c", "missing local part"),
    ("<>", "empty address"),
    ("a@b.c d@e.f", "unexpected"),
])
def test_invalid_addresses(text, why):
    with pytest.raises(SMTPInputError, match=why) as info:
        parse_address_list(text, "SendTo")
    assert "SendTo" in str(info.value)
    assert info.value.code == 10022


def test_two_addresses_in_a_single_slot():
    with pytest.raises(SMTPInputError, match="exactly one address"):
        parse_mailbox("<a@b.c>,<d@e.f>", "From")
    with pytest.raises(SMTPInputError, match="exactly one address"):
        parse_mailbox("", "From")


def test_reverse_path():
    assert parse_reverse_path("<>") == ""
    assert parse_reverse_path("Bounce <b@x.org>") == "b@x.org"
    with pytest.raises(SMTPInputError):
        parse_reverse_path("a@b@c")


def test_non_strings_are_refused():
    with pytest.raises(SMTPInputError):
        parse_address_list(b"a@b.c")  # type: ignore[arg-type]


@pytest.mark.parametrize("name, written", [
    ("Plain Name", "Plain Name"),
    ("John Q. Public", '"John Q. Public"'),
    ("Smith, John", '"Smith, John"'),
    ('say "hi"\\', '"say \\"hi\\"\\\\"'),
    ("Jöhn", "Jöhn"),
])
def test_display_name_formatting(name, written):
    assert format_display_name(name) == written
    assert parse_mailbox(format_mailbox(Mailbox(name, "a@b.c"))) == Mailbox(name, "a@b.c")


def test_non_ascii_name_needing_quotes_becomes_encoded_words():
    written = format_display_name("Müller, Hans")
    assert written.isascii() and "," not in written
    decoded = email.header.decode_header(written)
    assert b"".join(p for p, _ in decoded).decode("utf-8") == "Müller, Hans"
    long = format_display_name("Ä, " * 40)
    assert all(len(w) <= 75 for w in long.split(" "))
    assert b"".join(p for p, _ in email.header.decode_header(long)).decode() == "Ä, " * 40


def test_format_address_list():
    boxes = parse_address_list('a@b.c, "Smith, J" <j@x.org>')
    assert format_address_list(boxes) == 'a@b.c, "Smith, J" <j@x.org>'


_ALPHABET = st.sampled_from(list('ab.@<>", ()\\:;[]xé\t') + ["Name ", "a@b.c", "<a@b.c>", '"q q"'])


@settings(max_examples=400, deadline=None)
@given(st.lists(_ALPHABET, max_size=12).map("".join))
def test_fast_path_agrees_with_the_full_parser(text):
    fast = _fast_parse(text)
    if fast is None:
        return
    assert fast == tuple(_Parser(text, "x").address_list())


def test_an_address_is_parsed_once_whatever_the_label():
    """The cache is keyed by the text alone: send_batch labels each message's addresses with
    its index ("send_batch message 17 mail_from"), and the sender of a whole mailing must
    not be parsed again for every message."""
    from smtpx.message import addresses

    text = "Once Only <once.only@example.test>"
    first = addresses.parse_mailbox(text, "send_batch message 1 mail_from")
    assert addresses.parse_mailbox(text, "send_batch message 2 mail_from") is first


def test_a_refused_address_names_the_label_of_each_call():
    for label in ("send_batch message 1 recipient", "send_batch message 2 recipient"):
        with pytest.raises(SMTPInputError) as refused:
            parse_mailbox("a@@b.example", label)
        assert refused.value.description.startswith(f"{label}: ")


def test_the_address_cache_stays_bounded():
    from smtpx.message import addresses

    for index in range(addresses._PARSED_MAX + 10):
        parse_mailbox(f"bounded{index}@example.test", "x")
    assert 0 < len(addresses._PARSED) <= addresses._PARSED_MAX
    assert parse_mailbox("bounded1@example.test", "x").addr_spec == "bounded1@example.test"


_ADDRESS_PIECES = st.sampled_from(list("aZ09.-_+@\" <>[]é\t!~") + ["example", ".test", "@b.c", "--", "..", "x" * 30])


@settings(max_examples=600, deadline=None)
@given(st.lists(_ADDRESS_PIECES, max_size=14).map("".join))
def test_plain_addr_spec_is_what_the_full_parse_gives(text):
    """send_raw's and send_batch's recipients take plain_addr_spec's one step when it answers:
    it must answer only what the full parse (every check, the length limits too) gives."""
    from smtpx.errors import SMTPInputError
    from smtpx.message.addresses import _parse, plain_addr_spec

    fast = plain_addr_spec(text)
    if fast is None:
        return
    assert fast == text
    try:
        parsed = _parse(text, "x")
    except SMTPInputError as error:  # pragma: no cover - the failure this test exists to catch
        raise AssertionError(f"plain_addr_spec accepted {text!r}, which the parse refuses: {error}") from None
    assert [mailbox.addr_spec for mailbox in parsed] == [text]


@pytest.mark.parametrize("text,plain", [
    ("a@example.test", True),
    ("first.last+tag@mail.example.test", True),
    (" a@example.test", False),  # white space: the full parse strips it
    ("Name <a@example.test>", False),
    ("<a@example.test>", False),
    ("a@[192.0.2.1]", False),
    ("é@example.test", False),
    ("x" * 60 + "@b.cd", False),  # longer than 64: the length limits are the full parse's
    ("x" * 57 + "@b.cd", True),
    (b"a@example.test", False),
    (None, False),
])
def test_plain_addr_spec_answers_only_the_usual_address(text, plain):
    from smtpx.message.addresses import plain_addr_spec

    found = plain_addr_spec(text)
    assert found == (text if plain else None)


@settings(max_examples=600, deadline=None)
@given(st.lists(_ADDRESS_PIECES, max_size=12).map(lambda pieces: "<" + "".join(pieces) + ">"))
def test_an_angle_address_parses_as_the_full_parser_says(text):
    """"<addr>" of a plain address takes a short way in _parse: it must give what the full
    parser gives (and refuse what it refuses)."""
    from smtpx.errors import SMTPInputError
    from smtpx.message.addresses import _parse

    try:
        expected = [(m.name, m.addr_spec) for m in _Parser(text, "x").address_list()]
    except SMTPInputError:
        with pytest.raises(SMTPInputError):
            _parse(text, "x")
        return
    try:
        got = [(m.name, m.addr_spec) for m in _parse(text, "x")]
    except SMTPInputError:  # the length limits, which only _parse checks
        return
    assert got == expected


def test_an_angle_address_is_its_address():
    assert parse_mailbox("<a.b@example.test>") == Mailbox("", "a.b@example.test")
    assert parse_mailbox("  <a@example.test> ") == Mailbox("", "a@example.test")
    with pytest.raises(SMTPInputError):
        parse_mailbox("<a@@example.test>")
