"""``report.md`` and ``report.json`` of a run, with the plots beside them."""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import machine, plots, targets
from bench.context import Context, Section

MARK = {True: "met", False: "**missed**", None: "not measured"}


def write(ctx: Context) -> list[Path]:
    info = machine.describe()
    pictures = {}
    for section in ctx.sections:
        picture = plots.plot(section, ctx.out, machine.summary(info))
        if picture is not None:
            pictures[section.key] = picture.name
    judged = targets.judge(ctx)
    document = _document(ctx, info, judged)
    (ctx.out / "report.json").write_text(json.dumps(clean(document), indent=1, default=str) + "\n")
    (ctx.out / "report.md").write_text(markdown(ctx, info, judged, pictures))
    return [
        ctx.out / "report.md",
        ctx.out / "report.json",
        *(ctx.out / p for p in pictures.values()),
    ]


def clean(value: Any) -> Any:
    """The document with NaN as null, so that report.json is strict JSON."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value


def _document(ctx: Context, info: dict[str, Any], judged: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "profile": ctx.profile.__dict__,
        "finished": datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": info,
        "pinning": pinning_text(ctx),
        "targets": judged,
        "sections": [_section_json(s) for s in ctx.sections],
        "skipped": ctx.skipped,
    }


def _section_json(section: Section) -> dict[str, Any]:
    return {"key": section.key, "title": section.title, "what": section.what,
            "columns": section.columns, "notes": section.notes, "rows": section.rows}  # fmt: skip


def pinning_text(ctx: Context) -> str:
    if not ctx.pinning:
        return "Fewer than 2 CPUs: nothing is pinned; server and load generator share one CPU."
    return (
        "Scenarios 1 and 2: the server under test (bare Flask or `taskcore serve`, one process) "
        "is pinned to CPU 0 and wrk (1 thread) and the callback receiver to CPU 1 with "
        "`taskset`: the two share the machine's 2 cores, one each. Scenarios 3-5 pin nothing: "
        "API, workers, PostgreSQL, brokers, receiver and client threads share both cores."
    )


def markdown(
    ctx: Context, info: dict[str, Any], judged: list[dict[str, Any]], pictures: dict[str, str]
) -> str:
    p = ctx.profile
    lines = [
        f"# taskcore benchmark ({p.name} profile)", "",
        f"Finished {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}. Machine: "
        f"{machine.summary(info)}; kernel {info['kernel']}; load average at the start "
        f"{', '.join(map(str, info['load_average']))}; {info['wrk']}; {info['postgresql']}.", "",
        f"Every figure is the median of {p.runs} runs, with (min-max). {pinning_text(ctx)} "
        "wrk is closed-loop: each connection sends its next request when the answer arrived.",
        "", "## Targets", "", "| target | measured | result | note |", "|---|---|---|---|",
    ]  # fmt: skip
    lines += [f"| {t['goal']} | {t['measured']} | {MARK[t['met']]} | {t['note']} |" for t in judged]
    for section in ctx.sections:
        lines += ["", *section_markdown(section)]
        if section.key in pictures:
            lines += ["", f"![{section.title}]({pictures[section.key]})"]
    if ctx.skipped:
        lines += ["", "## Not measured", "", *(f"- {reason}" for reason in ctx.skipped)]
    versions = ", ".join(f"{k} {v}" for k, v in info["packages"].items())
    lines += ["", f"Software: {versions}.", ""]
    return "\n".join(lines)


def section_markdown(section: Section) -> list[str]:
    heads = [heading for _, heading in section.columns]
    lines = [f"## {section.title}", "", section.what, "",
             "| | " + " | ".join(heads) + " |", "|---" * (len(heads) + 1) + "|"]  # fmt: skip
    for row in section.rows:
        cells = [_cell(row["summary"].get(key)) for key, _ in section.columns]
        lines.append(f"| {row['name']} | " + " | ".join(cells) + " |")
    lines += [f"\n{note}" for note in section.notes]
    return lines


def _cell(figure: dict[str, float] | None) -> str:
    if not figure or math.isnan(figure["median"]):
        return "-"
    median, low, high = figure["median"], figure["min"], figure["max"]
    if low == high:
        return _num(median)
    return f"{_num(median)} ({_num(low)}-{_num(high)})"


def _num(value: float) -> str:
    if abs(value) >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"
