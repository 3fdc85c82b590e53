"""The ports: what the service needs from the outside world, as small Protocols.

Adapters in ``taskcore_adapters`` implement them; the memory adapters are the reference
implementations and pass the same contract tests as the real ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from taskcore.status import TaskStatus
from taskcore.task import CallbackResult, Task


@dataclass(frozen=True, slots=True)
class TaskPage:
    """One page of a listing and the count of all matching tasks."""

    tasks: list[Task]
    total: int


@dataclass(frozen=True, slots=True)
class Delivery:
    """A message taken from a queue: the task it names and the adapter's receipt for it."""

    task_id: UUID
    receipt: Any = None


@dataclass(frozen=True, slots=True)
class CallbackRequest:
    """Everything the callback client sends for one attempt."""

    task_id: UUID
    name: str
    url: str
    payload: Any
    attempt: int
    token: str


class Clock(Protocol):
    """Where time comes from, so that tests can set it."""

    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class TaskStore(Protocol):
    """The source of truth for tasks: active ones and the archive of Completed ones."""

    def add(self, task: Task) -> None:
        """Insert a new task. Raises ``StoreUnavailable``."""
        ...

    def add_many(self, tasks: Sequence[Task]) -> None:
        """Insert new tasks in one atomic step: all of them or, on failure, none.

        Raises ``StoreUnavailable``.
        """
        ...

    def add_idempotent(self, task: Task, key: str, fingerprint: str, not_before: datetime) -> Task:
        """Insert ``task`` with ``key`` in one atomic step, or return the task the key names.

        A key recorded before ``not_before`` has expired: it is taken over by ``task``. A live
        key with the same ``fingerprint`` returns its task as stored now (not ``task``), so
        concurrent calls with one key insert exactly one task, across processes where the
        store is shared. Raises ``IdempotencyConflict`` when a live key has another
        fingerprint, ``StoreUnavailable``.
        """
        ...

    def get(self, task_id: UUID) -> Task:
        """The task, active or archived. Raises ``TaskNotFound``, ``StoreUnavailable``."""
        ...

    def save(self, task: Task) -> None:
        """Persist a move iff the stored version is ``task.version - 1`` (compare-and-set).

        A Completed task leaves the active set for the archive in the same atomic step.
        Raises ``ConcurrentUpdate`` when another move won, ``TaskNotFound``,
        ``StoreUnavailable``.
        """
        ...

    def list_page(self, status: TaskStatus | None, offset: int, limit: int) -> TaskPage:
        """Tasks newest first, archived ones included. Raises ``StoreUnavailable``."""
        ...

    def expired(self, now: datetime, limit: int) -> list[Task]:
        """Processing tasks whose deadline is at or before ``now``. Raises ``StoreUnavailable``."""
        ...

    def queued_ids(self, limit: int) -> list[UUID]:
        """Ids of Queued tasks, oldest first, for republishing. Raises ``StoreUnavailable``."""
        ...

    def counts(self) -> dict[TaskStatus, int]:
        """How many tasks are in each status, archive included. Raises ``StoreUnavailable``."""
        ...

    def ping(self) -> None:
        """Return when the store answers. Raises ``StoreUnavailable``."""
        ...

    def close(self) -> None:
        """Release connections; the store is unusable afterwards."""
        ...


class TaskQueue(Protocol):
    """The order of work. Delivery is at least once: stale messages are skipped by the service."""

    def publish(self, task_id: UUID, priority: int) -> None:
        """Enqueue a task id; higher priority first where supported. Raises ``QueueUnavailable``."""
        ...

    def publish_many(self, messages: Sequence[tuple[UUID, int]]) -> None:
        """``publish`` each (task id, priority) in order, as cheaply as the queue allows.

        Brokers need only ``publish``: they sit behind the outbox, which implements this.
        Raises ``QueueUnavailable``.
        """
        ...

    def receive(self) -> Delivery | None:
        """Take the next message without waiting, or None. Raises ``QueueUnavailable``."""
        ...

    def ack(self, delivery: Delivery) -> None:
        """Forget a message for good. Raises ``QueueUnavailable``."""
        ...

    def release(self, delivery: Delivery) -> None:
        """Hand a message back for another consumer. Raises ``QueueUnavailable``."""
        ...

    def discard(self, task_id: UUID) -> None:
        """Drop a task's message where the queue can; otherwise it is skipped when it comes up."""
        ...

    def depth(self) -> int:
        """How many messages wait to be received, for monitoring. Raises ``QueueUnavailable``.

        Each adapter says whether a message received and not yet acknowledged still counts.
        """
        ...

    def ping(self) -> None:
        """Return when the queue answers. Raises ``QueueUnavailable``."""
        ...

    def close(self) -> None:
        """Release connections; the queue is unusable afterwards."""
        ...


class CallbackClient(Protocol):
    """Calls a task's callback URL. Never raises: every failure becomes an outcome."""

    def call(self, request: CallbackRequest) -> CallbackResult:
        """POST the task to its callback URL and report what happened."""
        ...

    def close(self) -> None:
        """Release pooled connections."""
        ...


class Slot(Protocol):
    """A place reserved on a background executor, used exactly once."""

    def run(self, job: Callable[[], object]) -> None:
        """Run ``job`` in the background in this place."""
        ...

    def cancel(self) -> None:
        """Give the place back unused."""
        ...


class BackgroundExecutor(Protocol):
    """Runs asynchronous executions with bounded concurrency.

    A place is reserved before the task moves, so that a full executor refuses the request
    (503) without changing the task.
    """

    def reserve(self) -> Slot:
        """Reserve a place. Raises ``Overloaded`` when every place is taken."""
        ...

    def close(self) -> None:
        """Wait for running jobs, then stop."""
        ...
