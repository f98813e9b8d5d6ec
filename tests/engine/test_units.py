"""The small pure helpers behind the engine: xtext, capability parsing, address checks."""
import pytest

from smtpx.engine.capabilities import Capabilities
from smtpx.engine.commands import recipient_params, xtext
from smtpx.engine.validation import check_address
from smtpx.errors import SMTPInputError


@pytest.mark.parametrize("value, encoded", [
    ("plain", "plain"), ("a+b", "a+2Bb"), ("a=b", "a+3Db"), ("a b", "a+20b"), ("é", "+C3+A9"), ("~!", "~!"),
])
def test_xtext(value, encoded):
    assert xtext(value) == encoded


def test_capabilities_merge_both_auth_forms_and_ignore_blank_lines():
    caps = Capabilities.from_ehlo(["mx hello", "AUTH LOGIN", "AUTH=PLAIN XOAUTH2", "", "size 5"])
    assert caps.auth_mechanisms == {"LOGIN", "PLAIN", "XOAUTH2"}
    assert caps.raw["AUTH"] == "LOGIN PLAIN XOAUTH2"
    assert caps.size_limit == 5 and caps.has("Size")


def test_recipient_params_keep_unknown_extensions():
    assert recipient_params("X-PRIORITY=5 NOTIFY never", "r") == [("X-PRIORITY", "5"), ("NOTIFY", "NEVER")]


def test_address_errors_name_the_field():
    with pytest.raises(SMTPInputError, match="recipient 3"):
        check_address("a@b@c", "recipient 3")
    assert check_address("<a@b.example>", "x") == "a@b.example"
    assert check_address("<>", "x", null_allowed=True) == ""


# What RFC 5321 (4.1.2) allows in each part of a mailbox, with RFC 6531's non-ASCII added; the
# module writes its classes as what they exclude, so these lists check them from the other side.
_ATEXT = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~")
_QTEXT = {chr(c) for c in range(0x20, 0x7f)} - {'"', "\\"}
_LET_DIG = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_NON_ASCII = ["\u0080", "\u00e9", "\u4e2d", "\ud7ff", "\ue000", "\uffff", "\U00010000", "\U0010ffff"]


@pytest.mark.parametrize("char", [chr(c) for c in range(0x80)] + _NON_ASCII)
def test_each_character_is_allowed_exactly_where_rfc_5321_and_6531_allow_it(char):
    from smtpx.engine import validation

    non_ascii = ord(char) > 0x7f
    assert bool(validation._DOT_STRING.fullmatch(char)) == (non_ascii or char in _ATEXT)
    assert bool(validation._QUOTED_STRING.fullmatch(f'"{char}"')) == (non_ascii or char in _QTEXT)
    letter_digit = non_ascii or char in _LET_DIG
    assert bool(validation._DOMAIN.fullmatch(char)) == letter_digit
    assert bool(validation._DOMAIN.fullmatch(f"a{char}b")) == (letter_digit or char in "-.")  # "." parts labels


@pytest.mark.parametrize("address", ["a@b", "first.last@example.test", "x+tag@mail-1.example.test",
                                     "!#$%&'*+/=?^_`{|}~-@example.test"])
def test_usual_addresses_take_the_one_pass_check(address):
    from smtpx.kernels import is_plain_address

    assert is_plain_address(address)
    assert check_address(address, "x") == address


@pytest.mark.parametrize("address,problem", [("a..b@example.test", "invalid local part"),
                                             ("a@-example.test", "invalid domain"),
                                             ("a@example-.test", "invalid domain"),
                                             (".a@example.test", "invalid local part"),
                                             ("a@b@example.test", "exactly one '@'"),
                                             ("a b@example.test", "invalid local part"),
                                             ("a@exa\rmple.test", "CR")])
def test_what_the_one_match_check_passes_over_is_still_refused(address, problem):
    with pytest.raises(SMTPInputError, match=problem):
        check_address(address, "the address")


@pytest.mark.parametrize("value", ["a\x00b", "a\tb", "a\rb", "a\nb", "a\x1fb", "a\x7fb", "\x0b"])
def test_control_characters_are_refused_past_the_printable_shortcut(value):
    from smtpx.validators import check_no_controls

    with pytest.raises(SMTPInputError, match="contains"):
        check_no_controls(value, "the value")
    if value != "a\tb":
        with pytest.raises(SMTPInputError, match="contains"):
            check_no_controls(value, "the value", allow_tab=True)
    else:
        assert check_no_controls(value, "the value", allow_tab=True) == value
    assert check_no_controls("a\u00a0b\u2028", "the value") == "a\u00a0b\u2028"  # not C0 or DEL: allowed
