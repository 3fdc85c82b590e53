"""RabbitMqTaskQueue against the real server: volume over several threads, dropped links."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from uuid import UUID, uuid4

import pytest

from taskcore.errors import QueueUnavailable
from taskcore.ports import Delivery
from taskcore_adapters.config import QueueSettings
from taskcore_adapters.rabbitmq import RabbitMqTaskQueue
from tests.support.brokers import (
    RABBITMQ_URL,
    close_rabbitmq_connections,
    delete_rabbitmq_queue,
    rabbitmq_message_count,
    receive_within,
    unique_name,
)
from tests.support.services import require

pytestmark = pytest.mark.rabbitmq


@pytest.fixture
def queue() -> Iterator[RabbitMqTaskQueue]:
    """A fresh queue whose connections carry a name of their own, deleted afterwards."""
    require("rabbitmq")
    name = unique_name("taskcore-it")
    queue = RabbitMqTaskQueue(RABBITMQ_URL, name, prefetch=50, connection_name=name)
    yield queue
    queue.close()
    delete_rabbitmq_queue(name)


def consume(
    queue: RabbitMqTaskQueue, expected: int, acked: list[UUID], lock: threading.Lock
) -> None:
    """Receive and acknowledge until ``expected`` messages were acknowledged by all threads."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        delivery = queue.receive()
        if delivery is not None:
            queue.ack(delivery)
            with lock:
                acked.append(delivery.task_id)
        with lock:
            if len(acked) >= expected:
                return


def test_a_thousand_messages_shared_by_three_threads_are_each_acknowledged_once(
    queue: RabbitMqTaskQueue,
) -> None:
    ids = [uuid4() for _ in range(1000)]
    acked: list[UUID] = []
    lock = threading.Lock()
    consumers = [
        threading.Thread(target=consume, args=(queue, len(ids), acked, lock)) for _ in range(3)
    ]
    for consumer in consumers:
        consumer.start()
    for task_id in ids:
        queue.publish(task_id, task_id.int % 10)
    for consumer in consumers:
        consumer.join()
    assert Counter(acked) == Counter(ids)
    assert queue.receive() is None
    assert rabbitmq_message_count(queue.name) == 0


def test_a_connection_closed_by_the_server_is_reopened_and_nothing_is_lost(
    queue: RabbitMqTaskQueue,
) -> None:
    ids = [uuid4() for _ in range(100)]
    for task_id in ids:
        queue.publish(task_id, 0)
    acked = [take_and_ack(queue) for _ in range(40)]
    held = [queue.receive() for _ in range(10)]
    assert close_rabbitmq_connections(queue.name) == 1
    for delivery in held:
        assert delivery is not None
        queue.ack(delivery)  # the broker took them back with the connection: no effect
    late = uuid4()
    queue.publish(late, 0)
    while (delivery := queue.receive()) is not None:
        queue.ack(delivery)
        acked.append(delivery.task_id)
    assert Counter(acked) == Counter([*ids, late])
    assert {d.task_id for d in held if d is not None} <= set(acked[40:])
    assert rabbitmq_message_count(queue.name) == 0


def take_and_ack(queue: RabbitMqTaskQueue) -> UUID:
    delivery: Delivery | None = queue.receive()
    assert delivery is not None
    queue.ack(delivery)
    return delivery.task_id


def test_messages_held_by_a_thread_that_ended_are_delivered_again(
    queue: RabbitMqTaskQueue,
) -> None:
    task_id = uuid4()
    queue.publish(task_id, 0)
    held: list[Delivery | None] = []
    worker = threading.Thread(target=lambda: held.append(queue.receive()))
    worker.start()
    worker.join()
    assert held[0] is not None and held[0].task_id == task_id
    again = receive_within(queue, 5.0)  # the ended thread's connection is closed: requeued
    assert again is not None and again.task_id == task_id
    queue.ack(again)


def test_a_queue_built_from_settings_publishes_by_priority() -> None:
    require("rabbitmq")
    name = unique_name("taskcore-it")
    settings = QueueSettings(backend="rabbitmq", url=RABBITMQ_URL, name=name, prefetch=10)
    queue = RabbitMqTaskQueue.from_settings(settings)
    try:
        low, high = uuid4(), uuid4()
        queue.publish(low, 1)
        queue.publish(high, 8)
        assert [take_and_ack(queue), take_and_ack(queue)] == [high, low]
        queue.ping()
    finally:
        queue.close()
        delete_rabbitmq_queue(name)


def test_a_batch_the_broker_cannot_route_is_refused(queue: RabbitMqTaskQueue) -> None:
    queue.publish_many([(uuid4(), 0)])  # the link is open and the queue declared
    delete_rabbitmq_queue(queue.name)  # as an operator deleting it by hand would
    with pytest.raises(QueueUnavailable, match="could not be routed"):
        queue.publish_many([(uuid4(), 0), (uuid4(), 5)])
