"""send_batch's lane (smtpx.engine.runner, "the batch lane"): small messages whose replies are
matched a window at a time. Against a server that answers by rules (refused and deferred
recipients, refused senders, DATA and end-of-data refusals, RSET), every batch gives, message
by message, what send_mail gives for that message alone, and the server stores the same
messages; a session that ends in the middle of a window leaves each message delivered,
delivery unknown or unsent exactly as its replies say."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smtpx.engine import Content, EngineOptions, Envelope, EnvelopeRecipient, Read, SendResult, Write
from smtpx.errors import SMTPConnectionDropped, SMTPServiceClosing
from tests.engine.scripted import RecordingSink, ready_engine
from tests.engine.test_batch import describe


class RuleServer:
    """An SMTP server in memory that reads what the client wrote and answers by rules taken
    from the addresses and the content: RCPT 'refuse*' 550, 'defer*' 452 (then accepted in a
    later transaction), MAIL 'nobody*' 550, content with 'REJECT' 554 at its end, DATA or
    BDAT without an accepted recipient 554. ``cut_after`` replies, then the server says
    ``cut_with`` (421) or closes (EOF)."""

    def __init__(self, cut_after: int | None = None, cut_with: bytes = b"") -> None:
        self.inbox = bytearray()
        self.out = bytearray()
        self.delivered: list[tuple[tuple[str, ...], bytes]] = []  # stored
        self.acknowledged: list[str] = []  # stored and its 250 sent (the first recipient)
        self.deferred_once: set[str] = set()
        self.cut_after, self.cut_with = cut_after, cut_with
        self.replies = 0
        self.closed = False
        self._reset()
        self._data: bytearray | None = None
        self._bdat_left: int | None = None
        self._bdat_buffer = bytearray()

    def _reset(self) -> None:
        self.sender: str | None = None
        self.rcpts: list[str] = []

    def _say(self, line: bytes) -> bool:
        """Send a reply; False when the server was cut instead."""
        if self.closed:
            return False
        if self.cut_after is not None and self.replies >= self.cut_after:
            self.out += self.cut_with
            self.closed = True
            return False
        self.replies += 1
        self.out += line + b"\r\n"
        return True

    def _end_of_data(self, body: bytes) -> None:
        if not self.rcpts:
            self._say(b"554 no valid recipients")
        elif b"REJECT" in body:
            self._say(b"554 rejected")
        elif self._say(b"250 queued"):
            self.delivered.append((tuple(self.rcpts), body))
            self.acknowledged.append(self.rcpts[0])
        elif not self.cut_with:  # stored, then the connection dropped before the 250 went out
            self.delivered.append((tuple(self.rcpts), body))
        # (a 421 in place of the 250: the message was not taken)
        self._reset()

    def written(self, data: bytes) -> None:
        self.inbox += data
        while not self.closed:
            if self._bdat_left is not None:
                take = min(self._bdat_left, len(self.inbox))
                self._bdat_buffer += self.inbox[:take]
                del self.inbox[:take]
                self._bdat_left -= take
                if self._bdat_left:
                    return
                self._bdat_left = None
                self._end_of_data(bytes(self._bdat_buffer))
                continue
            end = self.inbox.find(b"\r\n")
            if end < 0:
                return
            line = bytes(self.inbox[:end])
            del self.inbox[:end + 2]
            if self._data is not None:
                if line == b".":
                    body, self._data = bytes(self._data), None
                    self._end_of_data(body)
                else:
                    self._data += (line[1:] if line.startswith(b".") else line) + b"\r\n"
                continue
            self._command(line.decode())

    def _command(self, line: str) -> None:
        verb = line.split(" ", 1)[0].upper()
        address = line.partition("<")[2].partition(">")[0]
        if verb == "MAIL":
            if self.sender is not None:
                self._say(b"503 nested MAIL")
            elif address.startswith("nobody"):
                self._say(b"550 sender refused")
            else:
                self.sender = address
                self._say(b"250 ok")
        elif verb == "RCPT":
            if self.sender is None:
                self._say(b"503 need MAIL")
            elif address.startswith("refuse"):
                self._say(b"550 no such user")
            elif address.startswith("defer") and address not in self.deferred_once and self.rcpts:
                self.deferred_once.add(address)
                self._say(b"452 too many recipients")
            else:
                self.rcpts.append(address)
                self._say(b"250 ok")
        elif verb == "DATA":
            if not self.rcpts:
                self._say(b"554 no valid recipients")
            else:
                self._data = bytearray()
                self._say(b"354 go ahead")
        elif verb == "BDAT":
            self._bdat_left = int(line.split()[1])
            self._bdat_buffer = bytearray()
        elif verb == "RSET":
            self._reset()
            self._say(b"250 reset")
        else:
            self._say(b"500 what")

    def read(self) -> bytes:
        if not self.out:
            if self.closed:
                return b""
            raise AssertionError("the client waits for a reply the server does not owe")
        data, self.out = bytes(self.out), bytearray()
        return data


def drive(operation, server: RuleServer, actions: list | None = None):
    """Run ``operation`` against ``server``; ``actions``: every action it yields, in order."""
    result = None
    try:
        action = operation.send(None)
        while True:
            if actions is not None:
                actions.append(action)
            if isinstance(action, Write):
                server.written(action.data)
                result = None
            else:
                assert isinstance(action, Read)
                result = server.read()
            action = operation.send(result)
    except StopIteration as done:
        return done.value


def message(spec: tuple[str, tuple[str, ...], bool]):
    sender, rcpts, reject = spec
    body = b"Subject: t\r\n\r\n.line\r\n" + (b"REJECT\r\n" if reject else b"fine\r\n")
    return Envelope(sender, [EnvelopeRecipient(r) for r in rcpts]), Content.from_bytes(body)


recipients = st.lists(st.sampled_from(["ok1@y", "ok2@y", "refuse@y", "defer1@y", "defer2@y"]),
                      min_size=1, max_size=3, unique=True)
specs = st.lists(st.tuples(st.sampled_from(["a@x", "a@x", "nobody@x"]), recipients.map(tuple), st.booleans()),
                 min_size=1, max_size=12)
CAPS = {"data": ("PIPELINING",), "bdat": ("PIPELINING", "CHUNKING")}


def engine_for(mode: str, quiet: bool, options=None):
    """An engine for the mode; ``quiet``: nobody listens to pi_trail, so the lane may act on a
    read's bytes before parsing them (Channel.plain_read)."""
    sink = RecordingSink()
    if quiet:
        sink.pi_trail_enabled = False
    engine, _ = ready_engine(*CAPS[mode], options=options, sink=sink)
    return engine


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=specs, mode=st.sampled_from(sorted(CAPS)), window=st.sampled_from([1, 2, 3, 32]),
       send_rset=st.booleans(), quiet=st.booleans())
def test_each_message_ends_as_send_mail_alone_and_the_server_stores_the_same(batch, mode, window, send_rset, quiet):
    options = EngineOptions(stop_on_to_errors=False, stop_on_cc_errors=False, send_rset=send_rset)
    engine = engine_for(mode, quiet, options)
    server = RuleServer()
    results = drive(engine.send_batch([message(spec) for spec in batch], window=window), server)
    alone_server = RuleServer()
    expected = []
    for spec in batch:
        alone, _ = ready_engine(*CAPS[mode], options=options)
        try:
            expected.append(drive(alone.send_mail(*message(spec)), alone_server))
        except Exception as error:  # send_mail raises what send_batch returns
            expected.append(error)
        alone_server.sender, alone_server.rcpts = None, []  # a fresh session per message
    assert [describe(r) for r in results] == [describe(r) for r in expected]
    assert sorted(server.delivered) == sorted(alone_server.delivered)  # 452 remainders go last
    assert not server.inbox and not server.out


# Four one-recipient messages: MAIL, RCPT and BDAT replies each, or MAIL, RCPT, DATA and the final.
CUTS = [(mode, cut) for mode, replies in (("bdat", 12), ("data", 16)) for cut in range(replies)]


@pytest.mark.parametrize("mode,cut_after", CUTS)
@pytest.mark.parametrize("cut_with", [b"", b"421 shutting down\r\n"], ids=["EOF", "421"])
@pytest.mark.parametrize("quiet", [False, True], ids=["traced", "quiet"])
def test_a_session_cut_mid_window_leaves_each_message_as_its_replies_say(mode, cut_with, cut_after, quiet):
    engine = engine_for(mode, quiet)
    server = RuleServer(cut_after=cut_after, cut_with=cut_with)
    batch = [message(("a@x", (f"ok{i}@y",), False)) for i in range(4)]
    with pytest.raises((SMTPConnectionDropped, SMTPServiceClosing)) as info:
        drive(engine.send_batch(batch, window=32), server)
        pytest.fail(f"the batch ended although the server stopped after {cut_after} replies")
    results = info.value.results
    stored = {rcpts[0] for rcpts, _ in server.delivered}
    for index, outcome in enumerate(results + [None] * (4 - len(results))):
        address = f"ok{index}@y"
        if address in server.acknowledged:  # its 250 came: delivered, whatever came after
            assert isinstance(outcome, SendResult), (index, outcome)
        elif address in stored:  # stored, the 250 lost with the connection: unknown, never unsent
            assert isinstance(outcome, SMTPConnectionDropped) and outcome.delivery_unknown, (index, outcome)
        elif outcome is not None:  # its end went out unanswered: unknown, never after a 421
            assert isinstance(outcome, SMTPConnectionDropped) and outcome.delivery_unknown and not cut_with
            assert index not in info.value.unsent
        else:  # certainly not delivered: offered for sending again
            assert index in info.value.unsent
    assert len([r for r in results if isinstance(r, SendResult)]) == len(server.acknowledged)


@pytest.mark.parametrize("mode", sorted(CAPS))
def test_a_big_message_goes_out_in_parts_not_joined(mode):
    # Beyond the lane: the general path writes its content and the commands around it as a
    # WriteParts (no copy to join them); the server stores it whole either way.
    from smtpx.engine import WriteParts

    engine, _ = ready_engine(*CAPS[mode])
    server = RuleServer()
    body = b"Subject: big\r\n\r\n" + b".dot line\r\n" * 40_000  # 440 KB
    batch = [message(("a@x", ("ok1@y",), False)), (Envelope("a@x", [EnvelopeRecipient("ok2@y")]),
                                                    Content.from_bytes(body)), message(("a@x", ("ok3@y",), False))]
    actions: list = []
    results = drive(engine.send_batch(batch), server, actions)
    assert all(isinstance(r, SendResult) for r in results)
    assert any(type(action) is WriteParts for action in actions) and issubclass(WriteParts, Write)
    assert [rcpts for rcpts, _ in server.delivered] == [("ok1@y",), ("ok2@y",), ("ok3@y",)]
    assert server.delivered[1][1] == body


def drive_until_write_fails(operation, server: RuleServer, fail_at: int, all_written: bool):
    """drive(), but the ``fail_at``-th Write (from 0) fails as a reset would, saying that all
    of it went out (``all_written``) or none; the server never answers it either way."""
    writes, result = 0, None
    action = operation.send(None)
    while True:
        if isinstance(action, Write):
            if writes == fail_at:
                error = SMTPConnectionDropped("connection reset while writing")
                error.bytes_written = len(action.data) if all_written else 0
                action = operation.throw(error)
                continue
            writes += 1
            server.written(action.data)
            result = None
        else:
            result = server.read()
        action = operation.send(result)


LANE_WRITES = 5  # four one-recipient messages over DATA: the first envelope, then one Write each


@pytest.mark.parametrize("fail_at", range(LANE_WRITES))
@pytest.mark.parametrize("all_written", [False, True], ids=["nothing went out", "all went out"])
@pytest.mark.parametrize("quiet", [False, True], ids=["traced", "quiet"])
def test_a_write_that_fails_leaves_each_message_as_its_replies_say(fail_at, all_written, quiet):
    """The lane records what a read decided after the next Write goes out; a Write that fails
    must still leave every message whose final reply came delivered, the one whose end of
    data was in the failed Write unknown (all of it went out) or unsent (none did), and the
    rest unsent."""
    engine = engine_for("data", quiet)
    server = RuleServer()
    batch = [message(("a@x", (f"ok{i}@y",), False)) for i in range(4)]
    with pytest.raises(SMTPConnectionDropped) as info:
        drive_until_write_fails(engine.send_batch(batch, window=32), server, fail_at, all_written)
    results = info.value.results + [None] * (4 - len(info.value.results))
    for index, outcome in enumerate(results):
        if f"ok{index}@y" in server.acknowledged:
            assert isinstance(outcome, SendResult), (index, outcome)
        elif index == fail_at - 1 and all_written:  # its "." was in the failed Write, all of it sent
            assert isinstance(outcome, SMTPConnectionDropped) and outcome.delivery_unknown, (index, outcome)
        else:
            assert outcome is None and index in info.value.unsent, (index, outcome)
    assert len(server.acknowledged) == max(0, fail_at - 1)


def test_the_lane_writes_once_per_message():
    """LANE_WRITES above: the Writes a clean run of four messages makes."""
    engine, _ = ready_engine(*CAPS["data"])
    actions: list = []
    results = drive(engine.send_batch([message(("a@x", (f"ok{i}@y",), False)) for i in range(4)], window=32),
                    RuleServer(), actions)
    assert all(isinstance(r, SendResult) for r in results)
    assert sum(isinstance(action, Write) for action in actions) == LANE_WRITES


def test_quiet_the_lane_writes_before_parsing_plain_replies(monkeypatch):
    """Untraced, each read that is exactly a delivery's one-line replies is decided from its
    bytes (smtpx.kernels.plain_replies): the next Write goes out first and the replies are
    parsed after it. The results, the Writes and what the server stores are those of a traced
    run, which parses every read at once."""
    from smtpx.engine import channel

    real, verdicts = channel.plain_replies, []

    def spy(data, expect, max_line):
        verdicts.append(real(data, expect, max_line))
        return verdicts[-1]

    monkeypatch.setattr(channel, "plain_replies", spy)
    batch = [message(("a@x", (f"ok{i}@y",), False)) for i in range(6)]
    runs = {}
    for quiet in (False, True):
        server, actions = RuleServer(), []
        results = drive(engine_for("data", quiet).send_batch(batch, window=32), server, actions)
        runs[quiet] = ([describe(r) for r in results], [a.data for a in actions if isinstance(a, Write)],
                       server.delivered)
    assert runs[True] == runs[False]
    assert verdicts == [True] * 6  # the quiet run's six reads (the traced one never asks)


def test_quiet_a_read_that_is_not_plain_is_parsed_the_general_way():
    """A refused recipient, a multi-line reply: parsed at once, decided reply by reply, with
    the results a traced run gives."""
    batch = [message(("a@x", ("ok1@y",), False)), message(("a@x", ("refuse@y",), False)),
             message(("a@x", ("ok2@y", "ok3@y"), False)), message(("a@x", ("ok4@y",), True))]
    runs = []
    for quiet in (False, True):
        engine = engine_for("data", quiet, EngineOptions(stop_on_to_errors=False))
        runs.append([describe(r) for r in drive(engine.send_batch(batch, window=32), RuleServer())])
    assert runs[0] == runs[1]


class TrickleServer(RuleServer):
    """RuleServer whose replies come ``size`` bytes a read."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def read(self) -> bytes:
        data = super().read()
        self.out[:0] = data[self.size:]  # the rest waits for the next read
        return data[:self.size]


@pytest.mark.parametrize("size", [1, 7, 20])
def test_quiet_replies_split_across_reads_are_parsed_the_general_way(size):
    batch = [message(("a@x", (f"ok{i}@y",), False)) for i in range(4)]
    runs = []
    for quiet in (False, True):
        server = TrickleServer(size)
        runs.append(([describe(r) for r in drive(engine_for("data", quiet).send_batch(batch, window=32), server)],
                     server.delivered))
    assert runs[0] == runs[1]
    assert [r[0] for r in runs[1][0]] == ["ok"] * 4 and len(runs[1][1]) == 4
