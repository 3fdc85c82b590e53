"""``TaskService.create_many``: a batch is checked whole, stored in one store call and
published together; one bad task refuses it all. Also the outbox's batch publish."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any
from uuid import UUID, uuid4

import pytest

from taskcore.errors import InvalidInput, InvalidTask, QueueUnavailable, StoreUnavailable
from taskcore.service import BATCH_MAX, TaskService, TaskSpec
from taskcore.status import TaskStatus
from taskcore.task import Task
from taskcore_adapters.memory import MemoryTaskQueue, MemoryTaskStore
from taskcore_adapters.outbox import OutboxQueue
from tests.support.clock import SettableClock

URL = "http://127.0.0.1:9/hook"


class CountingStore(MemoryTaskStore):
    """The memory store, counting its insert calls; ``failure`` makes ``add_many`` raise."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []
        self.failure: Exception | None = None

    def add(self, task: Task) -> None:
        self.calls.append("add")
        super().add(task)

    def add_many(self, tasks: Sequence[Task]) -> None:
        self.calls.append("add_many")
        if self.failure is not None:
            raise self.failure
        super().add_many(tasks)


class RecordingQueue(MemoryTaskQueue):
    """The memory queue, recording each ``publish_many`` call."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[tuple[UUID, int]]] = []

    def publish_many(self, messages: Sequence[tuple[UUID, int]]) -> None:
        self.batches.append(list(messages))
        super().publish_many(messages)


class NoCallbacks:
    def call(self, request: Any) -> Any:  # pragma: no cover - nothing is executed here
        raise AssertionError("no callback expected")

    def close(self) -> None:
        """Nothing pooled."""


@pytest.fixture
def store() -> CountingStore:
    return CountingStore()


@pytest.fixture
def queue() -> RecordingQueue:
    return RecordingQueue()


@pytest.fixture
def service(store: CountingStore, queue: RecordingQueue, clock: SettableClock) -> TaskService:
    return TaskService(store, queue, NoCallbacks(), clock)


def specs(count: int, **fields: Any) -> list[TaskSpec]:
    return [TaskSpec(**{"name": f"job {i}", "callback_url": URL, **fields}) for i in range(count)]


def test_a_batch_is_stored_in_one_call_and_returned_in_its_order(
    service: TaskService, store: CountingStore, clock: SettableClock
) -> None:
    created = service.create_many(specs(3))

    assert [task.name for task in created] == ["job 0", "job 1", "job 2"]
    assert store.calls == ["add_many"]
    for task in created:
        assert task.status is TaskStatus.QUEUED and task.created_at == clock.now()
        assert service.get(task.task_id) == task


def test_a_batch_is_published_in_one_call_and_taken_by_priority_then_in_order(
    service: TaskService, queue: RecordingQueue
) -> None:
    batch = [TaskSpec(f"p{p}-{i}", URL, priority=p) for i, p in enumerate([0, 9, 5, 9, 0])]

    created = service.create_many(batch)

    assert queue.batches == [[(task.task_id, task.priority) for task in created]]
    taken = [service.dequeue_next() for _ in created]
    assert [task.name for task in taken if task] == ["p9-1", "p9-3", "p5-2", "p0-0", "p0-4"]
    assert service.dequeue_next() is None


def test_each_task_is_normalised_as_a_single_create_does(service: TaskService) -> None:
    spec = TaskSpec("  trimmed  ", URL, description="d", payload=None, priority=4)

    (batched,) = service.create_many([spec])
    single = service.create(
        name=spec.name,
        callback_url=spec.callback_url,
        description=spec.description,
        payload=spec.payload,
        priority=spec.priority,
    )

    fields = ("name", "description", "callback_url", "payload", "priority", "status")
    assert [getattr(batched, f) for f in fields] == [getattr(single, f) for f in fields]


def test_one_bad_task_refuses_the_batch_naming_its_index(
    service: TaskService, store: CountingStore, queue: RecordingQueue
) -> None:
    batch = specs(5)
    batch[3] = TaskSpec("job 3", "ftp://127.0.0.1/")

    with pytest.raises(InvalidTask) as refused:
        service.create_many(batch)

    assert list(refused.value.errors) == ["tasks.3.callback_url"]
    assert store.calls == [] and queue.batches == [] and len(queue) == 0
    assert service.list().total == 0


def test_every_bad_task_and_field_is_named(service: TaskService) -> None:
    batch = [TaskSpec(" ", URL), TaskSpec("ok", URL), TaskSpec(5, "x", priority=10)]  # type: ignore[arg-type]

    with pytest.raises(InvalidTask) as refused:
        service.create_many(batch)

    expected = {"tasks.0.name", "tasks.2.name", "tasks.2.callback_url", "tasks.2.priority"}
    assert set(refused.value.errors) == expected


@pytest.mark.parametrize("count", [0, BATCH_MAX + 1])
def test_an_empty_or_oversized_batch_is_refused(
    service: TaskService, store: CountingStore, count: int
) -> None:
    with pytest.raises(InvalidInput) as refused:
        service.create_many(specs(count))

    assert list(refused.value.errors) == ["tasks"]
    assert store.calls == []


def test_a_batch_of_the_largest_size_is_created(service: TaskService) -> None:
    assert len(service.create_many(specs(BATCH_MAX))) == BATCH_MAX
    assert service.list().total == BATCH_MAX


def test_a_batch_the_store_refuses_is_not_published(
    service: TaskService, store: CountingStore, queue: RecordingQueue
) -> None:
    store.failure = StoreUnavailable("the task store failed")

    with pytest.raises(StoreUnavailable):
        service.create_many(specs(3))

    assert queue.batches == [] and len(queue) == 0


# --- the outbox in front of a broker ----------------------------------------------------------


class RecordingOutbox:
    """An ``Outbox`` that only records which tasks' rows were removed."""

    def __init__(self) -> None:
        self.removed: list[UUID] = []

    def remove_tasks(self, task_ids: list[UUID]) -> None:
        self.removed.extend(task_ids)

    def pending(self, older_than: Any, limit: int) -> list[tuple[int, UUID, int]]:
        return []

    def remove(self, message_ids: list[int]) -> None:
        """Nothing is pending, so nothing is removed by id."""

    def count(self) -> int:
        return 0

    def add_missing(self, created_before: Any, now: Any) -> int:
        return 0


class FailingBroker(MemoryTaskQueue):
    """A broker that is down."""

    def __init__(self) -> None:
        super().__init__()
        self.attempts = 0

    def publish_many(self, messages: Sequence[tuple[UUID, int]]) -> None:
        self.attempts += 1
        raise QueueUnavailable("broker down")


@pytest.fixture
def outbox() -> RecordingOutbox:
    return RecordingOutbox()


@pytest.fixture
def through_outbox(
    outbox: RecordingOutbox, clock: SettableClock
) -> Iterator[Callable[[MemoryTaskQueue], OutboxQueue]]:
    """Build an ``OutboxQueue`` in front of a broker; closed after the test."""
    built: list[OutboxQueue] = []

    def build(broker: MemoryTaskQueue) -> OutboxQueue:
        built.append(OutboxQueue(broker, outbox, clock, relay_interval_s=3600))
        return built[-1]

    yield build
    for queue in built:
        queue.close()


def test_the_outbox_sends_a_batch_in_order_and_then_forgets_its_rows(
    through_outbox: Callable[[MemoryTaskQueue], OutboxQueue], outbox: RecordingOutbox
) -> None:
    queue = through_outbox(MemoryTaskQueue())
    task_ids = [uuid4() for _ in range(3)]

    queue.publish_many([(task_id, 0) for task_id in task_ids])

    taken = [queue.receive() for _ in task_ids]
    assert [delivery.task_id for delivery in taken if delivery] == task_ids
    assert queue.forget_sent() == 3 and outbox.removed == task_ids


def test_a_batch_the_broker_refuses_is_left_to_the_relay(
    through_outbox: Callable[[MemoryTaskQueue], OutboxQueue], outbox: RecordingOutbox
) -> None:
    broker = FailingBroker()
    queue = through_outbox(broker)
    task_ids = [uuid4() for _ in range(3)]

    queue.publish_many([(task_id, 0) for task_id in task_ids])  # does not raise

    assert broker.attempts == 1  # one batch, not one call per message
    assert queue.forget_sent() == 0 and outbox.removed == []  # the rows stay for the relay
