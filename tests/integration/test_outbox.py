"""The transactional outbox: no Queued task is ever left without a message for the broker."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any
from uuid import UUID

import pytest
import sqlalchemy as sa

from taskcore import Delivery, QueueUnavailable, StoreUnavailable, TaskService, TaskStatus
from taskcore_adapters.executor import ThreadPoolBackgroundExecutor
from taskcore_adapters.memory import MemoryTaskQueue
from taskcore_adapters.outbox import OutboxQueue
from taskcore_adapters.sql.outbox import SqlOutbox
from taskcore_adapters.sql.queue import SqlTaskQueue
from taskcore_adapters.sql.store import SqlTaskStore
from taskcore_adapters.sql.tables import tables
from tests.support.clock import SettableClock
from tests.support.databases import SQL_BACKENDS, ScratchDatabases, empty_tables


class DownBroker(MemoryTaskQueue):
    """A broker that refuses every publish, as one does while it is down."""

    def publish(self, task_id: UUID, priority: int) -> None:
        raise QueueUnavailable("broker down")

    def publish_many(self, messages: Sequence[tuple[UUID, int]]) -> None:
        raise QueueUnavailable("broker down")


class NoCallbacks:
    def call(self, request: Any) -> Any:  # pragma: no cover - never executed here
        raise AssertionError("no callback expected")

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScratchDatabases]:
    scratch = ScratchDatabases(tmp_path_factory.mktemp("outbox"))
    yield scratch
    scratch.drop_all()


@pytest.fixture(params=SQL_BACKENDS)
def store(request: pytest.FixtureRequest, databases: ScratchDatabases) -> Iterator[SqlTaskStore]:
    from taskcore_adapters.sql.engine import create_engine

    built = SqlTaskStore(create_engine(databases.url(request.param)), enqueue_on_add=True)
    empty_tables(built.engine)
    yield built
    built.close()


def outbox_rows(store: SqlTaskStore) -> list[UUID]:
    with store.engine.connect() as conn:
        return list(conn.execute(sa.select(tables().queue.c.task_id)).scalars())


def service_over(store: SqlTaskStore, queue: Any, clock: SettableClock) -> TaskService:
    return TaskService(store, queue, NoCallbacks(), clock, ThreadPoolBackgroundExecutor(1, 1))


def test_a_created_task_reaches_the_broker_and_leaves_no_outbox_row(
    store: SqlTaskStore, clock: SettableClock
) -> None:
    broker = MemoryTaskQueue()
    queue = OutboxQueue(broker, SqlOutbox(store.engine), clock, relay_interval_s=60)
    try:
        task = service_over(store, queue, clock).create(name="a", callback_url="http://127.0.0.1/")
        delivery = broker.receive()
    finally:
        queue.close()
    assert delivery is not None and delivery.task_id == task.task_id
    assert outbox_rows(store) == []


def wait_until(predicate: Any, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def test_the_rows_of_sent_messages_are_deleted_in_bulk_by_the_relay_thread(
    store: SqlTaskStore, clock: SettableClock
) -> None:
    broker = MemoryTaskQueue()
    queue = OutboxQueue(broker, SqlOutbox(store.engine), clock, forget_interval_s=0.05)
    try:
        service = service_over(store, queue, clock)
        created = [service.create(name=f"t{i}", callback_url="http://127.0.0.1/") for i in range(3)]
        assert len(broker) == 3  # sent at once, by the creating call
        wait_until(lambda: outbox_rows(store) == [])
    finally:
        queue.close()
    assert {broker.receive().task_id for _ in created} == {t.task_id for t in created}


class FlakyOutbox(SqlOutbox):
    """Fails its first bulk delete, as a database that is briefly down does."""

    def __init__(self, engine: Any) -> None:
        super().__init__(engine)
        self.failures = 1

    def remove_tasks(self, task_ids: list[UUID]) -> None:
        if self.failures:
            self.failures -= 1
            raise StoreUnavailable("database down")
        super().remove_tasks(task_ids)


def test_sent_rows_whose_delete_failed_are_deleted_in_a_later_round(
    store: SqlTaskStore, clock: SettableClock
) -> None:
    outbox = FlakyOutbox(store.engine)
    queue = OutboxQueue(MemoryTaskQueue(), outbox, clock, relay_interval_s=60)
    try:
        service_over(store, queue, clock).create(name="a", callback_url="http://127.0.0.1/")
        wait_until(lambda: outbox.failures == 0)
        wait_until(lambda: outbox_rows(store) == [])
    finally:
        queue.close()


def test_a_task_created_while_the_broker_is_down_is_published_later(
    store: SqlTaskStore, clock: SettableClock
) -> None:
    outbox = SqlOutbox(store.engine)
    down = OutboxQueue(DownBroker(), outbox, clock, relay_interval_s=60)
    service = service_over(store, down, clock)
    task = service.create(name="kept", callback_url="http://127.0.0.1/")
    down.close()
    assert service.get(task.task_id).status is TaskStatus.QUEUED
    assert outbox_rows(store) == [task.task_id]

    broker = MemoryTaskQueue()
    back = OutboxQueue(broker, outbox, clock, relay_interval_s=60, settle_s=5)
    try:
        assert back.relay_once() == 0  # too recent: a direct publish may still be running
        clock.advance(6)
        assert back.relay_once() == 1
    finally:
        back.close()
    delivery = broker.receive()
    assert isinstance(delivery, Delivery) and delivery.task_id == task.task_id
    assert outbox_rows(store) == []


def test_the_outbox_queue_tells_the_broker_depth_from_its_own_backlog(
    store: SqlTaskStore, clock: SettableClock
) -> None:
    outbox = SqlOutbox(store.engine)
    down = OutboxQueue(DownBroker(), outbox, clock, relay_interval_s=60)
    service_over(store, down, clock).create(name="waits", callback_url="http://127.0.0.1/")
    assert (down.depth(), down.backlog()) == (0, 1)
    down.close()
    clock.advance(10)
    back = OutboxQueue(MemoryTaskQueue(), outbox, clock, relay_interval_s=60)
    try:
        assert back.relay_once() == 1
        assert (back.depth(), back.backlog()) == (1, 0)
    finally:
        back.close()


def test_the_relay_runs_by_itself_in_the_background(
    store: SqlTaskStore, clock: SettableClock
) -> None:
    outbox = SqlOutbox(store.engine)
    down = OutboxQueue(DownBroker(), outbox, clock, relay_interval_s=60)
    service_over(store, down, clock).create(name="later", callback_url="http://127.0.0.1/")
    down.close()
    clock.advance(10)
    broker = MemoryTaskQueue()
    relayed = OutboxQueue(broker, outbox, clock, relay_interval_s=0.02)
    try:
        for _ in range(250):
            if len(broker):
                break
            time.sleep(0.02)
    finally:
        relayed.close()
    assert len(broker) == 1


def test_a_failed_relay_round_keeps_the_rows_it_could_not_send(
    store: SqlTaskStore, clock: SettableClock
) -> None:
    outbox = SqlOutbox(store.engine)
    down = OutboxQueue(DownBroker(), outbox, clock, relay_interval_s=60)
    service_over(store, down, clock).create(name="x", callback_url="http://127.0.0.1/")
    clock.advance(10)
    with pytest.raises(QueueUnavailable):
        down.relay_once()
    down.close()
    assert len(outbox_rows(store)) == 1


def test_the_sql_queue_delivers_the_message_written_with_the_task(
    store: SqlTaskStore, clock: SettableClock
) -> None:
    queue = SqlTaskQueue(store.engine)
    service = service_over(store, queue, clock)
    first = service.create(name="low", callback_url="http://127.0.0.1/", priority=1)
    second = service.create(name="high", callback_url="http://127.0.0.1/", priority=7)
    assert len(outbox_rows(store)) == 2  # written with the task; publish keeps one per task
    assert service.dequeue_next().task_id == second.task_id
    assert service.dequeue_next().task_id == first.task_id
    assert service.dequeue_next() is None
    queue.ping()
    queue.close()


def test_cancelling_removes_the_message_from_the_sql_queue(
    store: SqlTaskStore, clock: SettableClock
) -> None:
    queue = SqlTaskQueue(store.engine)
    service = service_over(store, queue, clock)
    task = service.create(name="gone", callback_url="http://127.0.0.1/")
    service.cancel(task.task_id)
    assert outbox_rows(store) == []
    assert service.dequeue_next() is None


def test_a_message_released_by_a_failing_consumer_comes_back(
    store: SqlTaskStore, clock: SettableClock
) -> None:
    queue = SqlTaskQueue(store.engine)
    task = service_over(store, queue, clock).create(name="r", callback_url="http://127.0.0.1/")
    delivery = queue.receive()
    assert delivery is not None
    queue.release(delivery)
    again = queue.receive()
    assert again is not None and again.task_id == task.task_id
    queue.ack(again)
    assert queue.receive() is None
