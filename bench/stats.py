"""Figures across runs: every reported number is the median of the runs, with min and max."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from typing import Any


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0-100) by linear interpolation between closest ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def spread(values: Iterable[float]) -> dict[str, float]:
    """Median, min and max of the runs' values of one figure."""
    present = [v for v in values if v is not None and not math.isnan(v)]
    if not present:
        return {"median": math.nan, "min": math.nan, "max": math.nan, "n": 0}
    return {
        "median": statistics.median(present),
        "min": min(present),
        "max": max(present),
        "n": len(present),
    }


def summarise(runs: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """``spread`` of every numeric figure the runs share."""
    if not runs:
        return {}
    keys = [k for k, v in runs[0].items() if isinstance(v, int | float) and not isinstance(v, bool)]
    return {key: spread(run[key] for run in runs if key in run) for key in keys}


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, NaN when the denominator is zero or missing."""
    if not denominator or math.isnan(denominator) or math.isnan(numerator):
        return math.nan
    return numerator / denominator


def latency_figures(samples_s: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/max in milliseconds of latencies given in seconds."""
    ms = [s * 1000 for s in samples_s]
    figures = {f"p{p}_ms": percentile(ms, p) for p in (50, 95, 99)}
    figures["max_ms"] = max(ms) if ms else math.nan
    figures["count"] = len(ms)
    return figures
