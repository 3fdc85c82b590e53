"""Kafka (confluent-kafka) as the task queue: a topic read by one consumer group.

- No priority: Kafka keeps order only within a partition, so tasks come out first in, first
  out per partition whatever their priority (sent in a ``priority`` header for observers).
- The topic is created on first use with ``partitions`` partitions if it does not exist.
- ``publish`` uses an idempotent producer (``acks=all``), keys messages by task id and returns
  once the broker acknowledged; otherwise it raises ``QueueUnavailable``.
- Kafka has no per-message ack, only a committed offset per partition. Nothing is committed
  automatically: ``ack`` commits (in the background) the offset below which every delivered
  message is acknowledged (``PartitionOffsets``); a revoke commits it again and waits
  (at most ``close_timeout_s``, as for every librdkafka call without a timeout of its own);
  ``release`` seeks back, and so does ``receive`` when a fetch passed over an offset below
  ones it delivered. Messages a consumer did not acknowledge go to the partition's next
  owner: delivery is at least once. ``discard`` cannot remove a message; the service skips
  it when it comes up.
- One consumer serves every thread of this object, under a lock. It joins the group on the
  first ``receive``, so a process that only publishes never takes partitions; one that stops
  receiving hands them back after ``max.poll.interval.ms``.
- Stopping is bounded: only the first join is waited for (a rebalance later does not make
  every thread wait again), ``close`` cuts a waiting ``receive`` short, and leaving the group
  and flushing the producer get ``close_timeout_s`` between them: a worker exits within
  seconds of SIGTERM even while a rebalance is under way or the broker is gone.
- Classic group protocol with a short session timeout and heartbeat: with library defaults a
  join took tens of seconds on some brokers, and not all serve the ``consumer`` protocol.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from confluent_kafka import (
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec  # type: ignore[attr-defined]

from taskcore.errors import QueueUnavailable
from taskcore.ports import Delivery
from taskcore_adapters.kafka_offsets import PartitionOffsets

if TYPE_CHECKING:
    from taskcore_adapters.config import QueueSettings

log = logging.getLogger("taskcore.queue.kafka")

CONSUMER_DEFAULTS: dict[str, Any] = {
    "group.protocol": "classic",
    "enable.auto.commit": False,
    "auto.offset.reset": "earliest",
    "session.timeout.ms": 6000,
    "heartbeat.interval.ms": 500,
    "max.poll.interval.ms": 30000,
    "topic.metadata.refresh.interval.ms": 1000,
    "fetch.wait.max.ms": 50,
}
PRODUCER_DEFAULTS: dict[str, Any] = {"enable.idempotence": True, "acks": "all", "linger.ms": 0}
SKIPPED_PATIENCE_S = 2.0  # how long an offset may be missing below delivered ones
SKIPPED_CHECK_EVERY_S = 0.5


def _bounded(what: str, call: Callable[[], object], timeout_s: float) -> None:
    """Run a librdkafka call that has no timeout of its own (close, seek, a synchronous
    commit), waiting for it at most ``timeout_s``: a rebalance or a broker that went away
    must not hold a worker thread, or a worker's exit, for longer. Re-raises what the call
    raised when it finished in time."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as exc:  # handed to the waiting thread
            failure.append(exc)

    worker = threading.Thread(target=run, name="taskcore-kafka-call", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        log.warning("%s took over %.1f s; not waiting longer", what, timeout_s)
    elif failure:
        raise failure[0]


def _log_failed_commit(error: KafkaError | None, _partitions: list[TopicPartition]) -> None:
    if error is not None:
        log.warning("committing offsets failed; their messages may come again: %s", error.str())


@dataclass(frozen=True, slots=True)
class _Receipt:
    partition: int
    offset: int
    epoch: int


class KafkaTaskQueue:
    """``TaskQueue`` on a Kafka topic; FIFO per partition, no priority."""

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        *,
        partitions: int = 1,
        group: str = "taskcore-workers",
        poll_timeout_s: float = 0.1,
        join_timeout_s: float = 15.0,
        publish_timeout_s: float = 5.0,
        ping_timeout_s: float = 2.0,
        close_timeout_s: float = 3.0,
        consumer_config: dict[str, Any] | None = None,
        producer_config: dict[str, Any] | None = None,
    ) -> None:
        self.topic = topic
        self._partitions = partitions
        self._poll_timeout_s = poll_timeout_s
        self._join_timeout_s = join_timeout_s
        self._publish_timeout_s = publish_timeout_s
        self._ping_timeout_s = ping_timeout_s
        self._close_timeout_s = close_timeout_s
        common = {"bootstrap.servers": bootstrap_servers, "client.id": "taskcore"}
        self._consumer_config = {**common, **CONSUMER_DEFAULTS, "group.id": group}
        self._consumer_config.update(consumer_config or {})
        timeout_ms = int(publish_timeout_s * 1000)
        self._producer_config = {**common, **PRODUCER_DEFAULTS, "message.timeout.ms": timeout_ms}
        self._producer_config.update(producer_config or {})
        self._admin_config: dict[str, Any] = common
        self._lock = threading.RLock()  # the consumer and the offsets
        self._setup_lock = threading.Lock()  # the producer, the admin client, the topic
        self._consumer: Any = None
        self._producer: Any = None
        self._admin: Any = None
        self._topic_ready = False
        self._offsets: dict[int, PartitionOffsets] = {}
        self._epochs = itertools.count(1)
        self._joined_by = 0.0  # when to stop waiting for the first assignment and fetch
        self._joined = False
        self._next_skipped_check = 0.0
        self._ready = False  # joined, and the first assignment's partitions answered a fetch
        self._closing = threading.Event()
        self._closed = False

    @classmethod
    def from_settings(cls, settings: QueueSettings) -> KafkaTaskQueue:
        """Build from the ``[queue]`` section: url (bootstrap servers), name, partitions, group.

        ``session_timeout_ms`` also sets how fast a consumer joins its group (heartbeats at a
        twelfth of it): shorter joins faster and notices a dead worker sooner.
        """
        timeout = settings.session_timeout_ms
        group_timing = {"session.timeout.ms": timeout, "heartbeat.interval.ms": timeout // 12}
        return cls(
            settings.url,
            settings.name,
            partitions=settings.partitions,
            group=settings.group,
            consumer_config=group_timing,
        )

    def publish(self, task_id: UUID, priority: int) -> None:
        """Produce the task id and wait for the broker's acknowledgement.

        Raises ``QueueUnavailable`` when the broker does not acknowledge in time.
        """
        self.publish_many([(task_id, priority)])

    def publish_many(self, messages: Sequence[tuple[UUID, int]]) -> None:
        """Produce every message, then wait once for all the acknowledgements.

        Raises ``QueueUnavailable`` when one is not acknowledged in time (the others may
        have been written: the caller sends them again, and duplicates are skipped).
        """
        if not messages:
            return
        producer = self._ready_producer()
        outcome: list[KafkaError | None] = []
        try:
            for task_id, priority in messages:
                value = str(task_id).encode()
                producer.produce(
                    self.topic,
                    key=value,
                    value=value,
                    headers=[("priority", str(priority).encode())],
                    on_delivery=lambda error, _message: outcome.append(error),
                )
            producer.flush(self._publish_timeout_s + 1.0)
        except (KafkaException, BufferError) as exc:
            raise QueueUnavailable(f"Kafka topic {self.topic!r}: {exc}") from exc
        if len(outcome) < len(messages):
            raise QueueUnavailable(f"Kafka topic {self.topic!r}: publish not acknowledged")
        failed = next((error for error in outcome if error is not None), None)
        if failed is not None:
            raise QueueUnavailable(f"Kafka topic {self.topic!r}: {failed.str()}")

    def receive(self) -> Delivery | None:
        """The next message of an assigned partition, or None after a short poll.

        Until this consumer first joined its group and every partition it was given answered
        a fetch, calls wait up to the join timeout in all, so that None means "nothing to
        take", not "not connected yet"; ``close`` ends the wait. During a later rebalance it
        answers None at once. Raises ``QueueUnavailable`` on a fatal consumer error.
        """
        with self._lock:
            consumer = self._ready_consumer()
            ready = self._consuming(consumer)
            deadline = time.monotonic() + self._poll_timeout_s if ready else None
            while not self._closing.is_set():
                self._read_skipped_again(consumer)
                message = self._poll(consumer, self._poll_timeout_s)
                if message is not None:
                    delivery = self._admit(message)
                    if delivery is not None:
                        return delivery
                    continue
                now = time.monotonic()
                if deadline is None and (self._consuming(consumer) or now >= self._joined_by):
                    deadline = now + self._poll_timeout_s  # consuming: one more, then empty
                elif deadline is not None and now >= deadline:
                    return None
            return None

    def ack(self, delivery: Delivery) -> None:
        """Mark the message done and commit what is contiguous.

        A failed commit is only logged: the message may come again, which is allowed.
        """
        receipt: _Receipt = delivery.receipt
        with self._lock:
            self._check_open()
            offsets = self._current(receipt)
            if offsets is not None:
                offsets.ack(receipt.offset)
                self._commit(self._consumer, receipt.partition, offsets)

    def release(self, delivery: Delivery) -> None:
        """Seek back so that the message is read again."""
        receipt: _Receipt = delivery.receipt
        with self._lock:
            self._check_open()
            offsets = self._current(receipt)
            if offsets is None:
                return  # the partition moved on; its next owner reads from the commit
            self._seek(self._consumer, receipt.partition, offsets.release(receipt.offset))

    def discard(self, task_id: UUID) -> None:
        """Nothing: Kafka cannot remove one message; the service skips it when it comes up."""

    def ping(self) -> None:
        """Return when the cluster answers a metadata request. Raises ``QueueUnavailable``."""
        self._check_open()
        try:
            self._ready_admin().list_topics(timeout=self._ping_timeout_s)
        except KafkaException as exc:
            raise QueueUnavailable(f"Kafka is unreachable: {exc}") from exc

    def depth(self) -> int:
        """Messages the group has not committed, over every partition of the topic.

        Per partition: the end offset minus the group's committed one (minus the first
        offset kept, where the group has committed nothing). A message received and not yet
        acknowledged still counts. Raises ``QueueUnavailable``.
        """
        group, timeout = self._consumer_config["group.id"], self._ping_timeout_s
        self._ensure_topic()  # as on first use: asking for a missing topic may auto-create it
        try:
            admin = self._ready_admin()
            topic = admin.list_topics(self.topic, timeout=timeout).topics[self.topic]
            if topic.error is not None:
                raise KafkaException(topic.error)
            partitions = [TopicPartition(self.topic, p) for p in topic.partitions]
            request = [ConsumerGroupTopicPartitions(group, partitions)]
            answer = admin.list_consumer_group_offsets(request, request_timeout=timeout)[group]
            committed = {tp.partition: tp.offset for tp in answer.result(timeout).topic_partitions}
            starts = self._offsets_at(partitions, OffsetSpec.earliest())
            ends = self._offsets_at(partitions, OffsetSpec.latest())
        except (KafkaException, TimeoutError) as exc:
            raise QueueUnavailable(f"Kafka topic {self.topic!r}: {exc}") from exc
        return sum(end - max(committed.get(p, -1), starts[p]) for p, end in ends.items())

    def assignment(self) -> list[int]:
        """The partitions this object currently consumes (empty before it joined the group)."""
        with self._lock:
            return sorted(self._offsets)

    def close(self) -> None:
        """Commit what is acknowledged, leave the group and flush the producer, within
        ``close_timeout_s``; past it the group notices the departure by the session timeout.
        """
        self._closing.set()  # a receive waiting for the join lets go of the lock
        with self._lock, self._setup_lock:
            if self._closed:
                return
            self._closed = True
            consumer, self._consumer = self._consumer, None
            producer, self._producer = self._producer, None
            self._admin = None
        deadline = time.monotonic() + self._close_timeout_s
        if consumer is not None:
            self._close_consumer(consumer, self._close_timeout_s)
        if producer is not None:
            with contextlib.suppress(KafkaException, RuntimeError):
                producer.flush(max(deadline - time.monotonic(), 0.1))

    def _close_consumer(self, consumer: Any, timeout_s: float) -> None:
        """``consumer.close()`` (revokes: commits what was acknowledged), given up after
        ``timeout_s``: it waits out a rebalance or a broker that went away."""
        with contextlib.suppress(KafkaException, RuntimeError):
            _bounded("leaving the Kafka group", consumer.close, timeout_s)

    def _offsets_at(self, partitions: list[TopicPartition], spec: Any) -> dict[int, int]:
        """Each partition's offset at ``spec`` (its first offset kept, or its end)."""
        timeout = self._ping_timeout_s
        request = dict.fromkeys(partitions, spec)
        futures = self._ready_admin().list_offsets(request, request_timeout=timeout)
        return {tp.partition: future.result(timeout).offset for tp, future in futures.items()}

    def _consuming(self, consumer: Any) -> bool:
        """Whether this consumer joined its group and every partition of its first
        assignment answered a fetch (the cached high watermark is known only after one
        has); true from then on, rebalances included. An empty assignment counts at once.
        """
        if not self._ready and self._joined:
            self._ready = all(
                consumer.get_watermark_offsets(TopicPartition(self.topic, p), cached=True)[1] >= 0
                for p in self._offsets
            )
        return self._ready

    def _seek(self, consumer: Any, partition: int, offset: int) -> None:
        target = TopicPartition(self.topic, partition, offset)
        try:
            _bounded("a seek", lambda: consumer.seek(target), self._close_timeout_s)
        except KafkaException as exc:  # the offset stays uncommitted and is looked at again
            log.warning("seeking partition %s to offset %s failed: %s", partition, offset, exc)

    def _read_skipped_again(self, consumer: Any) -> None:
        """Seek back to an offset the fetches passed over (``PartitionOffsets.skipped``)."""
        now = time.monotonic()
        if now < self._next_skipped_check:
            return
        self._next_skipped_check = now + SKIPPED_CHECK_EVERY_S
        for partition, offsets in self._offsets.items():
            offset = offsets.skipped(now, SKIPPED_PATIENCE_S)
            if offset is not None:
                log.warning(
                    "partition %s: offset %s was not delivered although later ones were; "
                    "reading from it again",
                    partition,
                    offset,
                )
                self._seek(consumer, partition, offset)

    def _assignment_start(self, partition: int, first_fetched: int) -> int:
        """Where the group's commit stood, or failing that the first offset fetched.

        Asked once per assignment, when its first message arrives: the first fetch may
        already have passed over a message, which must then hold the commit back too.
        """
        tp = TopicPartition(self.topic, partition)
        try:
            [committed] = self._consumer.committed([tp], timeout=self._ping_timeout_s)
            kept_from, _end = self._consumer.get_watermark_offsets(tp, cached=True)
        except KafkaException as exc:
            log.warning("partition %s: committed offset unknown: %s", partition, exc)
            return first_fetched
        if committed.offset < 0:
            return first_fetched  # no commit yet: the group starts at the earliest offset
        return max(committed.offset, kept_from if kept_from >= 0 else 0)

    def _poll(self, consumer: Any, timeout: float) -> Message | None:
        try:
            return consumer.poll(timeout)  # type: ignore[no-any-return]
        except (KafkaException, RuntimeError) as exc:
            raise QueueUnavailable(f"Kafka topic {self.topic!r}: {exc}") from exc

    def _admit(self, message: Message) -> Delivery | None:
        """Turn a fetched message into a delivery, or None when it is to be skipped."""
        error = message.error()
        if error is not None:
            if error.fatal():
                raise QueueUnavailable(f"Kafka consumer failed: {error.str()}")
            log.debug("Kafka consumer event: %s", error.str())
            return None
        partition, offset = message.partition(), message.offset()
        offsets = None if partition is None else self._offsets.get(partition)
        if partition is None or offset is None or offsets is None:
            return None  # not (or no longer) assigned here
        if offsets.floor is None:
            offsets.floor = min(self._assignment_start(partition, offset), offset)
        if not offsets.admit(offset):
            return None  # delivered already
        try:
            task_id = UUID((message.value() or b"").decode())
        except (UnicodeDecodeError, ValueError):
            log.warning("skipping a message that is not a task id at offset %s", offset)
            offsets.ack(offset)
            return None
        return Delivery(task_id, _Receipt(partition, offset, offsets.epoch))

    def _current(self, receipt: _Receipt) -> PartitionOffsets | None:
        offsets = self._offsets.get(receipt.partition)
        return offsets if offsets is not None and offsets.epoch == receipt.epoch else None

    def _commit(
        self, consumer: Any, partition: int, offsets: PartitionOffsets, *, wait: bool = False
    ) -> None:
        """Commit up to the commit point: in the background after an ack, so that no worker
        thread blocks on a group coordinator that is away; waiting on revoke, when the next
        owner reads from it, and then also the last point, whose background commit may
        have failed."""
        point = offsets.commit_point()
        if point is None and wait:
            point = offsets.floor
        if point is None:
            return
        offsets_to_commit = [TopicPartition(self.topic, partition, point)]
        try:
            if wait:
                commit = functools.partial(consumer.commit, offsets=offsets_to_commit,
                                           asynchronous=False)  # fmt: skip
                _bounded("a commit", commit, self._close_timeout_s)
            else:
                consumer.commit(offsets=offsets_to_commit, asynchronous=True)
        except KafkaException as exc:
            log.warning("committing offset %s of partition %s failed: %s", point, partition, exc)
            return
        offsets.committed(point)

    def _on_assign(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        self._joined = True
        for tp in partitions:
            self._offsets[tp.partition] = PartitionOffsets(next(self._epochs))

    def _on_revoke(
        self, consumer: Any, partitions: list[TopicPartition], lost: bool = False
    ) -> None:
        """Commit what was acknowledged; unacknowledged messages go to the next owner."""
        for tp in partitions:
            offsets = self._offsets.pop(tp.partition, None)
            if offsets is not None and not lost:
                self._commit(consumer, tp.partition, offsets, wait=True)

    def _ready_consumer(self) -> Any:
        self._check_open()
        if self._consumer is None:
            self._ensure_topic()
            consumer = Consumer(
                {**self._consumer_config, "on_commit": _log_failed_commit}, logger=log
            )
            self._joined_by = time.monotonic() + self._join_timeout_s
            consumer.subscribe(
                [self.topic],
                on_assign=self._on_assign,
                on_revoke=self._on_revoke,
                on_lost=lambda consumer, partitions: self._on_revoke(consumer, partitions, True),
            )
            self._consumer = consumer
        return self._consumer

    def _ready_producer(self) -> Any:
        self._ensure_topic()
        return self._client("_producer", lambda: Producer(self._producer_config, logger=log))

    def _ready_admin(self) -> Any:
        return self._client("_admin", lambda: AdminClient(self._admin_config, logger=log))

    def _client(self, attribute: str, build: Callable[[], Any]) -> Any:
        """The producer or admin client, built once on first use."""
        with self._setup_lock:
            self._check_open()
            if getattr(self, attribute) is None:
                setattr(self, attribute, build())
            return getattr(self, attribute)

    def _ensure_topic(self) -> None:
        """Create the topic once if it does not exist. Raises ``QueueUnavailable``."""
        if self._topic_ready:
            return
        topic = NewTopic(self.topic, num_partitions=self._partitions, replication_factor=-1)
        futures = self._ready_admin().create_topics([topic], request_timeout=self._ping_timeout_s)
        try:
            futures[self.topic].result(timeout=self._ping_timeout_s + 1.0)
        except Exception as exc:
            code = exc.args[0].code() if isinstance(exc, KafkaException) else None
            if code != KafkaError.TOPIC_ALREADY_EXISTS:
                raise QueueUnavailable(f"cannot create Kafka topic {self.topic!r}: {exc}") from exc
        self._topic_ready = True

    def _check_open(self) -> None:
        if self._closed:
            raise QueueUnavailable(f"Kafka topic {self.topic!r} is closed")
