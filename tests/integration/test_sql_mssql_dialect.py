"""SQL Server cannot run here, so every DDL and DML statement of the SQL adapters is
compiled for the ``mssql`` dialect and checked for what it must contain."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy.dialects import mssql
from sqlalchemy.schema import CreateIndex, CreateTable

from taskcore.status import TaskStatus
from taskcore.task import Task
from taskcore_adapters.sql import migrate, queue
from taskcore_adapters.sql import statements as q
from taskcore_adapters.sql.rows import to_row
from taskcore_adapters.sql.tables import tables

NOW = datetime(2026, 1, 1, tzinfo=UTC)
T = tables()


def sql_server_2019() -> Any:
    """The dialect as it configures itself once connected to SQL Server 2019."""
    dialect = mssql.dialect()
    dialect.server_version_info = (15, 0, 2000)
    dialect._setup_version_attributes()
    return dialect


def sql(statement: Any) -> str:
    """The statement as SQL Server would receive it, parameters inlined."""
    compiled = statement.compile(dialect=sql_server_2019(), compile_kwargs={"literal_binds": True})
    return " ".join(str(compiled).split())


def sql_for(statement: Any, params: dict[str, Any]) -> str:
    """A statement of the hot path as SQL Server would receive it, run with ``params``."""
    compiled = statement.compile(dialect=sql_server_2019(), column_keys=list(params))
    missing = set(compiled.params) - set(params)
    assert not missing, f"parameters the statement needs and would not get: {missing}"
    return " ".join(str(compiled).split())


def a_row() -> dict[str, Any]:
    task = Task.new(name="n", callback_url="http://127.0.0.1/h", now=NOW, payload={"é": [1]})
    return to_row(task.dequeue(NOW))


@pytest.mark.parametrize("table", ["tasks", "archived_tasks", "queue_messages"])
def test_every_table_compiles_with_portable_types(table: str) -> None:
    ddl = sql(CreateTable(T.metadata.tables[table]))
    assert "UNIQUEIDENTIFIER NOT NULL" in ddl
    assert "DATETIME2(6)" in ddl
    if table != "queue_messages":
        assert "payload NVARCHAR(max) NOT NULL" in ddl
        assert "name NVARCHAR(200) NOT NULL" in ddl
    else:
        assert "id BIGINT NOT NULL IDENTITY" in ddl


def test_every_index_compiles_and_the_queue_index_orders_by_priority_descending() -> None:
    created = {
        index.name: sql(CreateIndex(index))
        for table in T.metadata.sorted_tables
        for index in table.indexes
    }
    assert created["ix_queue_messages_next"] == (
        "CREATE INDEX ix_queue_messages_next ON queue_messages (priority DESC, id)"
    )
    assert created["ix_tasks_status_created"].endswith("ON tasks (status, created_at, task_id)")
    assert len(created) == 7


def test_a_move_is_one_update_conditional_on_the_version() -> None:
    text = sql_for(q.update_if_version(T), q.changed(a_row(), 1))
    assert text.startswith("UPDATE tasks SET")
    assert text.endswith(
        "WHERE tasks.task_id = :expected_task_id AND tasks.version = :expected_version"
    )
    assert "task_id =" not in text.split("WHERE")[0]
    assert "status=:status" in text


def test_archiving_deletes_conditionally_and_inserts_into_the_archive() -> None:
    row = a_row()
    cas = {"expected_task_id": row["task_id"], "expected_version": 3}
    assert sql_for(q.delete_if_version(T), cas).endswith("AND tasks.version = :expected_version")
    text = sql_for(q.insert_archived(T), q.archived(row, NOW))
    assert text.startswith("INSERT INTO archived_tasks (")
    assert "archived_at" in text


def test_a_new_task_and_its_message_are_inserted_with_every_column() -> None:
    task = Task.new(name="n", callback_url="http://127.0.0.1/h", now=NOW)
    text = sql_for(q.insert_task(T), to_row(task))
    assert text.startswith("INSERT INTO tasks (task_id, name,")
    message = sql_for(q.insert_message(T), q.message_of(task))
    assert message == (
        "INSERT INTO queue_messages (task_id, priority, enqueued_at) "
        "VALUES (:task_id, :priority, :enqueued_at)"
    )


def test_lookups_by_id_read_both_tables_by_primary_key() -> None:
    for statement in (q.select_task(T), q.select_status(T)):
        text = sql_for(statement, {"task_id": uuid4()})
        assert "WHERE tasks.task_id = :task_id UNION ALL" in text
        assert text.endswith("WHERE archived_tasks.task_id = :task_id")


def test_pages_use_offset_fetch_and_both_tables_are_cut_with_top() -> None:
    filtered = sql(q.page_ids(T, TaskStatus.QUEUED, 40, 20))
    assert "ORDER BY tasks.created_at DESC, tasks.task_id DESC" in filtered
    assert filtered.endswith("OFFSET 40 ROWS FETCH FIRST 20 ROWS ONLY")
    merged = sql(q.page_ids(T, None, 40, 20))
    assert merged.count("SELECT TOP 60") == 2
    assert "UNION ALL" in merged
    assert merged.endswith("OFFSET 40 ROWS FETCH FIRST 20 ROWS ONLY")


def test_the_claim_skips_locked_rows_with_table_hints() -> None:
    text = sql(queue.claim_statement(T, NOW))
    assert text.startswith("SELECT TOP 1 queue_messages.id, queue_messages.task_id")
    assert "FROM queue_messages WITH (UPDLOCK, ROWLOCK, READPAST)" in text
    assert text.endswith("ORDER BY queue_messages.priority DESC, queue_messages.id")


def every_other_statement() -> list[Any]:
    task_id = uuid4()
    return [
        q.select_tasks(T, [task_id, uuid4()]),
        q.count(T, None),
        q.count(T, TaskStatus.QUEUED),
        q.count(T, TaskStatus.COMPLETED),
        q.count_active_by_status(T),
        q.expired(T, NOW, 10),
        q.queued_ids(T, 10),
        q.page_ids(T, TaskStatus.COMPLETED, 0, 10),
        q.ping(),
        *queue.publish_statements(T, task_id, 5, NOW),
        queue.lock_statement(T, 7, NOW),
        queue.lock_statement(T, 7, None),
        queue.delete_statement(T, 7),
        queue.discard_statement(T, task_id),
    ]


@pytest.mark.parametrize("statement", every_other_statement(), ids=lambda s: type(s).__name__)
def test_every_other_statement_compiles_for_sql_server(statement: Any) -> None:
    text = sql(statement)
    assert " LIMIT " not in text
    assert "None" not in text


def test_limits_become_top_on_sql_server() -> None:
    assert sql(q.expired(T, NOW, 10)).startswith("SELECT TOP 10 ")
    assert sql(q.queued_ids(T, 10)).startswith("SELECT TOP 10 tasks.task_id")


def test_the_migration_runs_offline_for_sql_server() -> None:
    script = migrate.offline_sql("mssql+pyodbc://taskcore@127.0.0.1/taskcore")
    flat = " ".join(script.split())
    assert re.findall(r"CREATE TABLE (\w+)", script) == [
        "taskcore_schema_version",
        "tasks",
        "archived_tasks",
        "queue_messages",
        "idempotency_keys",
    ]
    assert "CREATE INDEX ix_queue_messages_next ON queue_messages (priority DESC, id);" in flat
    assert "CREATE TABLE tasks ( task_id UNIQUEIDENTIFIER NOT NULL," in flat
    assert "created_at DATETIME2(6) NOT NULL" in flat
    assert "callback_result NVARCHAR(max) NULL" in flat
    assert "id BIGINT NOT NULL IDENTITY" in flat
    assert "INSERT INTO taskcore_schema_version (version_num) OUTPUT inserted.version_num " in flat
    assert flat.endswith("COMMIT; GO")
