"""What every scenario shares: the profile (quick or full), the run's folder and progress."""

from __future__ import annotations

import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.procs import cpu_count


@dataclass(frozen=True)
class Profile:
    """How much to measure; every figure is the median of ``runs`` runs."""

    name: str
    runs: int
    http_s: float  # one wrk run on a duration-bound endpoint
    warmup_s: float
    e2e_tasks: int
    scale_rows: int
    queue_depth: int
    queue_samples: int
    connections: int = 100
    worker_processes: int = 2
    worker_concurrency: int = 8
    celery_concurrency: int = 4


PROFILES = {
    "quick": Profile("quick", runs=3, http_s=1, warmup_s=1, e2e_tasks=300, scale_rows=100_000,
                     queue_depth=10_000, queue_samples=300),
    "full": Profile("full", runs=3, http_s=10, warmup_s=2, e2e_tasks=5_000,
                    scale_rows=1_000_000, queue_depth=100_000, queue_samples=2_000),
}  # fmt: skip


class Progress:
    """One line per step on stderr, with the time since the start."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def say(self, message: str) -> None:
        elapsed = int(time.monotonic() - self.started)
        print(f"[{elapsed // 60:3d}:{elapsed % 60:02d}] {message}", file=sys.stderr, flush=True)


@dataclass
class Section:
    """One scenario's results: rows of named measurements, each with its runs and summary."""

    key: str
    title: str
    what: str
    columns: list[tuple[str, str]]  # (figure key, column heading)
    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    plot: str | None = None  # figure key prefix plotted as percentiles, e.g. "p" for p50_ms

    def add(self, name: str, runs: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        from bench.stats import summarise

        row = {"name": name, "runs": runs, "summary": summarise(runs), **extra}
        self.rows.append(row)
        return row

    def row(self, name: str) -> dict[str, Any] | None:
        return next((r for r in self.rows if r["name"] == name), None)


@dataclass
class Context:
    """The run: its profile, output folder, scratch folder and CPU placement."""

    profile: Profile
    out: Path
    progress: Progress = field(default_factory=Progress)
    sections: list[Section] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    stack: ExitStack = field(default_factory=ExitStack)  # servers kept for the whole run
    kafka: str | None = None  # the run's Tansu broker, once started

    @property
    def work(self) -> Path:
        path = self.out / "scratch"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def pinning(self) -> bool:
        return cpu_count() >= 2

    @property
    def server_cpus(self) -> str | None:
        """The server under test gets CPU 0; the load generator and receiver get CPU 1."""
        return "0" if self.pinning else None

    @property
    def load_cpus(self) -> str | None:
        return "1" if self.pinning else None

    def say(self, message: str) -> None:
        self.progress.say(message)
