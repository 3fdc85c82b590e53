"""KafkaTaskQueue against a real broker (Tansu): three consumers of one group share a topic."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from uuid import UUID, uuid4

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from taskcore_adapters.config import QueueSettings
from taskcore_adapters.kafka import KafkaTaskQueue
from tests.support import brokers
from tests.support.brokers import FAST_GROUP, unique_name

kafka_bootstrap = brokers.kafka_bootstrap  # the fixture

pytestmark = pytest.mark.kafka


def wait_until_each_owns_a_partition(consumers: list[KafkaTaskQueue], timeout_s: float) -> None:
    """Poll all members until the group is balanced, so that no rebalance moves messages."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for consumer in consumers:
            assert consumer.receive() is None  # nothing is published yet
        if all(len(consumer.assignment()) == 1 for consumer in consumers):
            return
    pytest.fail(f"the group was not balanced: {[c.assignment() for c in consumers]}")


def consume(queue: KafkaTaskQueue, expected: int, acked: list[UUID], lock: threading.Lock) -> None:
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


def committed_lag(bootstrap: str, topic: str, group: str, partitions: int) -> int:
    """Messages of the topic beyond the group's committed offsets."""
    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        committed = reader.committed(tps, timeout=5)
        ends = [reader.get_watermark_offsets(tp, timeout=5)[1] for tp in tps]
        return sum(end - max(tp.offset, 0) for tp, end in zip(committed, ends, strict=True))
    finally:
        reader.close()


def test_a_thousand_messages_over_three_partitions_are_each_acknowledged_once(
    kafka_bootstrap: str,
) -> None:
    topic, group = unique_name("tasks"), unique_name("group")
    made = [
        KafkaTaskQueue(
            kafka_bootstrap,
            topic,
            partitions=3,
            group=group,
            consumer_config=FAST_GROUP,
            join_timeout_s=0.2,  # one thread polls every member in turn: no member may block
        )
        for _ in range(4)
    ]
    publisher, *consumers = made
    try:
        wait_until_each_owns_a_partition(consumers, 30)
        ids = [uuid4() for _ in range(1000)]
        acked: list[UUID] = []
        lock = threading.Lock()
        threads = [
            threading.Thread(target=consume, args=(consumer, len(ids), acked, lock))
            for consumer in consumers
        ]
        for thread in threads:
            thread.start()
        for task_id in ids:
            publisher.publish(task_id, 0)
        for thread in threads:
            thread.join()
        assert Counter(acked) == Counter(ids)
        deadline = time.monotonic() + 10  # acks commit in the background
        while committed_lag(kafka_bootstrap, topic, group, 3) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert committed_lag(kafka_bootstrap, topic, group, 3) == 0
    finally:
        for queue in made:
            queue.close()


def test_a_queue_built_from_settings_creates_its_topic_with_the_partitions_asked(
    kafka_bootstrap: str,
) -> None:
    topic = unique_name("tasks")
    settings = QueueSettings(
        backend="kafka", url=kafka_bootstrap, name=topic, partitions=2, group=unique_name("g")
    )
    queue = KafkaTaskQueue.from_settings(settings)
    try:
        queue.ping()
        queue.publish(uuid4(), 7)
        metadata = AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(topic, timeout=5)
        assert len(metadata.topics[topic].partitions) == 2
    finally:
        queue.close()


def timed(action: Callable[[], object]) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


def test_closing_ends_a_receive_and_gives_up_on_a_broker_that_stopped_answering() -> None:
    broker = brokers.start_tansu()  # its own: this test freezes it
    queue = KafkaTaskQueue(
        broker.bootstrap,
        unique_name("tasks"),
        group=unique_name("g"),
        join_timeout_s=30,
        close_timeout_s=1,
    )
    try:
        queue.publish(uuid4(), 0)  # the topic exists; joining the group is what waits
        broker.freeze()
        waiting = threading.Thread(target=queue.receive)
        waiting.start()
        time.sleep(0.3)  # inside the join wait
        assert timed(queue.close) < 2.5
        assert timed(lambda: waiting.join(5)) < 1
        assert not waiting.is_alive()
    finally:
        queue.close()
        broker.stop()


def test_after_the_first_join_a_rebalance_does_not_hold_receive(kafka_bootstrap: str) -> None:
    topic, group = unique_name("tasks"), unique_name("group")
    timing = {"session.timeout.ms": 4000, "heartbeat.interval.ms": 300}  # rebalances take ~2 s
    first, second = (
        KafkaTaskQueue(kafka_bootstrap, topic, partitions=2, group=group, consumer_config=timing)
        for _ in range(2)
    )
    try:
        assert first.receive() is None  # joined, both partitions assigned
        joining = threading.Thread(target=second.receive)  # returns once it has joined
        joining.start()  # its join revokes the first's partitions for a while
        waits = []
        deadline = time.monotonic() + 20
        while (joining.is_alive() or len(first.assignment()) != 1) and time.monotonic() < deadline:
            waits.append(timed(first.receive))
        joining.join()
        assert sorted(first.assignment() + second.assignment()) == [0, 1]
        assert max(waits) < 1, waits
    finally:
        first.close()
        second.close()


def test_a_message_the_fetches_passed_over_is_read_again_and_then_committed(
    kafka_bootstrap: str,
) -> None:
    topic, group = unique_name("tasks"), unique_name("group")
    queue = KafkaTaskQueue(kafka_bootstrap, topic, group=group, consumer_config=FAST_GROUP)
    try:
        sent = [uuid4() for _ in range(4)]
        for task_id in sent:
            queue.publish(task_id, 0)
        deliveries = [queue.receive() for _ in sent]
        assert [d.task_id for d in deliveries if d is not None] == sent
        # As a broker that made offset 1 readable late would: the consumer never had it.
        queue._offsets[0].outstanding.discard(1)
        for delivery in deliveries[:1] + deliveries[2:]:
            assert delivery is not None
            queue.ack(delivery)
        again = None
        deadline = time.monotonic() + 10
        while again is None and time.monotonic() < deadline:
            again = queue.receive()
        assert again is not None and again.task_id == sent[1]
        assert queue.receive() is None  # the others were done: not handed over twice
        queue.ack(again)
    finally:
        queue.close()
    assert committed_lag(kafka_bootstrap, topic, group, 1) == 0
