"""The peer: the Celery task a user would write instead of taskcore, POSTing the callback.

The worker builds its app from ``BENCH_CELERY_BROKER``, ``BENCH_CELERY_BACKEND`` (empty: no
result backend) and ``BENCH_CELERY_QUEUE``; the harness builds its own with ``make_app``.
The task uses one pooled ``requests.Session`` per worker process, the cheapest way to call
back from Celery: the peer is given its best form.
"""

from __future__ import annotations

import os
from typing import Any

import requests
from celery import Celery

TASK = "bench.callback"
_session = requests.Session()


def make_app(broker: str, backend: str | None, queue: str) -> Celery:
    app = Celery("bench", broker=broker, backend=backend or None)
    app.conf.update(
        task_default_queue=queue,
        task_ignore_result=not backend,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        result_extended=False,
    )
    app.task(name=TASK)(callback)
    return app


def callback(url: str, body: dict[str, Any]) -> int:
    """POST the task to its callback URL; a non-2xx answer fails the task."""
    answer = _session.post(url, json=body, timeout=10)
    answer.raise_for_status()
    return answer.status_code


app = make_app(
    os.environ.get("BENCH_CELERY_BROKER", "amqp://guest:guest@127.0.0.1:5672//"),
    os.environ.get("BENCH_CELERY_BACKEND", ""),
    os.environ.get("BENCH_CELERY_QUEUE", "bench"),
)
