"""Adapters that fail on purpose, built on the shipped memory fakes."""

from __future__ import annotations

from uuid import UUID

from taskcore.errors import QueueUnavailable
from taskcore.status import TaskStatus
from taskcore.task import Task
from taskcore_adapters import MemoryTaskQueue, MemoryTaskStore


class FlakyStore(MemoryTaskStore):
    """A memory store that raises ``failure`` from every call while it is set."""

    def __init__(self) -> None:
        super().__init__()
        self.failure: Exception | None = None

    def _maybe_fail(self) -> None:
        if self.failure is not None:
            raise self.failure

    def add(self, task: Task) -> None:
        self._maybe_fail()
        super().add(task)

    def get(self, task_id: UUID) -> Task:
        self._maybe_fail()
        return super().get(task_id)

    def counts(self) -> dict[TaskStatus, int]:
        self._maybe_fail()
        return super().counts()

    def ping(self) -> None:
        self._maybe_fail()


class DownQueue(MemoryTaskQueue):
    """A memory queue that cannot be reached."""

    def publish(self, task_id: UUID, priority: int) -> None:
        raise QueueUnavailable("queue is down")

    def ping(self) -> None:
        raise QueueUnavailable("queue is down")

    def depth(self) -> int:
        raise QueueUnavailable("queue is down")
