"""The arithmetic every reported figure goes through."""

from __future__ import annotations

import math

from bench.stats import latency_figures, percentile, ratio, spread, summarise


def test_percentiles_interpolate_between_closest_ranks() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.5
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 100.0


def test_a_figure_across_runs_is_the_median_with_min_and_max() -> None:
    assert spread([3.0, 1.0, 2.0]) == {"median": 2.0, "min": 1.0, "max": 3.0, "n": 3}


def test_missing_values_are_left_out_of_the_spread() -> None:
    assert spread([math.nan, 4.0])["median"] == 4.0
    assert math.isnan(spread([])["median"])


def test_summarise_covers_every_numeric_figure_of_the_runs() -> None:
    runs = [{"rps": 10, "p95_ms": 5.0, "label": "x"}, {"rps": 30, "p95_ms": 7.0, "label": "y"}]
    summary = summarise(runs)
    assert set(summary) == {"rps", "p95_ms"}
    assert summary["rps"]["median"] == 20


def test_a_ratio_to_nothing_is_not_a_number() -> None:
    assert math.isnan(ratio(1.0, 0.0))
    assert ratio(3.0, 2.0) == 1.5


def test_latencies_in_seconds_are_reported_in_milliseconds() -> None:
    figures = latency_figures([0.001] * 99 + [0.1])
    assert figures["p50_ms"] == 1.0
    assert figures["max_ms"] == 100.0
    assert figures["count"] == 100
