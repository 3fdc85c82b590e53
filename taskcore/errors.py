"""The error tree: one root, shallow families, each mapped to one HTTP status at the edge."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

if TYPE_CHECKING:
    from taskcore.status import TaskStatus


class TaskcoreError(Exception):
    """Root of every error taskcore raises on purpose."""


class TaskNotFound(TaskcoreError):
    """No task, active or archived, has this id (404)."""

    def __init__(self, task_id: UUID) -> None:
        super().__init__(f"task {task_id} does not exist")
        self.task_id = task_id


class InvalidTransition(TaskcoreError):
    """The transition table refuses this move from the task's current status (409)."""

    def __init__(self, task_id: UUID, current: TaskStatus, target: TaskStatus) -> None:
        super().__init__(f"task {task_id} is {current.value}; it cannot become {target.value}")
        self.task_id = task_id
        self.current = current
        self.target = target


class ConcurrentUpdate(TaskcoreError):
    """Another caller changed the task first; this move lost the race (409)."""

    def __init__(self, task_id: UUID, current: TaskStatus | None = None) -> None:
        super().__init__(f"task {task_id} was changed by another request")
        self.task_id = task_id
        self.current = current


class IdempotencyConflict(TaskcoreError):
    """An idempotency key still in its window was used with a different request (409)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"idempotency key {key!r} was already used with a different request")
        self.key = key


class InvalidInput(TaskcoreError):
    """An argument breaks the contract; ``errors`` maps snake_case field to messages (400)."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in sorted(errors.items())))
        self.errors = errors


class InvalidTask(InvalidInput):
    """A new task's fields break the contract (400)."""


class InvalidCompletionToken(TaskcoreError):
    """A deferred completion came without the task's token, or with a wrong one (403)."""

    def __init__(self, task_id: UUID) -> None:
        super().__init__(f"the completion token for task {task_id} is missing or wrong")
        self.task_id = task_id


class Overloaded(TaskcoreError):
    """The background executor is full; retry later (503)."""


class AdapterError(TaskcoreError):
    """An infrastructure adapter failed; the request changed nothing it reports (503)."""


class StoreUnavailable(AdapterError):
    """The task store cannot be reached or refused the operation (503)."""


class QueueUnavailable(AdapterError):
    """The queue cannot be reached or refused the operation (503)."""
