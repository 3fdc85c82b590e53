"""Scenario 5b: queue operations timed in-process with many tasks already queued.

For each adapter the queue is filled to the depth first (memory: through the adapter;
RabbitMQ and Kafka: through the raw client, which is much faster than one confirmed publish
at a time), then each operation is timed around the adapter call with ``perf_counter``:

- enqueue: ``publish`` of a new id (RabbitMQ: waits for the publisher confirm; Kafka: for
  the broker's acknowledgement);
- dequeue-next: ``receive`` then ``ack`` of the next message;
- remove by id: ``discard`` of a queued task (a no-op on RabbitMQ and Kafka, which cannot
  remove one message: the service skips it when it comes up).
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any
from uuid import UUID

from bench import services
from bench.context import Context, Section
from bench.flow import wait_until
from bench.stats import latency_figures

OPERATIONS = ("enqueue", "dequeue-next", "remove by id")
COLUMNS = [("p50_ms", "p50 ms"), ("p95_ms", "p95 ms"), ("p99_ms", "p99 ms"),
           ("max_ms", "max ms"), ("count", "samples")]  # fmt: skip


def run(ctx: Context) -> list[Section]:
    depth = ctx.profile.queue_depth
    section = Section("queues", f"5b. Queue operations at {depth:,} queued tasks",
                      "In-process timing of the adapter calls, one thread.", COLUMNS,
                      plot="latency")  # fmt: skip
    for kind, open_queue in (("memory", _memory), ("rabbitmq", _rabbitmq), ("kafka", _kafka)):
        with ExitStack() as stack:
            try:
                queue, queued = open_queue(ctx, stack, depth)
            except (services.Unavailable, TimeoutError, OSError) as exc:
                ctx.skipped.append(f"queues {kind}: {exc}")
                continue
            runs = [_one_run(ctx, kind, queue, queued, i) for i in range(1, ctx.profile.runs + 1)]
        for operation in OPERATIONS:
            section.add(f"{kind}: {operation}", [r[operation] for r in runs])
    section.notes.append("RabbitMQ and Kafka `discard` do nothing by design (see above).")
    return [section]


def _one_run(ctx: Context, kind: str, queue: Any, queued: list[UUID], index: int) -> dict[str, Any]:
    samples = ctx.profile.queue_samples
    ctx.say(f"queues {kind} run {index}/{ctx.profile.runs}")
    enqueue = _timed(lambda: queue.publish(uuid.uuid4(), random.randint(0, 9)), samples)
    dequeue = _timed(lambda: _take(queue), samples)
    doomed = [queued.pop() for _ in range(min(samples, len(queued)))]
    remove = _timed(lambda: queue.discard(doomed.pop()), len(doomed))
    ctx.say(f"  p99 enqueue {enqueue['p99_ms']:.2f} ms, dequeue-next {dequeue['p99_ms']:.2f} ms,"
            f" remove {remove['p99_ms']:.3f} ms")  # fmt: skip
    return dict(zip(OPERATIONS, (enqueue, dequeue, remove), strict=True))


def _timed(operation: Callable[[], object], count: int) -> dict[str, float]:
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        operation()
        samples.append(time.perf_counter() - start)
    return latency_figures(samples)


def _take(queue: Any) -> None:
    delivery = queue.receive()
    if delivery is None:
        raise RuntimeError("the queue came up empty while it should hold many tasks")
    queue.ack(delivery)


def _memory(ctx: Context, stack: ExitStack, depth: int) -> tuple[Any, list[UUID]]:
    from taskcore_adapters.memory import MemoryTaskQueue

    queue = MemoryTaskQueue()
    ids = [uuid.uuid4() for _ in range(depth)]
    for task_id in ids:
        queue.publish(task_id, random.randint(0, 9))
    return queue, ids


def _rabbitmq(ctx: Context, stack: ExitStack, depth: int) -> tuple[Any, list[UUID]]:
    import pika

    from taskcore_adapters.rabbitmq import PRIORITY_MAX, RabbitMqTaskQueue

    services.ensure(ctx, ctx.stack, "rabbitmq")
    name = f"bench-queue-{uuid.uuid4().hex[:8]}"
    queue = RabbitMqTaskQueue(services.RABBITMQ_URL, name, connection_name="taskcore-bench")
    stack.callback(queue.close)
    connection = pika.BlockingConnection(pika.URLParameters(services.RABBITMQ_URL))
    stack.callback(connection.close)
    channel = connection.channel()
    stack.callback(channel.queue_delete, name)
    channel.queue_declare(name, durable=True, arguments={"x-max-priority": PRIORITY_MAX})
    ctx.say(f"queues rabbitmq: filling to {depth:,}")
    ids = [uuid.uuid4() for _ in range(depth)]
    for task_id in ids:
        properties = pika.BasicProperties(delivery_mode=2, priority=random.randint(0, 9))
        channel.basic_publish("", name, str(task_id).encode(), properties)
    ready = lambda: channel.queue_declare(name, passive=True).method.message_count >= depth  # noqa: E731
    wait_until(ready, 120, f"{depth} messages in RabbitMQ", every_s=0.5)
    return queue, ids


def _kafka(ctx: Context, stack: ExitStack, depth: int) -> tuple[Any, list[UUID]]:
    from confluent_kafka import Producer

    from taskcore_adapters.kafka import KafkaTaskQueue

    bootstrap = ctx.kafka or services.tansu(ctx, ctx.stack)
    ctx.kafka = bootstrap
    topic = f"bench-topic-{uuid.uuid4().hex[:8]}"
    queue = KafkaTaskQueue(bootstrap, topic, group=topic)
    stack.callback(queue.close)
    queue.publish(uuid.uuid4(), 0)  # creates the topic
    ctx.say(f"queues kafka: filling to {depth:,}")
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    ids = [uuid.uuid4() for _ in range(depth)]
    for task_id in ids:
        value = str(task_id).encode()
        _produce(producer, topic, value)
    producer.flush(60)
    _join(queue)
    return queue, ids


def _produce(producer: Any, topic: str, value: bytes) -> None:
    for _ in range(100):  # a full local buffer drains in a few polls
        try:
            producer.produce(topic, key=value, value=value)
            return
        except BufferError:
            producer.poll(0.1)
    raise TimeoutError("the Kafka producer's buffer stayed full")


def _join(queue: Any) -> None:
    """Receive until the consumer joined its group and got a message (bounded)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        delivery = queue.receive()
        if delivery is not None:
            queue.ack(delivery)
            return
    raise TimeoutError("the Kafka consumer got no message within 60 s")
