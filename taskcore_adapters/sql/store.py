"""``SqlTaskStore``: the durable ``TaskStore`` on any database SQLAlchemy reaches.

Each move is one conditional statement on ``version`` (compare-and-set), so concurrent
moves have exactly one winner on every database; completing a task moves its row to the
archive in the same transaction.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from sqlalchemy import exc
from sqlalchemy.engine import Connection, Engine

from taskcore.errors import (
    AdapterError,
    ConcurrentUpdate,
    IdempotencyConflict,
    StoreUnavailable,
    TaskNotFound,
)
from taskcore.ports import TaskPage
from taskcore.status import TaskStatus
from taskcore.task import Task
from taskcore_adapters.sql import statements as q
from taskcore_adapters.sql.engine import create_engine, translated, writer
from taskcore_adapters.sql.rows import to_row, to_task
from taskcore_adapters.sql.tables import tables
from taskcore_adapters.sql.totals import EXACT_BELOW, ListTotals

if TYPE_CHECKING:
    from taskcore_adapters.config import StoreSettings

WHAT = "the task store"
KEY_ATTEMPTS = 3
KEY_PURGE_INTERVAL_S = 60.0

log = logging.getLogger("taskcore.store.sql")


class SqlTaskStore:
    """``TaskStore`` over the ``tasks``, ``archived_tasks`` and ``idempotency_keys`` tables.

    Every method raises ``StoreUnavailable`` when the database fails or cannot be reached;
    the pool checks connections before use, so the store recovers when the database does.
    With ``enqueue_on_add``, ``add`` also writes the task's queue message into
    ``queue_messages`` in the same transaction (the SQL queue, or the outbox in front of a
    broker), so a Queued task never lacks its message.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        enqueue_on_add: bool = False,
        count_cache_s: float = 0.0,
        exact_totals_below: int = EXACT_BELOW,
    ) -> None:
        self.engine = engine
        self.enqueue_on_add = enqueue_on_add
        self._totals = ListTotals(
            self._count, max_age_s=count_cache_s, exact_below=exact_totals_below
        )
        self._writer = writer(engine)
        self._one_statement_saves = engine.dialect.name == "postgresql"
        self._t = tables()
        self._purge_lock = threading.Lock()
        self._next_purge = 0.0

    @classmethod
    def from_settings(
        cls, settings: StoreSettings, *, enqueue_on_add: bool = False
    ) -> SqlTaskStore:
        """Connect, then migrate (``auto``) or verify (``check``) the schema.

        Raises ``SchemaNotReady`` when ``check`` finds the schema missing or outdated, and
        ``StoreUnavailable`` when the database cannot be reached.
        """
        from taskcore_adapters.sql import migrate

        engine = create_engine(
            settings.url,
            pool_size=settings.pool_size,
            max_overflow=settings.max_overflow,
            pool_timeout_s=settings.pool_timeout_s,
        )
        try:
            if settings.migrate == "auto":
                migrate.ensure_up_to_date(engine)
            else:
                migrate.check_up_to_date(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, enqueue_on_add=enqueue_on_add, count_cache_s=settings.count_cache_s)

    def add(self, task: Task) -> None:
        """Insert a new task (straight into the archive if it is already Completed)."""
        with translated(StoreUnavailable, WHAT), self._writer.begin() as conn:
            self._insert(conn, [task])

    def add_many(self, tasks: Sequence[Task]) -> None:
        """Insert new tasks, and their queue messages, in one transaction: all or none.

        Each table gets one statement executed with every row (``executemany``), which the
        drivers send batched rather than one round trip per task.
        """
        with translated(StoreUnavailable, WHAT), self._writer.begin() as conn:
            self._insert(conn, tasks)

    def add_idempotent(self, task: Task, key: str, fingerprint: str, not_before: datetime) -> Task:
        """Insert ``task`` and its key in one transaction, or return the task of the live key.

        The key's primary key decides between concurrent requests, in any number of
        processes: a loser's insert fails once the winner commits, rolls back and reads the
        winner's row. An expired key is deleted and the insert tried again. Raises
        ``IdempotencyConflict`` when the live key has another fingerprint.
        """
        self._purge_keys(not_before)
        for _ in range(KEY_ATTEMPTS):
            if self._insert_with_key(task, key, fingerprint):
                return task
            existing = self._live_task(key, fingerprint, not_before)
            if existing is not None:
                return existing
        raise StoreUnavailable(f"{WHAT} failed: idempotency key {key!r} could not be recorded")

    def _insert(self, conn: Connection, tasks: Sequence[Task]) -> None:
        """Completed tasks go straight to the archive; Queued ones get their message."""
        done = TaskStatus.COMPLETED
        active = [to_row(task) for task in tasks if task.status is not done]
        archived = [q.archived(to_row(t), t.updated_at) for t in tasks if t.status is done]
        queued = [t for t in tasks if t.status is TaskStatus.QUEUED] if self.enqueue_on_add else []
        if active:
            conn.execute(q.insert_task(self._t), active)
        if archived:
            conn.execute(q.insert_archived(self._t), archived)
        if queued:
            conn.execute(q.insert_message(self._t), [q.message_of(task) for task in queued])

    def _insert_with_key(self, task: Task, key: str, fingerprint: str) -> bool:
        """Whether ``task`` and its key were inserted; False when the key was taken."""
        with translated(StoreUnavailable, WHAT):
            try:
                with self._writer.begin() as conn:
                    conn.execute(q.insert_key(self._t, key, fingerprint, task))
                    self._insert(conn, [task])
            except exc.IntegrityError:
                return False
        return True

    def _live_task(self, key: str, fingerprint: str, not_before: datetime) -> Task | None:
        """The task of the key's live row; None after forgetting an expired or orphaned row."""
        with translated(StoreUnavailable, WHAT), self.engine.connect() as conn:
            row = conn.execute(q.select_key(self._t, key)).first()
            if row is None:
                return None
            if row.created_at >= not_before and row.fingerprint != fingerprint:
                raise IdempotencyConflict(key)
            by_id = {"task_id": row.task_id}
            found = conn.execute(q.select_task(self._t), by_id).mappings().first()
        if row.created_at >= not_before and found is not None:
            return to_task(found)
        with translated(StoreUnavailable, WHAT), self._writer.begin() as conn:
            conn.execute(q.delete_key(self._t, key, row.task_id))
        return None

    def _purge_keys(self, not_before: datetime) -> None:
        """Delete expired keys, at most once a minute per process; a failure only waits."""
        with self._purge_lock:
            if time.monotonic() < self._next_purge:
                return
            self._next_purge = time.monotonic() + KEY_PURGE_INTERVAL_S
        try:
            with translated(StoreUnavailable, WHAT), self._writer.begin() as conn:
                conn.execute(q.delete_keys_before(self._t, not_before))
        except AdapterError as failure:
            log.warning("expired idempotency keys not deleted: %s", failure)

    def get(self, task_id: UUID) -> Task:
        """The task, active or archived. Raises ``TaskNotFound``."""
        with translated(StoreUnavailable, WHAT), self.engine.connect() as conn:
            row = conn.execute(q.select_task(self._t), {"task_id": task_id}).mappings().first()
        if row is None:
            raise TaskNotFound(task_id)
        return to_task(row)

    def save(self, task: Task) -> None:
        """Compare-and-set on ``version``; Completed moves the row to the archive.

        On PostgreSQL each save is one statement, committed by itself (connections
        autocommit; the archive move is a data-modifying CTE); elsewhere a transaction of
        one or two statements.

        Raises ``ConcurrentUpdate`` with the current status, or ``TaskNotFound``.
        """
        expected = task.version - 1
        row = to_row(task)
        cas = {"expected_task_id": task.task_id, "expected_version": expected}
        single = self._one_statement_saves
        with translated(StoreUnavailable, WHAT), self._save_connection() as conn:
            if task.status is not TaskStatus.COMPLETED:
                changed = conn.execute(q.update_if_version(self._t), q.changed(row, expected))
            elif single:
                archived = {**q.archived(row, task.updated_at), **cas}
                changed = conn.execute(q.archive_if_version(self._t), archived)
            else:
                changed = conn.execute(q.delete_if_version(self._t), cas)
                if changed.rowcount == 1:
                    conn.execute(q.insert_archived(self._t), q.archived(row, task.updated_at))
            if changed.rowcount != 1:
                raise self._lost(conn, task.task_id)

    def _save_connection(self) -> AbstractContextManager[Connection]:
        if self._one_statement_saves:
            return self.engine.connect()  # autocommit: the statement commits itself
        return self._writer.begin()

    def _lost(self, conn: Connection, task_id: UUID) -> Exception:
        status = conn.execute(q.select_status(self._t), {"task_id": task_id}).scalar()
        if status is None:
            return TaskNotFound(task_id)
        return ConcurrentUpdate(task_id, TaskStatus(status))

    def list_page(self, status: TaskStatus | None, offset: int, limit: int) -> TaskPage:
        """Tasks newest first (ties by id), archived ones included, and the matching total.

        The total is exact below ``exact_totals_below`` (10,000); above, it may be up to
        ``count_cache_s`` old (``ListTotals``).
        """
        with translated(StoreUnavailable, WHAT), self.engine.connect() as conn:
            ids = list(conn.execute(q.page_ids(self._t, status, offset, limit)).scalars())
            rows = conn.execute(q.select_tasks(self._t, ids)).mappings().all() if ids else []
        found = {row["task_id"]: to_task(row) for row in rows}
        return TaskPage([found[i] for i in ids if i in found], self._totals.total(status))

    def _count(self, status: TaskStatus | None) -> int:
        with translated(StoreUnavailable, WHAT), self.engine.connect() as conn:
            return int(conn.execute(q.count(self._t, status)).scalar_one())

    def expired(self, now: datetime, limit: int) -> list[Task]:
        """Processing tasks whose deadline is at or before ``now``, most overdue first."""
        with translated(StoreUnavailable, WHAT), self.engine.connect() as conn:
            rows = conn.execute(q.expired(self._t, now, limit)).mappings().all()
        return [to_task(row) for row in rows]

    def queued_ids(self, limit: int) -> list[UUID]:
        """Ids of Queued tasks, oldest first."""
        with translated(StoreUnavailable, WHAT), self.engine.connect() as conn:
            return list(conn.execute(q.queued_ids(self._t, limit)).scalars())

    def counts(self) -> dict[TaskStatus, int]:
        """Tasks per status, archive included; every status is present."""
        totals = dict.fromkeys(TaskStatus, 0)
        with translated(StoreUnavailable, WHAT), self.engine.connect() as conn:
            for status, number in conn.execute(q.count_active_by_status(self._t)):
                totals[TaskStatus(status)] += number
            totals[TaskStatus.COMPLETED] += conn.execute(
                q.count(self._t, TaskStatus.COMPLETED)
            ).scalar_one()
        return totals

    def ping(self) -> None:
        """Return when the database answers a query."""
        with translated(StoreUnavailable, WHAT), self.engine.connect() as conn:
            conn.execute(q.ping())

    def close(self) -> None:
        """Stop counting in the background, then close every pooled connection."""
        self._totals.close()
        self.engine.dispose()
