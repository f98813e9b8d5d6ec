"""The property table (smtpx.facade.properties): the settable properties, their defaults and
reset groups come from it; the message value a send composes is built from it once."""
from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import smtpx
from smtpx.dkim import DKIMSigner
from smtpx.enums import Importance
from smtpx.facade import base
from smtpx.facade.properties import BODY, CONNECTION, HEADERS, PROPERTIES, Properties, Prop
from smtpx.message.spec import PROPERTY_FIELDS, MessageSpec

from tests.servers.scripted import ScriptedServer

ROWS = {row.name: row for row in PROPERTIES}


def test_the_table_holds_every_settable_property():
    settable = {name for name in dir(smtpx.SMTP) if smtpx.SMTP._is_settable(name)}
    assert settable == set(ROWS)
    assert all(isinstance(getattr(smtpx.SMTP, name), property) for name in ROWS)  # help(), IDEs
    assert all(isinstance(getattr(smtpx.SMTP, name), Prop) for name in ROWS)


def test_defaults_come_from_the_table():
    smtp = smtpx.SMTP()
    for row in PROPERTIES:
        if row.group is None:
            continue  # a view: send_to / cc / bcc of message_recipients, ssl_enabled of ssl_start_mode
        value = getattr(smtp, row.name)
        if row.new is not None:
            assert value == row.new(smtp), row.name
        else:
            assert value == row.default and type(value) is type(row.default), row.name


# One non-default value per stored row.
CHANGED = {
    "allow_extensions": False, "auth_mechanism": 2, "firewall": smtpx.Firewall(host="proxy"),
    "local_host": "127.0.0.1", "mail_port": 2525, "mail_server": "mx.example", "password": "pw",
    "oauth_token": "tok", "token_provider": str,
    "ssl_accept_server_cert": None, "ssl_cert": None, "ssl_context": None, "ssl_provider": 1,
    "ssl_start_mode": 1, "timeout": 5, "user": "u",
    "from_": "f@example.com", "message_recipients": [smtpx.MessageRecipient("r@example.com")],
    "reply_to": "rt@example.com", "return_path": "<>", "delivery_notification_to": "d@example.com",
    "read_receipt_to": "rr@example.com", "subject": "s", "message_date": "", "message_id": "x@y",
    "importance": 1, "priority": 1, "sensitivity": 1, "other_headers": "X-A: 1",
    "message_text": "text", "message": b"raw",
    "dkim": DKIMSigner(domain="example.com", selector="s", private_key=Ed25519PrivateKey.generate()),
}


def test_every_stored_row_has_a_group_and_a_changed_value_here():
    stored = {row.name for row in PROPERTIES if row.group is not None}
    assert stored == set(CHANGED)
    assert {row.group for row in PROPERTIES} == {CONNECTION, HEADERS, BODY, None}


def test_reset_headers_resets_the_headers_group_only():
    smtp = smtpx.SMTP(**CHANGED)
    fresh = smtpx.SMTP()
    smtp.reset_headers()
    for row in PROPERTIES:
        if row.group is None:
            continue
        if row.group == HEADERS:
            assert getattr(smtp, row.name) == getattr(fresh, row.name), row.name
        else:
            assert getattr(smtp, row.name) == getattr(smtpx.SMTP(**{row.name: CHANGED[row.name]}), row.name)


def test_the_message_value_holds_the_properties_of_the_same_names():
    props = Properties()
    props._init_properties()
    for name in PROPERTY_FIELDS:
        setattr(props, name, CHANGED[name])
    props.message_recipients = CHANGED["message_recipients"]
    spec = props._message_spec()
    assert isinstance(spec, MessageSpec)
    for name in PROPERTY_FIELDS:
        assert getattr(spec, name) == getattr(props, name), name
    assert [mailbox.addr_spec for _, mailbox, _ in spec.recipients] == ["r@example.com"]
    assert spec.importance is Importance.HIGH
    props._config.config("Charset=ISO-8859-1")
    assert props._message_spec().settings.charset == "ISO-8859-1"  # config changes reach the next value


@pytest.mark.parametrize("connected", [False, True])
def test_send_composes_the_message_once(server, make_smtp, monkeypatch, connected):
    calls = []
    real = base.compose_message

    def counting(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(base, "compose_message", counting)
    smtp = make_smtp(server, message_text="hello")
    if connected:
        smtp.connect()
    smtp.send()
    assert len(calls) == 1 and len(server.messages) == 1


@pytest.mark.parametrize("has_8bitmime, encoding", [(True, b"8bit"), (False, b"quoted-printable")])
def test_8bit_text_composed_before_connecting_follows_the_servers_8bitmime(make_smtp, has_8bitmime, encoding):
    """Composed before connecting (in the form any server takes), then made fit for what EHLO
    said: 8-bit text goes as it is to an 8BITMIME server."""
    with ScriptedServer(drop_capabilities=[] if has_8bitmime else ["8BITMIME"]) as server:
        smtp = make_smtp(server, subject="Grüße", message_text="Grüße aus Köln, and a longer line of plain ASCII text\n")
        smtp.send()
        data = server.messages[0].data
    assert b"Content-Transfer-Encoding: " + encoding + b"\r\n" in data
    assert (b"Gr\xc3\xbc\xc3\x9fe aus K\xc3\xb6ln" in data) is has_8bitmime
    assert smtp.config("TransferText").encode("utf-8") == data.split(b"\r\n\r\n", 1)[1]
