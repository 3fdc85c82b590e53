"""One PNG per scenario: p50/p95/p99 latency of each row, bars at the median, whiskers min-max."""

from __future__ import annotations

import math
from pathlib import Path

from bench.context import Section

PERCENTILES = (("p50_ms", "p50"), ("p95_ms", "p95"), ("p99_ms", "p99"))


def plot(section: Section, folder: Path, machine: str) -> Path | None:
    """Draw ``section`` into ``folder/<key>.png``; None when it has no latency figures."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in section.rows if "p95_ms" in r["summary"]]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(rows) + 2), 4.5), dpi=110)
    width = 0.8 / len(PERCENTILES)
    highest = 0.0
    for offset, (key, label) in enumerate(PERCENTILES):
        medians = [r["summary"][key]["median"] for r in rows]
        low = [m - r["summary"][key]["min"] for m, r in zip(medians, rows, strict=True)]
        high = [r["summary"][key]["max"] - m for m, r in zip(medians, rows, strict=True)]
        xs = [i + (offset - 1) * width for i in range(len(rows))]
        ax.bar(xs, medians, width, yerr=[low, high], capsize=3, label=label)
        highest = max([highest, *(m for m in medians if not math.isnan(m))])
    smallest = min((r["summary"]["p50_ms"]["median"] for r in rows), default=1.0)
    if smallest > 0 and highest / smallest > 50:
        ax.set_yscale("log")
    ax.set_xticks(range(len(rows)), [r["name"] for r in rows], rotation=20, ha="right")
    ax.set_ylabel("latency (ms)")
    ax.set_title(f"{section.title}\n{machine}", fontsize=9)
    ax.legend()
    fig.tight_layout()
    path = folder / f"{section.key}.png"
    fig.savefig(path)
    plt.close(fig)
    return path
