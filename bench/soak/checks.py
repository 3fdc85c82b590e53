"""The soak run's verdict from what it recorded: pure functions over plain data.

Nothing here talks to a server, so the arithmetic is tested on its own in ``bench/tests``.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

FINAL = ("Completed", "Failed", "Cancelled")
EXPECTED_STATUSES = {"200", "201", "204", "409"}  # 409: a cancel that lost to the worker
GROWTH_LIMIT = 0.10  # memory is flat when it grew by at most this share of its early size...
GROWTH_FLOOR_MIB = 5.0  # ...or by at most this many MiB (small processes)
MIN_SAMPLES = 6  # after warm-up, fewer samples than this judge nothing
SHOWN_IDS = 20


@dataclass(frozen=True)
class TaskRow:
    """A task as the database holds it after the run (archived ones are Completed)."""

    status: str
    attempts: int
    error: str | None = None


@dataclass(frozen=True)
class Delivery:
    """One callback the receiver got, and what it answered (ok, error, slow, reset)."""

    task_id: str | None
    attempt: int | None
    answer: str


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str


@dataclass
class Accounting:
    """Every created task traced to its final state and to the callbacks it received."""

    created: int = 0
    by_state: dict[str, int] = field(default_factory=dict)
    lost: list[str] = field(default_factory=list)
    not_final: list[str] = field(default_factory=list)
    unanswered_creates: int = 0  # in the store, but wrk never saw its 201 (cut off at the end)
    duplicate_201: list[str] = field(default_factory=list)
    duplicate_deliveries: list[str] = field(default_factory=list)
    several_attempts: list[str] = field(default_factory=list)
    cancelled_but_called: list[str] = field(default_factory=list)
    completed_without_ok: list[str] = field(default_factory=list)
    failed_without_call: list[str] = field(default_factory=list)
    failed_after_ok: int = 0  # answered 200 in time by the receiver, too late for the caller
    failure_reasons: dict[str, int] = field(default_factory=dict)


def account(
    captured: Sequence[str], tasks: Mapping[str, TaskRow], deliveries: Iterable[Delivery]
) -> Accounting:
    """Trace the ids answered 201 (``captured``) through the store and the receiver."""
    result = Accounting(created=len(set(captured)))
    result.duplicate_201 = sorted(i for i, n in Counter(captured).items() if n > 1)
    ours = set(captured)
    result.lost = sorted(ours - tasks.keys())
    result.unanswered_creates = len(tasks.keys() - ours)
    result.not_final = sorted(i for i, row in tasks.items() if row.status not in FINAL)
    result.by_state = dict(Counter(tasks[i].status for i in ours if i in tasks))
    calls = _calls_by_task(deliveries, result)
    for task_id, row in tasks.items():
        _trace(task_id, row, calls.get(task_id, []), result)
    result.failure_reasons = dict(
        Counter(row.error or "(no error recorded)" for row in tasks.values()
                if row.status == "Failed").most_common()
    )  # fmt: skip
    return result


def _calls_by_task(deliveries: Iterable[Delivery], result: Accounting) -> dict[str, list[str]]:
    """task id -> the answers its callbacks got; duplicates of one attempt are noted."""
    per_attempt: Counter[tuple[str, int | None]] = Counter()
    calls: dict[str, list[str]] = defaultdict(list)
    for d in deliveries:
        if d.task_id is None:
            continue
        per_attempt[(d.task_id, d.attempt)] += 1
        calls[d.task_id].append(d.answer)
    result.duplicate_deliveries = sorted({t for (t, _), n in per_attempt.items() if n > 1})
    attempts: dict[str, set[int | None]] = defaultdict(set)
    for task_id, attempt in per_attempt:
        attempts[task_id].add(attempt)
    result.several_attempts = sorted(t for t, seen in attempts.items() if len(seen) > 1)
    return calls


def _trace(task_id: str, row: TaskRow, answers: list[str], result: Accounting) -> None:
    """Compare one task's final state with the callbacks it received."""
    if row.attempts > 1 and task_id not in result.several_attempts:
        result.several_attempts.append(task_id)
    if row.status == "Cancelled" and answers:
        result.cancelled_but_called.append(task_id)
    elif row.status == "Completed" and (not answers or answers[-1] != "ok"):
        result.completed_without_ok.append(task_id)
    elif row.status == "Failed" and not answers:
        result.failed_without_call.append(task_id)
    elif row.status == "Failed" and answers[-1] == "ok":
        result.failed_after_ok += 1


@dataclass(frozen=True)
class Trend:
    """One process's resident memory after warm-up: early and late medians, growth, slope."""

    samples: int
    first_mib: float = float("nan")
    last_mib: float = float("nan")
    growth_mib: float = float("nan")
    growth_share: float = float("nan")
    slope_mib_per_min: float = float("nan")
    flat: bool | None = None  # None: too few samples to judge


def warmup_s(minutes: float) -> float:
    """How much of the load's start is not judged for memory: pools fill, caches warm."""
    return max(30.0, 0.2 * minutes * 60)


def memory_trend(samples: Sequence[tuple[float, float]], warmup_s: float) -> Trend:
    """Judge ``(seconds, MiB)`` samples taken after ``warmup_s``: the median of the last third
    against the median of the first third, and the least-squares slope over all of them."""
    kept = [(t, mib) for t, mib in samples if t >= warmup_s]
    if len(kept) < MIN_SAMPLES:
        return Trend(samples=len(kept))
    third = len(kept) // 3
    first = statistics.median(mib for _, mib in kept[:third])
    last = statistics.median(mib for _, mib in kept[-third:])
    growth = last - first
    slope = statistics.linear_regression([t for t, _ in kept], [mib for _, mib in kept]).slope
    return Trend(
        samples=len(kept),
        first_mib=first,
        last_mib=last,
        growth_mib=growth,
        growth_share=growth / first if first else float("nan"),
        slope_mib_per_min=slope * 60,
        flat=growth <= max(GROWTH_LIMIT * first, GROWTH_FLOOR_MIB),
    )


def checks(
    accounting: Accounting,
    statuses: Mapping[str, int],
    socket_errors: int,
    trends: Mapping[str, Trend],
    processes: Mapping[str, Any],
) -> list[Check]:
    """Every check the soak run makes, in the order the report lists them."""
    a = accounting
    unexpected = {s: n for s, n in statuses.items() if s not in EXPECTED_STATUSES}
    server_errors = sum(n for s, n in statuses.items() if s.startswith("5"))
    return [
        Check("no task lost: every created task reached a final state",
              not a.lost and not a.not_final and not a.duplicate_201,
              _lost_detail(a)),
        Check("zero 5xx answers", server_errors == 0,
              f"{server_errors} answers 5xx" + _statuses_detail(statuses)),
        Check("every request answered as expected (2xx, or 409 for a cancel that came late)",
              not unexpected and socket_errors == 0,
              f"unexpected statuses {unexpected or 'none'}; {socket_errors} socket errors"),
        Check("each callback delivered at most once per attempt, each task executed once",
              not a.duplicate_deliveries and not a.several_attempts,
              f"delivered twice: {_ids(a.duplicate_deliveries)}; "
              f"several attempts: {_ids(a.several_attempts)}"),
        Check("callbacks agree with final states",
              not (a.cancelled_but_called or a.completed_without_ok or a.failed_without_call),
              f"Cancelled but called back: {_ids(a.cancelled_but_called)}; Completed without "
              f"a 2xx answer: {_ids(a.completed_without_ok)}; Failed without a callback: "
              f"{_ids(a.failed_without_call)}; Failed although answered 200 (late): "
              f"{a.failed_after_ok}"),
        Check("no server process died or was restarted",
              all(p["alive"] and not p["restarted"] for p in processes.values()),
              "; ".join(f"{name}: {_process_detail(p)}" for name, p in processes.items())),
        Check("memory flat (RSS growth from the first to the last third after warm-up "
              f"<= {GROWTH_LIMIT:.0%} or <= {GROWTH_FLOOR_MIB:g} MiB)",
              bool(trends) and all(t.flat for t in trends.values()),
              "; ".join(f"{name}: {_trend_detail(t)}" for name, t in trends.items())),
    ]  # fmt: skip


def passed(results: Sequence[Check]) -> bool:
    return all(c.passed for c in results)


def _lost_detail(a: Accounting) -> str:
    states = ", ".join(f"{s} {a.by_state.get(s, 0):,}" for s in FINAL)
    text = f"{a.created:,} created ({states}); lost {len(a.lost)}"
    text += f" {_ids(a.lost)}" if a.lost else ""
    text += f"; not final {len(a.not_final)}" + (f" {_ids(a.not_final)}" if a.not_final else "")
    if a.duplicate_201:
        text += f"; one id answered 201 twice: {_ids(a.duplicate_201)}"
    return text + f"; {a.unanswered_creates} created without their 201 reaching the client"


def _statuses_detail(statuses: Mapping[str, int]) -> str:
    shown = ", ".join(f"{s}: {n:,}" for s, n in sorted(statuses.items()))
    return f" (statuses {shown})" if shown else ""


def _process_detail(p: Mapping[str, Any]) -> str:
    if not p["alive"]:
        return "exited"
    return "restarted" if p["restarted"] else "ran throughout"


def _trend_detail(t: Trend) -> str:
    if t.flat is None:
        return f"not judged ({t.samples} samples after warm-up)"
    return (
        f"{t.first_mib:.1f} -> {t.last_mib:.1f} MiB ({t.growth_mib:+.1f} MiB, "
        f"{t.growth_share:+.1%}), slope {t.slope_mib_per_min:+.2f} MiB/min"
    )


def _ids(ids: Sequence[str]) -> str:
    if not ids:
        return "none"
    more = f" and {len(ids) - SHOWN_IDS} more" if len(ids) > SHOWN_IDS else ""
    return ", ".join(ids[:SHOWN_IDS]) + more
