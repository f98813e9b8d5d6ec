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
