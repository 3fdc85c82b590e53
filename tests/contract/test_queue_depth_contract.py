"""``TaskQueue.depth`` on every adapter: the messages waiting, read by the queue depth gauge.

Whether a received, unacknowledged message still counts differs (RabbitMQ hides it, Kafka
counts it until its offset is committed), so the shared promise is checked across
publishing and acknowledging. The SQL queue's depth is checked with its contract.
"""

from __future__ import annotations

from uuid import uuid4

import pytest

from taskcore.errors import QueueUnavailable
from taskcore.ports import TaskQueue
from tests.support import brokers
from tests.support.brokers import QueueFactory, closed_url, receive_within

queue_factory = brokers.queue_factory
broker_factory = brokers.broker_factory
kafka_bootstrap = brokers.kafka_bootstrap
rabbitmq_url = brokers.rabbitmq_url


def publish(queue: TaskQueue, count: int) -> None:
    for _ in range(count):
        queue.publish(uuid4(), 0)


def test_depth_counts_published_messages_until_they_are_acknowledged(
    queue_factory: QueueFactory,
) -> None:
    queue = queue_factory.make()
    publish(queue, 3)

    assert queue.depth() == 3
    delivery = receive_within(queue, 20.0)
    assert delivery is not None
    queue.ack(delivery)
    assert queue.depth() == 2


def test_depth_of_an_unreachable_broker_is_queue_unavailable(
    broker_factory: QueueFactory,
) -> None:
    if broker_factory.kind == "rabbitmq":
        from taskcore_adapters.rabbitmq import RabbitMqTaskQueue

        queue: TaskQueue = RabbitMqTaskQueue(closed_url("rabbitmq"), "nowhere")
    else:
        from taskcore_adapters.kafka import KafkaTaskQueue

        queue = KafkaTaskQueue(closed_url("kafka"), "nowhere", ping_timeout_s=0.5)
    try:
        with pytest.raises(QueueUnavailable):
            queue.depth()
    finally:
        queue.close()


@pytest.mark.rabbitmq
def test_depth_of_a_rabbitmq_queue_not_declared_yet_is_queue_unavailable(
    rabbitmq_url: str,
) -> None:
    from taskcore_adapters.rabbitmq import RabbitMqTaskQueue

    queue = RabbitMqTaskQueue(rabbitmq_url, brokers.unique_name("taskcore-undeclared"))
    try:
        with pytest.raises(QueueUnavailable):
            queue.depth()
    finally:
        queue.close()


@pytest.mark.kafka
def test_depth_of_a_kafka_topic_nothing_was_published_to_creates_it_as_configured(
    kafka_bootstrap: str,
) -> None:
    from confluent_kafka.admin import AdminClient

    factory = brokers.kafka_factory(kafka_bootstrap, brokers.unique_name("tasks"), partitions=2)
    queue = factory.make()
    try:
        assert queue.depth() == 0
    finally:
        factory.close_all()
    topics = AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(timeout=5).topics
    assert len(topics[factory.name].partitions) == 2
