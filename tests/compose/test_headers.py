"""Headers and envelope composed from the message properties and config."""
from __future__ import annotations

import email
import email.header
import email.policy
import email.utils
import os
import re
import time

import pytest
from tests.compose.compose_helpers import Msg, compose

from smtpx.message.compose import format_date
from smtpx.enums import Importance, Priority, RecipientType, Sensitivity
from smtpx.errors import SMTPConfigError, SMTPInputError
from smtpx.types import MessageRecipient


def basic(**props) -> Msg:
    m = Msg(from_='"Sender" <sender@example.com>', send_to="to@example.org", message_text="hi\n")
    for k, v in props.items():
        setattr(m, k, v)
    return m


def headers_of(msg) -> dict[str, str]:
    return {h.field: h.value for h in msg.headers}


def parsed(msg):
    return email.message_from_bytes(b"".join(msg.iter_bytes()), policy=email.policy.default)


def test_from_to_cc_in_headers_bcc_only_in_envelope():
    m = basic(cc="Cc One <cc1@example.org>, cc2@example.net", bcc="Hidden <hidden@example.org>")
    msg = compose(m)
    h = headers_of(msg)
    assert h["From"] == "Sender <sender@example.com>"
    assert h["To"] == "to@example.org"
    assert h["Cc"] == "Cc One <cc1@example.org>, cc2@example.net"
    # No Bcc field and the hidden address nowhere (field names: the Message-ID is random hex,
    # which may hold "bcc").
    assert "hidden" not in msg.headers_string.lower()
    assert "bcc" not in [h.field.lower() for h in msg.headers]
    assert msg.envelope.mail_from == "sender@example.com"
    assert [(r.address, r.kind) for r in msg.envelope.recipients] == [
        ("to@example.org", RecipientType.TO), ("cc1@example.org", RecipientType.CC),
        ("cc2@example.net", RecipientType.CC), ("hidden@example.org", RecipientType.BCC)]


def test_header_order_and_block_ends_with_empty_line():
    m = basic(subject="Hello", reply_to="r@example.org", importance=1, priority=2, sensitivity=3,
              delivery_notification_to="dn@example.org", read_receipt_to="rr@example.org",
              other_headers="X-One: 1\r\nX-Two: 2")
    msg = compose(m)
    names = [h.field for h in msg.headers]
    assert names == ["From", "To", "Subject", "Date", "Message-ID", "Reply-To", "Importance", "Priority",
                     "Sensitivity", "Return-Receipt-To", "Disposition-Notification-To", "X-One", "X-Two"]
    assert msg.headers_string.endswith("\r\nX-Two: 2\r\n\r\n")
    assert b"".join(msg.iter_bytes()) == (msg.headers_string + msg.transfer_text).encode()


@pytest.mark.parametrize("prop, value, header, text", [
    ("importance", Importance.HIGH, "Importance", "high"),
    ("importance", 2, "Importance", "normal"),
    ("importance", 3, "Importance", "low"),
    ("priority", Priority.NORMAL, "Priority", "normal"),
    ("priority", 2, "Priority", "urgent"),
    ("priority", 3, "Priority", "non-urgent"),
    ("sensitivity", Sensitivity.PERSONAL, "Sensitivity", "Personal"),
    ("sensitivity", 2, "Sensitivity", "Private"),
    ("sensitivity", 3, "Sensitivity", "Company-Confidential"),
])
def test_importance_priority_sensitivity(prop, value, header, text):
    m = basic(**{prop: value})
    assert headers_of(compose(m))[header] == text
    assert getattr(m, prop) == value
    setattr(m, prop, 0)
    assert header not in headers_of(compose(m))


@pytest.mark.parametrize("prop", ["importance", "priority", "sensitivity"])
@pytest.mark.parametrize("bad", [4, -1, "high", True, None])
def test_bad_enum_values(prop, bad):
    m = basic()
    with pytest.raises(SMTPInputError):
        setattr(m, prop, bad)


def test_date_star_empty_and_given():
    before = time.time()
    msg = compose(basic())
    date = email.utils.parsedate_to_datetime(headers_of(msg)["Date"])
    assert before - 2 <= date.timestamp() <= time.time() + 1
    assert re.fullmatch(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [+-]\d{4}",
                        headers_of(msg)["Date"])
    assert "Date" not in headers_of(compose(basic(message_date="")))
    assert headers_of(compose(basic(message_date="Fri, 1 Mar 96 21:24:52 EST")))["Date"] == \
        "Fri, 1 Mar 96 21:24:52 EST"


def test_format_date_fixed_time():
    text = format_date(0)
    assert email.utils.parsedate_to_datetime(text).timestamp() == 0


@pytest.mark.parametrize("algorithm, hexlen", [("MD5", 32), ("SHA1", 40), ("SHA256", 64)])
def test_message_id_star(algorithm, hexlen):
    m = basic()
    m._config.config(f"MessageIdAlgorithm={algorithm.lower()}")
    ids = {headers_of(compose(m))["Message-ID"] for _ in range(200)}
    assert len(ids) == 200
    for mid in ids:
        assert re.fullmatch(r"<[0-9a-f]{%d}@example\.com>" % hexlen, mid)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
# Under pytest-xdist the worker has threads, and Python 3.12+ warns at any fork: the child here
# only makes one id and writes it to a pipe, taking no lock another thread could hold.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_message_ids_differ_across_fork():
    """A forked child shares the parent's seed and counter; its process id keeps its ids apart
    (smtpx keeps the pid, read once, and the hashes seeded with it up to date with
    os.register_at_fork)."""
    from smtpx.message import compose as composing

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: one id to the parent, then out without running pytest's exit
        try:
            os.write(write_end, composing.make_message_id("MD5", "example.com").encode())
        finally:
            os._exit(0)
    os.close(write_end)
    child_id = os.read(read_end, 200).decode()
    os.close(read_end)
    os.waitpid(pid, 0)
    parent_id = composing.make_message_id("MD5", "example.com")
    assert re.fullmatch(r"<[0-9a-f]{32}@example\.com>", child_id)
    assert child_id != parent_id


def test_message_id_domain_falls_back_to_hello():
    m = basic(from_="Sender <s@[192.0.2.1]>")
    m._config.config("Hello=mail.client.test")
    assert headers_of(compose(m))["Message-ID"].endswith("@mail.client.test>")


def test_message_id_given_and_empty():
    assert headers_of(compose(basic(message_id="abc@x.org")))["Message-ID"] == "<abc@x.org>"
    assert headers_of(compose(basic(message_id="<abc@x.org>")))["Message-ID"] == "<abc@x.org>"
    assert "Message-ID" not in headers_of(compose(basic(message_id="")))
    with pytest.raises(SMTPInputError):
        basic(message_id="a b@c")


def test_receipt_headers():
    msg = compose(basic(delivery_notification_to="Ops <ops@example.org>", read_receipt_to="me@example.org"))
    h = headers_of(msg)
    assert h["Return-Receipt-To"] == "Ops <ops@example.org>"
    assert h["Disposition-Notification-To"] == "me@example.org"


def test_return_path_is_mail_from():
    assert compose(basic(return_path="bounces@example.net")).envelope.mail_from == "bounces@example.net"
    assert compose(basic(return_path="<>")).envelope.mail_from == ""
    assert compose(basic()).envelope.mail_from == "sender@example.com"
    with pytest.raises(SMTPInputError):
        basic(return_path="a@b@c")


def test_non_ascii_subject_is_encoded_and_needs_no_smtputf8():
    subject = "Grüße aus Köln — " + "sehr lang " * 12
    msg = compose(basic(subject=subject))
    assert msg.headers_string.isascii() and not msg.needs_smtputf8
    assert str(parsed(msg)["Subject"]) == subject
    assert all(len(line) <= 80 for line in msg.headers_string.split("\r\n"))


def test_non_ascii_address_needs_smtputf8():
    msg = compose(basic(send_to="jörg@bücher.de"))
    assert msg.needs_smtputf8 and msg.content().smtputf8
    assert "To: to@example.org, jörg@bücher.de\r\n" in msg.headers_string  # raw UTF-8 (RFC 6532), never encoded
    assert not compose(basic()).needs_smtputf8


def test_non_ascii_display_names_round_trip():
    m = basic(from_="Jöhn Døe <j@example.com>", cc='"Müller, Hans" <h@example.de>')
    msg = compose(m)
    assert msg.headers_string.isascii()
    p = parsed(msg)
    assert p["From"].addresses[0].display_name == "Jöhn Døe"
    assert p["Cc"].addresses[0].display_name == "Müller, Hans"


def test_max_header_length_and_fold_headers():
    many = ", ".join(f"person{i} <person{i}@example.org>" for i in range(12))
    m = basic(send_to=many, subject="word " * 40)
    m._config.config("MaxHeaderLength=50")
    msg = compose(m)
    lines = msg.headers_string.split("\r\n")
    assert all(len(line) <= 50 for line in lines if not line.startswith("Message-ID"))
    assert headers_of(msg)["To"] == "to@example.org, " + many  # unfolding gives the value back
    m._config.config("FoldHeaders=False")
    unfolded = compose(m).headers_string
    assert f"To: to@example.org, {many}\r\n" in unfolded and "\r\n " not in unfolded


def test_charset_used_for_encoded_words():
    m = basic(subject="Café crème")
    m._config.config("Charset=ISO-8859-1")
    msg = compose(m)
    assert "=?iso-8859-1?" in msg.headers_string
    assert str(parsed(msg)["Subject"]) == "Café crème"
    m.subject = "日本語"
    with pytest.raises(SMTPInputError):
        compose(m)
    with pytest.raises(SMTPConfigError):
        m._config.config("Charset=no-such-charset")


@pytest.mark.parametrize("prop", ["subject", "from_", "send_to", "cc", "bcc", "reply_to", "message_date",
                                  "return_path", "read_receipt_to", "delivery_notification_to"])
@pytest.mark.parametrize("bad", ["x@y.z\r\nBcc: evil@x.org", "x@y.z\nX: 1", "x@y.z\x00"])
def test_line_breaks_and_nul_are_refused_on_set(prop, bad):
    m = basic()
    before = getattr(m, prop)
    with pytest.raises(SMTPInputError):
        setattr(m, prop, bad)
    assert getattr(m, prop) == before


def test_encoded_word_hiding_crlf_is_refused():
    import base64

    hidden = "=?utf-8?b?" + base64.b64encode(b"hi\r\nBcc: evil@x.org").decode() + "?="
    with pytest.raises(SMTPInputError, match="hides"):
        basic(subject=hidden)
    with pytest.raises(SMTPInputError, match="hides"):
        basic(other_headers="X-Thing: " + hidden)
    assert compose(basic(subject="=?utf-8?q?fine?=")).headers_string.count("Subject") == 1


def test_other_headers_validation():
    for bad in ["no colon here", ": empty name", "Bad Name: x", " continuation first", "X: a\x00b"]:
        with pytest.raises(SMTPInputError):
            basic(other_headers=bad)
    m = basic(other_headers="X-Folded: one\r\n two\nX-Next: 3\n")
    h = headers_of(compose(m))
    assert h["X-Folded"] == "one two" and h["X-Next"] == "3"


def test_other_headers_starting_with_empty_line_replace_computed_headers():
    m = basic(subject="ignored", other_headers="\r\nFrom: Other <o@example.org>\r\nSubject: mine")
    msg = compose(m)
    assert msg.headers_string == "From: Other <o@example.org>\r\nSubject: mine\r\n\r\n"
    assert msg.envelope.mail_from == "sender@example.com"  # the envelope still comes from the properties


def test_raw_message_with_only_an_empty_line_as_other_headers_is_sent_exactly():
    raw = b"From: a@example.org\r\nSubject: prebuilt\r\n\r\nbody \xff bytes\r\n"
    m = basic(message=raw, other_headers="\r\n")
    msg = compose(m)
    assert msg.headers_string == ""
    assert b"".join(msg.iter_bytes()) == raw
    assert msg.size == len(raw) and msg.eight_bit


def test_missing_from_and_recipients():
    m = Msg(send_to="to@example.org")
    with pytest.raises(SMTPInputError) as info:
        compose(m)
    assert info.value.code == 164
    m = Msg(from_="s@example.com")
    with pytest.raises(SMTPInputError) as info:
        compose(m)
    assert info.value.code == 165


def test_allow_empty_to():
    m = Msg(from_="s@example.com", cc="c@example.org", bcc="b@example.org")
    with pytest.raises(SMTPInputError, match="AllowEmptyTo") as info:
        compose(m)
    assert info.value.code == 165
    m._config.config("AllowEmptyTo=yes")
    msg = compose(m)
    assert [r.address for r in msg.envelope.recipients] == ["c@example.org", "b@example.org"]
    assert "To:" not in msg.headers_string


def test_recipients_stay_in_step():
    m = basic()
    m.send_to = "Two <two@example.org>"
    assert m.send_to == "to@example.org, Two <two@example.org>"  # setting adds (the reference's Note)
    m.send_to = "two@example.org"  # already there: not added twice
    assert len(m.message_recipients) == 2
    m.cc = "c@example.org"
    m.bcc = "b@example.org"
    assert [(r.address, r.recipient_type) for r in m.message_recipients] == [
        ("to@example.org", RecipientType.TO), ("two@example.org", RecipientType.TO),
        ("c@example.org", RecipientType.CC), ("b@example.org", RecipientType.BCC)]
    m.message_recipients.append(MessageRecipient("extra@example.org", "Extra", "NOTIFY=SUCCESS", RecipientType.CC))
    assert m.cc == "c@example.org, Extra <extra@example.org>"
    msg = compose(m)
    assert headers_of(msg)["Cc"] == "c@example.org, Extra <extra@example.org>"
    assert msg.envelope.recipients[-1].options == "NOTIFY=SUCCESS"
    del m.message_recipients[0]
    assert m.send_to == "Two <two@example.org>"
    m.send_to = ""
    assert m.send_to == "" and len(m.message_recipients) == 3
    m.message_recipients.clear()
    assert m.cc == m.bcc == ""
    m.message_recipients = [MessageRecipient("x@example.org")]
    assert m.send_to == "x@example.org"
    with pytest.raises(SMTPInputError):
        m.message_recipients.append(MessageRecipient("x@example.org", options="NOTIFY=NEVER\r\nRSET"))
    with pytest.raises(SMTPInputError):
        m.message_recipients.append(42)  # type: ignore[arg-type]
    with pytest.raises(SMTPInputError):
        MessageRecipient("x@example.org", recipient_type=7)


def test_bad_recipient_added_directly_is_refused_at_compose():
    m = basic()
    m.message_recipients.append(MessageRecipient("a@b@c"))
    with pytest.raises(SMTPInputError, match="more than one"):
        compose(m)


def test_duplicate_envelope_addresses_are_sent_once():
    m = basic(cc="to@example.org", bcc="to@example.org")
    assert [r.address for r in compose(m).envelope.recipients] == ["to@example.org"]


def test_reset_headers():
    m = basic(subject="s", cc="c@example.org", other_headers="X: 1", importance=1, message_date="",
              message_id="a@b")
    m.reset_headers()
    assert (m.from_, m.send_to, m.cc, m.subject, m.other_headers) == ("", "", "", "", "")
    assert (m.message_date, m.message_id, m.importance) == ("*", "*", 0)
    assert len(m.message_recipients) == 0 and m.message_text == "hi\n"


def test_message_headers_properties_show_what_will_be_sent():
    m = basic(subject="Grüße", message_text="8-bit body ü\n")
    m.message_id = "fixed@example.com"
    m.message_date = "Fri, 1 Mar 96 21:24:52 EST"
    msg = compose(m)
    assert m.message_headers_string == msg.headers_string
    assert [(h.field, h.value) for h in m.message_headers] == [(h.field, h.value) for h in msg.headers]
    assert any(h.field == "Content-Transfer-Encoding" for h in m.message_headers)


def test_send_to_terminal_verbs():
    assert compose(basic(), verb="SOML").envelope.verb == "SOML"
