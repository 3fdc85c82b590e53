"""Running ``wrk`` with ``lua/load.lua`` and reading the figures it prints.

wrk is a closed-loop generator: each connection sends its next request when the previous
answer arrived, so the figures are throughput and latency at that concurrency.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.procs import pinned

SCRIPT = Path(__file__).with_name("lua") / "load.lua"
MARK = "BENCH_JSON "


class WrkMissing(RuntimeError):
    """wrk is not installed and could not be installed."""


def ensure_wrk() -> str:
    """The wrk binary; installed with apt-get when missing and allowed (root), else an error."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env, capture_output=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "wrk"], check=False, env=env, capture_output=True
        )
        found = shutil.which("wrk")
        if found:
            return found
    raise WrkMissing(
        "the load generator wrk is missing: install it (Debian/Ubuntu: "
        "`sudo apt-get install -y wrk`) and run the benchmark again"
    )


@dataclass
class Load:
    """One wrk run: what to send and how."""

    url: str
    method: str = "GET"
    path: str = "/"
    body: Path | None = None
    ids: Path | None = None
    once: bool = False
    capture: Path | None = None
    connections: int = 100
    threads: int = 1
    duration_s: float = 10.0
    timeout_s: float = 10.0
    cpus: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    script: Path = SCRIPT

    def argv(self, binary: str) -> list[str]:
        args = {"method": self.method, "path": self.path, "threads": str(self.threads)}
        args.update({"mode": "once" if self.once else "cycle", **self.extra})
        for key, value in (("body", self.body), ("ids", self.ids), ("capture", self.capture)):
            if value is not None:
                args[key] = str(value)
        command = [
            binary, f"-t{self.threads}", f"-c{self.connections}",
            f"-d{max(1, round(self.duration_s))}s", f"--timeout={self.timeout_s:g}s",
            "-s", str(self.script), self.url, "--", *(f"{k}={v}" for k, v in args.items()),
        ]  # fmt: skip
        return pinned(self.cpus, command)


def run(load: Load) -> dict[str, float]:
    """Run wrk once; the figures of ``done()`` plus ``rps`` (counted requests per second)."""
    return parse(output(load))


def output(load: Load) -> str:
    """Run wrk once; what it printed."""
    binary = ensure_wrk()
    budget = load.duration_s + load.timeout_s + 30
    done = subprocess.run(load.argv(binary), capture_output=True, text=True, timeout=budget)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return done.stdout


def parse(output: str) -> dict[str, float]:
    """The ``BENCH_JSON`` line of wrk's output, with ``rps`` added."""
    return _figures(marked(output, MARK))


def marked(output: str, mark: str) -> dict[str, Any]:
    """The JSON document a Lua ``done()`` printed after ``mark``."""
    for line in output.splitlines():
        if line.startswith(mark):
            data: dict[str, Any] = json.loads(line[len(mark) :])
            return data
    raise RuntimeError(f"wrk printed no figures:\n{output[-1000:]}")


def _figures(raw: dict[str, float]) -> dict[str, float]:
    """Requests per second and latencies in milliseconds."""
    elapsed = raw["elapsed_us"] / 1e6
    figures = {
        "rps": raw["requests"] / elapsed if elapsed > 0 else 0.0,
        "requests": raw["requests"],
        "non2xx": raw["non2xx"],
        "socket_errors": raw["socket_errors"],
        "elapsed_s": elapsed,
    }
    for key in ("p50", "p90", "p95", "p99", "p99.9", "mean", "max"):
        figures[key.replace(".", "") + "_ms"] = raw[f"{key}_us"] / 1000
    return figures


def read_ids(prefix: Path) -> list[str]:
    """Every id the ``capture`` option wrote, across the per-thread files."""
    ids: list[str] = []
    for part in sorted(prefix.parent.glob(prefix.name + "-*")):
        ids.extend(line for line in part.read_text().splitlines() if line)
    return ids
