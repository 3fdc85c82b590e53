"""The targets of the benchmark, judged on the figures of this run (ratios within the run)."""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass
from typing import Any

from bench.context import Context, Section
from bench.scenarios.e2e import BATCH, batched
from bench.stats import ratio


@dataclass
class Target:
    goal: str
    measured: str
    met: bool | None  # None: not measured in this run
    note: str = ""


def judge(ctx: Context) -> list[dict[str, Any]]:
    sections = {s.key: s for s in ctx.sections}
    found: list[Target] = []
    found += _api(sections.get("baseline"), sections.get("api-memory"))
    found += _e2e(sections.get("e2e"), sections.get("peer"))
    found += _queues(sections.get("queues"))
    found += _scale(sections.get("scale"), ctx.profile.scale_rows)
    return [asdict(t) for t in found]


def _paired(base: Section, api: Section, base_row: str, api_row: str, key: str) -> list[float]:
    """Per-run ratios api/baseline of one figure: both were measured in the same run."""
    b, a = base.row(base_row), api.row(api_row)
    if b is None or a is None:
        return []
    return [ratio(x[key], y[key]) for x, y in zip(a["runs"], b["runs"], strict=False)]


def _fmt(values: list[float], unit: str = "x") -> str:
    if not values:
        return "n/a"
    return f"{statistics.median(values):.2f}{unit} ({min(values):.2f}-{max(values):.2f})"


def _api(base: Section | None, api: Section | None) -> list[Target]:
    if base is None or api is None:
        return [Target("API on memory vs bare Flask", "not measured", None)]
    out = []
    for label, b_row, a_row in (("create", "POST 300-byte JSON", "create"),
                                ("get", "GET small JSON", "get")):  # fmt: skip
        rps = _paired(base, api, b_row, a_row, "rps")
        p95 = _paired(base, api, b_row, a_row, "p95_ms")
        out.append(Target(f"API {label} throughput >= 0.70x baseline", _fmt(rps),
                          bool(rps) and statistics.median(rps) >= 0.70))  # fmt: skip
        out.append(Target(f"API {label} p95 <= 1.5x baseline p95", _fmt(p95),
                          bool(p95) and statistics.median(p95) <= 1.5))  # fmt: skip
    kinds = ("non2xx", "socket_errors", "failed_tasks", "missing_callbacks")
    errors = sum(r.get(kind, 0) for row in api.rows for r in row["runs"] for kind in kinds)
    out.append(Target("API on memory: zero errors (non-2xx, socket errors, failed callbacks)",
                      f"{errors:.0f}", errors == 0))  # fmt: skip
    return out


def _median(section: Section | None, row: str, key: str) -> float:
    found = section.row(row) if section is not None else None
    return found["summary"][key]["median"] if found else math.nan


def _e2e(e2e: Section | None, peer: Section | None) -> list[Target]:
    """Both ways of creating: one request per task, and batches (``e2e.BATCH`` per request)."""
    out = []
    for ours_row, how in (("postgresql+rabbitmq", ""),
                          (batched("postgresql+rabbitmq"), f", batches of {BATCH}")):  # fmt: skip
        ours = _median(e2e, ours_row, "tasks_per_s")
        for row, factor in (("celery+rabbitmq+postgresql-results", 3.0),
                            ("celery+rabbitmq (no results)", 1.0)):  # fmt: skip
            theirs = _median(peer, row, "tasks_per_s")
            r = ratio(ours, theirs)
            figures = f"{r:.2f}x ({ours:,.0f} vs {theirs:,.0f} tasks/s)"
            measured = "n/a" if math.isnan(r) else figures
            met = None if math.isnan(r) else r >= factor
            out.append(Target(f"E2E PostgreSQL+RabbitMQ{how} >= {factor:g}x {row}", measured, met))
    return out


def _queues(section: Section | None) -> list[Target]:
    out = []
    for kind, limit in (("memory", 1.0), ("rabbitmq", 5.0), ("kafka", 5.0)):
        for operation in ("enqueue", "dequeue-next", "remove by id"):
            p99 = _median(section, f"{kind}: {operation}", "p99_ms")
            met = None if math.isnan(p99) else p99 < limit
            out.append(Target(f"{kind} {operation} p99 < {limit:g} ms", _ms(p99), met))
    return out


def _scale(section: Section | None, rows: int) -> list[Target]:
    note = "" if rows >= 1_000_000 else f"measured at {rows:,} rows (quick profile)"
    out = []
    for row in ("get (active task)", "get (archived task)", "list page 1",
                "list status=Completed page 1"):  # fmt: skip
        p95 = _median(section, row, "p95_ms")
        met = None if math.isnan(p95) else p95 < 20.0
        out.append(Target(f"{row} p95 < 20 ms at 1,000,000 rows", _ms(p95), met, note))
    return out


def _ms(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f} ms"
