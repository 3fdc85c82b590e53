"""Metrics of the gunicorn processes of a ``taskcore serve``, seen from one scrape."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import requests

from tests.support.metrics import value
from tests.support.processes import free_port, running, wait_for_http


def children(pid: int) -> set[int]:
    return {int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


def new_workers(master: int, old: set[int], count: int, timeout_s: float = 30) -> set[int]:
    """Wait until ``master`` has ``count`` worker processes, none of them in ``old``."""
    deadline = time.monotonic() + timeout_s
    while (now := children(master)) & old or len(now) != count:
        assert time.monotonic() < deadline, f"workers {now}, old {old}"
        time.sleep(0.05)
    return now


def sample(url: str, name: str, **labels: str) -> float | None:
    return value(requests.get(f"{url}/metrics", timeout=10).text, name, **labels)


def test_one_scrape_counts_the_requests_of_every_gunicorn_process_even_replaced_ones(
    tmp_path: Path,
) -> None:
    """Every process of the first generation is replaced, so a scrape that saw one process
    only could not count the requests they answered. One process (the memory store's) is
    enough to show it, and starts fastest; several share their files the same way."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {"TASKCORE_CONFIG": "", "TASKCORE_LOG__LEVEL": "WARNING", "TMPDIR": str(tmp_path)}
    listing = {"method": "GET", "route": "/api/v1/tasks", "status": "200"}
    with running(["serve", "--port", str(port)], f"{url}/health/live", env) as serve:
        first = new_workers(serve.pid, set(), 1)
        for _ in range(6):
            assert requests.get(f"{url}/api/v1/tasks", timeout=10).status_code == 200
        for worker in first:  # gunicorn replaces them; their counts must stay
            os.kill(worker, signal.SIGTERM)
        new_workers(serve.pid, first, 1)
        wait_for_http(f"{url}/health/live")
        assert requests.get(f"{url}/api/v1/tasks", timeout=10).status_code == 200

        assert sample(url, "taskcore_http_requests_total", **listing) == 7
        assert sample(url, "taskcore_executions_in_flight") == 0
        assert len(list(tmp_path.glob("taskcore-metrics-*"))) == 1  # made by serve, under TMPDIR
    assert list(tmp_path.glob("taskcore-metrics-*")) == []
