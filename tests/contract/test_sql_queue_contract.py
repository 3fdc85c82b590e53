"""The promises of the ``TaskQueue`` port held by the memory queue and the SQL queue
(SQLite, PostgreSQL, MariaDB), the SQL queue's visibility timeout, and the messages the SQL store
writes with the tasks it adds."""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest

from taskcore.errors import StoreUnavailable
from taskcore.ports import Delivery
from taskcore.status import TaskStatus
from taskcore.task import Task
from taskcore_adapters.sql.queue import VISIBILITY_TIMEOUT_S, SqlTaskQueue
from tests.support.clock import SettableClock
from tests.support.databases import SQL_BACKENDS, ScratchDatabases, empty_tables, sql_store

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)
URL = "http://127.0.0.1:9/hook"


def drain(queue: Any) -> list[UUID]:
    """Receive and ack everything; the task ids in delivery order."""
    taken = []
    while (delivery := queue.receive()) is not None:
        queue.ack(delivery)
        taken.append(delivery.task_id)
    return taken


def published(queue: Any, *priorities: int) -> list[UUID]:
    ids = [uuid4() for _ in priorities]
    for task_id, priority in zip(ids, priorities, strict=True):
        queue.publish(task_id, priority)
    return ids


def test_an_empty_queue_delivers_nothing(queue: Any) -> None:
    assert queue.receive() is None


def test_higher_priority_comes_first_then_first_in_first_out(queue: Any) -> None:
    low1, high1, mid, high2, low2 = published(queue, 0, 9, 5, 9, 0)
    assert drain(queue) == [high1, high2, mid, low1, low2]


def test_an_acknowledged_message_is_never_delivered_again(queue: Any) -> None:
    (task_id,) = published(queue, 0)
    delivery = queue.receive()
    assert delivery is not None and delivery.task_id == task_id
    queue.ack(delivery)
    assert queue.receive() is None


def test_a_released_message_is_delivered_again_before_later_ones(queue: Any) -> None:
    first, second = published(queue, 0, 0)
    delivery = queue.receive()
    assert delivery is not None and delivery.task_id == first
    queue.release(delivery)
    assert drain(queue) == [first, second]


def test_a_discarded_task_is_not_delivered(queue: Any) -> None:
    keep, drop = published(queue, 0, 3)
    queue.discard(drop)
    assert drain(queue) == [keep]


def test_discarding_a_task_that_is_not_queued_is_harmless(queue: Any) -> None:
    queue.discard(uuid4())
    assert queue.receive() is None


def test_a_task_published_twice_while_waiting_is_delivered_once(queue: Any) -> None:
    first, second = published(queue, 0, 0)
    queue.publish(first, 0)
    assert drain(queue) == [second, first]


def test_messages_published_together_come_by_priority_then_in_their_order(queue: Any) -> None:
    low1, high1, low2, high2 = (uuid4() for _ in range(4))
    queue.publish_many([(low1, 0), (high1, 9), (low2, 0), (high2, 9)])
    assert drain(queue) == [high1, high2, low1, low2]


def test_a_waiting_task_published_again_in_a_batch_is_delivered_once(queue: Any) -> None:
    first, second = published(queue, 0, 0)
    third = uuid4()
    queue.publish_many([(first, 0), (third, 0)])
    assert drain(queue) == [second, first, third]


def test_publishing_no_messages_changes_nothing(queue: Any) -> None:
    queue.publish_many([])
    assert queue.receive() is None


def test_a_message_being_handled_is_not_delivered_to_another_consumer(queue: Any) -> None:
    first, second = published(queue, 0, 0)
    held = queue.receive()
    other = queue.receive()
    assert held is not None and other is not None
    assert (held.task_id, other.task_id) == (first, second)
    assert queue.receive() is None


def test_the_queue_answers_ping(queue: Any) -> None:
    queue.ping()


def test_depth_counts_waiting_messages_but_not_one_being_handled(queue: Any) -> None:
    published(queue, 0, 0)
    delivery = queue.receive()
    assert queue.depth() == 1
    queue.release(delivery)
    assert queue.depth() == 2
    queue.ack(queue.receive())
    assert queue.depth() == 1


def test_concurrent_consumers_never_get_the_same_message(queue: Any) -> None:
    ids = published(queue, *[i % 10 for i in range(200)])
    taken: list[UUID] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def consume() -> None:
        barrier.wait()
        mine = drain(queue)
        with lock:
            taken.extend(mine)

    threads = [threading.Thread(target=consume) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert Counter(taken) == Counter(ids)


@pytest.fixture(params=SQL_BACKENDS)
def sql_queue(
    request: pytest.FixtureRequest, databases: ScratchDatabases, queue_clock: SettableClock
) -> Iterator[SqlTaskQueue]:
    owner = sql_store(databases.url(request.param))
    empty_tables(owner.engine)
    yield SqlTaskQueue(owner.engine, clock=queue_clock)
    owner.close()


def test_a_delivery_whose_lock_expired_is_delivered_again(
    sql_queue: SqlTaskQueue, queue_clock: SettableClock
) -> None:
    (task_id,) = published(sql_queue, 0)
    lost = sql_queue.receive()
    assert lost is not None
    queue_clock.advance(VISIBILITY_TIMEOUT_S - 1)
    assert sql_queue.receive() is None
    queue_clock.advance(1)
    again = sql_queue.receive()
    assert again is not None and again.task_id == task_id
    sql_queue.ack(again)
    sql_queue.ack(lost)
    assert sql_queue.receive() is None


def test_a_message_whose_claim_expired_is_waiting_again(
    sql_queue: SqlTaskQueue, queue_clock: SettableClock
) -> None:
    published(sql_queue, 0)
    assert sql_queue.receive() is not None
    assert sql_queue.depth() == 0
    queue_clock.advance(VISIBILITY_TIMEOUT_S)
    assert sql_queue.depth() == 1


def test_a_republished_task_being_handled_gets_a_second_message(
    sql_queue: SqlTaskQueue,
) -> None:
    (task_id,) = published(sql_queue, 0)
    held = sql_queue.receive()
    sql_queue.publish(task_id, 0)
    again = sql_queue.receive()
    assert isinstance(held, Delivery) and again is not None
    assert (held.task_id, again.task_id) == (task_id, task_id)
    assert held.receipt != again.receipt


def test_discard_also_drops_a_message_being_handled(sql_queue: SqlTaskQueue) -> None:
    (task_id,) = published(sql_queue, 0)
    held = sql_queue.receive()
    assert held is not None
    sql_queue.discard(task_id)
    sql_queue.release(held)
    assert sql_queue.receive() is None


@pytest.fixture(params=SQL_BACKENDS)
def enqueuing_store(request: pytest.FixtureRequest, databases: ScratchDatabases) -> Iterator[Any]:
    """A SQL store that writes each new Queued task's message, as it does before a queue."""
    from taskcore_adapters.sql.store import SqlTaskStore

    owner = sql_store(databases.url(request.param))
    empty_tables(owner.engine)
    yield SqlTaskStore(owner.engine, enqueue_on_add=True)
    owner.close()


def test_tasks_added_together_get_their_messages_in_the_same_transaction(
    enqueuing_store: Any, queue_clock: SettableClock
) -> None:
    low1, high, low2 = (Task.new(name="t", callback_url=URL, priority=p, now=T0) for p in (0, 9, 0))
    completed = dataclasses.replace(low1, task_id=uuid4(), status=TaskStatus.COMPLETED)
    enqueuing_store.add_many([low1, high, low2, completed])
    queue = SqlTaskQueue(enqueuing_store.engine, clock=queue_clock)
    assert drain(queue) == [high.task_id, low1.task_id, low2.task_id]


def test_a_batch_that_fails_writes_no_messages(
    enqueuing_store: Any, queue_clock: SettableClock
) -> None:
    existing = Task.new(name="t", callback_url=URL, now=T0)
    enqueuing_store.add(existing)
    queue = SqlTaskQueue(enqueuing_store.engine, clock=queue_clock)
    assert drain(queue) == [existing.task_id]
    with pytest.raises(StoreUnavailable):
        enqueuing_store.add_many([Task.new(name="t", callback_url=URL, now=T0), existing])
    assert queue.receive() is None
