"""The test helper itself must fail on every kind of mismatch, or the engine tests prove nothing."""
import pytest

from tests.engine.scripted import C, EOF, S, TLS, Peer, ScriptMismatch, run
from smtpx.engine import Read, StartTLS, Write


def _ops(*actions):
    def gen():
        results = []
        for action in actions:
            results.append((yield action))
        return results

    return gen()


def test_matching_script_returns_the_results():
    assert run(_ops(Write(b"NOOP\r\n"), Read()), [C(b"NOOP\r\n"), S(b"250 ok\r\n")]) == [None, b"250 ok\r\n"]


def test_writes_may_be_split_across_actions():
    assert run(_ops(Write(b"NO"), Write(b"OP\r\n"), Read()), [C(b"NOOP\r\n"), S(b"250 x\r\n")])[2] == b"250 x\r\n"


def test_wrong_bytes_fail():
    with pytest.raises(ScriptMismatch):
        run(_ops(Write(b"NOOP\r\n")), [C(b"RSET\r\n")])


def test_extra_bytes_fail():
    with pytest.raises(ScriptMismatch):
        run(_ops(Write(b"NOOP\r\nRSET\r\n")), [C(b"NOOP\r\n"), S(b"250 ok\r\n")])


def test_read_while_client_must_write_fails():
    with pytest.raises(ScriptMismatch):
        run(_ops(Read()), [C(b"NOOP\r\n")])


def test_read_past_the_end_fails():
    with pytest.raises(ScriptMismatch):
        run(_ops(Read()), [])


def test_unused_steps_fail():
    with pytest.raises(ScriptMismatch):
        run(_ops(Write(b"NOOP\r\n")), [C(b"NOOP\r\n"), S(b"250 ok\r\n")])


def test_starttls_out_of_place_fails():
    with pytest.raises(ScriptMismatch):
        run(_ops(StartTLS()), [S(b"220 go\r\n")])
    assert run(_ops(StartTLS(), Read()), [TLS, EOF]) == [None, b""]


def test_peer_records_what_was_written():
    peer = Peer([C(b"A\r\n"), C(b"B\r\n")])
    peer.drive(_ops(Write(b"A\r\nB\r\n")))
    assert peer.written == b"A\r\nB\r\n" and peer.writes == [b"A\r\nB\r\n"] and peer.done
