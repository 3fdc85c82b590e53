"""Sampling the system under soak: memory of each server process, task counts, load.

A thread takes one sample every ``interval_s`` until stopped: the RSS of the API's gunicorn
master and of each of its worker processes, of each ``taskcore worker``, the tasks by status
in the database, and the machine's load average.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from typing import Any

import psutil

from bench.procs import Proc

MIB = 2**20
ACTIVE = ("Queued", "Pending", "Processing")


def task_counts(db_url: str) -> dict[str, int]:
    """Tasks by status; archived ones count as Completed."""
    import psycopg

    with psycopg.connect(db_url) as conn:  # one statement: one snapshot of both tables
        rows = conn.execute(
            "SELECT status, count(*) FROM tasks GROUP BY status "
            "UNION ALL SELECT 'Completed', count(*) FROM archived_tasks"
        ).fetchall()
    counts: dict[str, int] = {}
    for status, n in rows:
        counts[status] = counts.get(status, 0) + int(n)
    return counts


def active(counts: Mapping[str, int]) -> int:
    return sum(counts.get(status, 0) for status in ACTIVE)


class Sampler:
    """The samples, each ``{"t": seconds since start, "rss_mib": {process: MiB}, "tasks":
    {status: n}, "load": 1-minute load average}``."""

    def __init__(self, api: Proc, workers: list[Proc], db_url: str, interval_s: float) -> None:
        self.procs = {"api": api, **{f"worker-{i}": w for i, w in enumerate(workers, 1)}}
        self.api = psutil.Process(api.pid)
        self.workers = {f"worker-{i}": psutil.Process(w.pid) for i, w in enumerate(workers, 1)}
        self.db_url = db_url
        self.interval_s = interval_s
        self.started = time.monotonic()
        self.samples: list[dict[str, Any]] = []
        self.api_children: dict[int, str] = {}  # pid -> name, in order of first sighting
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="soak-sampler", daemon=True)

    def now(self) -> float:
        return time.monotonic() - self.started

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(self.interval_s + 30)

    def _loop(self) -> None:
        while True:
            try:
                self.samples.append(self.sample())
            except Exception as exc:  # a missed sample is reported, never fatal to the run
                self.errors.append(f"{self.now():.0f} s: {type(exc).__name__}: {exc}")
            if self._stop.wait(self.interval_s):
                return

    def sample(self) -> dict[str, Any]:
        return {
            "t": round(self.now(), 2),
            "rss_mib": self.rss_mib(),
            "tasks": task_counts(self.db_url),
            "load": round(os.getloadavg()[0], 2),
        }

    def rss_mib(self) -> dict[str, float]:
        """RSS of every watched process still running, by name."""
        found: dict[str, float] = {}
        for name, proc in [("api-master", self.api), *self.workers.items()]:
            rss = _rss(proc)
            if rss is not None:
                found[name] = rss
        for child in _children(self.api):
            name = self.api_children.setdefault(child.pid, f"api-{len(self.api_children) + 1}")
            rss = _rss(child)
            if rss is not None:
                found[name] = rss
        return found

    def processes(self) -> dict[str, dict[str, Any]]:
        """Each server process: running now, and (the API) whether a gunicorn worker process
        was replaced: its worker pids now differ from those seen since the start."""
        result: dict[str, dict[str, Any]] = {
            name: {"alive": proc.alive(), "restarted": False, "pids": [proc.pid]}
            for name, proc in self.procs.items()
        }
        living = {child.pid for child in _children(self.api)}
        result["api"]["restarted"] = living != set(self.api_children)
        result["api"]["pids"] += sorted(self.api_children)
        return result

    def series(self) -> dict[str, list[tuple[float, float]]]:
        """process -> [(seconds, MiB)], from the samples."""
        out: dict[str, list[tuple[float, float]]] = {}
        for sample in self.samples:
            for name, mib in sample["rss_mib"].items():
                out.setdefault(name, []).append((sample["t"], mib))
        return out


def _rss(proc: psutil.Process) -> float | None:
    try:
        return round(float(proc.memory_info().rss) / MIB, 2)
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None


def _children(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return list(proc.children())
    except psutil.NoSuchProcess:
        return []
