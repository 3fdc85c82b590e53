"""The soak run's ``report.md``, ``report.json`` and ``soak.png`` (memory, throughput, backlog)."""

from __future__ import annotations

import dataclasses
import itertools
import json
import statistics
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import machine
from bench.report import clean
from bench.soak.checks import FINAL, Trend, passed, warmup_s
from bench.soak.sampler import active

PICTURE = "soak.png"


def write(out: Path, result: dict[str, Any]) -> list[Path]:
    picture = plot(result, out / PICTURE)
    (out / "report.json").write_text(json.dumps(clean(document(result)), indent=1) + "\n")
    (out / "report.md").write_text(markdown(result, picture is not None))
    return [out / "report.md", out / "report.json", *([picture] if picture else [])]


def document(result: dict[str, Any]) -> dict[str, Any]:
    """Everything but the per-task lists (the ids of lost or doubled tasks stay)."""
    load = {k: v for k, v in result["load"].items() if k != "created"}
    return {
        "verdict": "passed" if passed(result["checks"]) else "failed",
        "finished": datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": result["machine"],
        "load_average_end": result["load_average_end"],
        "options": result["options"],
        "checks": [dataclasses.asdict(c) for c in result["checks"]],
        "load": load,
        "drain": result["drain"],
        "accounting": dataclasses.asdict(result["accounting"]),
        "callback_answers": result["deliveries"]["answers"],
        "memory": {name: dataclasses.asdict(t) for name, t in result["trends"].items()},
        "processes": result["processes"],
        "notes": result["notes"],
        "samples": result["sampler"]["samples"],
    }


def markdown(result: dict[str, Any], with_picture: bool) -> str:
    o, info, load = result["options"], result["machine"], result["load"]
    verdict = "PASSED" if passed(result["checks"]) else "FAILED"
    loads = [s["load"] for s in result["sampler"]["samples"]]
    lines = [
        "# taskcore soak run", "",
        f"**Verdict: {verdict}.** Finished {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}; "
        f"{o['minutes']:g} min of load, then {result['drain']['seconds']:.0f} s until no "
        "task was Queued, Pending or Processing.", "",
        f"Machine: {machine.summary(info)}; kernel {info['kernel']}; {info['wrk']}; "
        f"{info['postgresql']}. The machine is shared: load average at the start "
        f"{_loads(info['load_average'])}, at the end {_loads(result['load_average_end'])}, "
        f"1-minute load during the run median {_median(loads)} (max {max(loads, default=0)}).",
        "", "## Setup", "", *setup_lines(result), "", "## Checks", "",
        "| check | result | detail |", "|---|---|---|",
        *(f"| {c.name} | {'pass' if c.passed else '**FAIL**'} | {c.detail} |"
          for c in result["checks"]),
        "", "## Tasks", "", *task_lines(result), "", "## Requests", "", *request_lines(load),
        "", "## Memory (RSS)", "", *memory_lines(result["trends"], o),
    ]  # fmt: skip
    if with_picture:
        lines += ["", f"![memory, throughput and backlog over the run]({PICTURE})"]
    if result["notes"]:
        lines += ["", "## Notes", "", *(f"- {n}" for n in result["notes"])]
    versions = ", ".join(f"{k} {v}" for k, v in info["packages"].items())
    lines += ["", f"Software: {versions}.", ""]
    return "\n".join(lines)


def setup_lines(result: dict[str, Any]) -> list[str]:
    o = result["options"]
    ok = 1 - o["error_rate"] - o["slow_rate"] - o["reset_rate"]
    api_processes = len(result["sampler"]["api_processes"])
    return [
        f"- `taskcore serve` (gunicorn, {api_processes} worker processes) and 2 `taskcore "
        "worker` processes x 8 threads; PostgreSQL store (a database created for the run), "
        "RabbitMQ queue behind the outbox; execution and reaper settings at their defaults.",
        f"- Callback receiver: {o['error_rate']:.0%} answered 500, {o['slow_rate']:.0%} "
        f"answered after {o['slow_s']:g} s (`callbacks.timeout_s` = {o['callback_timeout_s']:g}),"
        f" {o['reset_rate']:.0%} reset (TCP RST, no answer), {ok:.0%} answered 200; drawn at "
        "random per callback.",
        f"- Load: wrk, {o['connections']} connections for {o['minutes']:g} min, each pausing "
        f"a random (exponential) time so that together they send about {o['rate']:g} "
        f"requests/s; mix {o['mix']} (get and cancel pick one of the connection thread's "
        "1,000 latest tasks; list is page 1 of 20). Nothing is pinned except the receiver "
        "(CPU 1): everything shares both cores.",
    ]


def task_lines(result: dict[str, Any]) -> list[str]:
    a, answers = result["accounting"], result["deliveries"]["answers"]
    heads = ["created (201)", *FINAL, "not final", "lost", "created, 201 not seen"]
    cells = [a.created, *(a.by_state.get(s, 0) for s in FINAL), len(a.not_final),
             len(a.lost), a.unanswered_creates]  # fmt: skip
    lines = [_row(heads), _row(["---"] * len(heads)), _row([f"{c:,}" for c in cells]), ""]
    shown = ", ".join(f"{k} {v:,}" for k, v in sorted(answers.items()))
    lines.append(f"Callbacks received: {sum(answers.values()):,} ({shown}).")
    lines += ["", "| why Failed (`callbackResult.error`) | tasks |", "|---|---|"]
    lines += [f"| {reason} | {n:,} |" for reason, n in a.failure_reasons.items()]
    return lines


def request_lines(load: dict[str, Any]) -> list[str]:
    statuses = ", ".join(f"{s}: {n:,}" for s, n in sorted(load["statuses"].items()))
    return [
        "| requests | req/s | p50 ms | p95 ms | p99 ms | max ms | socket errors |",
        "|---|---|---|---|---|---|---|",
        f"| {load['requests']:,} | {load['rps']:.1f} | {load['p50_us'] / 1000:.1f} | "
        f"{load['p95_us'] / 1000:.1f} | {load['p99_us'] / 1000:.1f} | "
        f"{load['max_us'] / 1000:.0f} | {load['socket_errors']} |",
        "", f"Answers by status: {statuses}.",
    ]  # fmt: skip


def memory_lines(trends: dict[str, Trend], options: dict[str, Any]) -> list[str]:
    warmup = warmup_s(options["minutes"])
    lines = [
        f"Sampled every {options['sample_s']:g} s; judged on the load after {warmup:.0f} s of "
        "warm-up: the median of the last third of the samples against the median of the "
        "first third, and the least-squares slope over all of them.", "",
        "| process | first third MiB | last third MiB | growth | slope MiB/min | samples | flat |",
        "|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for name, t in trends.items():
        flat = {True: "yes", False: "**no**", None: "not judged"}[t.flat]
        lines.append(
            f"| {name} | {t.first_mib:.1f} | {t.last_mib:.1f} | {t.growth_mib:+.1f} MiB "
            f"({t.growth_share:+.1%}) | {t.slope_mib_per_min:+.2f} | {t.samples} | {flat} |"
        )
    return lines


def plot(result: dict[str, Any], path: Path) -> Path | None:
    """Three panels over the run: RSS per process, tasks/s created and finished, backlog."""
    samples = result["sampler"]["samples"]
    if len(samples) < 2:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    since = result["load"]["started_s"]
    fig, (mem, rate, backlog) = plt.subplots(3, 1, figsize=(9, 9), dpi=100, sharex=True)
    for name, points in sorted(result["series"].items()):
        mem.plot([t - since for t, _ in points], [m for _, m in points], label=name)
    mem.set_ylabel("RSS (MiB)")
    mem.legend(fontsize=7, ncol=3)
    times = [s["t"] - since for s in samples]
    created, finished = _rates(samples)
    rate.plot(times[1:], created, label="created/s")
    rate.plot(times[1:], finished, label="final/s")
    rate.set_ylabel("tasks/s")
    rate.legend(fontsize=7)
    backlog.plot(times, [active(s["tasks"]) for s in samples], label="not final")
    backlog.set_ylabel("tasks not final")
    load_axis = backlog.twinx()
    load_axis.plot(times, [s["load"] for s in samples], color="grey", linestyle=":")
    load_axis.set_ylabel("load average (1 min)", color="grey")
    backlog.set_xlabel(
        "seconds since the load started (dashed: end of warm-up; solid: end of load)"
    )
    warmup = warmup_s(result["options"]["minutes"])
    for axis in (mem, rate, backlog):
        axis.axvline(warmup, color="black", linewidth=0.8, linestyle="--")
        axis.axvline(result["load"]["ended_s"] - since, color="black", linewidth=0.8)
    mem.set_title(f"soak: {result['options']['minutes']:g} min\n"
                  f"{machine.summary(result['machine'])}", fontsize=9)  # fmt: skip
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _rates(samples: Sequence[dict[str, Any]]) -> tuple[list[float], list[float]]:
    """Tasks created and tasks become final per second between consecutive samples."""
    created, finished = [], []
    for before, after in itertools.pairwise(samples):
        span = max(after["t"] - before["t"], 1e-6)
        created.append((sum(after["tasks"].values()) - sum(before["tasks"].values())) / span)
        done = [sum(s["tasks"].get(k, 0) for k in FINAL) for s in (before, after)]
        finished.append((done[1] - done[0]) / span)
    return created, finished


def _row(cells: Sequence[Any]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _loads(values: Sequence[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def _median(values: Sequence[float]) -> str:
    return f"{statistics.median(values):.2f}" if values else "-"
