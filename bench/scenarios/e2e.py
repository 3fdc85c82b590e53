"""Scenario 3: N tasks created through the API and executed to Completed, callbacks included.

- memory: one ``taskcore serve``; client threads take work with ``POST /tasks/dequeue`` and
  run it with ``POST /tasks/{id}/execute`` (the memory store lives in the API process).
- PostgreSQL + the SQL queue, + RabbitMQ, + Kafka (Tansu): ``taskcore serve`` and
  ``taskcore worker`` processes on a fresh database per run.

Tasks/s runs from the first create to the last ``completedAt``; latency is each task's
``createdAt`` to its callback's arrival at the receiver.
"""

from __future__ import annotations

import threading
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from bench import cpu, flow, services
from bench.context import Context, Section
from bench.procs import Proc
from bench.scenarios.http import task_body
from bench.servers import api, api_process, receiver, receiver_reset, worker

E2E_COLUMNS = [
    ("tasks_per_s", "tasks/s"), ("to_last_callback_per_s", "tasks/s to last callback"),
    ("create_per_s", "creates/s"), ("p50_ms", "p50 ms"), ("p95_ms", "p95 ms"),
    ("p99_ms", "p99 ms"), ("missing_callbacks", "missing"),
    ("cpu_ms_per_task", "CPU ms/task"), ("worker_cpu_ms_per_task", "of which workers"),
]  # fmt: skip
SETUPS = ["memory", "postgresql+sql", "postgresql+rabbitmq", "postgresql+kafka"]
BATCHED = ("postgresql+rabbitmq", "postgresql+kafka")  # measured again with batch creates
CREATORS, EXECUTORS, WARMUP, BATCH = 8, 16, 20, 100
DB = "taskcore_bench_e2e"


def run(ctx: Context) -> list[Section]:
    n = ctx.profile.e2e_tasks
    section = Section("e2e", f"3. End to end: {n:,} tasks to Completed",
                      "Create through the API, execute with callbacks to the local receiver.",
                      E2E_COLUMNS, plot="latency")  # fmt: skip
    with ExitStack() as stack:
        url = receiver(ctx, stack)
        for setup in SETUPS:
            for name, runs in _setup_runs(ctx, stack, setup, url).items():
                section.add(name, runs)
    section.notes.append(
        f"memory: {EXECUTORS} client threads dequeue and execute through the API. SQL setups: "
        f"`taskcore serve` (2 processes) + {ctx.profile.worker_processes} `taskcore worker` "
        f"processes x {ctx.profile.worker_concurrency} threads. {CREATORS} client threads "
        f"create the tasks, one `POST /tasks` each, or in the rows named 'batches of {BATCH}' "
        f"{BATCH} per `POST /tasks/batch`. Nothing is pinned: API, workers, database, broker, "
        "receiver and clients share both cores. The tasks are created as fast as the clients "
        "can, so when creation outpaces execution the latency percentiles mostly measure the "
        "backlog."
    )
    return [section]


def batched(setup: str) -> str:
    """The row name of a setup whose tasks are created in batches."""
    return f"{setup}, batches of {BATCH}"


def _setup_runs(
    ctx: Context, stack: ExitStack, setup: str, url: str
) -> dict[str, list[dict[str, Any]]]:
    """Row name -> runs: the setup's, and for ``BATCHED`` setups also with batch creates."""
    try:
        if setup == "memory":
            return {setup: [_memory_run(ctx, url, i) for i in range(1, ctx.profile.runs + 1)]}
        return _sql_runs(ctx, setup, url)
    except (services.Unavailable, TimeoutError, RuntimeError, OSError) as exc:
        ctx.skipped.append(f"e2e {setup}: {exc}")
        ctx.say(f"  e2e {setup} skipped: {exc}")
        return {}


def _announce(ctx: Context, setup: str, index: int, receiver_url: str) -> None:
    ctx.say(f"e2e {setup} run {index}/{ctx.profile.runs}")
    receiver_reset(receiver_url)


def _report(ctx: Context, result: dict[str, Any]) -> dict[str, Any]:
    ctx.say(f"  {result['tasks_per_s']:,.0f} tasks/s, p95 {result['p95_ms']:.0f} ms")
    return result


def _memory_run(ctx: Context, receiver_url: str, index: int) -> dict[str, Any]:
    """One run on a fresh memory API: its store holds only this run's tasks."""
    _announce(ctx, "memory", index, receiver_url)
    n = ctx.profile.e2e_tasks
    body = task_body(f"{receiver_url}/hook")
    with ExitStack() as stack:
        url = api(ctx, stack)
        stop = threading.Event()
        executors = threading.Thread(target=_execute_all, args=(url, stop), daemon=True)
        executors.start()
        try:
            created = flow.create_tasks(url, body, n, CREATORS)
            ids = set(created)
            flow.wait_until(lambda: flow.arrived_count(receiver_url, ids) >= n,
                            60 + n / 20, "every callback")  # fmt: skip
        finally:
            stop.set()
            executors.join(30)
        finished = _last_completed(url, ids)
    return _report(ctx, flow.figures(created, flow.arrivals(receiver_url), finished))


def _execute_all(url: str, stop: threading.Event) -> None:
    flow.run_threads(lambda _: _executor(url, stop), range(EXECUTORS))


def _executor(url: str, stop: threading.Event) -> None:
    """Take the next task and execute it until told to stop (bounded by ``stop``)."""
    with requests.Session() as session:
        while not stop.is_set():
            answer = session.post(f"{url}{flow.API}/dequeue", timeout=30)
            if answer.status_code == 204:
                stop.wait(0.01)
                continue
            task_id = answer.json()["taskId"]
            session.post(f"{url}{flow.API}/{task_id}/execute", timeout=30)


def _last_completed(url: str, ids: set[str]) -> float:
    """The latest ``completedAt`` among ``ids``, read page by page from the API."""
    latest, seen = 0.0, 0
    for page in range(1, len(ids) // 100 + 50):
        answer = requests.get(f"{url}{flow.API}", params={"status": "Completed", "page": page,
                              "size": 100}, timeout=60).json()  # fmt: skip
        for task in answer["tasks"]:
            if task["taskId"] in ids:
                seen += 1
                latest = max(latest, flow.epoch(task["completedAt"]))
        if not answer["tasks"]:
            break
    if seen < len(ids):
        raise RuntimeError(f"only {seen} of {len(ids)} tasks are Completed")
    return latest


def _sql_runs(ctx: Context, setup: str, receiver_url: str) -> dict[str, list[dict[str, Any]]]:
    """Start the setup once (fresh database, API, workers), warm it up, then measure runs."""
    rows = {setup: 1, batched(setup): BATCH} if setup in BATCHED else {setup: 1}
    found: dict[str, list[dict[str, Any]]] = {}
    with ExitStack() as stack:
        running = sql_setup(ctx, stack, setup, receiver_url)
        for name, batch in rows.items():
            found[name] = []
            for index in range(1, ctx.profile.runs + 1):
                _announce(ctx, name, index, receiver_url)
                figures = sql_run(running, ctx.profile.e2e_tasks, batch)
                found[name].append(_report(ctx, figures))
        return found


@dataclass
class Running:
    """A started SQL setup: the API, its database, the receiver, what a task looks like."""

    url: str
    db_url: str
    receiver_url: str
    body: bytes
    procs: list[Proc]


def sql_setup(ctx: Context, stack: ExitStack, setup: str, receiver_url: str) -> Running:
    """A fresh database, ``taskcore serve`` and the workers, warmed up; stopped with ``stack``."""
    body = task_body(f"{receiver_url}/hook")
    services.ensure(ctx, ctx.stack, "postgresql")
    db_url = stack.enter_context(services.database(DB))
    config = _config(ctx, stack, setup, db_url)
    services.migrate(ctx, config)
    env = {"TASKCORE_CONFIG": str(config)}
    url, api_proc = api_process(ctx, stack, env)
    procs = [api_proc]
    for _ in range(ctx.profile.worker_processes):
        procs.append(worker(ctx, stack, env, ctx.profile.worker_concurrency))
    _warm_up(url, receiver_url, body)
    return Running(url, db_url, receiver_url, body, procs)


def sql_run(running: Running, n: int, batch: int = 1) -> dict[str, Any]:
    """Create ``n`` tasks (``batch`` per request) and wait until every one is Completed."""
    url, db_url, receiver_url, body = (running.url, running.db_url, running.receiver_url,
                                       running.body)  # fmt: skip
    meter = cpu.Meter()
    created = flow.create_tasks(url, body, n, CREATORS, batch)
    ids = set(created)
    flow.wait_until(lambda: _completed(db_url, ids) >= n, 60 + n / 20, "every task Completed",
                    every_s=0.25)  # fmt: skip
    used = meter.per_task(n)
    finished = _last_completed_sql(db_url, ids)
    return {**flow.figures(created, flow.arrivals(receiver_url), finished), **used}


def _warm_up(url: str, receiver_url: str, body: bytes) -> None:
    """A few tasks through the whole path first: connections open, consumers joined."""
    ids = set(flow.create_tasks(url, body, WARMUP, 4))
    flow.wait_until(lambda: flow.arrived_count(receiver_url, ids) >= WARMUP, 90, "warm-up")
    receiver_reset(receiver_url)


def _config(ctx: Context, stack: ExitStack, setup: str, db_url: str) -> Path:
    """A TOML config for one setup (store on ``db_url``, a fresh queue or topic)."""
    queue = setup.split("+", 1)[1]
    name = f"bench-{uuid.uuid4().hex[:8]}"
    lines = [
        "[store]",
        'backend = "sql"',
        f'url = "{services.sqlalchemy_url(db_url)}"',
        'migrate = "check"',
        "",
        "[queue]",
        f'backend = "{queue}"',
        f'name = "{name}"',
    ]
    if queue == "rabbitmq":
        services.ensure(ctx, ctx.stack, "rabbitmq")
        stack.callback(services.delete_rabbitmq_queue, name)
        lines.append(f'url = "{services.RABBITMQ_URL}"')
    if queue == "kafka":
        lines += [
            f'url = "{_kafka(ctx)}"',
            f"partitions = {ctx.profile.worker_processes}",
            f'group = "{name}"',
        ]
    path = ctx.work / f"e2e-{setup}-{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _kafka(ctx: Context) -> str:
    """The run's Tansu broker, started on first use."""
    if ctx.kafka is None:
        ctx.kafka = services.tansu(ctx, ctx.stack)
    return ctx.kafka


def _completed(db_url: str, ids: set[str]) -> int:
    import psycopg

    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT task_id::text FROM archived_tasks").fetchall()
    return sum(1 for (task_id,) in rows if task_id in ids)


def _last_completed_sql(db_url: str, ids: set[str]) -> float:
    import psycopg

    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT task_id::text, completed_at FROM archived_tasks").fetchall()
    return max(at.timestamp() for task_id, at in rows if task_id in ids)
