"""FAULTS.md items 29 and 30 through smtpx.SMTP against aiosmtpd: a server that takes 100
recipients per transaction and answers 452 after that; mixed 250/550 replies to RCPT."""
from __future__ import annotations

import pytest

import smtpx
from tests.servers.scripted import ScriptedServer

PER_TRANSACTION = 100


def _limit_recipients(srv: ScriptedServer, limit: int) -> None:
    """RFC 5321 4.5.3.1.10: 452 "too many recipients" once ``limit`` are taken."""

    async def handle_RCPT(server, session, envelope, address, rcpt_options):  # noqa: N802
        if len(envelope.rcpt_tos) >= limit:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    srv._controller.handler.handle_RCPT = handle_RCPT


def test_29_ten_thousand_recipients_and_a_server_that_takes_100_per_transaction():
    addresses = [f"r{i:05d}@example.com" for i in range(10_000)]
    with ScriptedServer() as srv:
        _limit_recipients(srv, PER_TRANSACTION)
        smtp = smtpx.SMTP(mail_server=srv.host, mail_port=srv.port, from_="s@example.com",
                          send_to=addresses[0], bcc=", ".join(addresses[1:]), subject="many", timeout=30)
        result = smtp.send()
    # Every recipient accepted exactly once, each transaction within the server's limit.
    got = [r for m in srv.messages for r in m.rcpt_tos]
    assert sorted(got) == addresses
    assert len(srv.messages) == 10_000 // PER_TRANSACTION
    assert all(len(m.rcpt_tos) <= PER_TRANSACTION for m in srv.messages)
    assert len({m.data for m in srv.messages}) == 1  # the same message each time
    assert sorted(r.address for r in result.accepted) == addresses and result.refused == []
    assert b"r00001@" not in srv.messages[0].data  # BCc never in the headers


def test_29_the_452_remainder_that_is_refused_later_is_reported(server, make_smtp):
    _limit_recipients(server, 2)
    server.reply("RCPT", "550 5.1.1 no such user", when="c@")
    smtp = make_smtp(server, send_to="a@example.com, b@example.com, c@example.com, d@example.com")
    smtp.config("StopOnToErrors=False")
    result = smtp.send()
    assert sorted(r.address for r in result.accepted) == ["a@example.com", "b@example.com", "d@example.com"]
    assert [(r.address, r.reply.code) for r in result.refused] == [("c@example.com", 550)]
    assert sorted(r for m in server.messages for r in m.rcpt_tos) == ["a@example.com", "b@example.com",
                                                                         "d@example.com"]


def test_30_mixed_replies_give_a_result_per_recipient(server, make_smtp):
    for bad in ("bad1@", "bad2@"):
        server.reply("RCPT", "550 5.1.1 unknown", when=bad)
    server.reply("RCPT", "551 5.1.6 moved", when="moved@")
    errors = []
    smtp = make_smtp(server, send_to="ok1@example.com, bad1@example.com, ok2@example.com",
                     cc="moved@example.com", bcc="bad2@example.com", on_error=errors.append)
    smtp.config("StopOnToErrors=False")
    smtp.config("StopOnCcErrors=False")
    result = smtp.send()
    assert [r.address for r in result.accepted] == ["ok1@example.com", "ok2@example.com"]
    assert sorted((r.address, r.reply.code) for r in result.refused) == [
        ("bad1@example.com", 550), ("bad2@example.com", 550), ("moved@example.com", 551)]
    assert server.messages[0].rcpt_tos == ["ok1@example.com", "ok2@example.com"]
    assert len(errors) == 3  # one on_error per refused recipient
    for address in ("bad1@example.com", "bad2@example.com", "moved@example.com"):
        assert sum(address in e.description for e in errors) == 1


def test_30_refused_to_with_stop_on_to_errors_sends_no_data(server, make_smtp):
    server.reply("RCPT", "550 5.1.1 unknown", when="bad@")
    smtp = make_smtp(server, send_to="ok@example.com, bad@example.com")
    with pytest.raises(smtpx.SMTPRecipientsRefused) as info:
        smtp.send()
    assert [r.address for r in info.value.result.refused] == ["bad@example.com"]
    assert server.messages == []
