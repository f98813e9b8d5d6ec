"""What the per-message path keeps from one message to the next (issue 10: "validate nothing
twice, keep the envelope while the properties do not change") must never leak a stale value:
the engine's plan of the last envelope, send_raw's last envelope, composition's last header
fields and body. Each test changes one input between two sends and checks the wire."""
import pytest

from tests.engine.scripted import C, S, Peer, ready_engine
from smtpx.engine import Content, Envelope, EnvelopeRecipient
from smtpx.enums import RecipientType
from smtpx.errors import SMTPError, SMTPInputError

MSG = b"Subject: t\r\n\r\nhello\r\n"
OK_ENVELOPE = b"250 ok\r\n250 ok\r\n354 go\r\n"


def send(engine, envelope, content=None):
    """One send_mail with every reply positive, the envelope's commands checked against what
    plan_send would write; returns (result, the first Write)."""
    content = content if content is not None else Content.from_bytes(MSG)
    peer = Peer([C(_envelope_bytes(envelope, content)), S(OK_ENVELOPE), C(MSG + b".\r\n"), S(b"250 queued\r\n")])
    result = peer.drive(engine.send_mail(envelope, content))
    assert peer.done
    return result, peer.writes[0]


def _envelope_bytes(envelope, content):
    size = b" SIZE=%d" % content.size
    lines = [b"MAIL FROM:<%s>%s" % (envelope.mail_from.encode(), size)]
    lines += [b"RCPT TO:<%s>" % r.address.encode() for r in envelope.recipients]
    return b"\r\n".join(lines + [b"DATA", b""])


def test_the_same_envelope_twice_gives_the_same_commands():
    engine, sink = ready_engine("PIPELINING", "SIZE 1000")
    envelope = Envelope("a@x.example", [EnvelopeRecipient("b@y.example")])
    first, wire1 = send(engine, envelope)
    second, wire2 = send(engine, Envelope("a@x.example", [EnvelopeRecipient("b@y.example")]))
    assert wire1 == wire2
    assert [r.address for r in second.accepted] == ["b@y.example"]
    assert sink.client_lines().count("RCPT TO:<b@y.example>") == 2


def test_an_envelope_changed_in_place_is_planned_again():
    engine, _ = ready_engine("PIPELINING", "SIZE 1000")
    recipient = EnvelopeRecipient("b@y.example")
    envelope = Envelope("a@x.example", [recipient])
    send(engine, envelope)
    recipient.address = "c@y.example"
    result, wire = send(engine, envelope)
    assert b"RCPT TO:<c@y.example>" in wire and b"b@y.example" not in wire
    assert [r.address for r in result.accepted] == ["c@y.example"]


def test_results_name_the_recipient_sent_even_if_the_caller_changes_it_later():
    engine, _ = ready_engine("PIPELINING", "SIZE 1000")
    recipient = EnvelopeRecipient("b@y.example")
    send(engine, Envelope("a@x.example", [recipient]))
    recipient.address = "changed@y.example"  # the first envelope's object, after its send
    result, wire = send(engine, Envelope("a@x.example", [EnvelopeRecipient("b@y.example")]))
    assert b"RCPT TO:<b@y.example>" in wire
    assert [r.address for r in result.accepted] == ["b@y.example"]


def test_a_new_size_or_kind_or_option_change_gives_a_new_plan():
    engine, _ = ready_engine("PIPELINING", "SIZE 1000", "DSN")
    envelope = Envelope("a@x.example", [EnvelopeRecipient("b@y.example")])
    send(engine, envelope)
    bigger = Content.from_bytes(MSG)
    bigger.size = len(MSG) + 1  # what SIZE= says comes from the content
    peer = Peer([C(b"MAIL FROM:<a@x.example> SIZE=%d\r\nRCPT TO:<b@y.example>\r\nDATA\r\n" % (len(MSG) + 1)),
                 S(OK_ENVELOPE), C(MSG + b".\r\n"), S(b"250 queued\r\n")])
    peer.drive(engine.send_mail(envelope, bigger))
    assert peer.done
    result, _ = send(engine, Envelope("a@x.example", [EnvelopeRecipient("b@y.example", RecipientType.CC)]))
    assert result.accepted[0].kind == RecipientType.CC
    engine.options.dsn_ret = "HDRS"
    peer = Peer([C(b"MAIL FROM:<a@x.example> SIZE=%d RET=HDRS\r\nRCPT TO:<b@y.example>\r\nDATA\r\n" % len(MSG)),
                 S(OK_ENVELOPE), C(MSG + b".\r\n"), S(b"250 queued\r\n")])
    peer.drive(engine.send_mail(envelope, Content.from_bytes(MSG)))
    assert peer.done


def test_a_bad_envelope_is_refused_every_time():
    engine, _ = ready_engine("PIPELINING")
    bad = Envelope("a@x.example", [EnvelopeRecipient("not an address")])
    for _ in range(2):
        with pytest.raises(SMTPInputError):
            Peer([]).drive(engine.send_mail(bad, Content.from_bytes(MSG)))


def test_a_new_ehlo_forgets_the_plan():
    """The plan depends on what the server offered: after EHLO again (here without SIZE) the
    MAIL line is made again."""
    from tests.engine.scripted import ehlo_reply, run

    engine, _ = ready_engine("PIPELINING", "SIZE 1000")
    envelope = Envelope("a@x.example", [EnvelopeRecipient("b@y.example")])
    send(engine, envelope)
    run(engine.hello("client.example"), [C(b"EHLO client.example\r\n"), S(ehlo_reply("PIPELINING"))])
    peer = Peer([C(b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nDATA\r\n"),
                 S(OK_ENVELOPE), C(MSG + b".\r\n"), S(b"250 queued\r\n")])
    peer.drive(engine.send_mail(envelope, Content.from_bytes(MSG)))
    assert peer.done


def _plan_view(plan):
    """What a plan writes and how it names each reply and recipient."""
    commands, wire, labels = plan.data_envelope()
    return (wire, [c.trace for c in commands], labels, plan.pipelining, plan.use_bdat, plan.utf8,
            [(p.recipient.address, p.recipient.kind, p.recipient.options) for p in plan.recipients])


_MAILING = [
    [EnvelopeRecipient("b@y.example")],
    [EnvelopeRecipient("c@y.example")],  # a mailing: the same sender, a recipient each
    [EnvelopeRecipient("d@y.example", RecipientType.CC), EnvelopeRecipient("e@y.example", RecipientType.BCC)],
    [EnvelopeRecipient("<f@y.example>")],  # not plain: planned in full
    [EnvelopeRecipient("g@y.example", options="NOTIFY=SUCCESS,FAILURE")],  # DSN options: in full
    [EnvelopeRecipient("h@y.example")],
    [EnvelopeRecipient("ü@y.example")],  # SMTPUTF8 on its MAIL line
    [EnvelopeRecipient("i@y.example")],  # so the next one is planned in full, without it
    [EnvelopeRecipient("j@y.example")],
    [EnvelopeRecipient("k@y.example"), EnvelopeRecipient("b@y.example")],
]


@pytest.mark.parametrize("caps", [("PIPELINING", "SIZE 1000", "SMTPUTF8", "DSN"), ("SMTPUTF8",), ("CHUNKING",)])
def test_a_mailings_plans_are_plan_sends_plans(caps):
    """A recipient each (PlanCache derives a plan from the last one when only plain recipients
    changed): every plan is the one plan_send makes for that envelope."""
    from smtpx.engine.capabilities import Capabilities
    from smtpx.engine.options import EngineOptions
    from smtpx.engine.planning import PlanCache, plan_send, plan_settings

    capabilities = Capabilities.from_ehlo(["mx.example", *caps])
    options, cache = EngineOptions(), PlanCache()
    for recipients in _MAILING:
        envelope = Envelope("a@x.example", list(recipients))
        content = Content.from_bytes(MSG, smtputf8=False)
        try:
            expected = _plan_view(plan_send(envelope, content, capabilities, options))
        except SMTPError as error:  # (a UTF-8 address to a server without SMTPUTF8)
            expected = type(error)
        try:
            cached = cache.plan(envelope, content, plan_settings(capabilities, options))
        except SMTPError as error:
            assert type(error) is expected, recipients
            continue
        assert _plan_view(cached) == expected, recipients
        assert all(p.recipient is not r for p, r in zip(cached.recipients, recipients))  # copies


def test_a_recipient_each_over_the_wire():
    """send_mail to a new recipient each time: each message's commands, and its result, name
    its own recipient."""
    engine, sink = ready_engine("PIPELINING", "SIZE 1000")
    for address in ["b@y.example", "c@y.example", "d@y.example"]:
        result, wire = send(engine, Envelope("a@x.example", [EnvelopeRecipient(address)]))
        assert [r.address for r in result.accepted] == [address]
    assert sink.client_lines().count("MAIL FROM:<a@x.example> SIZE=%d" % len(MSG)) == 3


# -- send_raw's envelope and composition's header fields ------------------------------------------

def test_raw_message_follows_a_recipient_list_changed_in_place():
    from smtpx.message.raw import raw_message

    recipients = ["b@y.example"]
    first, _ = raw_message("a@x.example", recipients, MSG, "send_raw")
    recipients[0] = "c@y.example"
    second, _ = raw_message("a@x.example", recipients, MSG, "send_raw")
    assert [r.address for r in first.recipients] == ["b@y.example"]
    assert [r.address for r in second.recipients] == ["c@y.example"]
    third, _ = raw_message("other@x.example", recipients, MSG, "send_raw")
    assert third.mail_from == "other@x.example"
    with pytest.raises(SMTPInputError):
        raw_message("a@x.example", ["bad address"], MSG, "send_raw")
    with pytest.raises(SMTPInputError):
        raw_message("a@x.example", ["bad address"], MSG, "send_raw")


def test_raw_message_utf8_follows_the_addresses_and_the_bytes():
    from smtpx.message.raw import raw_message

    _, content = raw_message("a@x.example", ["b@y.example"], MSG, "send_raw")
    assert not content.smtputf8
    _, content = raw_message("a@x.example", ["b@y.example"], "Subject: é\r\n\r\nx\r\n".encode(), "send_raw")
    assert content.smtputf8 and content.eight_bit
    _, content = raw_message("a@x.example", ["bé@y.example"], MSG, "send_raw")
    assert content.smtputf8


def test_composition_makes_date_and_message_id_per_message_and_follows_every_change():
    import smtpx
    from smtpx.message.compose import compose_message

    smtp = smtpx.SMTP(from_="a@x.example", send_to="b@y.example", subject="one", message_text="hello")
    first = compose_message(smtp._message_spec())
    second = compose_message(smtp._message_spec())
    ids = [dict((h.field, h.value) for h in m.headers)["Message-ID"] for m in (first, second)]
    assert ids[0] != ids[1]
    assert first.body == second.body
    smtp.subject = "two"
    smtp.message_id = "fixed@x.example"
    smtp.message_text = "changed"
    third = dict((h.field, h.value) for h in compose_message(smtp._message_spec()).headers)
    assert third["Subject"] == "two" and third["Message-ID"] == "<fixed@x.example>"
    assert compose_message(smtp._message_spec()).body == b"changed\r\n"
    smtp.message_date = ""
    assert "Date" not in dict((h.field, h.value) for h in compose_message(smtp._message_spec()).headers)
    smtp.cc = "c@y.example"
    assert dict((h.field, h.value) for h in compose_message(smtp._message_spec()).headers)["Cc"] == "c@y.example"


# -- send_mail's one-piece content ---------------------------------------------------------------

from hypothesis import given, settings, strategies as st  # noqa: E402

_PIECES = st.lists(st.binary(max_size=40) | st.sampled_from([b".", b"\r", b"\n", b"\r\n.", b"\n.\n", b".\r\n"]),
                   max_size=12)


@settings(max_examples=300, deadline=None)
@given(chunks=_PIECES, as_tuple=st.booleans())
def test_stuffed_whole_is_stuffed_pieces_in_one_piece(chunks, as_tuple):
    from smtpx.engine.transfer import stuffed_pieces, stuffed_whole

    given_chunks = tuple(chunks) if as_tuple else list(chunks)
    whole = stuffed_whole(given_chunks)
    pieces = list(stuffed_pieces(given_chunks))
    assert whole is not None and len(pieces) == 1
    assert (whole[0], whole[1], True) == pieces[0]


def test_stuffed_whole_leaves_big_or_one_shot_content_to_stuffed_pieces():
    from smtpx.engine.transfer import stuffed_whole

    assert stuffed_whole(iter([b"a"])) is None
    assert stuffed_whole([b"x" * 100], write_size=200) is None
    assert stuffed_whole([b"x" * 10], write_size=200) == (10, b"x" * 10 + b"\r\n.\r\n")
