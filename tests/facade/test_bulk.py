"""SMTP.send_batch (the bulk path) and SMTP.compose(), end to end against aiosmtpd: what the
server stored, per-message errors returned (and on_error), session failures raised with
.results / .unsent in the caller's indexes."""
from __future__ import annotations

import pytest

import smtpx
from smtpx.message.compose import ComposedMessage
from smtpx.engine import SendResult


def raw(n: int, to: str = "rcpt@example.com") -> tuple[str, list[str], bytes]:
    return ("sender@example.com", [to], b"Subject: m%d\r\n\r\nbody %d\r\n" % (n, n))


def test_raw_messages_arrive_in_order_on_one_connection(server, make_smtp):
    smtp = make_smtp(server)
    results = smtp.send_batch([raw(n) for n in range(5)])
    assert all(isinstance(r, SendResult) and r.reply.code == 250 for r in results)
    assert [m.data for m in server.messages] == [raw(n)[2] for n in range(5)]
    assert server.verbs().count("EHLO") == 1 and server.verbs()[-1] == "QUIT"  # connected for the call
    assert not smtp.connected


def test_composed_and_raw_messages_mix_and_the_connection_is_kept(server, make_smtp):
    smtp = make_smtp(server, subject="first", message_text="hello",
                     message_date="Fri, 1 Mar 1996 21:24:52 -0500", message_id="id1@example.com")
    smtp.connect()
    first = smtp.compose()
    smtp.subject = "second"  # compose() took a snapshot: `first` keeps its subject
    second = smtp.compose()
    assert isinstance(first, ComposedMessage)
    results = smtp.send_batch([first, raw(1), second])
    assert [type(r) for r in results] == [SendResult] * 3
    assert smtp.connected and "QUIT" not in server.verbs()
    stored = [m.data for m in server.messages]
    assert b"Subject: first\r\n" in stored[0] and b"Subject: second\r\n" in stored[2]
    assert stored[0] == (first.headers_string + first.transfer_text).encode()
    assert server.messages[0].mail_from == "sender@example.com" and server.messages[0].rcpt_tos == ["rcpt@example.com"]


def test_per_message_errors_are_returned_and_fire_on_error(server, make_smtp):
    server.reply("RCPT", "550 5.1.1 no such user", when="bad@")
    errors = []
    smtp = make_smtp(server, on_error=errors.append)
    messages = [raw(0), ("sender@example.com", ["not an address"], b"x\r\n"), raw(2, to="bad@example.com"),
                ("sender@example.com", ["rcpt@example.com"], "text, not bytes"), 42, raw(5)]
    results = smtp.send_batch(messages)
    assert isinstance(results[0], SendResult) and isinstance(results[5], SendResult)
    assert isinstance(results[1], smtpx.SMTPInputError)
    assert isinstance(results[2], smtpx.SMTPRecipientsRefused) and results[2].enhanced == "5.1.1"
    assert isinstance(results[3], smtpx.SMTPInputError) and isinstance(results[4], smtpx.SMTPInputError)
    # Each input error names its message (the label is made only when an error needs it).
    assert "send_batch message 1 recipient" in results[1].description
    assert results[3].description.startswith("send_batch message 3: message must be bytes")
    assert results[4].description.startswith("send_batch message 4: expected")
    assert [m.data for m in server.messages] == [raw(0)[2], raw(5)[2]]  # nothing written for the bad ones
    assert sorted(e.description for e in errors) == sorted(r.description for r in results if isinstance(r, smtpx.SMTPError))
    assert len(errors) == 4


def test_a_session_failure_raises_with_results_and_unsent_in_the_callers_indexes(server, make_smtp):
    server.reply("MAIL", "421 4.3.2 shutting down", when="late@")
    smtp = make_smtp(server)
    messages = [raw(0), 7, ("late@example.com", ["rcpt@example.com"], b"x\r\n"), raw(3)]
    with pytest.raises(smtpx.SMTPServiceClosing) as info:
        smtp.send_batch(messages)
    results = info.value.results
    assert isinstance(results[0], SendResult)
    assert isinstance(results[1], smtpx.SMTPInputError)
    assert results[2] is None and results[3] is None
    assert info.value.unsent == [2, 3]
    assert not smtp.connected
    assert len(server.messages) == 1


@pytest.mark.parametrize("bad", ["a string", raw(0), b"bytes"])
def test_one_message_instead_of_a_list_is_refused_before_connecting(server, make_smtp, bad):
    smtp = make_smtp(server)
    with pytest.raises(smtpx.SMTPInputError):
        smtp.send_batch(bad)
    assert server.commands == []


def test_bad_window_is_refused_before_connecting(server, make_smtp):
    smtp = make_smtp(server)
    for window in (0, -1, 1.5, True):
        with pytest.raises(smtpx.SMTPInputError):
            smtp.send_batch([raw(0)], window=window)
    assert server.commands == []


def test_window_one_still_delivers_everything(server, make_smtp):
    smtp = make_smtp(server)
    results = smtp.send_batch([raw(n) for n in range(3)], window=1)
    assert [r.reply.code for r in results] == [250] * 3 and len(server.messages) == 3


def test_without_pipelining_each_message_runs_alone(make_smtp):
    from tests.servers.scripted import ScriptedServer

    with ScriptedServer(extra_capabilities=["ENHANCEDSTATUSCODES"]) as srv:
        smtp = make_smtp(srv)
        results = smtp.send_batch([raw(n) for n in range(3)])
        assert [type(r) for r in results] == [SendResult] * 3
        assert [m.data for m in srv.messages] == [raw(n)[2] for n in range(3)]


def test_empty_batch_returns_an_empty_list_without_connecting(server, make_smtp):
    smtp = make_smtp(server)
    assert smtp.send_batch([]) == []
    assert server.commands == []


def test_a_batch_whose_every_message_fails_its_checks_connects_nowhere(server, make_smtp):
    errors = []
    smtp = make_smtp(server, on_error=errors.append)
    results = smtp.send_batch([7, ("sender@example.com", ["not an address"], b"x\r\n"), b"not a tuple"])
    assert all(isinstance(r, smtpx.SMTPInputError) for r in results) and len(errors) == 3
    assert server.commands == []


def test_messages_are_checked_as_they_are_sent_and_a_failure_leaves_the_rest_unsent(server, make_smtp):
    """Each message is turned into an engine item when the engine takes it, so a session that
    ends early leaves later messages unchecked: each of them is then None and in .unsent (safe
    to send again), whatever it holds; every index is accounted for, once."""
    server.reply("MAIL", "421 4.3.2 shutting down", when="late@")
    smtp = make_smtp(server)
    messages = [raw(0), ("late@example.com", ["rcpt@example.com"], b"x\r\n"), *[raw(n) for n in range(2, 40)], 7]
    with pytest.raises(smtpx.SMTPServiceClosing) as info:
        smtp.send_batch(messages, window=2)
    results, unsent = info.value.results, info.value.unsent
    assert len(results) == len(messages) and isinstance(results[0], SendResult)
    assert results[-1] is None and len(messages) - 1 in unsent  # never checked: never sent
    assert sorted(unsent) == unsent and len(set(unsent)) == len(unsent)
    assert {index for index, r in enumerate(results) if r is None} == set(unsent)
    assert len(server.messages) == sum(isinstance(r, SendResult) for r in results) == 1


def test_a_batchs_results_are_out_of_the_cyclic_collectors_view_when_compiled(server, make_smtp):
    """A batch keeps every message's result (smtpx._pure.untracked): compiled, the results,
    their lists and their replies are not tracked by the cyclic collector; pure, they are.
    Either way they read the same (tests/kernels/test_untracked.py: and are freed as before)."""
    import gc

    from smtpx import kernels

    server.reply("RCPT", "550 5.1.1 no such user", when="bad@", times=None)
    smtp = make_smtp(server)
    smtp.config("StopOnToErrors=False")  # the refused recipient is reported, the message sent
    results = smtp.send_batch([("sender@example.com", ["rcpt@example.com", "bad@example.com"], b"x\r\n")
                               for _ in range(3)])
    compiled = kernels.IMPLEMENTATION == "c"
    for result in results:
        assert isinstance(result, SendResult)
        assert result.accepted[0].address == "rcpt@example.com" and result.refused[0].reply.code == 550
        parts = [result, result.accepted, result.refused, *result.accepted, *result.refused, result.reply,
                 result.reply.lines, *[r.reply for r in result.accepted + result.refused],
                 *[r.reply.lines for r in result.accepted + result.refused]]
        assert [gc.is_tracked(part) for part in parts] == [not compiled] * len(parts)
