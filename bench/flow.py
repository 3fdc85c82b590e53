"""End-to-end plumbing shared by taskcore and the peer: creating tasks, waiting, figures.

Every wait is bounded in time; every loop in count.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import requests

from bench.stats import latency_figures

API = "/api/v1/tasks"
JSON = {"Content-Type": "application/json"}


def wait_until(
    check: Callable[[], bool], timeout_s: float, what: str, every_s: float = 0.1
) -> None:
    """Poll ``check`` until it is true; raise ``TimeoutError`` naming ``what`` when time is up."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(every_s)
    raise TimeoutError(f"{what} did not happen within {timeout_s:.0f} s")


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def create_tasks(
    api_url: str, body: bytes, count: int, threads: int, batch: int = 1
) -> dict[str, float]:
    """Create ``count`` tasks through the API from ``threads`` threads; id -> createdAt.

    With ``batch`` > 1 each request is a ``POST /tasks/batch`` of up to ``batch`` tasks.
    """
    created: dict[str, float] = {}
    lock = threading.Lock()
    shares = [count // threads + (1 if i < count % threads else 0) for i in range(threads)]
    item = json.loads(body)

    def post(session: requests.Session, size: int) -> list[dict[str, Any]]:
        if batch == 1:
            answer = session.post(f"{api_url}{API}", data=body, headers=JSON, timeout=30)
            answer.raise_for_status()
            return [answer.json()]
        answer = session.post(f"{api_url}{API}/batch", json={"tasks": [item] * size}, timeout=60)
        answer.raise_for_status()
        return answer.json()["tasks"]  # type: ignore[no-any-return]

    def creator(share: int) -> None:
        with requests.Session() as session:
            while share > 0:
                tasks = post(session, min(batch, share))
                share -= len(tasks)
                with lock:
                    for task in tasks:
                        created[task["taskId"]] = epoch(task["createdAt"])

    run_threads(creator, shares)
    return created


def run_threads(job: Callable[[Any], None], items: Sequence[Any]) -> None:
    """Run ``job(item)`` for every item, one thread each; re-raise the first failure."""
    with ThreadPoolExecutor(max_workers=max(1, len(items))) as pool:
        for future in [pool.submit(job, item) for item in items]:
            future.result()


def arrivals(receiver_url: str) -> dict[str, float]:
    """taskId -> first arrival time of its callback, as recorded by the receiver."""
    data = requests.get(f"{receiver_url}/_stats", timeout=60).json()
    first: dict[str, float] = {}
    for at, task_id in data["arrivals"]:
        if task_id is not None and task_id not in first:
            first[task_id] = at
    return first


def arrived_count(receiver_url: str, ids: set[str]) -> int:
    return sum(1 for task_id in arrivals(receiver_url) if task_id in ids)


def figures(
    created: dict[str, float], arrived: dict[str, float], finished: float | None
) -> dict[str, float]:
    """Tasks/s from the first create to ``finished`` (the last task recorded done) and the
    create->callback latency of each task."""
    start = min(created.values())
    last_callback = max(arrived[t] for t in created if t in arrived)
    end = finished if finished is not None else last_callback
    result = {
        "tasks": len(created),
        "tasks_per_s": len(created) / (end - start),
        "to_last_callback_per_s": len(created) / (last_callback - start),
        "create_per_s": len(created) / max(max(created.values()) - start, 1e-6),
        "missing_callbacks": sum(1 for t in created if t not in arrived),
        "elapsed_s": end - start,
    }
    latencies = [arrived[t] - created[t] for t in created if t in arrived]
    result.update(latency_figures(latencies))
    del result["count"]
    return result


def callback_body(task_id: str, body: bytes) -> dict[str, Any]:
    """What taskcore POSTs to a callback, for the peer to send the same thing."""
    doc = json.loads(body)
    return {"taskId": task_id, "name": doc["name"], "payload": doc["payload"], "attempt": 1}
