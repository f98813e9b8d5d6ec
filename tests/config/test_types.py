"""The reference's value types: Header, MessageRecipient, Firewall."""
from __future__ import annotations

import dataclasses

import pytest

import smtpx
from smtpx.enums import FirewallType, RecipientType
from smtpx.errors import SMTPInputError
from smtpx.types import Firewall, Header, MessageRecipient


def test_header():
    assert Header() == Header("", "")
    h = Header("X-A", "1")
    assert (h.field, h.value) == ("X-A", "1")
    assert smtpx.Header is Header


def test_message_recipient():
    r = MessageRecipient("a@b.c")
    assert (r.address, r.name, r.options, r.recipient_type) == ("a@b.c", "", "", RecipientType.TO)
    assert MessageRecipient("a@b.c", recipient_type=2).recipient_type is RecipientType.BCC
    with pytest.raises(SMTPInputError):
        MessageRecipient("a@b.c", recipient_type=3)


@pytest.mark.parametrize("kind, port", [(0, 0), (1, 80), (2, 1080), (3, 1080), (10, 1080)])
def test_firewall_type_sets_the_default_port(kind, port):
    fw = Firewall()
    fw.firewall_type = kind
    assert fw.port == port and fw.firewall_type == FirewallType(kind)
    fw.port = 3128
    assert fw.port == 3128  # a port set afterwards wins
    assert Firewall(firewall_type=kind).port == port
    assert Firewall(firewall_type=kind, port=9050).port == 9050


def test_firewall_validation_and_fields():
    with pytest.raises(SMTPInputError):
        Firewall(firewall_type=4)
    fw = Firewall()
    with pytest.raises(SMTPInputError):
        fw.firewall_type = 5
    with pytest.raises(SMTPInputError):
        fw.port = 70000
    assert [f.name for f in dataclasses.fields(Firewall)] == [
        "auto_detect", "firewall_type", "host", "password", "port", "user"]
    assert Firewall(host="p", user="u", password="pw") == Firewall(host="p", user="u", password="pw")
