"""``SqlTaskQueue``: the order of work kept in the ``queue_messages`` table (an outbox).

A consumer claims the next visible message (priority, then age) by locking its row with
``FOR UPDATE SKIP LOCKED`` where the database has it (PostgreSQL, MariaDB >= 10.6,
SQL Server hints), or inside a ``BEGIN IMMEDIATE`` transaction on SQLite, and hides it for a
visibility timeout. A consumer that dies without ack or release loses the message to the
next consumer once the timeout passes: delivery is at least once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Dialect, Engine

from taskcore.clock import SystemClock
from taskcore.errors import QueueUnavailable
from taskcore.ports import Clock, Delivery
from taskcore_adapters.sql.engine import translated, writer
from taskcore_adapters.sql.tables import Tables, tables

if TYPE_CHECKING:
    from taskcore_adapters.config import QueueSettings

WHAT = "the SQL queue"
VISIBILITY_TIMEOUT_S = 30.0
MSSQL_CLAIM_HINT = "WITH (UPDLOCK, ROWLOCK, READPAST)"


def publish_statements(t: Tables, task_id: UUID, priority: int, now: datetime) -> list[Any]:
    """Forget the task's waiting message, then enqueue it again: one message per task."""
    queue = t.queue
    return [
        sa.delete(queue).where(queue.c.task_id == task_id, queue.c.locked_until.is_(None)),
        sa.insert(queue).values(task_id=task_id, priority=priority, enqueued_at=now),
    ]


def forget_waiting_statement(t: Tables, task_ids: list[UUID]) -> Any:
    """Forget these tasks' waiting messages, before ``publish_many`` enqueues them again."""
    queue = t.queue
    return sa.delete(queue).where(queue.c.task_id.in_(task_ids), queue.c.locked_until.is_(None))


def supports_skip_locked(dialect: Dialect) -> bool:
    """Whether the server knows ``FOR UPDATE SKIP LOCKED`` (else claims wait for each other)."""
    version = dialect.server_version_info or ()
    if dialect.name in ("mysql", "mariadb"):
        return version >= ((10, 6) if getattr(dialect, "is_mariadb", False) else (8, 0))
    return True


def claim_statement(t: Tables, now: datetime, skip_locked: bool = True) -> Any:
    """The next visible message, locked for this transaction; locked rows are skipped."""
    queue = t.queue
    visible = sa.or_(queue.c.locked_until.is_(None), queue.c.locked_until <= now)
    return (
        sa.select(queue.c.id, queue.c.task_id)
        .where(visible)
        .order_by(queue.c.priority.desc(), queue.c.id)
        .limit(1)
        .with_for_update(skip_locked=skip_locked)
        .with_hint(queue, MSSQL_CLAIM_HINT, "mssql")
    )


def depth_statement(t: Tables, now: datetime) -> Any:
    """How many messages are visible: waiting, or claimed by a consumer that gave up."""
    queue = t.queue
    visible = sa.or_(queue.c.locked_until.is_(None), queue.c.locked_until <= now)
    return sa.select(sa.func.count()).select_from(queue).where(visible)


def lock_statement(t: Tables, message_id: int, until: datetime | None) -> Any:
    """Hide a claimed message until ``until`` (None makes it visible again)."""
    return sa.update(t.queue).where(t.queue.c.id == message_id).values(locked_until=until)


def delete_statement(t: Tables, message_id: int) -> Any:
    """Remove one message for good."""
    return sa.delete(t.queue).where(t.queue.c.id == message_id)


def discard_statement(t: Tables, task_id: UUID) -> Any:
    """Remove every message of a task."""
    return sa.delete(t.queue).where(t.queue.c.task_id == task_id)


class SqlTaskQueue:
    """``TaskQueue`` over the ``queue_messages`` table of the store's database."""

    def __init__(
        self,
        engine: Engine,
        settings: QueueSettings | None = None,
        *,
        visibility_timeout_s: float = VISIBILITY_TIMEOUT_S,
        clock: Clock | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self._writer = writer(engine)
        self._visibility = timedelta(seconds=visibility_timeout_s)
        self._clock = clock or SystemClock()
        self._t = tables()

    def publish(self, task_id: UUID, priority: int) -> None:
        """Enqueue; a task published again while waiting keeps one message, at the back."""
        statements = publish_statements(self._t, task_id, priority, self._clock.now())
        with translated(QueueUnavailable, WHAT), self._writer.begin() as conn:
            for statement in statements:
                conn.execute(statement)

    def publish_many(self, messages: Sequence[tuple[UUID, int]]) -> None:
        """``publish`` each message, in order, in one transaction and two statements."""
        if not messages:
            return
        now = self._clock.now()
        rows = [{"task_id": i, "priority": p, "enqueued_at": now} for i, p in messages]
        forget = forget_waiting_statement(self._t, [task_id for task_id, _ in messages])
        with translated(QueueUnavailable, WHAT), self._writer.begin() as conn:
            conn.execute(forget)
            conn.execute(sa.insert(self._t.queue).inline(), rows)

    def receive(self) -> Delivery | None:
        """Claim the next visible message for the visibility timeout, or None."""
        now = self._clock.now()
        with translated(QueueUnavailable, WHAT), self._writer.begin() as conn:
            claim = claim_statement(self._t, now, supports_skip_locked(conn.dialect))
            row = conn.execute(claim).first()
            if row is None:
                return None
            conn.execute(lock_statement(self._t, row.id, now + self._visibility))
        return Delivery(row.task_id, row.id)

    def ack(self, delivery: Delivery) -> None:
        """Delete the delivered message."""
        self._execute(delete_statement(self._t, delivery.receipt))

    def release(self, delivery: Delivery) -> None:
        """Make the message visible again at its original place."""
        self._execute(lock_statement(self._t, delivery.receipt, None))

    def discard(self, task_id: UUID) -> None:
        """Delete every message of the task, claimed or not."""
        self._execute(discard_statement(self._t, task_id))

    def depth(self) -> int:
        """Messages visible to consumers; a claimed one is not counted while it is hidden."""
        statement = depth_statement(self._t, self._clock.now())
        with translated(QueueUnavailable, WHAT), self.engine.connect() as conn:
            return int(conn.execute(statement).scalar_one())

    def ping(self) -> None:
        """Return when the database answers."""
        with translated(QueueUnavailable, WHAT), self.engine.connect() as conn:
            conn.execute(sa.select(sa.literal(1)))

    def close(self) -> None:
        """Nothing of its own to release: the engine belongs to the store."""

    def _execute(self, statement: Any) -> None:
        with translated(QueueUnavailable, WHAT), self._writer.begin() as conn:
            conn.execute(statement)
