"""The invariants every sequence of operations must keep, checked on the memory adapters.

They read the adapters' internals on purpose: the point is to see the true state, not
what the public API would report.
"""

from __future__ import annotations

import itertools
from uuid import UUID

from taskcore.status import TRANSITIONS, TaskStatus
from taskcore.task import Task
from taskcore_adapters import MemoryTaskQueue
from tests.hardening.doubles import RecordingStore, Saved, ScriptedCallbackClient


def check_all(
    store: RecordingStore, queue: MemoryTaskQueue, client: ScriptedCallbackClient
) -> None:
    """Assert every invariant on the current state."""
    tasks = store.all_tasks()
    check_one_status_per_task(store, tasks)
    check_archive(store, tasks)
    check_queue_holds_exactly_the_queued_tasks(queue, tasks)
    check_leases(tasks)
    for task_id, task in tasks.items():
        check_history(task, store.history[task_id])
        check_one_callback_per_attempt(task, client.calls.get(task_id, []))


def check_one_status_per_task(store: RecordingStore, tasks: dict[UUID, Task]) -> None:
    index = store._by_status
    for task_id, task in tasks.items():
        holders = [status for status, ids in index.items() if task_id in ids]
        assert holders == [task.status], f"{task_id} indexed under {holders}, is {task.status}"
    assert sum(store.counts().values()) == len(tasks)


def check_archive(store: RecordingStore, tasks: dict[UUID, Task]) -> None:
    for task_id, task in tasks.items():
        archived = store.is_archived(task_id)
        assert archived == (task.status is TaskStatus.COMPLETED), f"{task_id}: {task.status}"


def check_queue_holds_exactly_the_queued_tasks(
    queue: MemoryTaskQueue, tasks: dict[UUID, Task]
) -> None:
    """No Cancelled (or otherwise taken) task waits in the queue; no Queued task is lost."""
    queued = {i for i, t in tasks.items() if t.status is TaskStatus.QUEUED}
    assert set(queue._live) == queued


def check_leases(tasks: dict[UUID, Task]) -> None:
    """Every Processing task has a deadline, and only Processing tasks have one."""
    for task in tasks.values():
        has_lease = task.deadline is not None
        assert has_lease == (task.status is TaskStatus.PROCESSING), task


def check_history(task: Task, writes: list[Saved]) -> None:
    """Versions go up by one per write; each write is a legal move; attempts never drop.

    Writes are recorded just after the store accepted them, so racing threads may record
    them out of order; the version says the order the store applied them in.
    """
    history = sorted(writes, key=lambda saved: saved.version)
    assert [s.version for s in history] == list(range(1, len(history) + 1)), history
    assert history[-1] == Saved(task.version, task.status, task.attempts)
    for before, after in itertools.pairwise(history):
        assert after.attempts >= before.attempts, history
        same = before.status is after.status is TaskStatus.PROCESSING  # a 202 extends the lease
        assert same or after.status in TRANSITIONS[before.status], history


def check_one_callback_per_attempt(task: Task, attempts_called: list[int]) -> None:
    """Each execution started made exactly one callback, numbered by its attempt."""
    assert sorted(attempts_called) == list(range(1, task.attempts + 1)), (task, attempts_called)
