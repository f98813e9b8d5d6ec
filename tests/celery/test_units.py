"""smtpx.celery's parts on their own: the JSON wire format and its Message-IDs, the settings
(pickle refused), and the shared rate limit on a real Redis (two clients, one budget)."""
from __future__ import annotations

import base64
import json
from email.message import EmailMessage

import pytest
from celery import Celery

import smtpx.celery
from smtpx.celery.rate import SharedRateLimit
from smtpx.celery.wire import decode_message, encode_message, message_id_of
from smtpx.errors import SMTPConfigError, SMTPInputError


def _email(with_id: bool = False) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "a@example.com"
    msg["To"] = "b@example.org"
    msg["Bcc"] = "hidden@example.org"
    msg["Subject"] = "hi"
    if with_id:
        msg["Message-ID"] = "<mine@example.com>"
    msg.set_content("hello\n")
    return msg


def test_an_email_message_travels_as_json_with_a_new_message_id():
    msg = _email()
    item = encode_message(msg)
    assert json.loads(json.dumps(item)) == item  # JSON only
    assert "Message-ID" not in msg  # the caller's message is not changed
    wire = decode_message(item)
    assert wire.recipients == ("b@example.org", "hidden@example.org") and wire.mail_from == "a@example.com"
    assert b"hidden@" not in wire.data  # Bcc never goes out
    assert message_id_of(wire.data) == wire.message_id == item["message_id"]
    assert wire.message_id.endswith("@example.com>")
    assert encode_message(msg)["message_id"] != wire.message_id  # unique each time


def test_a_message_id_is_kept_and_added_to_raw_bytes_only_when_absent():
    assert encode_message(_email(with_id=True))["message_id"] == "<mine@example.com>"
    with_id = b"Message-ID: <x@y>\r\nSubject: a\r\n\r\nMessage-ID: <body@line>\r\n"
    item = encode_message(("a@example.com", ["b@example.org"], with_id))
    assert item["message_id"] == "<x@y>" and base64.b64decode(item["data"]) == with_id
    without = b"Subject: a\r\n\r\nMessage-ID: <only-in-the-body>\r\n"
    item = encode_message(("a@example.com", ["b@example.org"], without))
    data = base64.b64decode(item["data"])
    assert data == f"Message-ID: {item['message_id']}\r\n".encode() + without
    lf_only = encode_message(("a@example.com", ["b@example.org"], b"Subject: a\n\nbody\n"), message_id="<given@id>")
    assert base64.b64decode(lf_only["data"]) == b"Message-ID: <given@id>\nSubject: a\n\nbody\n"


@pytest.mark.parametrize("bad", [
    "text", ("a@example.com", [], b"x"), ("a@example.com", ["b@example.org"], "not bytes"), (1, ["b"], b"x"),
])
def test_what_is_not_a_message_is_refused_before_publishing(bad):
    with pytest.raises(SMTPInputError):
        encode_message(bad)


def test_a_damaged_payload_is_refused():
    item = encode_message(("a@example.com", ["b@example.org"], b"Subject: a\r\n\r\nx\r\n"))
    for damaged in ({**item, "data": "**"}, {**item, "recipients": ["c@example.org"]}, {**item, "v": 2},
                    {k: v for k, v in item.items() if k != "key"}, ["list"]):
        with pytest.raises(SMTPInputError):
            decode_message(damaged)


def test_an_app_that_accepts_pickle_is_refused():
    app = Celery("t", broker="redis://127.0.0.1:1/0", set_as_current=False)
    app.conf.accept_content = ["json", "pickle"]
    app.conf.smtpx = {"mail_server": "mx.example.com"}
    with pytest.raises(SMTPConfigError, match="pickle"):
        smtpx.celery.install(app)
    app.conf.accept_content = ["json"]
    tasks = smtpx.celery.install(app)
    assert tasks.send_chunk.serializer == "json" and tasks.send_chunk.acks_late
    assert tasks.send_chunk.reject_on_worker_lost and tasks.send_message.reject_on_worker_lost
    settings = smtpx.celery.settings_of(app.conf)
    assert settings.redis_url == "redis://127.0.0.1:1/0" and settings.pool == {"mail_server": "mx.example.com"}
    app.conf.smtpx = {"mail_server": "mx.example.com", "size": 0}
    with pytest.raises(SMTPConfigError):
        smtpx.celery.settings_of(app.conf)


@pytest.mark.redis
@pytest.mark.postfix  # deselected with the real servers by scripts/test-lowest.sh
def test_the_rate_limit_is_one_budget_for_every_worker(redis_server):
    first = SharedRateLimit(redis_server.client(3), "smtpx", "mx:25", limit=5)
    second = SharedRateLimit(redis_server.client(3), "smtpx", "mx:25", limit=5)
    other_server = SharedRateLimit(redis_server.client(3), "smtpx", "other:25", limit=5)
    window = 1_000_000  # pinned: no clock in the test
    assert first.try_take(3, window)[0] == 3
    assert second.try_take(3, window)[0] == 2  # what the first left, not a budget of its own
    assert first.try_take(1, window)[0] == 0 and second.try_take(1, window)[0] == 0
    assert other_server.try_take(5, window)[0] == 5  # keyed by server
    assert first.try_take(5, window + 1)[0] == 5  # the next window
    assert int(redis_server.client(3).get("smtpx:rate:mx:25:1000000")) == 5


def test_dsn_options_travel_with_their_recipients():
    from smtpx.engine import EnvelopeRecipient

    data = b"Subject: dsn\r\n\r\nbody\r\n"
    rcpts = [EnvelopeRecipient("a@example.test", options="NOTIFY=SUCCESS"), "b@example.test"]
    item = json.loads(json.dumps(encode_message(("s@example.test", rcpts, data))))
    assert item["recipients"] == ["a@example.test", "b@example.test"]
    assert item["dsn"] == {"a@example.test": "NOTIFY=SUCCESS"}
    [first, second] = decode_message(item).envelope_recipients()
    assert (first.address, first.options) == ("a@example.test", "NOTIFY=SUCCESS") and second == "b@example.test"
    plain = encode_message(("s@example.test", ["b@example.test"], data))
    assert "dsn" not in plain and decode_message(plain).envelope_recipients() == ["b@example.test"]


@pytest.mark.parametrize("dsn", [{"stranger@example.test": "NOTIFY=NEVER"}, {"a@example.test": 5}, ["NOTIFY"]])
def test_a_damaged_dsn_map_is_refused(dsn):
    item = encode_message(("s@example.test", ["a@example.test"], b"Subject: x\r\n\r\nbody\r\n"))
    item["dsn"] = dsn
    with pytest.raises(SMTPInputError, match="dsn"):
        decode_message(item)
