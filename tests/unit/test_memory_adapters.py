"""The in-process store and queue: the embedded default and the fakes every test relies on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from taskcore.errors import ConcurrentUpdate, TaskNotFound
from taskcore.ports import Delivery
from taskcore.status import TaskStatus
from taskcore.task import CallbackResult, Task
from taskcore_adapters.memory import MemoryTaskQueue, MemoryTaskStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)
OK = CallbackResult(200, "", 1, None, 1)


def new_task(name: str = "t") -> Task:
    return Task.new(name=name, callback_url="http://127.0.0.1/x", now=T0)


@pytest.fixture
def store() -> MemoryTaskStore:
    return MemoryTaskStore()


@pytest.fixture
def queue() -> MemoryTaskQueue:
    return MemoryTaskQueue()


def added(store: MemoryTaskStore, *names: str) -> list[Task]:
    tasks = [new_task(n) for n in names]
    for task in tasks:
        store.add(task)
    return tasks


def started(store: MemoryTaskStore, task: Task, deadline: datetime) -> Task:
    pending = task.dequeue(T0)
    store.save(pending)
    processing = pending.start(T0, deadline, None)
    store.save(processing)
    return processing


# --- store -----------------------------------------------------------------------------------


def test_the_store_returns_what_was_added(store: MemoryTaskStore) -> None:
    [task] = added(store, "a")
    assert store.get(task.task_id) == task


def test_getting_an_unknown_id_raises_task_not_found(store: MemoryTaskStore) -> None:
    with pytest.raises(TaskNotFound):
        store.get(uuid4())


def test_save_persists_the_next_version(store: MemoryTaskStore) -> None:
    [task] = added(store, "a")
    moved = task.dequeue(T0)
    store.save(moved)
    assert store.get(task.task_id) == moved


def test_save_of_a_stale_version_raises_concurrent_update_and_keeps_the_winner(
    store: MemoryTaskStore,
) -> None:
    [task] = added(store, "a")
    winner, loser = task.dequeue(T0), task.cancel(T0)
    store.save(winner)
    with pytest.raises(ConcurrentUpdate) as caught:
        store.save(loser)
    assert caught.value.current is TaskStatus.PENDING
    assert store.get(task.task_id) == winner


def test_save_that_skips_a_version_is_refused(store: MemoryTaskStore) -> None:
    [task] = added(store, "a")
    with pytest.raises(ConcurrentUpdate):
        store.save(task.dequeue(T0).cancel(T0))


def test_save_of_an_unknown_task_raises_task_not_found(store: MemoryTaskStore) -> None:
    with pytest.raises(TaskNotFound):
        store.save(new_task().dequeue(T0))


def test_a_completed_task_moves_to_the_archive_and_stays_readable(store: MemoryTaskStore) -> None:
    [task, other] = added(store, "a", "b")
    done = started(store, task, T0).complete(T0, OK)
    store.save(done)
    assert store.is_archived(task.task_id)
    assert not store.is_archived(other.task_id)
    assert store.get(task.task_id) == done
    assert store.list_page(TaskStatus.COMPLETED, 0, 10).tasks == [done]


def test_a_failed_task_is_not_archived(store: MemoryTaskStore) -> None:
    [task] = added(store, "a")
    store.save(started(store, task, T0).fail(T0, OK))
    assert not store.is_archived(task.task_id)


def test_list_page_is_newest_first_with_the_total(store: MemoryTaskStore) -> None:
    added(store, "a", "b", "c", "d", "e")
    page = store.list_page(None, 1, 3)
    assert [t.name for t in page.tasks] == ["d", "c", "b"]
    assert page.total == 5
    assert store.list_page(None, 5, 3).tasks == []


def test_list_page_filters_by_status(store: MemoryTaskStore) -> None:
    a, _, c = added(store, "a", "b", "c")
    store.save(a.dequeue(T0))
    store.save(c.dequeue(T0))
    page = store.list_page(TaskStatus.PENDING, 0, 10)
    assert ([t.name for t in page.tasks], page.total) == (["c", "a"], 2)
    assert store.list_page(TaskStatus.FAILED, 0, 10).total == 0


def test_counts_cover_every_status(store: MemoryTaskStore) -> None:
    a, _, c = added(store, "a", "b", "c")
    store.save(a.cancel(T0))
    store.save(started(store, c, T0).complete(T0, OK))
    assert store.counts() == {
        TaskStatus.QUEUED: 1,
        TaskStatus.PENDING: 0,
        TaskStatus.PROCESSING: 0,
        TaskStatus.COMPLETED: 1,
        TaskStatus.FAILED: 0,
        TaskStatus.CANCELLED: 1,
    }


def test_expired_lists_processing_tasks_whose_deadline_has_come(store: MemoryTaskStore) -> None:
    early, on_time, late, _ = added(store, "early", "on", "late", "queued")
    started(store, early, T0 - timedelta(seconds=1))
    started(store, on_time, T0)
    started(store, late, T0 + timedelta(seconds=1))
    assert {t.name for t in store.expired(T0, 10)} == {"early", "on"}
    assert len(store.expired(T0, 1)) == 1


def test_a_processing_task_without_a_deadline_never_expires(store: MemoryTaskStore) -> None:
    [task] = added(store, "a")
    pending = task.dequeue(T0)
    store.save(pending)
    store.save(pending.start(T0, None, None))  # type: ignore[arg-type]
    assert store.expired(T0 + timedelta(days=1), 10) == []


def test_queued_ids_are_oldest_first_and_skip_other_statuses(store: MemoryTaskStore) -> None:
    a, b, c, d = added(store, "a", "b", "c", "d")
    store.save(b.dequeue(T0))
    assert store.queued_ids(10) == [a.task_id, c.task_id, d.task_id]
    assert store.queued_ids(2) == [a.task_id, c.task_id]


def test_the_store_always_answers_and_closes_quietly(store: MemoryTaskStore) -> None:
    store.ping()
    store.close()


# --- queue -----------------------------------------------------------------------------------


def drain(queue: MemoryTaskQueue) -> list[UUID]:
    ids = []
    while (delivery := queue.receive()) is not None:
        queue.ack(delivery)
        ids.append(delivery.task_id)
    return ids


def test_the_queue_delivers_higher_priority_first_then_fifo(queue: MemoryTaskQueue) -> None:
    ids = [uuid4() for _ in range(6)]
    for task_id, priority in zip(ids, [0, 9, 0, 5, 9, 5], strict=True):
        queue.publish(task_id, priority)
    assert drain(queue) == [ids[1], ids[4], ids[3], ids[5], ids[0], ids[2]]


def test_an_empty_queue_returns_none(queue: MemoryTaskQueue) -> None:
    assert queue.receive() is None


def test_receive_hands_out_a_delivery_naming_the_task(queue: MemoryTaskQueue) -> None:
    task_id = uuid4()
    queue.publish(task_id, 3)
    delivery = queue.receive()
    assert isinstance(delivery, Delivery) and delivery.task_id == task_id
    assert len(queue) == 0


def test_discard_drops_the_entry_lazily_without_scanning_the_heap(queue: MemoryTaskQueue) -> None:
    ids = [uuid4() for _ in range(10)]
    for task_id in ids:
        queue.publish(task_id, 0)
    queue.discard(ids[4])
    assert len(queue) == 9
    assert len(queue._heap) == 10  # the stale entry waits until it surfaces
    assert drain(queue) == ids[:4] + ids[5:]
    queue.discard(uuid4())  # unknown ids are ignored


def test_release_puts_a_message_back_at_its_original_place(queue: MemoryTaskQueue) -> None:
    first, second = uuid4(), uuid4()
    queue.publish(first, 0)
    queue.publish(second, 0)
    delivery = queue.receive()
    assert delivery is not None
    queue.release(delivery)
    assert len(queue) == 2
    assert drain(queue) == [first, second]


def test_compaction_drops_stale_entries_and_keeps_the_order(queue: MemoryTaskQueue) -> None:
    ids = [uuid4() for _ in range(200)]
    for n, task_id in enumerate(ids):
        queue.publish(task_id, n % 3)
    for task_id in ids[:150]:
        queue.discard(task_id)
    assert len(queue._heap) <= 2 * len(queue)  # compacted along the way
    left = ids[150:]
    expected = [t for p in (2, 1, 0) for n, t in enumerate(ids) if t in left and n % 3 == p]
    assert drain(queue) == expected


def test_a_task_published_twice_is_delivered_once_at_its_latest_place(
    queue: MemoryTaskQueue,
) -> None:
    again, other = uuid4(), uuid4()
    queue.publish(again, 0)
    queue.publish(other, 0)
    queue.publish(again, 0)
    assert len(queue) == 2
    assert drain(queue) == [other, again]


def test_republishing_with_a_new_priority_uses_the_new_one(queue: MemoryTaskQueue) -> None:
    bumped, other = uuid4(), uuid4()
    queue.publish(bumped, 0)
    queue.publish(other, 5)
    queue.publish(bumped, 9)
    assert drain(queue) == [bumped, other]


def test_the_queue_always_answers_and_closes_quietly(queue: MemoryTaskQueue) -> None:
    queue.ping()
    queue.close()
