"""is_plain_address (smtpx._pure.address_check and its compiled twin): the one-pass check the
RFC 5321 check and the address parser try first. Both twins on the same cases; they agree on
generated text; and whatever they call plain, the full checks accept unchanged."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

PLAIN = ["a@b", "first.last@example.test", "x+tag@mail-1.example.test", "!#$%&'*+/=?^_`{|}~-@example.test",
         "a@b.c.d.e", "0@0", "a-b@c-d-e.f", "A.B@EXAMPLE.TEST"]
NOT_PLAIN = ["", "@", "a@", "@b", "a", "a@b@c", "a..b@c", ".a@b", "a.@b", "a@.b", "a@b.", "a@b..c", "a@-b",
             "a@b-", "a@b-.c", "a@b.-c", "a b@c", " a@b", "a@b ", "<a@b>", '"a"@b', "a@[1.2.3.4]",
             "a(c)@b", "é@b", "a@é", "a@b\r", "a\x00@b", "a@b\x7f", "a@b_c", "a@b,c", "Name <a@b>",
             "a@b\n"]


@pytest.mark.parametrize("text", PLAIN)
def test_plain_addresses(kernel_impl, text):
    assert kernel_impl.is_plain_address(text) is True


@pytest.mark.parametrize("text", NOT_PLAIN)
def test_addresses_that_must_go_the_full_way(kernel_impl, text):
    assert kernel_impl.is_plain_address(text) is False


@pytest.mark.parametrize("value", [None, b"a@b", bytearray(b"a@b"), 3, ["a@b"]])
def test_anything_but_a_str_is_not_plain(kernel_impl, value):
    assert kernel_impl.is_plain_address(value) is False


def test_a_str_subclass_goes_the_full_way(kernel_impl):
    class Text(str):
        pass

    assert kernel_impl.is_plain_address(Text("a@b")) is False


_PIECES = st.sampled_from(list("aZ09.-_+@\"\\ <>[]:é\t\x7f!~") + ["example", ".test", "@b.c", "--", ".."])


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_PIECES, max_size=12).map("".join))
def test_the_twins_agree(both_kernel_impls, text):
    pure, compiled = both_kernel_impls
    assert pure.is_plain_address(text) == compiled.is_plain_address(text)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_PIECES, max_size=12).map("".join))
def test_what_is_plain_the_full_checks_accept_unchanged(kernel_impl, text):
    """The callers return a plain address as it is, without their full check: the full checks
    must say the same, or the fast path would let through what they refuse."""
    if not kernel_impl.is_plain_address(text):
        return
    from smtpx.engine import validation
    from smtpx.message import addresses

    assert validation._checked_address.__wrapped__(text, False) == text
    parsed = addresses._fast_parse(text) or tuple(addresses._Parser(text, "x").address_list())
    assert [mailbox.addr_spec for mailbox in parsed] == [text]
