"""A loop of send() with unchanged properties: the message is composed once and made again with
only its "*" Date and Message-ID renewed (compose._Template, for compose_message(reuse=True),
which the facades' send() asks for). Every change must still show."""
from __future__ import annotations

import email
import email.policy
import io

import pytest
from tests.compose.compose_helpers import Msg
from tests.compose.compose_helpers import compose as compose_once

from smtpx.enums import RecipientType
from smtpx.errors import SMTPInputError
from smtpx.message import compose as composing
from smtpx.types import MessageRecipient


def compose(m, **options):
    """As send() composes: reuse=True."""
    return compose_once(m, reuse=True, **options)


def basic(**props):
    props.setdefault("from_", "Sender <s@example.com>")
    props.setdefault("send_to", "Rcpt <r@example.org>")
    props.setdefault("subject", "hello")
    props.setdefault("message_text", "body line\n")
    return Msg(**props)


def fields(message) -> dict[str, str]:
    parsed = email.message_from_bytes(message.headers_string.encode(), policy=email.policy.compat32)
    return dict(parsed.items())


def shape(message) -> tuple:
    """Everything but the values of Date and Message-ID, which are made anew."""
    parsed = email.message_from_bytes(message.headers_string.encode(), policy=email.policy.compat32)
    items = [(k, "*" if k in ("Date", "Message-ID") else v) for k, v in parsed.items()]
    return items, message.body, message.envelope, message.size - len(message.headers_string)


def whole(message) -> bytes:
    return b"".join(message.iter_bytes())


def test_again_renews_date_and_id_and_keeps_the_rest():
    m = basic()
    first = compose(m)
    second = compose(m)
    assert composing._last_template is not None and composing._last_template.message is first
    assert fields(first)["Message-ID"] != fields(second)["Message-ID"]
    kept = {k: v for k, v in fields(first).items() if k not in ("Date", "Message-ID")}
    assert kept == {k: v for k, v in fields(second).items() if k not in ("Date", "Message-ID")}
    assert list(fields(first)) == list(fields(second))  # the same fields in the same order
    assert second.body == first.body and second.envelope == first.envelope
    assert second.size == len(whole(second))
    assert second is not first


def test_the_size_follows_a_date_of_another_length(monkeypatch):
    m = basic()
    compose(m)
    for text in ("Sat, 1 Nov 2026 12:00:00 +0000", "Sat, 28 Nov 2026 12:00:00 +0000"):
        monkeypatch.setattr(composing, "format_date", lambda when=None, text=text: text)
        again = compose(m)
        assert fields(again)["Date"] == text
        assert again.size == len(whole(again))


@pytest.mark.parametrize("change", [
    lambda m: setattr(m, "subject", "another"),
    lambda m: setattr(m, "message_text", "another body\n"),
    lambda m: setattr(m, "send_to", "Other <o@example.org>"),
    lambda m: setattr(m, "from_", "Other <o@example.com>"),
    lambda m: setattr(m, "return_path", "bounces@example.com"),
    lambda m: setattr(m, "other_headers", "X-Tag: 1"),
    lambda m: setattr(m, "message_id", "fixed@example.com"),
    lambda m: setattr(m, "message_date", ""),
    lambda m: m._config.config("MaxHeaderLength=40"),
    lambda m: m._config.config("Charset=iso-8859-1"),
    lambda m: m._config.config("MessageIdAlgorithm=sha256"),
])
def test_any_change_composes_anew(change):
    m = basic(subject="a subject long enough to be folded at forty characters or so")
    compose(m)
    change(m)
    reference = compose(m, now=0.0)  # now= never uses (nor keeps) the kept message
    assert shape(compose(m)) == shape(reference)


def test_a_recipient_changed_in_place_composes_anew():
    m = basic()
    recipient = MessageRecipient("cc@example.org", "Cc Person", recipient_type=RecipientType.CC)
    m.message_recipients.append(recipient)
    assert "Cc" in fields(compose(m))
    recipient.recipient_type = RecipientType.BCC  # the same object, changed
    again = compose(m)
    assert "Cc" not in fields(again)
    assert "cc@example.org" in [r.address for r in again.envelope.recipients]


def test_a_fixed_date_and_id_stay_as_given():
    m = basic(message_date="Fri, 27 Nov 2026 10:00:00 +0000", message_id="<fixed@example.com>")
    first, second = compose(m), compose(m)
    assert second.headers_string == first.headers_string
    assert fields(second)["Message-ID"] == "<fixed@example.com>"


def test_the_8bitmime_form_keeps_the_renewed_date_and_id():
    """8-bit text composed before EHLO (the 7-bit form) and sent to an 8BITMIME server: the
    form changes, the Date and Message-ID made for this message stay."""
    m = basic(message_text="Grüße\n")
    compose(m)
    again = compose(m)
    for_server = again.for_server(True)
    assert for_server is not again and for_server.transfer_encoding == "8bit"
    assert fields(for_server)["Message-ID"] == fields(again)["Message-ID"]
    assert fields(for_server)["Date"] == fields(again)["Date"]


def test_a_stream_is_never_kept(tmp_path):
    import io

    m = basic()
    m.set_message_stream(io.BytesIO(b"streamed\r\n"))
    compose(m)
    assert composing._last_template is None or composing._last_template.spec.stream is None


def test_a_message_that_reaches_the_caller_is_never_kept_nor_shared():
    """compose() (and compose_message without reuse) hands the message to the caller, who may
    change its envelope: it neither becomes the kept message nor is one made again."""
    m = basic()
    composing._last_template = None
    given = compose_once(m)  # what SMTP.compose() returns
    assert composing._last_template is None
    given.envelope.recipients.append(given.envelope.recipients[0].__class__("extra@example.org"))
    sent = compose(m)
    assert [r.address for r in sent.envelope.recipients] == ["r@example.org"]
    again = compose(m)
    assert again.envelope is sent.envelope  # kept for send(), whose messages stay inside smtpx
    mine = compose_once(m)
    assert mine.envelope is not sent.envelope and mine.headers_string != again.headers_string


def test_an_unchanged_spec_is_given_again_and_every_change_makes_a_new_one():
    """Properties._message_spec() keeps the last spec while nothing it holds changed (a loop
    of send()); a property, a config setting, the stream or a recipient changed in place
    each make a new one, checked again."""
    m = basic()
    first = m._message_spec()
    assert m._message_spec() is first
    recipient = m.message_recipients[0]
    recipient.address = "moved@example.org"  # in place: the list itself does not know
    moved = m._message_spec()
    assert moved is not first and moved.recipients[0][1].addr_spec == "moved@example.org"
    recipient.address = "not an address"
    with pytest.raises(SMTPInputError):
        m._message_spec()  # checked again, never the kept one
    recipient.address = "moved@example.org"
    assert m._message_spec() == moved
    m.subject = "another"
    assert m._message_spec().subject == "another"
    m._config.config("Charset=iso-8859-1")
    assert m._message_spec().settings.charset == "iso-8859-1"
    m.set_message_stream(io.BytesIO(b"x\r\n"))
    streamed = m._message_spec()
    assert streamed.stream is not None
    m.set_message_stream(None)
    assert m._message_spec().stream is None


def _merge(recipients):
    """Set the recipients as a mail merge does before each send(): cleared, then set."""
    def change(m):
        m.message_recipients.clear()
        for kind, text in recipients:
            {"to": lambda t: setattr(m, "send_to", t), "cc": lambda t: setattr(m, "cc", t),
             "bcc": lambda t: setattr(m, "bcc", t)}[kind](text)
    return change


@pytest.mark.parametrize("recipients", [
    [("to", "Next <next@example.org>")],
    [("to", "next@example.org")],
    [("to", "Jürgen Groß <j@example.org>")],  # an encoded display name
    [("to", "jürgen@exämple.org")],  # a non-ASCII address: SMTPUTF8
    [("to", "a@example.org, B <b@example.org>")],
    [("to", "Next <next@example.org>"), ("cc", "Copy <copy@example.org>")],
    [("to", "Next <next@example.org>"), ("bcc", "hidden@example.org")],
    [("to", "a very long display name that must be folded somewhere <x@example.org>, y@example.org")],
])
def test_a_mail_merge_makes_only_the_recipients_again(monkeypatch, recipients):
    """Between sends only the recipients change: the kept message is made again with the new
    To and Cc, envelope and SMTPUTF8 need, exactly as composing anew would make it, without
    planning the body again."""
    m = basic(cc="Old Copy <oldcopy@example.org>" if any(kind == "cc" for kind, _ in recipients) else "")
    compose(m)
    _merge(recipients)(m)
    reference = compose(m, now=0.0)
    monkeypatch.setattr(composing, "_body_plan", lambda *a, **k: pytest.fail("the body was planned again"))
    merged = compose(m)
    assert shape(merged) == shape(reference)
    assert merged.needs_smtputf8 == reference.needs_smtputf8
    assert merged.size == len(whole(merged))
    assert fields(merged)["Message-ID"] != fields(reference)["Message-ID"]
    again = compose(m)  # and the next send with nothing changed is the kept message again
    assert shape(again) == shape(reference)


@pytest.mark.parametrize("before,after", [
    ("", "Copy <copy@example.org>"),  # a Cc where there was none
    ("Copy <copy@example.org>", ""),  # no Cc where there was one
])
def test_a_mail_merge_that_changes_the_header_fields_composes_anew(before, after):
    m = basic(cc=before)
    compose(m)
    m.message_recipients.clear()
    m.send_to, m.cc = "Next <next@example.org>", after
    assert shape(compose(m)) == shape(compose(m, now=0.0))
    assert ("Cc" in fields(compose(m))) == bool(after)


def test_a_mail_merge_without_recipients_is_refused_as_anew():
    m = basic()
    compose(m)
    m.message_recipients.clear()
    with pytest.raises(SMTPInputError) as refused:
        compose(m)
    assert refused.value.code == 165


def test_a_mail_merge_never_changes_a_kept_template():
    """The kept template is shared by every SMTP object and thread of the process: a merge
    keeps a new one and leaves the one it started from as it was."""
    m = basic()
    compose(m)
    before = composing._last_template
    spec, message, fields_before, lines = before.spec, before.message, list(before.fields), list(before.lines)
    _merge([("to", "next@example.org")])(m)
    merged = compose(m)
    assert composing._last_template is not before and composing._last_template.message is merged
    assert before.spec is spec and before.message is message
    assert before.fields == fields_before and before.lines == lines


# -- a message made ahead (compose.message_ahead: the facades' send() makes the next message
# while the server answers the last one, and compose_message gives it when it is still fit)

def test_a_message_made_ahead_is_the_next_one_and_is_given_once_fit():
    m = basic()
    spec = m._message_spec()
    first = compose_message_reuse(spec)
    ahead = composing.message_ahead(spec, None)
    assert ahead is not None and ahead.template is composing._last_template
    assert shape(ahead.message) == shape(first)
    assert fields(ahead.message)["Message-ID"] != fields(first)["Message-ID"]
    assert b"".join(ahead.content.chunks) == whole(ahead.message) and ahead.content.size == ahead.message.size
    assert compose_message_reuse(spec, ahead=ahead) is ahead.message


def test_a_message_made_ahead_in_another_second_is_not_given():
    # Its Date is of the second it was made in: a later send composes again, with a fresh one.
    spec = basic()._message_spec()
    compose_message_reuse(spec)
    ahead = composing.message_ahead(spec, None)
    ahead.second -= 1
    again = compose_message_reuse(spec, ahead=ahead)
    assert again is not ahead.message and shape(again) == shape(ahead.message)
    assert fields(again)["Message-ID"] != fields(ahead.message)["Message-ID"]


@pytest.mark.parametrize("change", [{"subject": "other"}, {"message_text": "other body\n"}, {"send_to": "x@example.org"}])
def test_a_message_made_ahead_is_not_given_once_the_properties_changed(change):
    spec = basic()._message_spec()
    compose_message_reuse(spec)
    ahead = composing.message_ahead(spec, None)
    changed = basic(**change)._message_spec()
    message = compose_message_reuse(changed, ahead=ahead)
    assert message is not ahead.message
    assert shape(message) == shape(compose_once(basic(**change)))


def test_a_message_made_ahead_is_not_given_for_another_verb_or_8bitmime():
    spec = basic()._message_spec()
    compose_message_reuse(spec)
    ahead = composing.message_ahead(spec, None)
    assert compose_message_reuse(spec, ahead=ahead, verb="SEND") is not ahead.message
    compose_message_reuse(spec)
    ahead = composing.message_ahead(spec, None)
    assert compose_message_reuse(spec, ahead=ahead, server_8bitmime=True) is not ahead.message


def test_nothing_is_made_ahead_for_another_spec_or_a_stream(tmp_path):
    spec = basic()._message_spec()
    compose_message_reuse(spec)
    assert composing.message_ahead(basic(subject="other")._message_spec(), None) is None
    assert composing.message_ahead(spec, True) is None  # the kept one is for a server of unknown 8BITMIME
    path = tmp_path / "body.txt"
    path.write_bytes(b"streamed\r\n")
    with open(path, "rb") as stream:
        streamed = basic()
        streamed.set_message_stream(stream)
        streamed_spec = streamed._message_spec()
        compose_message_reuse(streamed_spec)
        assert composing.message_ahead(streamed_spec, None) is None


def compose_message_reuse(spec, **options):
    return composing.compose_message(spec, reuse=True, **options)
