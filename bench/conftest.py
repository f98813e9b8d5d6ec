"""Benchmark support: every candidate runs beside its baseline in the same run, and the
session ends with a table of ratios (baseline time / candidate time: above 1 means faster).

Use the ``ratios`` fixture after a pytest-benchmark measurement:

    def test_fast(benchmark, ratios):
        benchmark(fast_fn)
        ratios.record("dot-stuffing", "smtpx", benchmark, floor=20)   # candidate
    def test_slow(benchmark, ratios):
        benchmark(slow_fn)
        ratios.record("dot-stuffing", "smtplib", benchmark, baseline=True)

or ``ratios.record_seconds(group, name, seconds_per_op, baseline=...)`` for measurements made
without pytest-benchmark (external programs such as smtp-source). The table is printed at the
end of the session and written to .benchmarks/ratios.json. A benchmark run with
--benchmark-disable records nothing.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import pytest



@dataclass
class _Group:
    baseline: tuple[str, float] | None = None
    candidates: dict[str, tuple[float, float | None]] = field(default_factory=dict)
    references: dict[str, float] = field(default_factory=dict)


class RatioBook:
    def __init__(self) -> None:
        self.groups: dict[str, _Group] = {}

    def record_seconds(self, group: str, name: str, seconds: float, *, baseline: bool = False,
                       floor: float | None = None, reference: bool = False) -> None:
        entry = self.groups.setdefault(group, _Group())
        if baseline:
            entry.baseline = (name, seconds)
        elif reference:
            entry.references[name] = seconds
        else:
            entry.candidates[name] = (seconds, floor)

    def record(self, group: str, name: str, benchmark, **kwargs) -> None:
        stats = getattr(benchmark, "stats", None)
        if stats is None or getattr(benchmark, "disabled", False):
            return
        self.record_seconds(group, name, stats.stats.median, **kwargs)

    def rows(self) -> list[dict]:
        rows = []
        for group, entry in sorted(self.groups.items()):
            if entry.baseline is None:
                continue
            base_name, base_time = entry.baseline
            for name, (seconds, floor) in entry.candidates.items():
                row = {
                    "group": group,
                    "candidate": name,
                    "baseline": base_name,
                    "ratio": base_time / seconds,
                    "floor": floor,
                    "candidate_s": seconds,
                    "baseline_s": base_time,
                }
                for ref_name, ref_time in entry.references.items():
                    row[f"vs {ref_name}"] = ref_time / seconds
                rows.append(row)
        return rows


_BOOK = RatioBook()


@pytest.fixture(scope="session")
def ratios() -> RatioBook:
    return _BOOK


def pytest_terminal_summary(terminalreporter):
    rows = _BOOK.rows()
    if not rows:
        return
    write = terminalreporter.write_line
    write("")
    write("smtpx benchmark ratios (baseline time / candidate time; > 1 means smtpx is faster)")
    for row in rows:
        floor = row["floor"]
        verdict = "" if floor is None else ("  meets floor" if row["ratio"] >= floor else "  BELOW FLOOR")
        extra = "".join(f"  {k}: {v:.2f}x" for k, v in row.items() if k.startswith("vs "))
        floor_text = f"(floor {floor:g}x)" if floor is not None else ""
        write(f"  {row['group']:<40} {row['candidate']:<22} vs {row['baseline']:<22} {row['ratio']:8.2f}x {floor_text}{verdict}{extra}")
    os.makedirs(".benchmarks", exist_ok=True)
    with open(os.path.join(".benchmarks", "ratios.json"), "w") as fh:
        json.dump(rows, fh, indent=2)
