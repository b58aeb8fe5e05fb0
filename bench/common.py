"""Shared helpers of the benchmarks: timing and the report line."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def time_each(fn: Callable[[], object], n: int) -> list[float]:
    """Run ``fn`` n times; seconds per call."""
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def report(name: str, value: float, unit: str, target: str, ok: bool) -> bool:
    mark = "ok " if ok else "MISS"
    print(f"  [{mark}] {name:<48} {value:>10.2f} {unit:<8} target {target}")
    return ok


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000
