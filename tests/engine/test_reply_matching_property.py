"""Property: however the server's bytes are cut into reads, each RCPT gets its own reply."""
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.engine.scripted import C, S, ready_engine, run
from smtpx.engine import Content, EngineOptions, Envelope, EnvelopeRecipient

MSG = b"Subject: t\r\n\r\nhi\r\n"
CODES = [250, 251, 550, 551, 553, 450, 451]


@settings(max_examples=150, deadline=None)
@given(codes=st.lists(st.sampled_from(CODES), min_size=1, max_size=12), cuts=st.lists(st.integers(0, 400), max_size=8))
def test_pipelined_replies_match_in_order(codes, cuts):
    engine, _ = ready_engine("PIPELINING", options=EngineOptions(stop_on_to_errors=False))
    names = [f"r{i}@y.example" for i in range(len(codes))]
    commands = b"MAIL FROM:<a@x.example>\r\n" + b"".join(b"RCPT TO:<%s>\r\n" % n.encode() for n in names)
    replies = b"250 ok\r\n" + b"".join(b"%d-first %d\r\n%d last %d\r\n" % (c, i, c, i) for i, c in enumerate(codes))
    accepted_any = any(c < 300 for c in codes)
    if len(codes) > 0:
        commands += b"DATA\r\n"  # no stop rule applies: DATA goes with the RCPTs
        replies += b"354 go\r\n" if accepted_any else b"554 no valid recipients\r\n"
    points = sorted({min(c, len(replies)) for c in cuts} | {0, len(replies)})
    pieces = [replies[a:b] for a, b in zip(points, points[1:]) if replies[a:b]]
    script = [C(commands), *[S(p) for p in pieces]]
    if accepted_any:
        script += [C(MSG + b".\r\n"), S(b"250 done\r\n")]
        result = run(engine.send_mail(Envelope("a@x.example", [EnvelopeRecipient(n) for n in names]),
                                      Content.from_bytes(MSG)), script)
    else:
        import pytest
        from smtpx.errors import SMTPRecipientsRefused

        script += [C(b"RSET\r\n"), S(b"250 ok\r\n")]
        with pytest.raises(SMTPRecipientsRefused) as info:
            run(engine.send_mail(Envelope("a@x.example", [EnvelopeRecipient(n) for n in names]),
                                 Content.from_bytes(MSG)), script)
        result = info.value.result
    outcome = {r.address: r.reply for r in result.accepted + result.refused}
    for index, (name, code) in enumerate(zip(names, codes)):
        assert outcome[name].code == code
        assert outcome[name].lines == [f"first {index}", f"last {index}"]
    assert [r.address for r in result.accepted] == [n for n, c in zip(names, codes) if c < 300]
