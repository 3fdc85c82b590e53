"""The CPU meter counts the machine and the worker processes."""

from __future__ import annotations

import subprocess
import sys

from bench import cpu

BUSY = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"


def test_the_machine_figure_counts_every_process() -> None:
    meter = cpu.Meter()
    subprocess.run([sys.executable, "-c", BUSY], check=True)
    assert meter.per_task(1)["cpu_ms_per_task"] >= 250


def test_a_running_worker_process_is_counted_as_worker_cpu() -> None:
    worker = subprocess.Popen([sys.executable, "-c", BUSY + "\ntime.sleep(5)", "taskcore worker"])
    try:
        meter = cpu.Meter()
        while cpu.workers_s().get(worker.pid, 0.0) < 0.28:
            pass
        used = meter.per_task(2)
    finally:
        worker.kill()
        worker.wait()
    assert used["worker_cpu_ms_per_task"] > 50
