"""Every statement the SQL store runs, built as SQLAlchemy Core constructs.

Kept apart from the store so that each can be compiled and inspected for every dialect,
including SQL Server, which the tests cannot run. The statements of the hot path (get,
insert, compare-and-set, archive) take their values as bound parameters and are built once
(``functools.cache``): building a statement and its cache key per call costs more than the
database round trip it feeds.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa

from taskcore.status import TaskStatus
from taskcore.task import Task
from taskcore_adapters.sql.tables import Tables

Statement = Any


def _newest_first(table: sa.Table | sa.Subquery) -> list[Any]:
    return [table.c.created_at.desc(), table.c.task_id.desc()]


def _shared(t: Tables, table: sa.Table) -> list[Any]:
    return [table.c[name] for name in t.task_columns]


@functools.cache
def select_task(t: Tables) -> Statement:
    """The row of task ``:task_id``, looked up by primary key in both tables at once."""
    task_id = sa.bindparam("task_id")
    return sa.union_all(
        sa.select(*_shared(t, t.tasks)).where(t.tasks.c.task_id == task_id),
        sa.select(*_shared(t, t.archived)).where(t.archived.c.task_id == task_id),
    )


@functools.cache
def select_status(t: Tables) -> Statement:
    """The current status of task ``:task_id``, active or archived: who won a lost CAS."""
    task_id = sa.bindparam("task_id")
    return sa.union_all(
        sa.select(t.tasks.c.status).where(t.tasks.c.task_id == task_id),
        sa.select(t.archived.c.status).where(t.archived.c.task_id == task_id),
    )


@functools.cache
def insert_task(t: Tables) -> Statement:
    """A new active task; executed with the row (``rows.to_row``)."""
    return sa.insert(t.tasks)


@functools.cache
def insert_message(t: Tables) -> Statement:
    """A new task's queue message, written in the task's own transaction."""
    return sa.insert(t.queue).inline()


def message_of(task: Task) -> dict[str, Any]:
    """The parameters of ``insert_message`` for ``task``."""
    return {"task_id": task.task_id, "priority": task.priority, "enqueued_at": task.created_at}


def insert_key(t: Tables, key: str, fingerprint: str, task: Task) -> Statement:
    """An idempotency key naming the task created with it; a duplicate key fails the insert."""
    return sa.insert(t.keys).values(
        key=key, fingerprint=fingerprint, task_id=task.task_id, created_at=task.created_at
    )


def select_key(t: Tables, key: str) -> Statement:
    """The request fingerprint, task and time an idempotency key was recorded with."""
    keys = t.keys
    return sa.select(keys.c.fingerprint, keys.c.task_id, keys.c.created_at).where(keys.c.key == key)


def delete_key(t: Tables, key: str, task_id: UUID) -> Statement:
    """Forget the key row that was read, and not one another request recorded since."""
    keys = t.keys
    return sa.delete(keys).where(keys.c.key == key, keys.c.task_id == task_id)


def delete_keys_before(t: Tables, not_before: datetime) -> Statement:
    """Forget every expired key (by the ``created_at`` index)."""
    return sa.delete(t.keys).where(t.keys.c.created_at < not_before)


@functools.cache
def insert_archived(t: Tables) -> Statement:
    """A Completed task's row in the archive; executed with ``archived(row, at)``."""
    return sa.insert(t.archived)


def archived(row: dict[str, Any], archived_at: datetime) -> dict[str, Any]:
    """The parameters of ``insert_archived``."""
    return {**row, "archived_at": archived_at}


@functools.cache
def update_if_version(t: Tables) -> Statement:
    """The compare-and-set: change the row only if nobody moved it since it was read.

    Executed with ``changed(row, expected)``: the SET clause is the row's columns.
    """
    tasks = t.tasks
    return sa.update(tasks).where(
        tasks.c.task_id == sa.bindparam("expected_task_id"),
        tasks.c.version == sa.bindparam("expected_version"),
    )


def changed(row: dict[str, Any], expected: int) -> dict[str, Any]:
    """The parameters of ``update_if_version``: every column but the key, and the CAS."""
    values = {name: value for name, value in row.items() if name != "task_id"}
    return {**values, "expected_task_id": row["task_id"], "expected_version": expected}


@functools.cache
def delete_if_version(t: Tables) -> Statement:
    """The compare-and-set half of archiving: take the row out of the active table.

    Executed with ``{"expected_task_id": ..., "expected_version": ...}``.
    """
    tasks = t.tasks
    return sa.delete(tasks).where(
        tasks.c.task_id == sa.bindparam("expected_task_id"),
        tasks.c.version == sa.bindparam("expected_version"),
    )


@functools.cache
def archive_if_version(t: Tables) -> Statement:
    """PostgreSQL: ``delete_if_version`` and ``insert_archived`` as one statement.

    The archive row is inserted only if the delete took the row (a data-modifying CTE),
    so the statement's row count is the compare-and-set's outcome. One statement needs no
    transaction around it: one round trip instead of four (``BEGIN``, two statements,
    ``COMMIT``). Executed with ``archived(row, at)`` plus the two ``expected_`` values.
    """
    tasks, archive = t.tasks, t.archived
    taken = (
        sa.delete(tasks)
        .where(
            tasks.c.task_id == sa.bindparam("expected_task_id"),
            tasks.c.version == sa.bindparam("expected_version"),
        )
        .returning(tasks.c.task_id)
        .cte("taken")
    )
    names = [column.name for column in archive.columns]
    values = sa.select(*(sa.bindparam(name, type_=archive.c[name].type) for name in names))
    statement = sa.insert(archive).from_select(names, values.select_from(taken))
    return statement.execution_options(preserve_rowcount=True)  # an INSERT keeps none


def page_ids(t: Tables, status: TaskStatus | None, offset: int, limit: int) -> Statement:
    """The ids of one page, newest first, read from indexes only.

    Completed tasks live in the archive and nowhere else; every other status lives in the
    active table, so a filtered page reads one table. An unfiltered page merges both; each
    side is cut to ``offset + limit`` ids in index order first, so no database sorts a
    whole table. The rows themselves are fetched afterwards by primary key (``select_tasks``).
    """
    if status is TaskStatus.COMPLETED:
        return _newest_ids(t.archived).offset(offset).limit(limit)
    if status is not None:
        stmt = _newest_ids(t.tasks).where(t.tasks.c.status == status.value)
        return stmt.offset(offset).limit(limit)
    sides = [_newest_ids(table).limit(offset + limit) for table in (t.tasks, t.archived)]
    merged = sa.union_all(*(sa.select(side.subquery()) for side in sides)).subquery("merged")
    return sa.select(merged.c.task_id).order_by(*_newest_first(merged)).offset(offset).limit(limit)


def _newest_ids(table: sa.Table) -> sa.Select[Any]:
    return sa.select(table.c.task_id, table.c.created_at).order_by(*_newest_first(table))


def select_tasks(t: Tables, task_ids: list[UUID]) -> Statement:
    """The rows of these tasks, active or archived, in no particular order."""
    return sa.union_all(
        sa.select(*_shared(t, t.tasks)).where(t.tasks.c.task_id.in_(task_ids)),
        sa.select(*_shared(t, t.archived)).where(t.archived.c.task_id.in_(task_ids)),
    )


def count(t: Tables, status: TaskStatus | None) -> Statement:
    """How many tasks have ``status`` (all tasks when None), in one round trip.

    The archive holds only Completed tasks, so it is counted whole, which is cheaper.
    """
    active = sa.select(sa.func.count()).select_from(t.tasks)
    archived = sa.select(sa.func.count()).select_from(t.archived)
    if status is TaskStatus.COMPLETED:
        return archived
    if status is not None:
        return active.where(t.tasks.c.status == status.value)
    return sa.select(active.scalar_subquery() + archived.scalar_subquery())


def count_active_by_status(t: Tables) -> Statement:
    """Active tasks per status."""
    return sa.select(t.tasks.c.status, sa.func.count()).group_by(t.tasks.c.status)


def expired(t: Tables, now: datetime, limit: int) -> Statement:
    """Processing tasks whose lease ran out, the most overdue first."""
    tasks = t.tasks
    return (
        sa.select(*_shared(t, tasks))
        .where(tasks.c.status == TaskStatus.PROCESSING.value, tasks.c.deadline <= now)
        .order_by(tasks.c.deadline, tasks.c.task_id)
        .limit(limit)
    )


def queued_ids(t: Tables, limit: int) -> Statement:
    """Ids of Queued tasks, oldest first."""
    tasks = t.tasks
    return (
        sa.select(tasks.c.task_id)
        .where(tasks.c.status == TaskStatus.QUEUED.value)
        .order_by(tasks.c.created_at, tasks.c.task_id)
        .limit(limit)
    )


def ping() -> Statement:
    """The cheapest round trip."""
    return sa.select(sa.literal(1))
