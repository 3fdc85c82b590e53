"""CPU time a run used, per task: the whole machine, and the processes doing the work.

Read from ``/proc`` before and after a run. Throughput on a shared 2-core machine is CPU
bound, so CPU per task says where a setup spends what it has, whatever else is running:
the machine's figure counts every process (API, workers, database, broker, receiver,
clients); ``workers`` counts the ``taskcore worker`` or Celery worker processes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

WORKERS = ("taskcore worker", "celery")
TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def machine_s() -> float:
    """CPU seconds the machine spent working (all cores, idle and I/O wait excluded)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq = (int(x) for x in fields[:7])
    return (user + nice + system + irq + softirq) / TICKS_PER_S


def workers_s() -> dict[int, float]:
    """CPU seconds of each running worker process, by pid."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile
        if any(name in command for name in WORKERS):
            found[int(entry.name)] = (int(stat[11]) + int(stat[12])) / TICKS_PER_S
    return found


@dataclass
class Meter:
    """CPU seconds from ``start`` to ``per_task``: machine-wide and of the workers."""

    machine: float = field(default_factory=machine_s)
    workers: dict[int, float] = field(default_factory=workers_s)

    def per_task(self, tasks: int) -> dict[str, float]:
        machine = machine_s() - self.machine
        now = workers_s()
        workers = sum(now[pid] - self.workers.get(pid, 0.0) for pid in now)
        return {
            "cpu_ms_per_task": machine * 1000 / tasks,
            "worker_cpu_ms_per_task": workers * 1000 / tasks,
        }
