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
