"""What the SQL store does beyond the port's contract: where rows live, how values are
stored, which indexes answer, and how it survives a database that goes away."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import uuid4

import pytest
import sqlalchemy as sa

from taskcore.errors import QueueUnavailable, StoreUnavailable
from taskcore.status import TaskStatus
from taskcore.task import CallbackResult, Task
from taskcore_adapters.config import StoreSettings
from taskcore_adapters.sql import migrate
from taskcore_adapters.sql import statements as q
from taskcore_adapters.sql.engine import create_engine
from taskcore_adapters.sql.queue import SqlTaskQueue, claim_statement
from taskcore_adapters.sql.store import SqlTaskStore
from taskcore_adapters.sql.tables import tables
from tests.support.databases import (
    MARIADB_ROOT,
    PG_ROOT,
    SQL_BACKENDS,
    ScratchDatabases,
    empty_tables,
    sql_store,
)

T0 = datetime(2026, 1, 1, 12, 0, 0, 654321, tzinfo=UTC)
TABLES = {"tasks", "archived_tasks", "queue_messages"}
OK = CallbackResult(status_code=200, body="", duration_ms=1, error=None, attempt=1)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScratchDatabases]:
    databases = ScratchDatabases(tmp_path_factory.mktemp("store"))
    yield databases
    databases.drop_all()


@pytest.fixture(params=SQL_BACKENDS)
def store(request: pytest.FixtureRequest, scratch: ScratchDatabases) -> Iterator[SqlTaskStore]:
    built = sql_store(scratch.url(request.param))
    empty_tables(built.engine)
    yield built
    built.close()


def rows(store: SqlTaskStore, sql: str) -> list[Any]:
    with store.engine.connect() as conn:
        return list(conn.exec_driver_sql(sql))


def completed_task(store: SqlTaskStore) -> Task:
    task = Task.new(name="n", callback_url="http://127.0.0.1:9/", now=T0)
    store.add(task)
    for move in (
        lambda t: t.dequeue(T0),
        lambda t: t.start(T0, T0 + timedelta(seconds=15), None),
        lambda t: t.complete(T0 + timedelta(seconds=1), OK),
    ):
        task = move(task)
        store.save(task)
    return task


def test_a_completed_task_leaves_the_active_table_for_the_archive(store: SqlTaskStore) -> None:
    task = completed_task(store)
    assert rows(store, "SELECT COUNT(*) FROM tasks") == [(0,)]
    assert rows(store, "SELECT status, version FROM archived_tasks") == [("Completed", 4)]
    assert store.get(task.task_id) == task


def test_timestamps_in_any_zone_are_stored_and_returned_in_utc(store: SqlTaskStore) -> None:
    tokyo = timezone(timedelta(hours=9))
    task = Task.new(name="n", callback_url="http://127.0.0.1:9/", now=T0.astimezone(tokyo))
    store.add(task)
    found = store.get(task.task_id)
    assert found.created_at == T0
    assert found.created_at.utcoffset() == timedelta(0)
    (stored,) = rows(store, "SELECT created_at FROM tasks")[0]
    if isinstance(stored, str):  # SQLite keeps text
        stored = datetime.fromisoformat(stored)
    assert stored.replace(tzinfo=stored.tzinfo or UTC) == T0


def test_a_naive_timestamp_is_refused_rather_than_guessed(store: SqlTaskStore) -> None:
    task = Task.new(name="n", callback_url="http://127.0.0.1:9/", now=T0.replace(tzinfo=None))
    with pytest.raises(sa.exc.StatementError, match="naive datetimes"):
        store.add(task)


def test_json_is_stored_as_readable_text(store: SqlTaskStore) -> None:
    task = Task.new(name="n", callback_url="http://127.0.0.1:9/", now=T0, payload={"k": "é"})
    store.add(task)
    assert rows(store, "SELECT payload, result FROM tasks") == [('{"k":"é"}', None)]


def plan(store: SqlTaskStore, statement: Any) -> tuple[str, list[str]]:
    """The query plan as text, and the tables it reads in full."""
    dialect = store.engine.dialect.name
    compiled = statement.compile(
        dialect=store.engine.dialect, compile_kwargs={"literal_binds": True}
    )
    sql = str(compiled).replace("%", "%%")
    if dialect == "sqlite":
        details = [row[-1] for row in rows(store, "EXPLAIN QUERY PLAN " + sql)]
        full = [d.split()[1] for d in details if d.startswith("SCAN ") and " INDEX " not in d]
        return "\n".join(details), [name for name in full if name in TABLES]
    if dialect == "postgresql":
        lines = [row[0] for row in rows(store, "EXPLAIN " + sql)]
        return "\n".join(lines), [
            ln.split("Seq Scan on ")[1].split()[0] for ln in lines if "Seq Scan on " in ln
        ]
    found = [dict(row._mapping) for row in rows(store, "EXPLAIN " + sql)]
    full = [r["table"] for r in found if r["type"] == "ALL" and not r["table"].startswith("<")]
    return "\n".join(str(r) for r in found), full


def many_rows(store: SqlTaskStore, count: int) -> None:
    t = tables()
    now = T0
    base = {
        "name": "n",
        "description": "",
        "callback_url": "http://127.0.0.1:9/",
        "payload": {},
        "priority": 0,
        "updated_at": now,
        "attempts": 0,
        "version": 1,
    }
    statuses = ["Queued", "Pending", "Failed"]
    active = [
        {
            **base,
            "task_id": uuid4(),
            "status": statuses[i % 3],
            "created_at": now + timedelta(seconds=i),
        }
        for i in range(count)
    ]
    archived = [
        {
            **base,
            "task_id": uuid4(),
            "status": "Completed",
            "archived_at": now,
            "created_at": now + timedelta(seconds=i),
        }
        for i in range(count)
    ]
    queue = [{"task_id": uuid4(), "priority": i % 10, "enqueued_at": now} for i in range(count)]
    with store.engine.begin() as conn:
        conn.execute(sa.insert(t.tasks), active)
        conn.execute(sa.insert(t.archived), archived)
        conn.execute(sa.insert(t.queue), queue)
        analyze = {"postgresql": "ANALYZE {}", "mysql": "ANALYZE TABLE {}", "sqlite": "ANALYZE"}
        for name in ("tasks", "archived_tasks", "queue_messages"):
            conn.exec_driver_sql(analyze[store.engine.dialect.name].format(name))


def test_pages_and_claims_are_answered_from_indexes(store: SqlTaskStore) -> None:
    many_rows(store, 3000)
    t = tables()
    plans = {
        "page": plan(store, q.page_ids(t, None, 100, 20)),
        "queued page": plan(store, q.page_ids(t, TaskStatus.QUEUED, 100, 20)),
        "claim": plan(store, claim_statement(t, T0)),
        "expired": plan(store, q.expired(t, T0, 10)),
    }
    assert {name: full for name, (_, full) in plans.items()} == {name: [] for name in plans}
    plans_text = {name: text for name, (text, _) in plans.items()}
    assert "ix_tasks_created" in plans_text["page"]
    assert "ix_archived_tasks_created" in plans_text["page"]
    assert "ix_queue_messages_next" in plans_text["claim"]
    assert store.list_page(None, 100, 20).total == 6000


def test_a_database_that_cannot_be_reached_makes_the_store_and_queue_unavailable() -> None:
    engine = create_engine("postgresql+psycopg://postgres@127.0.0.1:1/test?connect_timeout=2")
    store, queue = SqlTaskStore(engine), SqlTaskQueue(engine)
    try:
        for call in (store.ping, lambda: store.get(uuid4()), store.counts):
            with pytest.raises(StoreUnavailable, match="the task store failed: OperationalError"):
                call()
        for call in (queue.ping, queue.receive, lambda: queue.publish(uuid4(), 0)):
            with pytest.raises(QueueUnavailable, match="the SQL queue failed"):
                call()
    finally:
        store.close()


def test_a_sqlite_file_that_cannot_be_opened_makes_the_store_unavailable(tmp_path: Any) -> None:
    store = SqlTaskStore(create_engine(f"sqlite:///{tmp_path / 'missing' / 'x.db'}"))
    with pytest.raises(StoreUnavailable, match="unable to open database file"):
        store.ping()


def test_sqlite_runs_in_wal_mode(tmp_path: Any) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
    engine.dispose()


KILLERS = {
    "postgresql": (
        PG_ROOT,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name = '{name}' AND pid <> pg_backend_pid()",
    ),
    "mariadb": (MARIADB_ROOT, None),
}


def kill_connections(backend: str, marker: str) -> int:
    """Terminate, from outside, every server connection of the store under test."""
    engine = sa.create_engine(KILLERS[backend][0], poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        if backend == "postgresql":
            killed = len(list(conn.exec_driver_sql(KILLERS[backend][1].format(name=marker))))
        else:
            ids = conn.exec_driver_sql(
                f"SELECT id FROM information_schema.processlist WHERE db = '{marker}'"
            ).scalars()
            killed = 0
            for connection_id in list(ids):
                conn.exec_driver_sql(f"KILL {int(connection_id)}")
                killed += 1
    engine.dispose()
    return killed


@pytest.mark.parametrize(
    "backend",
    [
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ],
)
def test_the_store_recovers_by_itself_after_its_connections_are_killed(
    backend: str, scratch: ScratchDatabases
) -> None:
    url = scratch.url(backend)
    marker = f"taskcore_kill_{uuid4().hex[:8]}"
    if backend == "postgresql":
        url = f"{url}&application_name={marker}"
    else:
        marker = sa.engine.make_url(url).database or ""
    store = sql_store(url)
    queue = SqlTaskQueue(store.engine)
    try:
        task = Task.new(name="n", callback_url="http://127.0.0.1:9/", now=T0)
        store.add(task)
        assert kill_connections(backend, marker) >= 1
        with contextlib.suppress(StoreUnavailable):  # the one call allowed to notice
            store.get(task.task_id)
        assert store.get(task.task_id) == task
        queue.publish(task.task_id, 0)
        assert queue.receive() is not None
    finally:
        store.close()


def test_a_store_whose_connections_are_all_busy_answers_unavailable(tmp_path: Any) -> None:
    settings = StoreSettings(
        backend="sql",
        url=f"sqlite:///{tmp_path / 'busy.db'}",
        migrate="auto",
        pool_size=1,
        max_overflow=0,
        pool_timeout_s=0.2,
    )
    store = SqlTaskStore.from_settings(settings)
    try:
        with store.engine.connect(), pytest.raises(StoreUnavailable, match="TimeoutError"):
            store.ping()
        store.ping()
    finally:
        store.close()


def test_an_in_memory_sqlite_store_serves_one_process() -> None:
    settings = StoreSettings(backend="sql", url="sqlite://", migrate="auto")
    store = SqlTaskStore.from_settings(settings)
    try:
        task = Task.new(name="n", callback_url="http://127.0.0.1:9/", now=T0)
        store.add(task)
        assert store.get(task.task_id) == task
    finally:
        store.close()


def test_a_large_listing_total_is_served_from_a_recent_count(tmp_path: Any) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'totals.db'}")
    migrate.ensure_up_to_date(engine)
    cached = SqlTaskStore(engine, count_cache_s=3600, exact_totals_below=10)
    exact = SqlTaskStore(engine, count_cache_s=0, exact_totals_below=10)
    try:
        for _ in range(10):
            cached.add(Task.new(name="n", callback_url="http://127.0.0.1:9/", now=T0))
        assert cached.list_page(None, 0, 1).total == 10
        cached.add(Task.new(name="one more", callback_url="http://127.0.0.1:9/", now=T0))
        assert cached.list_page(None, 0, 1).total == 10  # recounted later, in the background
        assert exact.list_page(None, 0, 1).total == 11
        assert cached.list_page(TaskStatus.QUEUED, 0, 1).total == 11  # another filter
    finally:
        cached.close()
        exact.close()
