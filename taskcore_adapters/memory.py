"""In-process store and queue: the embedded default and the reference fakes.

Both are thread-safe and hold everything in this process; they pass the same contract tests
as the SQL store and the brokers.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from taskcore.errors import ConcurrentUpdate, IdempotencyConflict, TaskNotFound
from taskcore.ports import Delivery, TaskPage
from taskcore.status import TaskStatus
from taskcore.task import Task


@dataclass(frozen=True, slots=True)
class _Key:
    fingerprint: str
    task_id: UUID
    created_at: datetime


class MemoryTaskStore:
    """``TaskStore`` in a dict: active tasks, the archive, and an index by status."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tasks: dict[UUID, Task] = {}  # insertion order is creation order
        self._archive: set[UUID] = set()
        self._by_status: dict[TaskStatus, dict[UUID, None]] = {s: {} for s in TaskStatus}
        self._keys: dict[str, _Key] = {}  # idempotency keys, oldest first

    def add(self, task: Task) -> None:
        """Insert a new task."""
        with self._lock:
            self._insert(task)

    def add_many(self, tasks: Sequence[Task]) -> None:
        """Insert new tasks under one hold of the lock: no reader sees part of them."""
        with self._lock:
            for task in tasks:
                self._insert(task)

    def add_idempotent(self, task: Task, key: str, fingerprint: str, not_before: datetime) -> Task:
        """Insert ``task`` under ``key``, or return the task of the live key (see the port).

        Raises ``IdempotencyConflict`` when the live key has another fingerprint.
        """
        with self._lock:
            self._forget_keys_before(not_before)
            known = self._keys.get(key)
            if known is not None and known.created_at >= not_before:
                if known.fingerprint != fingerprint:
                    raise IdempotencyConflict(key)
                return self._tasks[known.task_id]
            self._keys.pop(key, None)  # re-inserted last, to keep the oldest first
            self._keys[key] = _Key(fingerprint, task.task_id, task.created_at)
            self._insert(task)
            return task

    def _insert(self, task: Task) -> None:
        self._tasks[task.task_id] = task
        self._by_status[task.status][task.task_id] = None
        if task.status is TaskStatus.COMPLETED:  # as the SQL store, straight to the archive
            self._archive.add(task.task_id)

    def _forget_keys_before(self, not_before: datetime) -> None:
        """Drop expired keys from the old end, so that memory stays bounded by the window."""
        while self._keys:
            oldest = next(iter(self._keys))
            if self._keys[oldest].created_at >= not_before:
                return
            del self._keys[oldest]

    def get(self, task_id: UUID) -> Task:
        """The task, archived or not. Raises ``TaskNotFound``."""
        try:
            return self._tasks[task_id]
        except KeyError:
            raise TaskNotFound(task_id) from None

    def save(self, task: Task) -> None:
        """Compare-and-set on ``version``. Raises ``ConcurrentUpdate``, ``TaskNotFound``."""
        with self._lock:
            current = self.get(task.task_id)
            if current.version != task.version - 1:
                raise ConcurrentUpdate(task.task_id, current.status)
            self._tasks[task.task_id] = task
            del self._by_status[current.status][task.task_id]
            self._by_status[task.status][task.task_id] = None
            if task.status is TaskStatus.COMPLETED:
                self._archive.add(task.task_id)

    def is_archived(self, task_id: UUID) -> bool:
        """Whether the task has moved to the archive."""
        return task_id in self._archive

    def list_page(self, status: TaskStatus | None, offset: int, limit: int) -> TaskPage:
        """Newest first; archived tasks included."""
        with self._lock:
            ids = list(self._tasks if status is None else self._by_status[status])
        newest_first = ids[::-1][offset : offset + limit]
        return TaskPage([self._tasks[i] for i in newest_first], len(ids))

    def expired(self, now: datetime, limit: int) -> list[Task]:
        """Processing tasks whose deadline has passed."""
        with self._lock:
            processing = [self._tasks[i] for i in self._by_status[TaskStatus.PROCESSING]]
        late = [t for t in processing if t.deadline is not None and t.deadline <= now]
        return late[:limit]

    def queued_ids(self, limit: int) -> list[UUID]:
        """Queued task ids, oldest first."""
        with self._lock:
            return list(itertools.islice(self._by_status[TaskStatus.QUEUED], limit))

    def counts(self) -> dict[TaskStatus, int]:
        """Tasks per status."""
        with self._lock:
            return {status: len(ids) for status, ids in self._by_status.items()}

    def ping(self) -> None:
        """Always answers: it lives in this process."""

    def close(self) -> None:
        """Nothing to release."""


class MemoryTaskQueue:
    """``TaskQueue`` as a heap ordered by priority (highest first), then FIFO.

    ``discard`` is O(1): it forgets the live entry and the heap drops the stale one when it
    surfaces; the heap is compacted when stale entries outnumber live ones.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._heap: list[tuple[int, int, UUID]] = []
        self._live: dict[UUID, int] = {}
        self._seq = itertools.count()

    def publish(self, task_id: UUID, priority: int) -> None:
        """Enqueue; a task published twice is delivered once, at its latest place."""
        with self._lock:
            self._push(task_id, priority)
            self._compact_if_sparse()

    def publish_many(self, messages: Sequence[tuple[UUID, int]]) -> None:
        """``publish`` each message in order under one hold of the lock."""
        with self._lock:
            for task_id, priority in messages:
                self._push(task_id, priority)
            self._compact_if_sparse()

    def receive(self) -> Delivery | None:
        """Pop the next live entry, or None when empty."""
        with self._lock:
            while self._heap:
                neg_priority, seq, task_id = heapq.heappop(self._heap)
                if self._live.get(task_id) == seq:
                    del self._live[task_id]
                    return Delivery(task_id, (neg_priority, seq))
            return None

    def ack(self, delivery: Delivery) -> None:
        """Nothing to do: ``receive`` already removed the entry."""

    def release(self, delivery: Delivery) -> None:
        """Put the entry back at its original place."""
        neg_priority, seq = delivery.receipt
        with self._lock:
            self._live[delivery.task_id] = seq
            heapq.heappush(self._heap, (neg_priority, seq, delivery.task_id))

    def discard(self, task_id: UUID) -> None:
        """Drop the task's entry, if it is still queued."""
        with self._lock:
            self._live.pop(task_id, None)
            self._compact_if_sparse()

    def __len__(self) -> int:
        return len(self._live)

    def depth(self) -> int:
        """Entries waiting; a received one is gone from the queue until it is released."""
        with self._lock:
            return len(self._live)

    def ping(self) -> None:
        """Always answers: it lives in this process."""

    def close(self) -> None:
        """Nothing to release."""

    def _compact_if_sparse(self) -> None:
        if len(self._heap) > 64 and len(self._heap) > 2 * len(self._live):
            self._heap = [e for e in self._heap if self._live.get(e[2]) == e[1]]
            heapq.heapify(self._heap)

    def _push(self, task_id: UUID, priority: int) -> None:
        seq = next(self._seq)
        self._live[task_id] = seq
        heapq.heappush(self._heap, (-priority, seq, task_id))
