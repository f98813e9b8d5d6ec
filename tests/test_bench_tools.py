"""bench/breakdown.py's in-memory part drives the real engine and sync driver against its own
scripted sink. It is not run by the test command; this keeps it in step with the engine (no
time is asserted: only that every message of both paths goes through, one line per round)."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

BREAKDOWN = Path(__file__).resolve().parent.parent / "bench" / "breakdown.py"


def _breakdown() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_breakdown", BREAKDOWN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_in_memory_breakdown_sends_every_message(capsys: pytest.CaptureFixture[str]) -> None:
    breakdown = _breakdown()
    breakdown.memory(count=25)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in lines] == ["send_mail"] * breakdown.ROUNDS + ["send_batch"] * breakdown.ROUNDS
    assert all(line.endswith("µs a message") for line in lines)


def test_the_scripted_sink_refuses_a_read_with_no_reply_due() -> None:
    sink = _breakdown().ScriptedSink()
    assert sink.read().startswith(b"220 ")
    with pytest.raises(AssertionError, match="out of step"):
        sink.read()


@pytest.mark.postfix  # smtp-sink
def test_the_multiplexed_send_delivers_every_message_on_every_connection() -> None:
    """bench/breakdown.py's multiplex part: one thread driving several connections' engines
    over poll() against a real smtp-sink; every message gets its SendResult, in order."""
    import smtpx
    from tests.servers.postfix import start_smtp_sink

    breakdown = _breakdown()
    sink = start_smtp_sink()
    try:
        outcomes = breakdown.multiplexed_send(sink.port, 3, 40, breakdown.make_message(1024))
    finally:
        sink.stop()
    assert len(outcomes) == 40
    assert all(isinstance(o, smtpx.SendResult) and o.reply.code == 250 for o in outcomes)


@pytest.mark.postfix  # smtp-sink
def test_the_bare_pool_floor_has_every_message_accepted() -> None:
    """bench/test_bench_pool.py's bare pool (the pools' floor): N pipelining connections over
    one poll() against a real smtp-sink; it counts one accepted "." per message, shares that do
    not divide evenly included."""
    import sys

    bench = str(BREAKDOWN.parent)
    if bench not in sys.path:
        sys.path.insert(0, bench)
    from test_bench_pool import bare_pool
    from test_bench_throughput import make_message
    from tests.servers.postfix import start_smtp_sink

    sink = start_smtp_sink()
    try:
        accepted = bare_pool(sink.port, 3, 41, make_message(1024))
    finally:
        sink.stop()
    assert accepted == 41
