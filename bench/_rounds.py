"""The throughput benchmarks' way of timing clients against each other: one round runs every
client once, in a rotating order, so that load from other processes on the machine falls on
all of them alike; a client's time per message is its median round (the warm-up round
excluded) divided by the messages it sent, recorded in the ratio table beside the baseline."""
from __future__ import annotations

import statistics
import time
from typing import Any, Callable, Mapping


def rotating_rounds(benchmark: Any, ratios: Any, group: str, runners: Mapping[str, Callable[[], None]],
                    count: int | Mapping[str, int], rounds: int, roles: Mapping[str, Mapping[str, Any]]) -> None:
    """Time every runner over ``rounds`` rounds (plus a warm-up). ``count``: messages per
    runner per round, one number or one per runner (a client whose connection set-up would
    hide its rate may send more). ``roles``: per runner, the keywords for
    ``ratios.record_seconds`` (``baseline=True``, ``reference=True`` or ``floor=...``); a
    runner without a role is a candidate with no floor."""
    counts = count if isinstance(count, Mapping) else {name: count for name in runners}
    times: dict[str, list[float]] = {name: [] for name in runners}
    order = list(runners)

    def one_round() -> None:
        order.append(order.pop(0))
        for name in order:
            start = time.perf_counter()
            runners[name]()
            times[name].append(time.perf_counter() - start)

    benchmark.group = group
    benchmark.pedantic(one_round, rounds=rounds, iterations=1, warmup_rounds=1)
    if getattr(benchmark, "stats", None) is None:  # --benchmark-disable
        return
    for name in runners:
        per_message = statistics.median(times[name][1:]) / counts[name]  # [0] is the warm-up round
        benchmark.extra_info[f"{name} us/message"] = round(per_message * 1e6, 2)
        benchmark.extra_info[f"{name} messages/s"] = round(1 / per_message)
        ratios.record_seconds(group, name, per_message, **roles.get(name, {}))
