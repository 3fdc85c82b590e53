"""Scenario 5a: get and list latency with many tasks in PostgreSQL (active + archive).

Rows are generated inside PostgreSQL (``INSERT ... SELECT generate_series``) straight into
the tables of the migrated schema, in a database created for the scenario and dropped after.
One in ten tasks is active (Pending, Failed or Cancelled: nothing for the reaper or a
republisher to pick up); the rest are Completed, in the archive. The API (``taskcore serve``,
2 processes) is then measured with one wrk connection: latency without queueing.
"""

from __future__ import annotations

import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench import services, wrk
from bench.context import Context, Section
from bench.scenarios.http import API, HTTP_COLUMNS
from bench.servers import api

DB = "taskcore_bench"
COLUMNS = ("task_id, name, description, callback_url, payload, priority, status, created_at, "
           "updated_at, dequeued_at, executed_at, completed_at, attempts, callback_result, "
           "result, deadline, token_hash, version")  # fmt: skip
_DONE = '{"status_code":200,"body":"{\\"received\\": 1}","duration_ms":2,"error":null,"attempt":1}'
_FAILED = '{"status_code":500,"body":"","duration_ms":3,"error":"HTTP 500","attempt":1}'
_VALUES = """
    md5('{salt}' || i)::uuid, 'bench-task-' || (i %% 97), '', 'http://127.0.0.1:9/hook',
    '{{"orderId":' || i || '}}', i %% 10, {status}, t, t + interval '1 second',
    t + interval '100 ms', t + interval '200 ms', {completed}, {attempts}, {result}, NULL,
    NULL, NULL, {version}
"""
ARCHIVE_SQL = (
    f"INSERT INTO archived_tasks ({COLUMNS}, archived_at) SELECT "
    + _VALUES.format(salt="a", status="'Completed'", completed="t + interval '300 ms'",
                     attempts=1, result=f"'{_DONE}'", version=4)
    + ", t + interval '300 ms' FROM generate_series(1, %(n)s) AS i, "
    "LATERAL (SELECT timestamptz '2026-01-01 00:00:00+00' + i * interval '10 ms' AS t) AS s "
    "WHERE i %% 10 <> 0"
)  # fmt: skip
ACTIVE_SQL = (
    f"INSERT INTO tasks ({COLUMNS}) SELECT "
    + _VALUES.format(salt="a", status="(ARRAY['Pending','Failed','Cancelled'])[i / 10 %% 3 + 1]",
                     completed="NULL", attempts="CASE WHEN i / 10 %% 3 = 1 THEN 1 ELSE 0 END",
                     result=f"CASE WHEN i / 10 %% 3 = 1 THEN '{_FAILED}' END", version=2)
    + " FROM generate_series(1, %(n)s) AS i, "
    "LATERAL (SELECT timestamptz '2026-01-01 00:00:00+00' + i * interval '10 ms' AS t) AS s "
    "WHERE i %% 10 = 0"
)  # fmt: skip
QUERIES = {
    "get (active task)": (f"{API}/{{id}}", "active"),
    "get (archived task)": (f"{API}/{{id}}", "archived"),
    "list page 1": (f"{API}?page=1&size=20", None),
    "list status=Completed page 1": (f"{API}?status=Completed&page=1&size=20", None),
    "list status=Failed page 1": (f"{API}?status=Failed&page=1&size=20", None),
    "list page 500": (f"{API}?page=500&size=20", None),
}


def run(ctx: Context) -> list[Section]:
    rows = ctx.profile.scale_rows
    section = Section("scale", f"5a. Get and list with {rows:,} tasks in PostgreSQL",
                      "One connection (no queueing): the cost of the queries at this size.",
                      HTTP_COLUMNS, plot="http")  # fmt: skip
    services.ensure(ctx, ctx.stack, "postgresql")
    with ExitStack() as stack:
        db_url = stack.enter_context(services.database(DB))
        config = _config(ctx, db_url)
        services.migrate(ctx, config)
        ctx.say(f"scale: loading {rows:,} rows")
        ids = _load(ctx, db_url, rows)
        section.notes.append(_count_cost(db_url))
        url = api(ctx, stack, {"TASKCORE_CONFIG": str(config)})
        per_run: list[dict[str, Any]] = []
        for index in range(1, ctx.profile.runs + 1):
            ctx.say(f"scale run {index}/{ctx.profile.runs}")
            per_run.append({name: _measure(ctx, url, name, path, ids.get(kind or ""))
                            for name, (path, kind) in QUERIES.items()})  # fmt: skip
    for name in QUERIES:
        section.add(name, [r[name] for r in per_run])
    section.notes.append(
        f"{rows:,} tasks: {rows - rows // 10:,} archived (Completed), {rows // 10:,} active. "
        "`taskcore serve` with 2 processes, SQL store and queue; wrk with 1 connection."
    )
    return [section]


def _config(ctx: Context, db_url: str) -> Path:
    path = ctx.work / f"scale-{uuid.uuid4().hex[:6]}.toml"
    path.write_text(f'[store]\nbackend = "sql"\nurl = "{services.sqlalchemy_url(db_url)}"\n'
                    'migrate = "check"\n\n[queue]\nbackend = "sql"\n')  # fmt: skip
    return path


def _load(ctx: Context, db_url: str, rows: int) -> dict[str, Path]:
    """Insert the rows, analyse, and write samples of active and archived ids to files."""
    import psycopg

    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(ARCHIVE_SQL, {"n": rows})  # type: ignore[arg-type]
        conn.execute(ACTIVE_SQL, {"n": rows})  # type: ignore[arg-type]
        conn.execute("VACUUM ANALYZE tasks")
        conn.execute("VACUUM ANALYZE archived_tasks")
        files = {}
        for kind, table in (("active", "tasks"), ("archived", "archived_tasks")):
            sample = conn.execute(f"SELECT task_id::text FROM {table} ORDER BY random() LIMIT 5000")
            files[kind] = ctx.work / f"scale-{kind}-ids.txt"
            files[kind].write_text("\n".join(r[0] for r in sample.fetchall()) + "\n")
        total = conn.execute("SELECT (SELECT count(*) FROM tasks) + "
                             "(SELECT count(*) FROM archived_tasks)").fetchone()  # fmt: skip
    ctx.say(f"scale: {total[0] if total else 0:,} rows in tasks + archived_tasks")
    return files


def _count_cost(db_url: str) -> str:
    """How long counting every task takes in the database alone (what a listing's total costs)."""
    import statistics
    import time

    import psycopg

    query = "SELECT (SELECT count(*) FROM tasks) + (SELECT count(*) FROM archived_tasks)"
    timings = []
    with psycopg.connect(db_url) as conn:
        for _ in range(7):
            start = time.perf_counter()
            conn.execute(query).fetchone()
            timings.append((time.perf_counter() - start) * 1000)
    return (
        f"In PostgreSQL alone, `{query}` (the total of an unfiltered listing) takes "
        f"{statistics.median(timings):.1f} ms (median of 7; min {min(timings):.1f} ms)."
    )


def _measure(ctx: Context, url: str, name: str, path: str, ids: Path | None) -> dict[str, float]:
    load = wrk.Load(url, path=path, ids=ids, connections=1, duration_s=ctx.profile.http_s)
    figures = wrk.run(load)
    ctx.say(f"  {name}: p95 {figures['p95_ms']:.1f} ms ({figures['rps']:,.0f} req/s)")
    return figures
