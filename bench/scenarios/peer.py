"""Scenario 4: the same work with Celery 5 on RabbitMQ, with and without a result backend.

The Celery worker (prefork) runs ``bench.celery_app.callback``, which POSTs the same body
taskcore sends to the same receiver. Tasks are published from client threads in the harness
(Celery has no HTTP API: a client publishes straight to the broker). With the PostgreSQL
result backend the run ends at the last stored result; without, at the last callback.
"""

from __future__ import annotations

import sys
import time
import uuid
from contextlib import ExitStack
from typing import Any

from bench import cpu, flow, services
from bench.context import Context, Section
from bench.scenarios.e2e import CREATORS, E2E_COLUMNS, WARMUP
from bench.scenarios.http import task_body
from bench.servers import command, receiver, receiver_reset

SETUPS = {"celery+rabbitmq+postgresql-results": True, "celery+rabbitmq (no results)": False}
DB = "taskcore_bench_celery"
BROKER = "amqp://guest:guest@127.0.0.1:5672//"


def run(ctx: Context) -> list[Section]:
    n = ctx.profile.e2e_tasks
    section = Section("peer", f"4. The peer: Celery 5, {n:,} tasks",
                      "Same payload, same receiver; tasks published by client threads.",
                      E2E_COLUMNS, plot="latency")  # fmt: skip
    services.ensure(ctx, ctx.stack, "rabbitmq")
    with ExitStack() as stack:
        url = receiver(ctx, stack)
        for setup, with_results in SETUPS.items():
            section.add(setup, _runs(ctx, url, setup, with_results))
    section.notes.append(
        f"Celery worker: prefork, concurrency {ctx.profile.celery_concurrency}, one pooled "
        f"requests session per process; {CREATORS} publishing threads; Celery defaults "
        "otherwise (persistent messages, early acks, no publisher confirms). Nothing pinned."
    )
    return [section]


def _runs(ctx: Context, receiver_url: str, setup: str, with_results: bool) -> list[dict[str, Any]]:
    """Start a Celery worker once (and a fresh results database), warm up, measure runs."""
    from bench.celery_app import TASK, make_app

    with ExitStack() as stack:
        db_url = None
        if with_results:
            services.ensure(ctx, ctx.stack, "postgresql")
            db_url = stack.enter_context(services.database(DB))
        backend = "db+" + services.sqlalchemy_url(db_url) if db_url else None
        queue = f"bench-celery-{uuid.uuid4().hex[:8]}"
        stack.callback(services.delete_rabbitmq_queue, queue)
        _worker(ctx, stack, backend, queue)
        app = make_app(BROKER, backend, queue)
        stack.callback(app.close)
        send = _sender(app, TASK, f"{receiver_url}/hook", task_body(f"{receiver_url}/hook"))
        _warm_up(send, receiver_url)
        runs = []
        for index in range(1, ctx.profile.runs + 1):
            ctx.say(f"peer {setup} run {index}/{ctx.profile.runs}")
            receiver_reset(receiver_url)
            result = _run(ctx, send, receiver_url, db_url)
            ctx.say(f"  {result['tasks_per_s']:,.0f} tasks/s, p95 {result['p95_ms']:.0f} ms")
            runs.append(result)
        return runs


def _run(ctx: Context, send: Any, receiver_url: str, db_url: str | None) -> dict[str, Any]:
    meter = cpu.Meter()
    created = _publish(send, ctx.profile.e2e_tasks)
    ids = set(created)
    total = len(ids)
    flow.wait_until(lambda: flow.arrived_count(receiver_url, ids) >= total,
                    60 + total / 10, "every Celery callback")  # fmt: skip
    if db_url is not None:
        flow.wait_until(lambda: _stored(db_url, ids) >= total, 60 + total / 10,
                        "every Celery result stored", every_s=0.25)  # fmt: skip
    used = meter.per_task(total)
    finished = None if db_url is None else _last_stored(db_url, ids)
    return {**flow.figures(created, flow.arrivals(receiver_url), finished), **used}


def _worker(ctx: Context, stack: ExitStack, backend: str | None, queue: str) -> None:
    env = {"BENCH_CELERY_BROKER": BROKER, "BENCH_CELERY_BACKEND": backend or "",
           "BENCH_CELERY_QUEUE": queue}  # fmt: skip
    argv = [sys.executable, "-m", "celery", "-A", "bench.celery_app", "worker", "-P", "prefork",
            "-c", str(ctx.profile.celery_concurrency), "-Q", queue, "-l", "WARNING",
            "--without-gossip", "--without-mingle", "--without-heartbeat"]  # fmt: skip
    command(ctx, stack, "celery", argv, env)


def _sender(app: Any, task: str, url: str, body: bytes) -> Any:
    def send(task_id: str) -> None:
        app.send_task(task, args=[url, flow.callback_body(task_id, body)], task_id=task_id)

    return send


def _publish(send: Any, count: int) -> dict[str, float]:
    """Publish ``count`` tasks from ``CREATORS`` threads; id -> time just before publishing."""
    created: dict[str, float] = {}

    def publisher(share: int) -> None:
        for _ in range(share):
            task_id = str(uuid.uuid4())
            created[task_id] = time.time()
            send(task_id)

    flow.run_threads(
        publisher, [count // CREATORS + (i < count % CREATORS) for i in range(CREATORS)]
    )
    return created


def _warm_up(send: Any, receiver_url: str) -> None:
    ids = set(_publish(send, WARMUP))
    flow.wait_until(lambda: flow.arrived_count(receiver_url, ids) >= WARMUP, 90, "Celery warm-up")
    receiver_reset(receiver_url)


def _stored(db_url: str, ids: set[str]) -> int:
    import psycopg

    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT task_id FROM celery_taskmeta WHERE status = 'SUCCESS'")
        return sum(1 for (task_id,) in rows.fetchall() if task_id in ids)


def _last_stored(db_url: str, ids: set[str]) -> float:
    """The latest ``date_done`` among ``ids`` (Celery stores naive UTC)."""
    from datetime import UTC

    import psycopg

    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT task_id, date_done FROM celery_taskmeta").fetchall()
    return max(done.replace(tzinfo=UTC).timestamp() for task_id, done in rows if task_id in ids)
