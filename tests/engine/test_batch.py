"""send_batch: many messages pipelined across transactions, bytes in and bytes out."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.engine.scripted import C, EOF, S, Peer, ready_engine, run
from smtpx.engine import Content, EngineOptions, Envelope, EnvelopeRecipient, Read, SendResult, Write
from smtpx.errors import (
    SMTPConnectionDropped,
    SMTPDataError,
    SMTPInputError,
    SMTPMessageTooLarge,
    SMTPNotSupportedError,
    SMTPProtocolError,
    SMTPRecipientsRefused,
    SMTPSenderRefused,
    SMTPServiceClosing,
    SMTPTimeoutError,
)

NO_STOP = EngineOptions(stop_on_to_errors=False, stop_on_cc_errors=False)
OK = b"250 ok\r\n"


def msg(i: int) -> bytes:
    return b"Subject: %d\r\n\r\nbody %d\r\n" % (i, i)


def env(*rcpts: str, sender: str = "a@x.example") -> Envelope:
    return Envelope(sender, [EnvelopeRecipient(r) for r in rcpts])


def item(i: int, *rcpts: str, **flags):
    return env(*(rcpts or (f"r{i}@y.example",))), Content.from_bytes(msg(i), **flags)


def data_cmds(i: int, *rcpts: str, mail_params: bytes = b"") -> bytes:
    rcpts = rcpts or (f"r{i}@y.example",)
    return (b"MAIL FROM:<a@x.example>" + mail_params + b"\r\n"
            + b"".join(b"RCPT TO:<%s>\r\n" % r.encode() for r in rcpts) + b"DATA\r\n")


def bdat_msg(i: int) -> bytes:
    body = msg(i)
    return (b"MAIL FROM:<a@x.example>\r\nRCPT TO:<r%d@y.example>\r\n" % i
            + b"BDAT %d LAST\r\n" % len(body) + body)


def describe(outcome):
    """What a caller can see of a result or error, for comparing with send_mail."""
    if isinstance(outcome, SendResult):
        return ("ok", _result(outcome))
    result = getattr(outcome, "result", None)
    return (type(outcome), str(outcome), outcome.reply_code, outcome.enhanced,
            getattr(outcome, "delivery_unknown", None), _result(result) if result else None)


def _result(result):
    return ([(r.address, r.reply.code) for r in result.accepted], [(r.address, r.reply.code) for r in result.refused],
            result.reply.code if result.reply else None)


def send_mail_outcome(capabilities, envelope, content, script, options=None):
    engine, _ = ready_engine(*capabilities, options=options)
    try:
        return run(engine.send_mail(envelope, content), script)
    except Exception as error:  # noqa: BLE001 - the outcome is compared, whatever it is
        return error


# -- cross-message pipelining: exact bytes ---------------------------------------------------------


def test_three_messages_over_data_each_content_goes_with_the_next_commands():
    engine, sink = ready_engine("PIPELINING")
    peer = Peer([
        C(data_cmds(0)), S(b"250 ok\r\n250 ok\r\n354 go\r\n"),
        C(msg(0) + b".\r\n" + data_cmds(1)), S(b"250 q0\r\n250 ok\r\n250 ok\r\n354 go\r\n"),
        C(msg(1) + b".\r\n" + data_cmds(2)), S(b"250 q1\r\n250 ok\r\n250 ok\r\n354 go\r\n"),
        C(msg(2) + b".\r\n"), S(b"250 q2\r\n"),
    ])
    results = peer.drive(engine.send_batch([item(i) for i in range(3)]))
    assert peer.done and not engine.closed
    assert peer.writes == [data_cmds(0), msg(0) + b".\r\n" + data_cmds(1), msg(1) + b".\r\n" + data_cmds(2),
                           msg(2) + b".\r\n"]
    assert [r.reply.lines for r in results] == [["q0"], ["q1"], ["q2"]]
    assert [[a.address for a in r.accepted] for r in results] == [["r0@y.example"], ["r1@y.example"], ["r2@y.example"]]
    # transfer events per message, as send_mail gives them
    assert sink.events == [e for i in range(3) for e in
                           [("start",), ("transfer", len(msg(i)) + 3, 100, msg(i) + b".\r\n"), ("end",)]]
    assert sink.client_lines()[3:6] == ["MAIL FROM:<a@x.example>", "RCPT TO:<r1@y.example>", "DATA"]
    assert sink.server_lines()[3:7] == ["250 q0", "250 ok", "250 ok", "354 go"]


def test_three_messages_over_bdat_go_out_back_to_back_in_one_write():
    engine, sink = ready_engine("PIPELINING", "CHUNKING")
    peer = Peer([
        C(bdat_msg(0) + bdat_msg(1) + bdat_msg(2)),
        S(b"250 ok\r\n250 ok\r\n250 q0\r\n" b"250 ok\r\n250 ok\r\n250 q1\r\n" b"250 ok\r\n250 ok\r\n250 q2\r\n"),
    ])
    results = peer.drive(engine.send_batch([item(i) for i in range(3)]))
    assert peer.done and len(peer.writes) == 1
    assert [r.reply.lines for r in results] == [["q0"], ["q1"], ["q2"]]
    assert [e[0] for e in sink.events] == ["start", "transfer", "end"] * 3
    assert sink.client_lines() == [line for i in range(3) for line in
                                   ["MAIL FROM:<a@x.example>", f"RCPT TO:<r{i}@y.example>", f"BDAT {len(msg(i))} LAST"]]


def test_window_one_over_data_waits_for_each_final_reply():
    engine, _ = ready_engine("PIPELINING")
    run(engine.send_batch([item(0), item(1)], window=1), [
        C(data_cmds(0)), S(b"250 ok\r\n250 ok\r\n354 go\r\n"), C(msg(0) + b".\r\n"), S(b"250 q0\r\n"),
        C(data_cmds(1)), S(b"250 ok\r\n250 ok\r\n354 go\r\n"), C(msg(1) + b".\r\n"), S(b"250 q1\r\n"),
    ])


# -- per-message failures --------------------------------------------------------------------------


def test_failures_over_data_stay_with_their_message():
    size = b" SIZE=%d" % len(msg(0))
    engine, sink = ready_engine("PIPELINING", "SIZE 30")
    big = (env("r2@y.example"), Content.from_bytes(b"x" * 31 + b"\r\n"))
    items = [item(0), item(1), big, item(3), item(4), item(5)]
    peer = Peer([
        C(data_cmds(0, mail_params=size)), S(b"250 ok\r\n250 ok\r\n354 go\r\n"),
        C(msg(0) + b".\r\n" + data_cmds(1, mail_params=size)),
        S(b"250 q0\r\n550 5.7.1 sender rejected\r\n503 5.5.1 need MAIL\r\n503 5.5.1 need MAIL\r\n"),
        # message 2 fails its SIZE check: nothing written for it
        C(data_cmds(3, mail_params=size)), S(b"250 ok\r\n550 5.1.1 no such user\r\n554 5.5.1 no recipients\r\n"),
        C(b"RSET\r\n" + data_cmds(4, mail_params=size)),
        S(b"250 reset\r\n250 ok\r\n250 ok\r\n554 5.7.1 not now\r\n"),
        C(b"RSET\r\n" + data_cmds(5, mail_params=size)), S(b"250 reset\r\n250 ok\r\n250 ok\r\n354 go\r\n"),
        C(msg(5) + b".\r\n"), S(b"250 q5\r\n"),
    ])
    results = peer.drive(engine.send_batch(items))
    assert peer.done and not engine.closed
    assert b"x" * 31 not in peer.written
    kinds = [type(r) for r in results]
    assert kinds == [SendResult, SMTPSenderRefused, SMTPMessageTooLarge, SMTPRecipientsRefused, SMTPDataError,
                     SendResult]
    assert (results[1].reply_code, results[1].enhanced) == (550, "5.7.1")
    assert results[3].result.refused_addresses == ["r3@y.example"]
    assert results[4].reply_code == 554
    assert results[5].reply.lines == ["q5"]
    assert len(sink.events) == 3 * 2  # transfer events for the two messages whose content went


def test_failures_over_bdat_rset_after_the_refused_transaction():
    engine, _ = ready_engine("PIPELINING", "CHUNKING")
    peer = Peer([
        C(bdat_msg(0) + bdat_msg(1) + bdat_msg(2) + bdat_msg(3)),
        S(b"250 ok\r\n250 ok\r\n250 q0\r\n"
          b"250 ok\r\n550 5.1.1 no such user\r\n554 5.5.1 no valid recipients\r\n"
          b"250 ok\r\n250 ok\r\n552 5.3.4 too big\r\n"
          b"550 5.7.1 no\r\n503 5.5.1 need MAIL\r\n503 5.5.1 need MAIL\r\n"),
        C(b"RSET\r\n"), S(b"250 reset\r\n"),
    ])
    results = peer.drive(engine.send_batch([item(i) for i in range(4)]))
    assert peer.done
    assert [type(r) for r in results] == [SendResult, SMTPRecipientsRefused, SMTPDataError, SMTPSenderRefused]
    assert results[2].enhanced == "5.3.4"


NEXT = b"250 ok\r\n250 ok\r\n354 go\r\n"  # message 1's MAIL, RCPT and DATA replies
END_1 = [C(msg(1) + b".\r\n"), S(b"250 q1\r\n")]
RCPT_REFUSED = b"250 ok\r\n550 5.1.1 no such user\r\n554 no valid recipients\r\n"
# name -> (send_mail's conversation after MAIL/RCPT/DATA, the batch's, with message 1 joining in)
SCENARIOS = {
    "sender refused": (
        [S(b"550 5.7.1 sender rejected\r\n503 need MAIL\r\n503 need MAIL\r\n")],
        [S(b"550 5.7.1 sender rejected\r\n503 need MAIL\r\n503 need MAIL\r\n"), C(data_cmds(1)), S(NEXT)]),
    "recipient refused": (
        [S(RCPT_REFUSED), C(b"RSET\r\n"), S(OK)],
        [S(RCPT_REFUSED), C(b"RSET\r\n" + data_cmds(1)), S(OK + NEXT)]),
    "recipient deferred (452) with nobody accepted": (
        [S(b"250 ok\r\n452 4.5.3 too many\r\n554 no valid recipients\r\n"), C(b"RSET\r\n"), S(OK)],
        [S(b"250 ok\r\n452 4.5.3 too many\r\n554 no valid recipients\r\n"), C(b"RSET\r\n" + data_cmds(1)),
         S(OK + NEXT)]),
    "DATA refused": (
        [S(b"250 ok\r\n250 ok\r\n554 5.7.1 not now\r\n"), C(b"RSET\r\n"), S(OK)],
        [S(b"250 ok\r\n250 ok\r\n554 5.7.1 not now\r\n"), C(b"RSET\r\n" + data_cmds(1)), S(OK + NEXT)]),
    "end of data refused": (
        [S(b"250 ok\r\n250 ok\r\n354 go\r\n"), C(msg(0) + b".\r\n"), S(b"554 5.6.0 spam\r\n")],
        [S(b"250 ok\r\n250 ok\r\n354 go\r\n"), C(msg(0) + b".\r\n" + data_cmds(1)),
         S(b"554 5.6.0 spam\r\n" + NEXT)]),
    "DATA accepted after a refused recipient": (
        [S(b"250 ok\r\n550 5.1.1 no such user\r\n354 go\r\n"), C(b".\r\n"), S(b"554 no\r\n"),
         C(b"RSET\r\n"), S(OK)],
        [S(b"250 ok\r\n550 5.1.1 no such user\r\n354 go\r\n"), C(b".\r\nRSET\r\n" + data_cmds(1)),
         S(b"554 no\r\n" + OK + NEXT)]),
    "accepted": (
        [S(b"250 ok\r\n250 2.1.5 ok\r\n354 go\r\n"), C(msg(0) + b".\r\n"), S(b"250 2.0.0 queued\r\n")],
        [S(b"250 ok\r\n250 2.1.5 ok\r\n354 go\r\n"), C(msg(0) + b".\r\n" + data_cmds(1)),
         S(b"250 2.0.0 queued\r\n" + NEXT)]),
}


@pytest.mark.parametrize("name", SCENARIOS)
def test_each_outcome_is_what_send_mail_gives(name):
    alone, in_batch = SCENARIOS[name]
    single = send_mail_outcome(["PIPELINING"], *item(0), [C(data_cmds(0)), *alone])
    engine, _ = ready_engine("PIPELINING")
    results = run(engine.send_batch([item(0), item(1)]), [C(data_cmds(0)), *in_batch, *END_1])
    assert describe(results[0]) == describe(single)
    assert results[1].reply.lines == ["q1"]


def test_a_message_needing_its_rcpt_replies_first_drains_and_runs_alone():
    engine, _ = ready_engine("PIPELINING")
    two = (env("b@y.example", "c@y.example"), Content.from_bytes(msg(1)))
    results = run(engine.send_batch([item(0), two, item(2)]), [
        C(data_cmds(0)), S(b"250 ok\r\n250 ok\r\n354 go\r\n"), C(msg(0) + b".\r\n"), S(b"250 q0\r\n"),
        C(b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nRCPT TO:<c@y.example>\r\n"),
        S(b"250 ok\r\n250 ok\r\n550 5.1.1 no such user\r\n"), C(b"RSET\r\n"), S(OK),
        C(data_cmds(2)), S(b"250 ok\r\n250 ok\r\n354 go\r\n"), C(msg(2) + b".\r\n"), S(b"250 q2\r\n"),
    ])
    assert isinstance(results[1], SMTPRecipientsRefused) and results[1].result.refused_addresses == ["c@y.example"]
    assert results[0].reply.lines == ["q0"] and results[2].reply.lines == ["q2"]


def test_452_remainder_gets_its_own_transaction_after_the_pipeline():
    engine, _ = ready_engine("PIPELINING", options=NO_STOP)
    two = (env("b@y.example", "c@y.example"), Content.from_bytes(msg(0)))
    script = [
        C(data_cmds(0, "b@y.example", "c@y.example")), S(b"250 ok\r\n250 ok\r\n452 4.5.3 too many\r\n354 go\r\n"),
        C(msg(0) + b".\r\n" + data_cmds(1)), S(b"250 q0\r\n250 ok\r\n250 ok\r\n354 go\r\n"),
        C(msg(1) + b".\r\n"), S(b"250 q1\r\n"),
        C(data_cmds(0, "c@y.example")), S(b"250 ok\r\n250 ok\r\n354 go\r\n"), C(msg(0) + b".\r\n"), S(b"250 q0b\r\n"),
    ]
    results = run(engine.send_batch([two, item(1)]), script)
    single = send_mail_outcome(["PIPELINING"], *two, [
        C(data_cmds(0, "b@y.example", "c@y.example")), S(b"250 ok\r\n250 ok\r\n452 4.5.3 too many\r\n354 go\r\n"),
        C(msg(0) + b".\r\n"), S(b"250 q0\r\n"),
        C(data_cmds(0, "c@y.example")), S(b"250 ok\r\n250 ok\r\n354 go\r\n"), C(msg(0) + b".\r\n"), S(b"250 q0b\r\n"),
    ], options=NO_STOP)
    assert describe(results[0]) == describe(single)
    assert [a.address for a in results[0].accepted] == ["b@y.example", "c@y.example"]
    assert results[1].reply.lines == ["q1"]


def test_bad_items_and_bad_window_are_input_errors():
    engine, _ = ready_engine("PIPELINING")
    with pytest.raises(SMTPInputError):
        run(engine.send_batch([item(0)], window=0), [])
    bad_address = (env("no-at-sign"), Content.from_bytes(msg(1)))
    needs_utf8 = (env("ü@y.example"), Content.from_bytes(msg(2)))
    eight_bit = item(3, eight_bit=True)
    results = run(engine.send_batch([("not", "a", "pair"), bad_address, needs_utf8, eight_bit]), [])
    assert [type(r) for r in results] == [SMTPInputError, SMTPInputError, SMTPNotSupportedError,
                                          SMTPNotSupportedError]
    assert not engine.closed


def test_without_pipelining_messages_go_one_by_one():
    engine, _ = ready_engine("8BITMIME")
    results = run(engine.send_batch([item(0), item(1), item(2)]), [
        C(b"MAIL FROM:<a@x.example>\r\n"), S(OK), C(b"RCPT TO:<r0@y.example>\r\n"), S(OK),
        C(b"DATA\r\n"), S(b"354 go\r\n"), C(msg(0) + b".\r\n"), S(b"250 q0\r\n"),
        C(b"MAIL FROM:<a@x.example>\r\n"), S(b"550 5.7.1 no\r\n"),
        C(b"MAIL FROM:<a@x.example>\r\n"), S(OK), C(b"RCPT TO:<r2@y.example>\r\n"), S(OK),
        C(b"DATA\r\n"), S(b"354 go\r\n"), C(msg(2) + b".\r\n"), S(b"250 q2\r\n"),
    ])
    assert [type(r) for r in results] == [SendResult, SMTPSenderRefused, SendResult]


# -- session failures ------------------------------------------------------------------------------


def test_421_mid_batch_over_bdat_lists_known_results_and_unsent():
    engine, _ = ready_engine("PIPELINING", "CHUNKING")
    with pytest.raises(SMTPServiceClosing) as info:
        run(engine.send_batch([item(i) for i in range(4)]), [
            C(bdat_msg(0) + bdat_msg(1) + bdat_msg(2) + bdat_msg(3)),
            S(b"250 ok\r\n250 ok\r\n250 q0\r\n250 ok\r\n421 4.3.2 shutting down\r\n"),
        ])
    error = info.value
    assert engine.closed
    assert isinstance(error.results[0], SendResult) and error.results[0].reply.lines == ["q0"]
    assert error.results[1:] == [None, None, None] and error.unsent == [1, 2, 3]


def test_421_over_data_lists_items_never_taken_as_unsent():
    engine, _ = ready_engine("PIPELINING")
    with pytest.raises(SMTPServiceClosing) as info:
        run(engine.send_batch([item(i) for i in range(4)]), [
            C(data_cmds(0)), S(b"250 ok\r\n250 ok\r\n354 go\r\n"),
            C(msg(0) + b".\r\n" + data_cmds(1)), S(b"250 q0\r\n421 4.3.2 bye\r\n"),
        ])
    assert isinstance(info.value.results[0], SendResult)
    assert info.value.unsent == [1, 2, 3]


def test_eof_after_content_marks_that_message_delivery_unknown():
    engine, _ = ready_engine("PIPELINING")
    with pytest.raises(SMTPConnectionDropped) as info:
        run(engine.send_batch([item(0), item(1), item(2)]), [
            C(data_cmds(0)), S(b"250 ok\r\n250 ok\r\n354 go\r\n"),
            C(msg(0) + b".\r\n" + data_cmds(1)), EOF,
        ])
    results = info.value.results
    assert isinstance(results[0], SMTPConnectionDropped) and results[0].delivery_unknown is True
    assert results[0].result.reply is None  # as send_mail: no reply to the end of data
    assert results[1] is None and info.value.unsent == [1, 2]  # 1: commands only, 2: never taken


def test_eof_over_bdat_every_message_in_flight_is_delivery_unknown():
    engine, _ = ready_engine("PIPELINING", "CHUNKING")
    with pytest.raises(SMTPConnectionDropped) as info:
        run(engine.send_batch(iter([item(0), item(1), item(2)])), [
            C(bdat_msg(0) + bdat_msg(1) + bdat_msg(2)), S(b"250 ok\r\n250 ok\r\n250 q0\r\n250 ok\r\n"), EOF,
        ])
    results = info.value.results
    assert isinstance(results[0], SendResult)
    assert [r.delivery_unknown for r in results[1:]] == [True, True] and info.value.unsent == []


def test_timeout_thrown_in_while_waiting_marks_delivery_unknown():
    engine, _ = ready_engine("PIPELINING")
    operation = engine.send_batch([item(0), item(1)])
    replies = iter([b"250 ok\r\n250 ok\r\n354 go\r\n"])
    writes = []
    action = next(operation)
    with pytest.raises(SMTPTimeoutError) as info:
        while True:
            if isinstance(action, Write):
                writes.append(action.data)
                action = operation.send(None)
            elif isinstance(action, Read):
                data = next(replies, None)
                action = operation.throw(SMTPTimeoutError("no reply")) if data is None else operation.send(data)
    assert writes[-1] == msg(0) + b".\r\n" + data_cmds(1)
    assert info.value.results[0].delivery_unknown is True and info.value.unsent == [1]
    assert engine.closed


def test_unsolicited_reply_after_the_batch_is_a_protocol_error_with_results():
    engine, _ = ready_engine("PIPELINING", "CHUNKING")
    with pytest.raises(SMTPProtocolError) as info:
        run(engine.send_batch([item(0)]), [C(bdat_msg(0)), S(b"250 ok\r\n250 ok\r\n250 q0\r\n250 extra\r\n")])
    assert isinstance(info.value.results[0], SendResult) and info.value.unsent == []


# -- the window --------------------------------------------------------------------------------------


class CountingBdatServer:
    """Answers pipelined BDAT transactions (250 to everything), reading what the client wrote, and
    records how many transactions were written and not yet answered at each read."""

    def __init__(self) -> None:
        self.buffer = b""
        self.unanswered: list[int] = []  # reply counts of written transactions, oldest first
        self.outstanding_at_reads: list[int] = []

    def written(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n" in self.buffer:
            line, rest = self.buffer.split(b"\r\n", 1)
            if line.startswith(b"BDAT "):
                size = int(line.split()[1])
                if len(rest) < size:
                    return
                rest = rest[size:]
                self.unanswered[-1] += 1
            elif line.startswith(b"MAIL"):
                self.unanswered.append(1)
            else:
                self.unanswered[-1] += 1
            self.buffer = rest

    def read(self) -> bytes:
        self.outstanding_at_reads.append(len(self.unanswered))
        return OK * self.unanswered.pop(0)


@pytest.mark.parametrize("window", [1, 2, 5])
def test_window_limits_the_transactions_in_flight(window):
    engine, _ = ready_engine("PIPELINING", "CHUNKING")
    server = CountingBdatServer()
    operation = engine.send_batch([item(i) for i in range(9)], window=window)
    result, action = None, None
    try:
        action = operation.send(None)
        while True:
            if isinstance(action, Write):
                server.written(action.data)
                result = None
            else:
                result = server.read()
            action = operation.send(result)
    except StopIteration as done:
        results = done.value
    assert all(isinstance(r, SendResult) for r in results) and len(results) == 9
    assert max(server.outstanding_at_reads) == window
    assert not server.unanswered


def test_unacknowledged_bytes_are_bounded():
    # 40 messages of 100 KB: the 256 KiB limit stops the writing before the window of 32 does
    engine, _ = ready_engine("PIPELINING", "CHUNKING")
    server = CountingBdatServer()
    body = b"x" * 100_000 + b"\r\n"
    items = [(env("r@y.example"), Content.from_bytes(body)) for _ in range(40)]
    operation = engine.send_batch(items)
    action, result = operation.send(None), None
    most = 0
    try:
        while True:
            if isinstance(action, Write):
                server.written(action.data)
                result = None
            else:
                most = max(most, len(server.unanswered))
                result = server.read()
            action = operation.send(result)
    except StopIteration as done:
        assert len(done.value) == 40
    assert 2 <= most <= 4  # pipelined, but about 256 KiB of 100 KB messages, never the 32 of the window


# -- reads cut anywhere ------------------------------------------------------------------------------

PROPERTY_SCRIPT = [
    C(data_cmds(0)), S(b"250 ok\r\n250 ok\r\n354 go\r\n"),
    C(msg(0) + b".\r\n" + data_cmds(1)),
    S(b"250-q0\r\n250 queued\r\n550 5.7.1 sender rejected\r\n503 need MAIL\r\n503 need MAIL\r\n"),
    C(data_cmds(2)), S(b"250 ok\r\n550 5.1.1 nobody\r\n554 no valid recipients\r\n"),
    C(b"RSET\r\n" + data_cmds(3)), S(b"250 reset\r\n250 ok\r\n250 ok\r\n354 go\r\n"),
    C(msg(3) + b".\r\n"), S(b"554 5.6.0 spam\r\n"),
]


def _split(script, cuts):
    out, cut = [], iter(cuts)
    for step in script:
        if isinstance(step, S):
            data = step.data
            points = sorted({min(next(cut, 0), len(data)) for _ in range(2)} | {0, len(data)})
            out += [S(data[a:b]) for a, b in zip(points, points[1:]) if data[a:b]]
        else:
            out.append(step)
    return out


# (the refused recipient is last: its RSET may go out as soon as its replies are read, and the
# scripted peer wants client bytes exactly where the script puts them)
PROPERTY_SCRIPT_BDAT = [
    C(bdat_msg(0) + bdat_msg(1) + bdat_msg(2) + bdat_msg(3)),
    S(b"250 ok\r\n250 ok\r\n250-q0\r\n250 queued\r\n"
      b"550 5.7.1 sender rejected\r\n503 need MAIL\r\n503 need MAIL\r\n"
      b"250 ok\r\n250 ok\r\n554 5.6.0 spam\r\n"
      b"250 ok\r\n550 5.1.1 nobody\r\n554 no valid recipients\r\n"),
    C(b"RSET\r\n"), S(b"250 reset\r\n"),
]


@settings(max_examples=100, deadline=None)
@given(cuts=st.lists(st.integers(0, 200), max_size=16), bdat=st.booleans())
def test_any_split_of_the_server_bytes_gives_the_same_results(cuts, bdat):
    items = [item(i) for i in range(4)]
    caps = ("PIPELINING", "CHUNKING") if bdat else ("PIPELINING",)
    script = PROPERTY_SCRIPT_BDAT if bdat else PROPERTY_SCRIPT
    engine, _ = ready_engine(*caps)
    expected = [describe(r) for r in run(engine.send_batch(items), list(script))]
    engine, _ = ready_engine(*caps)
    got = [describe(r) for r in run(engine.send_batch(items), _split(script, cuts))]
    assert got == expected
    kinds = [kind for kind, *_ in expected]
    assert kinds == ["ok", SMTPSenderRefused, *([SMTPDataError, SMTPRecipientsRefused] if bdat else
                                                [SMTPRecipientsRefused, SMTPDataError])]


# -- 452 over BDAT ----------------------------------------------------------------------------------

TWO = (env("b@y.example", "c@y.example"), Content.from_bytes(msg(0)))
TWO_BDAT = (b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nRCPT TO:<c@y.example>\r\n"
            + b"BDAT %d LAST\r\n" % len(msg(0)) + msg(0))
REMAINDER = b"MAIL FROM:<a@x.example>\r\nRCPT TO:<c@y.example>\r\n" + b"BDAT %d LAST\r\n" % len(msg(0)) + msg(0)


def test_452_over_bdat_same_result_as_send_mail():
    first = S(b"250 ok\r\n250 ok\r\n452 4.5.3 too many\r\n250 q0\r\n")
    single = send_mail_outcome(["PIPELINING", "CHUNKING"], *TWO, [
        C(TWO_BDAT), first, C(REMAINDER), S(b"250 ok\r\n250 ok\r\n250 q0b\r\n")], options=NO_STOP)
    engine, _ = ready_engine("PIPELINING", "CHUNKING", options=NO_STOP)
    results = run(engine.send_batch([TWO, item(1)]), [
        C(TWO_BDAT + bdat_msg(1)), S(first.data + b"250 ok\r\n250 ok\r\n250 q1\r\n"),
        C(REMAINDER), S(b"250 ok\r\n250 ok\r\n250 q0b\r\n"),
    ])
    assert describe(results[0]) == describe(single)
    assert results[0].reply.lines == ["q0b"] and results[1].reply.lines == ["q1"]


def test_session_lost_in_a_452_remainder_reports_the_partial_delivery():
    engine, _ = ready_engine("PIPELINING", "CHUNKING", options=NO_STOP)
    with pytest.raises(SMTPServiceClosing) as info:
        run(engine.send_batch([TWO, item(1)]), [
            C(TWO_BDAT + bdat_msg(1)), S(b"250 ok\r\n250 ok\r\n452 4.5.3 too many\r\n250 q0\r\n" + OK * 3),
            C(REMAINDER), S(b"421 4.3.2 bye\r\n"),
        ])
    partial = info.value.results[0]
    assert isinstance(partial, SMTPConnectionDropped) and partial.delivery_unknown is False
    assert [r.address for r in partial.result.accepted] == ["b@y.example"]
    assert isinstance(info.value.results[1], SendResult) and info.value.unsent == []


@pytest.mark.parametrize("ending,unknown", [(EOF, True), (S(b"421 4.3.2 bye\r\n"), False)])
def test_session_lost_after_the_content_without_pipelining(ending, unknown):
    engine, _ = ready_engine("8BITMIME")
    with pytest.raises((SMTPConnectionDropped, SMTPServiceClosing)) as info:
        run(engine.send_batch([item(0), item(1)]), [
            C(b"MAIL FROM:<a@x.example>\r\n"), S(OK), C(b"RCPT TO:<r0@y.example>\r\n"), S(OK),
            C(b"DATA\r\n"), S(b"354 go\r\n"), C(msg(0) + b".\r\n"), ending,
        ])
    first = info.value.results[0]
    if unknown:
        assert first.delivery_unknown is True and info.value.unsent == [1]
    else:  # a 421 to the end of data: refused, not delivered
        assert first is None and info.value.unsent == [0, 1]


# -- a Write cut short (FAULTS.md #40): the driver throws the error in, with bytes_written -----------


def run_cut(operation, script, cut_at: int, whole: bool = False):
    """Drive ``operation`` like run(), but the Write that reaches byte ``cut_at`` of everything
    the client writes fails there: its first bytes reach the peer, and the driver throws
    SMTPConnectionDropped in with ``bytes_written`` = those bytes (as the streams do). With
    ``whole``, all of that Write's bytes may have gone out before it failed."""
    peer = Peer(list(script))
    total = 0
    try:
        action = next(operation)
        while True:
            if isinstance(action, Write):
                data = action.data
                if total + len(data) > cut_at:
                    went = len(data) if whole else cut_at - total
                    peer._write(data[:went])
                    error = SMTPConnectionDropped("connection dropped by the remote host while writing")
                    error.bytes_written = went
                    action = operation.throw(error)
                    continue
                peer._write(data)
                total += len(data)
                action = operation.send(None)
            else:
                assert isinstance(action, Read)
                action = operation.send(peer._read())
    except StopIteration as stop:
        return stop.value


def big_body(size: int = 300_000) -> bytes:
    return b"Subject: big\r\n\r\n" + b"x" * size + b"\r\n"


def big_item(i: int, size: int = 300_000):
    """One chunk, so all its content and its "." go out in one Write."""
    return env(f"r{i}@y.example"), Content([big_body(size)], None)


def test_cut_mid_content_over_pipelined_data_is_unsent_not_delivery_unknown():
    engine, _ = ready_engine("PIPELINING")
    items = [item(0), big_item(1), item(2)]
    script = [C(data_cmds(0)), S(b"250 ok\r\n250 ok\r\n354 go\r\n"),
              C(msg(0) + b".\r\n" + data_cmds(1)), S(b"250 q0\r\n250 ok\r\n250 ok\r\n354 go\r\n"),
              C(big_body() + b".\r\n" + data_cmds(2))]
    before = len(data_cmds(0) + msg(0) + b".\r\n" + data_cmds(1))
    with pytest.raises(SMTPConnectionDropped) as info:
        run_cut(engine.send_batch(items), script, before + 10)  # 10 bytes of message 1's content
    results = info.value.results
    assert isinstance(results[0], SendResult)  # its 250 came in
    assert results[1] is None and info.value.unsent == [1, 2]
    assert engine.closed


@pytest.mark.parametrize("pipelining", [True, False])
def test_cut_mid_content_of_one_big_write_is_unsent_also_without_pipelining(pipelining):
    if pipelining:
        script = [C(data_cmds(0)), S(b"250 ok\r\n250 ok\r\n354 go\r\n")]
        before = len(data_cmds(0))
    else:
        script = [C(b"MAIL FROM:<a@x.example>\r\n"), S(OK), C(b"RCPT TO:<r0@y.example>\r\n"), S(OK),
                  C(b"DATA\r\n"), S(b"354 go\r\n")]
        before = len(b"MAIL FROM:<a@x.example>\r\nRCPT TO:<r0@y.example>\r\nDATA\r\n")
    script.append(C(big_body() + b".\r\n"))
    content_size = len(big_body()) + 3  # + ".\r\n"
    for cut in (before, before + 1, before + content_size - 1):  # nothing / some / all but the last byte
        engine, _ = ready_engine(*(["PIPELINING"] if pipelining else []))
        with pytest.raises(SMTPConnectionDropped) as info:
            run_cut(engine.send_batch([big_item(0), item(1)]), list(script), cut)
        assert info.value.results[0] is None and info.value.unsent == [0, 1], cut


def test_the_end_of_data_counts_as_written_exactly_when_the_failed_write_got_past_it():
    """The Write carrying message 0's content and "." and message 1's commands fails at every
    offset: message 0 is delivery unknown once its whole ".\\r\\n" may have gone out, else
    unsent."""
    shared = msg(0) + b".\r\n" + data_cmds(1)
    end = len(msg(0) + b".\r\n")
    head = [C(data_cmds(0)), S(b"250 ok\r\n250 ok\r\n354 go\r\n")]
    for went in range(len(shared)):
        engine, _ = ready_engine("PIPELINING")
        with pytest.raises(SMTPConnectionDropped) as info:
            run_cut(engine.send_batch([item(0), item(1)]), head + [C(shared)], len(data_cmds(0)) + went)
        first = info.value.results[0]
        if went >= end:
            assert first.delivery_unknown is True and info.value.unsent == [1], went
        else:
            assert first is None and info.value.unsent == [0, 1], went


def test_over_pipelined_bdat_each_message_whose_last_chunk_may_have_gone_is_delivery_unknown():
    wire = bdat_msg(0) + bdat_msg(1) + bdat_msg(2)
    ends = [len(bdat_msg(0)), len(bdat_msg(0) + bdat_msg(1)), len(wire)]
    for went in range(len(wire)):
        engine, _ = ready_engine("PIPELINING", "CHUNKING")
        with pytest.raises(SMTPConnectionDropped) as info:
            run_cut(engine.send_batch([item(0), item(1), item(2)]), [C(wire)], went)
        results = info.value.results
        for index, end in enumerate(ends):
            if end <= went:
                assert results[index].delivery_unknown is True, (went, index)
            else:
                assert results[index] is None, (went, index)
        assert info.value.unsent == [i for i, end in enumerate(ends) if end > went]


@pytest.mark.parametrize("caps", [("PIPELINING",), (), ("CHUNKING",), ("PIPELINING", "CHUNKING")])
def test_send_mail_and_send_batch_agree_on_a_write_cut_before_or_after_the_end(caps):
    """The Write carrying the end of data fails: cut before its last byte, the message was not
    delivered; failed with all its bytes possibly gone (an asyncio transport that still held
    some when the connection went), delivery is unknown. send_mail and send_batch agree."""
    body = big_body(2000)
    if "CHUNKING" in caps:
        last = b"BDAT %d LAST\r\n" % len(body) + body
        if "PIPELINING" in caps:
            script = [C(b"MAIL FROM:<a@x.example>\r\nRCPT TO:<r0@y.example>\r\n" + last)]
        else:
            script = [C(b"MAIL FROM:<a@x.example>\r\n"), S(OK), C(b"RCPT TO:<r0@y.example>\r\n"), S(OK), C(last)]
    elif "PIPELINING" in caps:
        script = [C(data_cmds(0)), S(b"250 ok\r\n250 ok\r\n354 go\r\n"), C(body + b".\r\n")]
    else:
        script = [C(b"MAIL FROM:<a@x.example>\r\n"), S(OK), C(b"RCPT TO:<r0@y.example>\r\n"), S(OK),
                  C(b"DATA\r\n"), S(b"354 go\r\n"), C(body + b".\r\n")]
    total = sum(len(step.data) for step in script if isinstance(step, C))
    for cut, whole in ((total - 1000, False), (total - 1, False), (total - 1, True)):
        engine, _ = ready_engine(*caps)
        with pytest.raises(SMTPConnectionDropped) as single:
            run_cut(engine.send_mail(*big_item(0, size=2000)), list(script), cut, whole=whole)
        assert getattr(single.value, "delivery_unknown", False) is whole, (cut, whole)
        engine, _ = ready_engine(*caps)
        with pytest.raises(SMTPConnectionDropped) as batch:
            run_cut(engine.send_batch([big_item(0, size=2000)]), list(script), cut, whole=whole)
        if whole:
            assert batch.value.results[0].delivery_unknown is True and batch.value.unsent == []
        else:
            assert batch.value.results == [None] and batch.value.unsent == [0], cut
