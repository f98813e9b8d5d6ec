"""smtpx.message.email_message: a stdlib email.message.Message as smtpx sends it.

The envelope rules are smtplib's send_message ones; the checks are smtpx's (typed errors,
nothing written). The last tests send the result through the public smtpx.SMTP.send_raw to a
real aiosmtpd server and look at what it stored.
"""
from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage, Message
from email.mime.text import MIMEText

import pytest

import smtpx
from smtpx.engine import Content, Envelope
from smtpx.errors import SMTPInputError
from smtpx.message.email_message import PreparedMessage, email_message, prepare_email_message

ATTACHMENT = bytes(range(256)) * 40 + b"\r\n\n\r.\r\nFrom x\r\n"


def make(policy=email.policy.default, **headers: str) -> EmailMessage:
    msg = EmailMessage(policy=policy)
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content("Hello,\nsecond line\nFrom the start of a line\n")
    return msg


def header_block(data: bytes) -> bytes:
    return data.split(b"\r\n\r\n", 1)[0]


def header_names(data: bytes) -> list[str]:
    return [line.split(b":", 1)[0].decode().lower() for line in header_block(data).split(b"\r\n")
            if line[:1] not in (b" ", b"\t")]


def assert_crlf_only(data: bytes) -> None:
    stripped = data.replace(b"\r\n", b"")
    assert b"\n" not in stripped and b"\r" not in stripped


# ================================================================================ envelope
def test_from_gives_the_sender_and_to_cc_bcc_the_recipients():
    msg = make(From="Ann <ann@example.com>", To="b@example.com, \"C D\" <c@example.com>",
               Cc="cc@example.com", Bcc="Hidden <hidden@example.com>", Subject="s")
    prepared = prepare_email_message(msg)
    assert isinstance(prepared, PreparedMessage)
    assert prepared.mail_from == "ann@example.com"
    assert prepared.recipients == ("b@example.com", "c@example.com", "cc@example.com", "hidden@example.com")
    assert prepared.smtputf8 is False


def test_sender_header_wins_over_from():
    msg = make(From="Ann <ann@example.com>, Bob <bob@example.com>", Sender="sec@example.com", To="x@example.com")
    assert prepare_email_message(msg).mail_from == "sec@example.com"


def test_from_with_several_mailboxes_and_no_sender_is_refused():
    msg = make(From="ann@example.com, bob@example.com", To="x@example.com")
    with pytest.raises(SMTPInputError, match="Sender"):
        prepare_email_message(msg)


def test_one_resent_block_gives_the_envelope():
    msg = make(From="orig@example.com", To="first@example.com", Bcc="firstbcc@example.com")
    msg["Resent-Date"] = "Mon, 1 Jan 2024 10:00:00 +0000"
    msg["Resent-From"] = "fwd@example.com"
    msg["Resent-To"] = "next@example.com"
    msg["Resent-Cc"] = "nextcc@example.com"
    msg["Resent-Bcc"] = "nextbcc@example.com"
    prepared = prepare_email_message(msg)
    assert prepared.mail_from == "fwd@example.com"
    assert prepared.recipients == ("next@example.com", "nextcc@example.com", "nextbcc@example.com")
    names = header_names(prepared.data)
    assert "bcc" not in names and "resent-bcc" not in names
    assert "resent-to" in names and "to" in names


def test_resent_sender_wins_over_resent_from():
    msg = make(From="orig@example.com", To="first@example.com")
    msg["Resent-Date"] = "Mon, 1 Jan 2024 10:00:00 +0000"
    msg["Resent-From"] = "fwd@example.com"
    msg["Resent-Sender"] = "fwdsec@example.com"
    msg["Resent-To"] = "next@example.com"
    assert prepare_email_message(msg).mail_from == "fwdsec@example.com"


def test_two_resent_blocks_are_refused():
    msg = make(From="orig@example.com", To="first@example.com")
    for n in (1, 2):
        msg["Resent-Date"] = f"Mon, {n} Jan 2024 10:00:00 +0000"
        msg["Resent-From"] = f"fwd{n}@example.com"
        msg["Resent-To"] = f"next{n}@example.com"
    with pytest.raises(SMTPInputError, match="more than one Resent- block"):
        prepare_email_message(msg)
    # from_addr and to_addrs given: still refused (the block is ambiguous, as smtplib)
    with pytest.raises(SMTPInputError):
        prepare_email_message(msg, "a@example.com", ["b@example.com"])


def test_explicit_addresses_override_the_headers():
    msg = make(From="ann@example.com", To="b@example.com", Bcc="hidden@example.com")
    prepared = prepare_email_message(msg, "Bounce <bounce@example.com>", ["x@example.com", "Y <y@example.com>"])
    assert prepared.mail_from == "bounce@example.com"
    assert prepared.recipients == ("x@example.com", "y@example.com")
    assert "bcc" not in header_names(prepared.data)  # stripped all the same
    assert prepare_email_message(msg, to_addrs="one@example.com").recipients == ("one@example.com",)
    assert prepare_email_message(msg, from_addr="").mail_from == "<>"
    assert prepare_email_message(msg, from_addr="<>").mail_from == "<>"


def test_group_syntax_and_bcc_only():
    msg = make(From="ann@example.com", To="undisclosed-recipients:;", Bcc="h1@example.com, h2@example.com")
    prepared = prepare_email_message(msg)
    assert prepared.recipients == ("h1@example.com", "h2@example.com")
    assert b"To: undisclosed-recipients:;" in prepared.data
    team = make(From="ann@example.com", To="Team: a@example.com, B <b@example.com>;, c@example.com")
    assert prepare_email_message(team).recipients == ("a@example.com", "b@example.com", "c@example.com")


def test_encoded_display_names_and_comments_are_fine():
    msg = Message()  # compat32: the raw header text
    msg["From"] = "=?utf-8?q?J=C3=B6rg?= <joerg@example.com> (work)"
    msg["To"] = '"Smith, Al" <al@example.com>'
    msg.set_payload("x")
    prepared = prepare_email_message(msg)
    assert (prepared.mail_from, prepared.recipients) == ("joerg@example.com", ("al@example.com",))


# =============================================================================== the bytes
def test_bcc_is_stripped_and_the_callers_message_is_unchanged():
    msg = make(From="ann@example.com", To="b@example.com", Bcc="hidden@example.com")
    msg.add_alternative("<p>hi</p>", subtype="html")  # a multipart inside the multipart
    msg.add_attachment(ATTACHMENT, maintype="application", subtype="octet-stream", filename="a.bin")
    before = [list(part.items()) for part in msg.walk()]
    prepared = prepare_email_message(msg)
    assert "bcc" not in header_names(prepared.data)
    assert b"hidden@example.com" not in prepared.data
    assert [list(part.items()) for part in msg.walk()] == before  # no Bcc removed, no boundary set
    assert msg["Bcc"] == "hidden@example.com"
    assert [part.get_boundary() for part in msg.walk() if part.is_multipart()] == [None, None]
    assert prepared.data.count(b"boundary=") == 2


@pytest.mark.parametrize("policy", [email.policy.default, email.policy.compat32, email.policy.SMTP,
                                    email.policy.default.clone(linesep="\r")])
def test_line_ends_are_crlf_whatever_the_policy(policy):
    msg = EmailMessage(policy=policy) if policy is not email.policy.compat32 else Message()
    msg["From"] = "ann@example.com"
    msg["To"] = "b@example.com"
    msg["Subject"] = "a long subject " * 12  # folded
    if isinstance(msg, EmailMessage):
        msg.set_content("one\ntwo\nthree\n")
    else:
        msg.set_payload("one\ntwo\nthree\n")
    data = prepare_email_message(msg).data
    assert_crlf_only(data)
    assert data.endswith(b"three\r\n")
    assert b"\r\n\r\none\r\ntwo\r\n" in data


def test_from_at_line_start_is_not_mangled():
    data = prepare_email_message(make(From="ann@example.com", To="b@example.com")).data
    assert b"\r\nFrom the start of a line\r\n" in data
    assert b">From" not in data


def test_attachments_round_trip_byte_exact():
    msg = make(From="ann@example.com", To="b@example.com", Subject="files")
    msg.add_alternative("<p>Hello</p>", subtype="html")
    msg.add_attachment(ATTACHMENT, maintype="application", subtype="octet-stream", filename="data.bin")
    msg.add_attachment("caf\u00e9\nna\u00efve\n", subtype="plain", filename="notes.txt")
    prepared = prepare_email_message(msg)
    assert_crlf_only(prepared.data)
    parsed = email.message_from_bytes(prepared.data, policy=email.policy.default)
    attachments = {part.get_filename(): part.get_content() for part in parsed.iter_attachments()}
    assert attachments["data.bin"] == ATTACHMENT
    assert attachments["notes.txt"].replace("\r\n", "\n") == "caf\u00e9\nna\u00efve\n"
    html = parsed.get_body(("html",))
    assert html is not None and "<p>Hello</p>" in html.get_content()
    # parse -> prepare again: the same bytes
    assert prepare_email_message(parsed).data == prepared.data


def test_a_parsed_message_keeps_its_folded_headers():
    raw = (b"From: ann@example.com\r\nTo: b@example.com,\r\n c@example.com\r\n"
           b"Subject: a folded\r\n\tsubject\r\n\r\nbody\r\n")
    for policy in (email.policy.default, email.policy.compat32):
        msg = email.message_from_bytes(raw, policy=policy)
        prepared = prepare_email_message(msg)
        assert prepared.recipients == ("b@example.com", "c@example.com")
        assert prepared.data == raw


def test_non_ascii_address_needs_smtputf8_and_writes_utf8_headers():
    msg = make(From="J\u00f6rg <j\u00f6rg@b\u00fccher.example>", To="b@example.com", Subject="gr\u00fc\u00dfe")
    prepared = prepare_email_message(msg)
    assert prepared.smtputf8 is True
    assert prepared.mail_from == "j\u00f6rg@b\u00fccher.example"
    assert "From: J\u00f6rg <j\u00f6rg@b\u00fccher.example>".encode() in prepared.data  # utf8 policy, no RFC 2047
    envelope, content = email_message(msg)
    assert content.smtputf8 is True and envelope.mail_from == "j\u00f6rg@b\u00fccher.example"
    recipient = make(From="a@example.com", To="\u00fcser@example.com")
    assert prepare_email_message(recipient).smtputf8 is True


def test_ascii_addresses_with_non_ascii_headers():
    msg = make(From="a@example.com", To="b@example.com", Subject="gr\u00fc\u00dfe")
    assert prepare_email_message(msg).smtputf8 is False  # RFC 2047: ASCII headers
    utf8 = make(policy=email.policy.SMTPUTF8, From="a@example.com", To="b@example.com", Subject="gr\u00fc\u00dfe")
    prepared = prepare_email_message(utf8)
    assert prepared.smtputf8 is True and "Subject: gr\u00fc\u00dfe".encode() in prepared.data


def test_eight_bit_body_is_flagged_for_8bitmime():
    msg = EmailMessage()
    msg["From"], msg["To"] = "a@example.com", "b@example.com"
    msg.set_content("gr\u00fc\u00dfe\n", cte="8bit")
    envelope, content = email_message(msg)
    assert content.eight_bit is True and content.smtputf8 is False
    assert "gr\u00fc\u00dfe\r\n".encode() in b"".join(content.chunks)


def test_engine_item_carries_options():
    msg = make(From="a@example.com", To="b@example.com, c@example.com")
    envelope, content = email_message(msg, rcpt_options=["NOTIFY=SUCCESS,FAILURE"], mail_options=["SMTPUTF8"])
    assert isinstance(envelope, Envelope) and isinstance(content, Content)
    assert [r.options for r in envelope.recipients] == ["NOTIFY=SUCCESS,FAILURE"] * 2
    assert content.smtputf8 is True
    _, plain = email_message(msg, mail_options=["BODY=8BITMIME"])
    assert plain.eight_bit is True
    prepared = prepare_email_message(msg, mail_options=("SMTPUTF8",), rcpt_options=["NOTIFY=NEVER"])
    assert prepared.mail_options == ("SMTPUTF8",) and prepared.rcpt_options == ("NOTIFY=NEVER",)
    assert prepared.raw() == ("a@example.com", ["b@example.com", "c@example.com"], prepared.data)


def test_prepared_message_is_immutable():
    prepared = prepare_email_message(make(From="a@example.com", To="b@example.com"))
    with pytest.raises(AttributeError):
        prepared.mail_from = "x@example.com"  # type: ignore[misc]


# ============================================================================= bad input
@pytest.mark.parametrize("thing", [b"From: a@b\r\n\r\nx", "From: a@b\r\n\r\nx", {"From": "a@b"}, None])
def test_not_a_message(thing):
    with pytest.raises(SMTPInputError, match="email.message.Message"):
        prepare_email_message(thing)


def test_no_recipient():
    with pytest.raises(SMTPInputError) as caught:
        prepare_email_message(make(From="a@example.com", Subject="nobody"))
    assert caught.value.code == 165
    with pytest.raises(SMTPInputError) as caught:
        prepare_email_message(make(From="a@example.com", To="undisclosed-recipients:;"))
    assert caught.value.code == 165
    with pytest.raises(SMTPInputError) as caught:
        prepare_email_message(make(From="a@example.com", To="b@example.com"), to_addrs=[])
    assert caught.value.code == 165


def test_no_sender():
    with pytest.raises(SMTPInputError) as caught:
        prepare_email_message(make(To="b@example.com"))
    assert caught.value.code == 164


@pytest.mark.parametrize("value", ["Name a@example.com", "a@b@example.com", "<a@example.com", "nobody",
                                   "a@example.com, x y@example.com", "a@-bad-.example"])
def test_addresses_the_stdlib_would_guess_at_are_refused(value):
    msg = Message()
    msg["From"] = "a@example.com"
    msg["To"] = value
    msg.set_payload("x")
    with pytest.raises(SMTPInputError):
        prepare_email_message(msg)


@pytest.mark.parametrize("name", ["From", "To", "Cc", "Bcc", "Sender"])
def test_duplicate_address_headers_are_refused(name):
    msg = Message()  # compat32 lets a second one be added
    msg["From"] = "a@example.com"
    msg["To"] = "b@example.com"
    msg[name] = "c@example.com"
    msg[name] = "d@example.com"
    msg.set_payload("x")
    with pytest.raises(SMTPInputError, match=f"{name} headers"):
        prepare_email_message(msg)


INJECTIONS = [
    "hi\r\nBcc: evil@example.net",
    "hi\nBcc: evil@example.net",
    "hi\rBcc: evil@example.net",
    "hi\r\n\r\nevil body",
    "hi\x85Bcc: evil@example.net",
    "hi\u2028Bcc: evil@example.net",
    "hi\u2029Bcc: evil@example.net",
    "hi\x0bBcc: evil@example.net",
    "hi\x0cBcc: evil@example.net",
    "hi\x1cBcc: evil@example.net",
    "hi\x00there",
    "trailing\n",
    "hi\n \nBcc: evil@example.net",
]


@pytest.mark.parametrize("value", INJECTIONS)
def test_smuggled_line_breaks_in_a_header_value_are_refused(value):
    msg = make(From="a@example.com", To="b@example.com")
    msg.set_raw("Subject", value)  # set_raw: no check by the policy
    with pytest.raises(SMTPInputError, match="Subject header"):
        prepare_email_message(msg)


@pytest.mark.parametrize("value", INJECTIONS)
def test_smuggled_line_breaks_in_compat32_and_mime_parts_are_refused(value):
    msg = Message()
    msg["From"], msg["To"] = "a@example.com", "b@example.com"
    msg._headers.append(("X-Note", value))  # as a buggy library could store it
    msg.set_payload("x")
    with pytest.raises(SMTPInputError, match="X-Note header"):
        prepare_email_message(msg)
    outer = make(From="a@example.com", To="b@example.com")
    outer.add_attachment(b"data", maintype="application", subtype="octet-stream", filename="a.bin")
    attachment = next(outer.iter_attachments())
    attachment.set_raw("X-Part", value)
    with pytest.raises(SMTPInputError, match="X-Part header"):
        prepare_email_message(outer)


def test_encoded_word_that_decodes_to_a_line_break_is_refused():
    # The stdlib decodes it into the header object and would write a bare LF + "Bcc:" line.
    msg = make(From="a@example.com", To="b@example.com")
    msg["Subject"] = "=?utf-8?q?hi=0ABcc:_evil@example.net?="
    with pytest.raises(SMTPInputError, match="Subject header"):
        prepare_email_message(msg)


def test_line_break_in_an_address_header_is_refused():
    msg = make(From="a@example.com")
    msg.set_raw("To", "b@example.com\r\nBcc: evil@example.net")
    with pytest.raises(SMTPInputError, match="To header"):
        prepare_email_message(msg)


@pytest.mark.parametrize("name", ["Bcc: evil@example.net\r\nX-A", "X A", "X:A", "", "X-\u00e9"])
def test_bad_header_names_are_refused(name):
    msg = make(From="a@example.com", To="b@example.com")
    msg.set_raw(name, "value")
    with pytest.raises(SMTPInputError, match="header name"):
        prepare_email_message(msg)


def test_no_generated_header_section_holds_an_injected_field():
    """Whatever gets through, the header section has exactly the fields set (no extra one)."""
    accepted = 0
    for value in [*INJECTIONS, "plain", "x" * 300, "caf\u00e9 \u2603", "a\tb", "=?utf-8?q?ok?="]:
        msg = make(From="a@example.com", To="b@example.com")
        msg.set_raw("Subject", value)
        try:
            data = prepare_email_message(msg).data
        except SMTPInputError:
            continue
        accepted += 1
        assert header_names(data) == ["from", "to", "content-type", "content-transfer-encoding",
                                      "mime-version", "subject"]
        assert_crlf_only(data)
    # plain, long, tab, encoded word; the raw non-ASCII value cannot be written by a
    # non-utf8 policy at all (a typed error too)
    assert accepted == 4


@pytest.mark.parametrize("options, match", [
    (["SMTPUTF8\r\nRSET"], "control character CR"),
    (["X=\x00"], "control character NUL"),
    (["TWO WORDS"], "one word"),
    ([""], "one word"),
    ("SMTPUTF8", "list of strings"),
    ([b"SMTPUTF8"], "must be a string"),
    (5, "list of strings"),
])
def test_bad_options_are_refused(options, match):
    msg = make(From="a@example.com", To="b@example.com")
    with pytest.raises(SMTPInputError, match=match):
        prepare_email_message(msg, mail_options=options)
    with pytest.raises(SMTPInputError, match=match):
        prepare_email_message(msg, rcpt_options=options)


def test_bad_rcpt_option_values_and_unsupported_mail_options():
    msg = make(From="a@example.com", To="b@example.com")
    with pytest.raises(SMTPInputError, match="NOTIFY"):
        prepare_email_message(msg, rcpt_options=["NOTIFY=SOMETIMES"])
    prepared = prepare_email_message(msg, mail_options=["RET=HDRS"])  # carried, for a caller that can
    with pytest.raises(SMTPInputError, match="RET"):
        prepared.engine_item()


def test_bad_explicit_addresses():
    msg = make(From="a@example.com", To="b@example.com")
    with pytest.raises(SMTPInputError):
        prepare_email_message(msg, from_addr="a@example.com\r\nRCPT TO:<x@y>")
    with pytest.raises(SMTPInputError):
        prepare_email_message(msg, to_addrs=["ok@example.com", "bad address@example.com"])
    with pytest.raises(SMTPInputError, match="must be a string"):
        prepare_email_message(msg, to_addrs=[b"b@example.com"])
    for wrong in (5, b"b@example.com"):
        with pytest.raises(SMTPInputError, match="to_addrs must be"):
            prepare_email_message(msg, to_addrs=wrong)
    with pytest.raises(SMTPInputError, match="must be a string"):
        prepare_email_message(msg, from_addr=b"a@example.com")


def test_compat32_mime_message_as_django_builds_it():
    msg = MIMEText("caf\u00e9\n", "plain", "utf-8")
    msg["From"], msg["To"], msg["Subject"] = "a@example.com", "b@example.com", "mime"
    prepared = prepare_email_message(msg)
    assert_crlf_only(prepared.data)
    assert email.message_from_bytes(prepared.data).get_payload(decode=True) == "caf\u00e9\n".encode()


# ================================================================== through a real server
def test_sent_with_send_raw_bcc_in_envelope_not_in_message(server):
    msg = make(From="Ann <ann@example.com>", To="b@example.com", Cc="c@example.com",
               Bcc="hidden@example.com", Subject="end to end")
    msg.add_attachment(ATTACHMENT, maintype="application", subtype="octet-stream", filename="a.bin")
    prepared = prepare_email_message(msg)
    client = smtpx.SMTP(mail_server=server.host, mail_port=server.port)
    result = client.send_raw(*prepared.raw())
    assert result.all_accepted
    [stored] = server.messages
    assert stored.mail_from == "ann@example.com"
    assert stored.rcpt_tos == ["b@example.com", "c@example.com", "hidden@example.com"]
    assert stored.data == prepared.data
    assert b"hidden@example.com" not in stored.data
    parsed = email.message_from_bytes(stored.data, policy=email.policy.default)
    assert parsed["Bcc"] is None
    assert next(parsed.iter_attachments()).get_content() == ATTACHMENT


def test_sent_with_send_raw_non_ascii_address_uses_smtputf8(server):
    msg = make(From="J\u00f6rg <j\u00f6rg@example.com>", To="b@example.com", Subject="utf8")
    prepared = prepare_email_message(msg)
    smtpx.SMTP(mail_server=server.host, mail_port=server.port).send_raw(*prepared.raw())
    [stored] = server.messages
    assert stored.mail_from == "j\u00f6rg@example.com"
    assert "SMTPUTF8" in stored.mail_options
    assert stored.data == prepared.data
