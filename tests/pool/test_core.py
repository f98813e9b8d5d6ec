"""The pool's sans-IO policy (smtpx.pool.core / policy / rate), shared by SMTPPool and
AsyncSMTPPool: driven here with an injected clock and random source, no sockets. What a
connection reports is built as the facade reports it (outcomes, or an SMTPError with
``.results`` / ``.unsent``); the same rules run against real servers in test_pool_*.py."""
from __future__ import annotations

import pytest

import smtpx
import smtpx.aio
from smtpx.engine import SendResult
from smtpx.errors import (
    SMTPConnectError,
    SMTPConnectionDropped,
    SMTPDataError,
    SMTPInputError,
    SMTPRecipientsRefused,
    SMTPSenderRefused,
    SMTPServiceClosing,
)
from smtpx.pool.core import MAX_STRIKES, PoolRun
from smtpx.pool.policy import MAX_BACKOFF, PoolOptions, backoff_delay, is_transient, retry_delay
from smtpx.pool.rate import RateLimiter
from tests.pool.helpers import CountingInput, message
from tests.servers.sockets import LoopbackServer, drain


# ------------------------------------------------------------------------------ rate limit

@pytest.mark.parametrize("rate", [0.5, 3.0, 100.0, 2500.0])
def test_rate_limiter_never_grants_more_than_capacity_plus_rate_times_elapsed(rate):
    now = 1000.0
    limiter = RateLimiter(rate, now)
    granted = 0
    for step in range(4000):
        got, wait = limiter.take(7, now)
        if got == 0:
            assert wait > 0
            now += wait if step % 3 else wait / 3  # sometimes ask again too early
        granted += got
        assert granted <= limiter.capacity + rate * (now - 1000.0) + 1e-6
    assert granted >= rate * (now - 1000.0) - 1  # and it does grant at the rate asked


def test_rate_limiter_with_a_still_clock_stops_after_its_capacity():
    limiter = RateLimiter(10.0, 5.0)
    assert limiter.take(100, 5.0) == (10, 0.0)
    got, wait = limiter.take(1, 5.0)
    assert got == 0 and wait == pytest.approx(0.1)
    assert limiter.take(1, 4.0)[0] == 0  # a clock stepping back adds nothing
    assert limiter.take(5, 5.25)[0] == 2


def test_a_run_honours_the_rate_limit_across_connections():
    options = PoolOptions(size=4, rate_limit=5.0, window=8)
    run = PoolRun((message(n) for n in range(100)), options, 4, RateLimiter(5.0, 0.0))
    first = run.next_chunk(None, 0.0)
    assert isinstance(first, list) and len(first) == 5  # one second's worth at most
    wait = run.next_chunk(None, 0.0)
    assert wait == pytest.approx(0.2)  # the next connection is told how long to wait
    second = run.next_chunk(None, 0.2)
    assert isinstance(second, list) and len(second) == 1


# ------------------------------------------------------------------------------ retries

def refusal(cls, code, **extra):
    return cls(f"refused {code}", reply_code=code, reply_text="no", **extra)


def test_which_refusals_are_transient():
    assert is_transient(refusal(SMTPSenderRefused, 451))
    assert is_transient(refusal(SMTPDataError, 452))
    assert not is_transient(refusal(SMTPSenderRefused, 550))
    assert not is_transient(refusal(SMTPServiceClosing, 421))  # a session failure, not a refusal
    assert not is_transient(SMTPInputError("bad address"))
    assert not is_transient(SMTPConnectionDropped("gone", delivery_unknown=True))
    assert not is_transient(SendResult())


def test_recipients_refused_is_retried_only_when_no_recipient_took_it():
    from smtpx.engine import RecipientResult
    from smtpx.enums import RecipientType
    from smtpx.kernels import Reply

    def rcpt(address, code):
        return RecipientResult(address, RecipientType.TO, Reply(code, None, ["x"]))

    all_4xx = SendResult(refused=[rcpt("a@x.test", 450), rcpt("b@x.test", 451)])
    assert is_transient(refusal(SMTPRecipientsRefused, 451, result=all_4xx))
    mixed = SendResult(refused=[rcpt("a@x.test", 450), rcpt("b@x.test", 550)])
    assert not is_transient(refusal(SMTPRecipientsRefused, 450, result=mixed))
    partly_taken = SendResult(accepted=[rcpt("c@x.test", 250)], refused=[rcpt("a@x.test", 450)])
    assert not is_transient(refusal(SMTPRecipientsRefused, 450, result=partly_taken))


def test_backoff_doubles_with_jitter_and_is_capped():
    options = PoolOptions(backoff=2.0)
    assert [backoff_delay(options, n, lambda: 1.0) for n in (1, 2, 3)] == [2.0, 4.0, 8.0]
    assert [backoff_delay(options, n, lambda: 0.0) for n in (1, 2, 3)] == [1.0, 2.0, 4.0]
    assert backoff_delay(options, 40, lambda: 1.0) == MAX_BACKOFF
    assert backoff_delay(options, 10_000, lambda: 1.0) == MAX_BACKOFF  # no overflow
    assert retry_delay(PoolOptions(retries=2), refusal(SMTPSenderRefused, 451), 2, lambda: 1.0) is None
    assert retry_delay(PoolOptions(retries=2), refusal(SMTPSenderRefused, 550), 0, lambda: 1.0) is None


def test_a_4xx_outcome_comes_back_after_its_backoff_and_then_is_final():
    options = PoolOptions(size=1, retries=1, backoff=4.0, window=1)
    run = PoolRun([message(0)], options, 1, random=lambda: 0.5)
    chunk = run.next_chunk(None, 10.0)
    assert [w.index for w in chunk] == [0]
    run.settle(chunk, [refusal(SMTPSenderRefused, 451)], 10.0)
    assert run.take_outcomes() == []
    assert run.next_chunk(None, 10.0) == pytest.approx(3.0)  # 4 s, jittered to 3/4
    again = run.next_chunk(None, 13.0)
    assert [w.index for w in again] == [0]
    final = refusal(SMTPSenderRefused, 452)
    run.settle(again, [final], 13.0)
    assert run.take_outcomes() == [(0, final)]  # no retries left
    assert run.done


# ------------------------------------------------------------------------------ failures

def test_a_session_failure_resends_the_unsent_and_never_the_unknown():
    options = PoolOptions(size=2, window=2)
    run = PoolRun([message(n) for n in range(4)], options, 2)
    chunk = run.next_chunk(None, 0.0)
    assert [w.index for w in chunk] == [0, 1, 2, 3]
    ok = SendResult()
    unknown = SMTPConnectionDropped("lost after the end of data", delivery_unknown=True)
    failure = SMTPConnectionDropped("lost", results=[ok, unknown, None, None], unsent=[2, 3])
    run.session_failed(chunk, failure, 0.0)
    assert run.take_outcomes() == [(0, ok), (1, unknown)]
    again = run.next_chunk(None, 0.0)
    assert [w.index for w in again] == [2, 3]  # first in line, for any connection
    run.settle(again, [ok, ok], 0.0)
    assert sorted(i for i, _ in run.take_outcomes()) == [2, 3]
    assert run.done


def test_a_failure_that_says_nothing_resends_nothing():
    run = PoolRun([message(n) for n in range(3)], PoolOptions(size=1), 1)
    chunk = run.next_chunk(None, 0.0)
    error = SMTPConnectionDropped("lost, results unknown")
    run.session_failed(chunk, error, 0.0)
    assert run.take_outcomes() == [(0, error), (1, error), (2, error)]
    assert run.done


def test_a_message_that_no_session_gets_through_fails_after_max_strikes():
    run = PoolRun([message(0)], PoolOptions(size=1), 1)
    for strike in range(MAX_STRIKES):
        chunk = run.next_chunk(None, 0.0)
        assert isinstance(chunk, list), strike
        error = SMTPServiceClosing("421 bye", reply_code=421, results=[None], unsent=[0])
        run.session_failed(chunk, error, 0.0)
    assert run.take_outcomes() == [(0, error)]
    assert run.done


def test_when_no_connection_can_connect_every_remaining_message_fails_lazily():
    source = CountingInput(10_000)
    options = PoolOptions(size=2, window=2)
    run = PoolRun(source, options, 2)
    first, second = run.next_chunk(None, 0.0), run.next_chunk(None, 0.0)
    refused = SMTPConnectError("refused")
    run.connect_failed(first, refused)
    assert not run.stopped  # one connection is left: it gets the work back
    back = run.next_chunk(None, 0.0)  # the other connection, which cannot connect either
    assert [w.index for w in back] == [0, 1, 2, 3]
    run.connect_failed(second + back, refused)
    assert run.workers_done and not run.done
    seen = 0
    while not run.done:
        outcomes = run.take_outcomes()
        assert all(outcome is refused for _, outcome in outcomes)
        seen += len(outcomes)
        assert source.pulled - seen <= options.ahead  # failed a chunk at a time, not all at once
    assert seen == 10_000


def test_the_input_is_read_at_most_ahead_messages_beyond_what_was_handed_back():
    source = CountingInput(100_000)
    options = PoolOptions(size=3, window=4)
    run = PoolRun(source, options, 3)
    chunks = []
    while isinstance(step := run.next_chunk(None, 0.0), list):
        chunks.append(step)
    assert source.pulled == options.ahead  # stopped: nothing handed back yet
    for chunk in chunks:
        run.settle(chunk, [SendResult()] * len(chunk), 0.0)
    assert len(run.take_outcomes()) == options.ahead
    assert isinstance(run.next_chunk(None, 0.0), list)
    assert source.pulled <= 2 * options.ahead


def test_messages_per_connection_limits_the_chunk():
    run = PoolRun([message(n) for n in range(50)], PoolOptions(size=1, messages_per_connection=5), 1)
    assert len(run.next_chunk(5, 0.0)) == 5
    assert len(run.next_chunk(2, 0.0)) == 2


def test_one_shot_recipients_are_kept_for_a_resend():
    run = PoolRun([("a@x.test", iter(["b@x.test"]), b"x")], PoolOptions(size=1), 1)
    work = run.next_chunk(None, 0.0)[0]
    assert work.message[1] == ["b@x.test"]


# ------------------------------------------------------------------------------ options

@pytest.mark.parametrize("kwargs", [
    {"size": 0}, {"size": -1}, {"size": 2.0}, {"size": True}, {"size": "4"},
    {"messages_per_connection": 0}, {"messages_per_connection": 1.5},
    {"rate_limit": 0}, {"rate_limit": -1.0}, {"rate_limit": float("nan")}, {"rate_limit": float("inf")},
    {"rate_limit": "10"}, {"retries": -1}, {"retries": None}, {"backoff": -0.5}, {"backoff": "1"},
    {"window": 0}, {"window": None},
])
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_bad_options_are_typed_errors_and_nothing_connects(kwargs, kind):
    with LoopbackServer(drain) as listener:
        make = smtpx.SMTPPool if kind == "sync" else smtpx.aio.AsyncSMTPPool
        with pytest.raises(SMTPInputError):
            make(mail_server=listener.host, mail_port=listener.port, **kwargs)
    assert listener.connections == 0


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_bad_settings_are_the_facades_typed_errors(kind):
    make = smtpx.SMTPPool if kind == "sync" else smtpx.aio.AsyncSMTPPool
    with pytest.raises(smtpx.SMTPError):
        make(mail_server="127.0.0.1", no_such_property=1)
    with pytest.raises(smtpx.SMTPConfigError):
        make(mail_server="127.0.0.1", config={"NoSuchSetting": 1})
    with pytest.raises(SMTPInputError) as caught:
        make()  # no mail_server
    assert caught.value.code == 163


def test_one_message_instead_of_a_list_is_refused_at_the_call():
    with LoopbackServer(drain) as listener:
        pool = smtpx.SMTPPool(mail_server=listener.host, mail_port=listener.port)
        for bad in (message(0), b"bytes", "text", 42):
            with pytest.raises(SMTPInputError):
                pool.iter_batch(bad)
        pool.close()
    assert listener.connections == 0
