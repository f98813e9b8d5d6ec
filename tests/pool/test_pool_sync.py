"""smtpx.SMTPPool against real servers over real sockets: aiosmtpd (tests/servers/scripted.py,
which stores every message and records every command, and can drop a connection or refuse a
command on cue) and Postfix's smtp-sink. What arrived is counted on the server side."""
from __future__ import annotations

import threading

import pytest

import smtpx
from smtpx.engine import SendResult
from smtpx.errors import (
    SMTPConnectError,
    SMTPConnectionDropped,
    SMTPInputError,
    SMTPNotConnectedError,
    SMTPSenderRefused,
)
from smtpx.enums import SSLStartMode
from tests.servers.scripted import CLOSE, SLOW, STALL, ScriptedServer
from tests.pool.helpers import CountingInput, arrivals, connections, message
from tests.servers.sockets import LoopbackServer, free_port


def make_pool(server, size=3, **options):
    options.setdefault("window", 2)
    return smtpx.SMTPPool(size, mail_server=server.host, mail_port=server.port, **options)


def test_results_come_in_input_order_and_each_message_arrives_once(server):
    with make_pool(server, size=3) as pool:
        results = pool.send_batch(message(n) for n in range(40))
    assert len(results) == 40 and all(isinstance(r, SendResult) for r in results)
    assert arrivals(server) == {n: 1 for n in range(40)}
    assert 1 <= connections(server) <= 3
    assert server.verbs().count("QUIT") == connections(server)  # close() said QUIT on each


def test_iter_batch_yields_every_index_once(server):
    with make_pool(server, size=2) as pool:
        seen = sorted(index for index, outcome in pool.iter_batch([message(n) for n in range(25)]))
    assert seen == list(range(25))


def test_a_bad_message_is_its_own_result_and_the_others_go(server):
    batch = [message(0), message(1, sender="<not an address"), message(2), ("only", "two")]
    with make_pool(server, size=2) as pool:
        results = pool.send_batch(batch)
    assert isinstance(results[0], SendResult) and isinstance(results[2], SendResult)
    assert isinstance(results[1], SMTPInputError) and isinstance(results[3], SMTPInputError)
    assert arrivals(server) == {0: 1, 2: 1}


def test_an_empty_batch_connects_nowhere(server):
    with make_pool(server) as pool:
        assert pool.send_batch([]) == []
    assert connections(server) == 0


# ------------------------------------------------------------------------------ FAULTS 43

def test_a_drop_after_an_end_of_data_is_reported_unknown_and_the_rest_go_elsewhere(server):
    """FAULTS 43: the server stores a message and drops the connection without answering its
    end of data. That message's delivery is unknown: reported so, not sent again. The messages
    written behind it were not delivered: they go out on a connection, exactly once."""
    server.reply("DATA_END", CLOSE, times=1)
    with make_pool(server, size=2, window=4) as pool:
        results = pool.send_batch(message(n) for n in range(30))
    unknown = [n for n, r in enumerate(results) if isinstance(r, SMTPConnectionDropped)]
    assert len(unknown) == 1
    assert getattr(results[unknown[0]], "delivery_unknown", False) is True
    assert all(isinstance(r, SendResult) for n, r in enumerate(results) if n not in unknown)
    assert arrivals(server) == {n: 1 for n in range(30)}  # the unknown one too: it did arrive, once
    assert connections(server) >= 2


def test_a_connection_whose_server_stalls_times_out_alone_and_the_others_send_the_rest(server, caplog):
    """FAULTS 9 in a pool: one connection's server stops answering after an end of data. The
    pool's connections are driven from one thread over one poll(), so that connection's wait
    is its own: its Timeout ends it (that message's delivery is unknown, never sent again),
    and every other message goes out on the other connections, once."""
    server.reply("DATA_END", STALL, times=1)
    with make_pool(server, size=3, window=2, timeout=1) as pool:
        results = pool.send_batch(message(n) for n in range(40))
    stalled = [n for n, r in enumerate(results) if not isinstance(r, SendResult)]
    assert len(stalled) == 1, results
    error = results[stalled[0]]
    assert isinstance(error, SMTPConnectionDropped) and getattr(error, "delivery_unknown", False) is True
    # the connection ended on its own Timeout (logged as the session's failure), not on a drop
    assert [r for r in caplog.records if "SMTPTimeoutError" in r.getMessage()], caplog.text
    assert arrivals(server) == {n: 1 for n in range(40)}  # the stalled one too: stored before the stall


def test_a_421_mid_batch_sends_the_unsent_again_exactly_once(server):
    server.reply("RCPT", "421 4.3.2 shutting down", times=2)
    with make_pool(server, size=2, window=3) as pool:
        results = pool.send_batch(message(n) for n in range(30))
    assert all(isinstance(r, SendResult) for r in results), results
    assert arrivals(server) == {n: 1 for n in range(30)}
    assert connections(server) >= 3  # the closed connections were replaced


def test_a_connection_that_cannot_connect_leaves_its_work_to_the_others(server):
    server.reply("EHLO", "421 4.7.0 too many connections", times=2)
    with make_pool(server, size=3) as pool:
        results = pool.send_batch(message(n) for n in range(30))
    assert all(isinstance(r, SendResult) for r in results), results
    assert arrivals(server) == {n: 1 for n in range(30)}
    assert connections(server) >= 3  # two were refused at EHLO


def test_when_the_server_cannot_be_reached_every_message_fails_with_the_connect_error():
    pool = smtpx.SMTPPool(3, mail_server="127.0.0.1", mail_port=free_port())
    results = pool.send_batch(message(n) for n in range(500))
    assert len(results) == 500
    assert all(isinstance(r, SMTPConnectError) for r in results)
    pool.close()


# ------------------------------------------------------------------------------ retries

def test_a_4xx_refusal_is_retried_then_accepted(server):
    server.reply("MAIL", "451 4.3.0 try again later", when="retry-me", times=2)
    batch = [message(0), message(1, sender="retry-me@example.com"), message(2)]
    with make_pool(server, size=1, retries=2, backoff=0.01) as pool:
        results = pool.send_batch(batch)
    assert all(isinstance(r, SendResult) for r in results), results
    assert arrivals(server) == {0: 1, 1: 1, 2: 1}
    assert sum("retry-me" in c for c in server.commands if c.startswith("MAIL")) == 3


def test_a_4xx_refusal_without_retries_left_is_the_result(server):
    server.reply("MAIL", "451 4.3.0 try again later", when="retry-me", times=None)
    with make_pool(server, size=1, retries=1, backoff=0.01) as pool:
        results = pool.send_batch([message(0, sender="retry-me@example.com")])
    assert isinstance(results[0], SMTPSenderRefused) and results[0].reply_code == 451
    assert sum("retry-me" in c for c in server.commands if c.startswith("MAIL")) == 2
    assert arrivals(server) == {}


def test_a_5xx_refusal_is_not_retried(server):
    server.reply("MAIL", "550 5.7.1 never", when="refuse-me", times=None)
    with make_pool(server, size=2, retries=3, backoff=0.01) as pool:
        results = pool.send_batch([message(0, sender="refuse-me@example.com"), message(1)])
    assert isinstance(results[0], SMTPSenderRefused) and results[0].reply_code == 550
    assert isinstance(results[1], SendResult)
    assert sum("refuse-me" in c for c in server.commands if c.startswith("MAIL")) == 1


# ------------------------------------------------------------------------------ options

def test_messages_per_connection_reconnects(server):
    with make_pool(server, size=2, messages_per_connection=5) as pool:
        results = pool.send_batch(message(n) for n in range(20))
    assert all(isinstance(r, SendResult) for r in results)
    assert connections(server) == 4  # 20 messages, 5 per connection
    assert server.verbs().count("QUIT") == 4
    assert arrivals(server) == {n: 1 for n in range(20)}


def test_a_rate_limited_pool_sends_everything(server):
    with make_pool(server, size=2, rate_limit=2000.0) as pool:
        results = pool.send_batch(message(n) for n in range(30))
    assert all(isinstance(r, SendResult) for r in results)
    assert arrivals(server) == {n: 1 for n in range(30)}


def test_iter_batch_reads_a_generator_lazily(server):
    source = CountingInput(100_000)
    server.reply("DATA_END", SLOW, times=1)  # one connection's chunk is still in flight at close()
    with make_pool(server, size=2, window=25) as pool:
        batch = pool.iter_batch(source)
        next(batch)
        assert source.pulled <= pool.options.ahead
        batch.close()  # stops the pool after the chunks in flight
        assert source.pulled <= pool.options.ahead + pool.options.chunk * pool.size
    assert len(server.messages) < 400
    # The chunks in flight were finished, not dropped: every connection was still good for
    # close()'s QUIT, and nothing taken from the input was sent twice.
    assert server.verbs().count("QUIT") == connections(server)
    assert all(count == 1 for count in arrivals(server).values())


# ------------------------------------------------------------------------------ single sends

def test_send_raw_from_many_threads(server):
    errors = []
    with make_pool(server, size=3) as pool:
        def sender(base: int) -> None:
            try:
                for n in range(base, base + 8):
                    result = pool.send_raw(*message(n))
                    assert isinstance(result, SendResult)
            except Exception as error:  # reported below
                errors.append(error)

        threads = [threading.Thread(target=sender, args=(100 * t,)) for t in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    assert arrivals(server) == {100 * t + n: 1 for t in range(6) for n in range(8)}
    assert connections(server) <= 3  # connections are reused, never more than the pool's size


def test_connection_lends_a_connected_client_and_takes_it_back(server):
    with make_pool(server, size=1) as pool:
        with pool.connection() as smtp:
            assert isinstance(smtp, smtpx.SMTP) and smtp.connected
            smtp.send_raw(*message(0))
        with pool.connection() as again:
            assert again is smtp and again.connected
        assert pool.send_raw(*message(1)).reply.code == 250
    assert connections(server) == 1 and not smtp.connected
    assert arrivals(server) == {0: 1, 1: 1}


def test_the_pool_connections_do_not_spin_unless_told(server):
    """SpinWait (a read polls before it sleeps) is on for one SMTP, off for a pool's
    connections, whose threads share one interpreter; a pool given SpinWait keeps it."""
    single = smtpx.SMTP(mail_server=server.host, mail_port=server.port)
    with single:  # connects
        assert single._session.stream.spin_wait == 50e-6
    with make_pool(server, size=1) as pool, pool.connection() as smtp:
        assert smtp.config("SpinWait") == "0" and smtp._session.stream.spin_wait == 0
    with make_pool(server, size=1, config={"SpinWait": 20}) as pool, pool.connection() as smtp:
        assert smtp._session.stream.spin_wait == 20e-6


def test_send_raw_retries_a_4xx(server):
    server.reply("MAIL", "451 4.3.0 later", times=1)
    with make_pool(server, size=1, retries=1, backoff=0.01) as pool:
        assert isinstance(pool.send_raw(*message(0)), SendResult)
    assert arrivals(server) == {0: 1}


def test_a_closed_pool_refuses_work(server):
    pool = make_pool(server)
    pool.close()
    pool.close()  # twice is fine
    with pytest.raises(SMTPNotConnectedError):
        pool.send_raw(*message(0))
    with pytest.raises(SMTPNotConnectedError):
        pool.send_batch([message(0)])
    assert connections(server) == 0


def test_a_batch_waiting_for_a_lent_connection_stops_when_the_pool_is_closed(server):
    """The pool's only connection is lent to a thread; a batch waits for it. close() from
    another thread ends the wait: the batch raises SMTPNotConnectedError and sent nothing,
    and the lent connection is closed (QUIT) when it comes back."""
    pool = make_pool(server, size=1)
    lent, release = threading.Event(), threading.Event()

    def hold() -> None:
        with pool.connection():
            lent.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert lent.wait(10)
    outcome: list = []
    batch = threading.Thread(target=lambda: outcome.append(_raised(pool.send_batch, [message(0), message(1)])))
    batch.start()
    batch.join(0.3)
    assert batch.is_alive()  # waiting for the lent connection
    pool.close()
    batch.join(10)
    assert not batch.is_alive() and isinstance(outcome[0], SMTPNotConnectedError), outcome
    release.set()
    holder.join(10)
    assert server.messages == [] and server.verbs().count("QUIT") == 1


def _raised(function, *args):
    try:
        return function(*args)
    except Exception as error:  # the test looks at what was raised
        return error


@pytest.mark.postfix
def test_many_messages_to_smtp_sink_in_order(smtp_sink):
    pool = smtpx.SMTPPool(4, mail_server=smtp_sink.host, mail_port=smtp_sink.port)
    with pool:
        results = pool.send_batch(message(n) for n in range(2000))
    assert len(results) == 2000 and all(isinstance(r, SendResult) for r in results)
    dump = smtp_sink.dump_text()
    for n in (0, 999, 1999):
        assert dump.count(f"Subject: pool-{n}\r\n") == 1 or dump.count(f"Subject: pool-{n}\n") == 1


def test_a_pool_over_starttls_sends_every_message_once(tls):
    """The pool's one-thread driver reads TLS connections through their SSL objects (a record
    may arrive in parts): every message arrives once, over connections that all started TLS."""
    server_context, ca_pem = tls
    with ScriptedServer(tls_context=server_context, require_starttls=True) as srv:
        with make_pool(srv, size=3, window=4, ssl_start_mode=SSLStartMode.EXPLICIT,
                       config=[f"SSLServerCACerts={ca_pem}"]) as pool:
            results = pool.send_batch(message(n) for n in range(60))
        assert all(isinstance(r, SendResult) for r in results), results
        assert arrivals(srv) == {n: 1 for n in range(60)}
        assert srv.verbs().count("STARTTLS") == connections(srv) // 2  # EHLO twice per connection


def _greet_when_all_are_open(barrier: threading.Barrier):
    """A minimal SMTP server's connection handler that sends its greeting only once
    ``barrier.parties`` connections are open (BrokenBarrierError when they are not, in time)."""

    def handle(conn) -> None:
        barrier.wait()
        conn.sendall(b"220 ready\r\n")
        reader = conn.makefile("rb")
        in_data = False
        for line in reader:
            if in_data:
                if line == b".\r\n":
                    in_data = False
                    conn.sendall(b"250 queued\r\n")
                continue
            verb = line[:4].upper()
            if verb == b"QUIT":
                conn.sendall(b"221 bye\r\n")
                return
            if verb == b"DATA":
                in_data = True
                conn.sendall(b"354 go on\r\n")
            else:
                conn.sendall(b"250 ok\r\n")

    return handle


def test_a_batch_opens_its_connections_at_the_same_time():
    """The batch's loop is one thread, but connecting is not done in turn: a server that
    greets nobody until three connections are open still gets every message (in turn, the
    first connection would wait for its greeting until its timeout)."""
    barrier = threading.Barrier(3, timeout=10)
    server = LoopbackServer(_greet_when_all_are_open(barrier))
    try:
        with smtpx.SMTPPool(3, mail_server=server.host, mail_port=server.port, window=1, timeout=5) as pool:
            results = pool.send_batch(message(n) for n in range(6))
        assert all(isinstance(r, SendResult) for r in results), results
        assert server.connections == 3 and not server.errors
    finally:
        server.close()
