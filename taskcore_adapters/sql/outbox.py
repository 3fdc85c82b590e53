"""``SqlOutbox``: the ``queue_messages`` rows a broker deployment has not yet published.

With a broker, the store writes each new task's message into ``queue_messages`` in the same
transaction as the task; ``taskcore_adapters.outbox.OutboxQueue`` publishes it and deletes
the rows of sent messages in bulk. The relay reads rows with ``SKIP LOCKED`` where the
database has it, but publishes after that transaction ends: relays in several processes may
send the same row, and the copy is skipped like any duplicate delivery.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from taskcore.errors import StoreUnavailable
from taskcore.status import TaskStatus
from taskcore_adapters.sql.engine import translated, writer
from taskcore_adapters.sql.queue import MSSQL_CLAIM_HINT, supports_skip_locked
from taskcore_adapters.sql.tables import Tables, UtcDateTime, tables

WHAT = "the outbox"


def pending_statement(t: Tables, older_than: datetime, limit: int, skip_locked: bool) -> Any:
    """The oldest unpublished messages written before ``older_than``."""
    queue = t.queue
    return (
        sa.select(queue.c.id, queue.c.task_id, queue.c.priority)
        .where(queue.c.enqueued_at <= older_than)
        .order_by(queue.c.id)
        .limit(limit)
        .with_for_update(skip_locked=skip_locked)
        .with_hint(queue, MSSQL_CLAIM_HINT, "mssql")
    )


def add_missing_statement(t: Tables, created_before: datetime, now: datetime) -> Any:
    """A row for every Queued task created before ``created_before`` that has none."""
    tasks, queue = t.tasks, t.queue
    missing = sa.select(
        tasks.c.task_id, tasks.c.priority, sa.bindparam("now", now, type_=UtcDateTime())
    ).where(
        tasks.c.status == TaskStatus.QUEUED.value,
        tasks.c.created_at < created_before,
        ~sa.exists().where(queue.c.task_id == tasks.c.task_id),
    )
    columns = ["task_id", "priority", "enqueued_at"]
    insert = sa.insert(queue).from_select(columns, missing)
    return insert.execution_options(preserve_rowcount=True)  # not kept for INSERT otherwise


class SqlOutbox:
    """``Outbox`` over ``queue_messages``."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._writer = writer(engine)
        self._t = tables()

    def pending(self, older_than: datetime, limit: int) -> list[tuple[int, UUID, int]]:
        """(message id, task id, priority) of unpublished messages, oldest first."""
        with translated(StoreUnavailable, WHAT), self._writer.begin() as conn:
            skip = supports_skip_locked(conn.dialect)
            rows = conn.execute(pending_statement(self._t, older_than, limit, skip)).all()
        return [(row.id, row.task_id, row.priority) for row in rows]

    def remove(self, message_ids: list[int]) -> None:
        """Delete published messages."""
        queue = self._t.queue
        with translated(StoreUnavailable, WHAT), self._writer.begin() as conn:
            conn.execute(sa.delete(queue).where(queue.c.id.in_(message_ids)))

    def add_missing(self, created_before: datetime, now: datetime) -> int:
        """Write a row, dated ``now``, for each Queued task created before ``created_before``
        that has none; returns how many."""
        statement = add_missing_statement(self._t, created_before, now)
        with translated(StoreUnavailable, WHAT), self._writer.begin() as conn:
            return int(conn.execute(statement).rowcount)

    def remove_tasks(self, task_ids: list[UUID]) -> None:
        """Delete these tasks' messages once the broker has them."""
        queue = self._t.queue
        with translated(StoreUnavailable, WHAT), self._writer.begin() as conn:
            conn.execute(sa.delete(queue).where(queue.c.task_id.in_(task_ids)))

    def count(self) -> int:
        """How many messages wait for the broker."""
        statement = sa.select(sa.func.count()).select_from(self._t.queue)
        with translated(StoreUnavailable, WHAT), self._engine.connect() as conn:
            return int(conn.execute(statement).scalar_one())
