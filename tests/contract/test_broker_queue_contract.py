"""The ``TaskQueue`` contract, once, over the memory queue, RabbitMQ and Kafka.

Kafka keeps no priority (FIFO per partition; these topics have one partition) and joins its
consumer group within seconds, so receiving polls for a while before giving up.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from uuid import UUID, uuid4

import pytest

from taskcore.clock import SystemClock
from taskcore.errors import QueueUnavailable
from taskcore.ports import CallbackRequest, TaskQueue
from taskcore.service import TaskService
from taskcore.status import TaskStatus
from taskcore.task import CallbackResult
from taskcore_adapters.memory import MemoryTaskStore
from tests.support import brokers
from tests.support.brokers import QueueFactory, closed_url, receive_within

# fixtures used by the tests below (kafka_bootstrap is asked for by name)
queue_factory = brokers.queue_factory
broker_factory = brokers.broker_factory
kafka_bootstrap = brokers.kafka_bootstrap

WAIT_S = 20.0


def drain(queue: TaskQueue, quiet_s: float) -> list[UUID]:
    """Receive and acknowledge until nothing came for ``quiet_s``."""
    received = []
    while (delivery := receive_within(queue, quiet_s)) is not None:
        received.append(delivery.task_id)
        queue.ack(delivery)
    return received


def expected_order(kind: str, published: list[tuple[UUID, int]]) -> list[UUID]:
    """Priority first, then publication order; Kafka has no priority (FIFO per partition)."""
    if kind == "kafka":
        return [task_id for task_id, _ in published]
    ranked = sorted(enumerate(published), key=lambda item: (-item[1][1], item[0]))
    return [task_id for _, (task_id, _) in ranked]


def receive_in_turn(queue: TaskQueue, count: int) -> list[UUID]:
    """Receive and acknowledge ``count`` messages, each within the wait."""
    received = []
    for _ in range(count):
        delivery = receive_within(queue, WAIT_S)
        assert delivery is not None
        received.append(delivery.task_id)
        queue.ack(delivery)
    return received


def test_a_published_task_is_received_with_its_id(queue_factory: QueueFactory) -> None:
    queue = queue_factory.make()
    task_id = uuid4()
    queue.publish(task_id, 3)
    delivery = receive_within(queue, WAIT_S)
    assert delivery is not None
    assert delivery.task_id == task_id
    queue.ack(delivery)


def test_messages_come_by_priority_then_in_publication_order(
    queue_factory: QueueFactory,
) -> None:
    queue = queue_factory.make()
    published = [(uuid4(), priority) for priority in (0, 5, 0, 9, 5, 0)]
    for task_id, priority in published:
        queue.publish(task_id, priority)
    received = receive_in_turn(queue, len(published))
    assert received == expected_order(queue_factory.kind, published)


def test_a_batch_comes_out_like_the_same_messages_published_one_by_one(
    queue_factory: QueueFactory,
) -> None:
    queue = queue_factory.make()
    published = [(uuid4(), priority) for priority in (0, 5, 0, 9, 5, 0)]
    queue.publish_many(published)
    queue.publish_many([])  # nothing to send: no error, no message
    received = receive_in_turn(queue, len(published))
    assert receive_within(queue, 0.3) is None
    assert received == expected_order(queue_factory.kind, published)


def test_an_acknowledged_message_is_not_delivered_again(queue_factory: QueueFactory) -> None:
    queue = queue_factory.make()
    queue.publish(uuid4(), 0)
    delivery = receive_within(queue, WAIT_S)
    assert delivery is not None
    queue.ack(delivery)
    assert receive_within(queue, 0.5) is None


def test_a_released_message_is_delivered_again(queue_factory: QueueFactory) -> None:
    queue = queue_factory.make()
    first, second = uuid4(), uuid4()
    queue.publish(first, 0)
    queue.publish(second, 0)
    delivery = receive_within(queue, WAIT_S)
    assert delivery is not None and delivery.task_id == first
    queue.release(delivery)
    assert sorted(drain(queue, 0.5)) == sorted([first, second])


def test_a_task_published_twice_is_delivered_at_least_once(queue_factory: QueueFactory) -> None:
    queue = queue_factory.make()
    task_id = uuid4()
    queue.publish(task_id, 1)
    queue.publish(task_id, 1)
    first = receive_within(queue, WAIT_S)
    assert first is not None and first.task_id == task_id
    queue.ack(first)
    assert drain(queue, 0.5) in ([], [task_id])


def test_receiving_from_an_empty_queue_returns_none_promptly(queue_factory: QueueFactory) -> None:
    queue = queue_factory.make()
    assert queue.receive() is None  # the first call may wait until the consumer has joined
    for _ in range(3):
        started = time.monotonic()
        assert queue.receive() is None
        assert time.monotonic() - started < 0.5


def test_ping_answers_while_the_queue_is_reachable(queue_factory: QueueFactory) -> None:
    queue_factory.make().ping()


def test_a_consumer_that_stops_before_acknowledging_leaves_its_message_to_another(
    broker_factory: QueueFactory,
) -> None:
    done, unfinished = uuid4(), uuid4()
    first = broker_factory.make()
    first.publish(done, 0)
    first.publish(unfinished, 0)
    acked = receive_within(first, WAIT_S)
    held = receive_within(first, WAIT_S)
    assert acked is not None and held is not None
    assert (acked.task_id, held.task_id) == (done, unfinished)
    first.ack(acked)
    first.close()  # its connection goes without acknowledging ``held``
    second = broker_factory.make()
    redelivered = receive_within(second, WAIT_S)
    assert redelivered is not None and redelivered.task_id == unfinished
    second.ack(redelivered)
    assert receive_within(second, 0.5) is None


def test_a_closed_queue_refuses_to_ping(broker_factory: QueueFactory) -> None:
    queue = broker_factory.make()
    queue.ping()
    queue.close()
    with pytest.raises(QueueUnavailable):
        queue.ping()


def test_an_unreachable_broker_raises_queue_unavailable(broker_factory: QueueFactory) -> None:
    if broker_factory.kind == "rabbitmq":
        from taskcore_adapters.rabbitmq import RabbitMqTaskQueue

        queue: TaskQueue = RabbitMqTaskQueue(closed_url("rabbitmq"), "nowhere", backoff_s=0.05)
    else:
        from taskcore_adapters.kafka import KafkaTaskQueue

        queue = KafkaTaskQueue(closed_url("kafka"), "nowhere", ping_timeout_s=0.5)
    try:
        with pytest.raises(QueueUnavailable):
            queue.ping()
        with pytest.raises(QueueUnavailable):
            queue.publish(uuid4(), 0)
    finally:
        queue.close()


class RecordingCallbacks:
    """A ``CallbackClient`` that answers 200 at once and remembers whom it called."""

    def __init__(self) -> None:
        self.calls: list[UUID] = []
        self._lock = threading.Lock()

    def call(self, request: CallbackRequest) -> CallbackResult:
        with self._lock:
            self.calls.append(request.task_id)
        return CallbackResult(200, "", 1, None, request.attempt)

    def close(self) -> None:
        """Nothing pooled."""


def test_each_task_is_executed_once_though_its_messages_come_again(
    queue_factory: QueueFactory,
) -> None:
    store, callbacks = MemoryTaskStore(), RecordingCallbacks()
    queue = queue_factory.make()
    service = TaskService(store, queue, callbacks, SystemClock())
    ids = [
        service.create(name=f"t{i}", callback_url="http://127.0.0.1:9/").task_id for i in range(30)
    ]
    service.republish_queued()  # a second message for every task
    for delivery in [receive_within(queue, WAIT_S) for _ in range(5)]:
        assert delivery is not None
        queue.release(delivery)  # taken, then handed back: delivered again
    finished = threading.Event()

    def work() -> None:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline and not finished.is_set():
            task = service.dequeue_next()
            if task is not None:
                service.execute(task.task_id)
            elif all(store.get(i).status is TaskStatus.COMPLETED for i in ids):
                finished.set()

    workers = [threading.Thread(target=work) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert Counter(callbacks.calls) == Counter(ids)
    assert all(store.get(i).status is TaskStatus.COMPLETED for i in ids)
