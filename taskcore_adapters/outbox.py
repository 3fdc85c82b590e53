"""A transactional outbox in front of a broker, so that no Queued task is left unpublished.

With a broker, the SQL store writes each new task's message into its outbox table in the
same transaction as the task. ``OutboxQueue.publish`` then sends it to the broker at once;
the rows of sent messages are deleted in bulk a moment later by the relay thread, so a
create costs one database transaction, not two. When the broker is down the row stays, and
the relay sends it once it is older than ``settle_s``. A message sent twice (the relay
racing a slow direct send, or a process that died before deleting its sent rows) is
harmless: the service skips messages whose task is no longer Queued.

A broker can also lose messages it acknowledged (a queue deleted, memory storage restarted).
``republish_on_start`` has a starting worker's relay write a row for every Queued task older
than the settle time that has none; the relay then publishes them (decision 0010).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol
from uuid import UUID

from taskcore.errors import AdapterError
from taskcore.ports import Clock, Delivery, TaskQueue

if TYPE_CHECKING:
    from taskcore_adapters.config import QueueSettings

log = logging.getLogger("taskcore.outbox")

RELAY_CHUNK = 100  # messages per broker batch when the relay catches up


class Outbox(Protocol):
    """Messages written with their tasks and not yet handed to the broker."""

    def pending(self, older_than: datetime, limit: int) -> list[tuple[int, UUID, int]]:
        """(message id, task id, priority), oldest first. Raises ``StoreUnavailable``."""
        ...

    def remove(self, message_ids: list[int]) -> None:
        """Forget sent messages. Raises ``StoreUnavailable``."""
        ...

    def remove_tasks(self, task_ids: list[UUID]) -> None:
        """Forget these tasks' messages. Raises ``StoreUnavailable``."""
        ...

    def count(self) -> int:
        """How many messages wait for the broker. Raises ``StoreUnavailable``."""
        ...

    def add_missing(self, created_before: datetime, now: datetime) -> int:
        """Write a message, dated ``now``, for each Queued task created before
        ``created_before`` that has none; returns how many. Raises ``StoreUnavailable``."""
        ...


class OutboxQueue:
    """``TaskQueue``: publishes through the outbox, consumes from the broker."""

    def __init__(
        self,
        broker: TaskQueue,
        outbox: Outbox,
        clock: Clock,
        *,
        relay_interval_s: float = 1.0,
        settle_s: float = 5.0,
        batch: int = 500,
        forget_interval_s: float = 0.1,
    ) -> None:
        self.broker = broker
        self.outbox = outbox
        self._clock = clock
        self._interval = relay_interval_s
        self._settle = timedelta(seconds=settle_s)
        self._batch = batch
        self._forget_interval = min(forget_interval_s, relay_interval_s)
        self._sent: list[UUID] = []
        self._sent_lock = threading.Lock()
        self._stop = threading.Event()
        self._restore_at: float | None = None  # monotonic time of a requested restore
        self._thread = threading.Thread(target=self._loop, name="taskcore-outbox", daemon=True)
        self._thread.start()

    def publish(self, task_id: UUID, priority: int) -> None:
        """Send the task's message now; if the broker is down, the relay sends it later."""
        try:
            self.broker.publish(task_id, priority)
        except AdapterError as exc:
            log.warning(
                "broker unavailable, message left to the outbox relay: %s",
                exc,
                extra={"task_id": str(task_id)},
            )
            return
        with self._sent_lock:
            self._sent.append(task_id)

    def publish_many(self, messages: Sequence[tuple[UUID, int]]) -> None:
        """Send the messages now in one broker batch; if it fails, the relay sends them."""
        try:
            self.broker.publish_many(messages)
        except AdapterError as exc:
            log.warning("broker unavailable, %d messages left to the outbox relay: %s",
                        len(messages), exc)  # fmt: skip
            return
        with self._sent_lock:
            self._sent.extend(task_id for task_id, _priority in messages)

    def forget_sent(self) -> int:
        """Delete the outbox rows of messages sent since the last call, in one statement."""
        with self._sent_lock:
            sent, self._sent = self._sent[: self._batch], self._sent[self._batch :]
        if not sent:
            return 0
        try:
            self.outbox.remove_tasks(sent)
        except AdapterError as exc:  # kept for the next round; the relay may send copies
            log.warning("sent messages' outbox rows not removed: %s", exc)
            with self._sent_lock:
                self._sent[:0] = sent
            return 0
        return len(sent)

    def relay_once(self) -> int:
        """Send the outbox rows that the direct path did not, ``RELAY_CHUNK`` per broker
        batch; returns how many were sent. Raises what the broker or the outbox raise,
        after forgetting the rows of the chunks that were sent."""
        rows = self.outbox.pending(self._clock.now() - self._settle, self._batch)
        sent: list[int] = []
        try:
            for start in range(0, len(rows), RELAY_CHUNK):
                chunk = rows[start : start + RELAY_CHUNK]
                self.broker.publish_many([(task_id, priority) for _, task_id, priority in chunk])
                sent.extend(message_id for message_id, _, _ in chunk)
        finally:
            if sent:
                self.outbox.remove(sent)
        return len(sent)

    def restore_lost_messages(self) -> int:
        """Give every Queued task older than the settle time that has no outbox row one; the
        relay publishes them after the settle time. Returns how many were written.

        Tasks younger than that may still be on their direct way to the broker. Raises
        ``StoreUnavailable``.
        """
        now = self._clock.now()
        return self.outbox.add_missing(now - self._settle, now)

    def restore_soon(self) -> None:
        """Have the relay thread ``restore_lost_messages`` within the settle time.

        The delay is random so that processes started together run one after the other:
        the later ones find the rows of the first (which wait out the settle time) and
        write none.
        """
        # A delay, not a secret: the standard generator is right.
        jitter = random.uniform(0, self._settle.total_seconds())  # nosec B311
        self._restore_at = time.monotonic() + jitter

    def receive(self) -> Delivery | None:
        """The broker's next message."""
        return self.broker.receive()

    def ack(self, delivery: Delivery) -> None:
        """Acknowledge on the broker."""
        self.broker.ack(delivery)

    def release(self, delivery: Delivery) -> None:
        """Hand the message back to the broker."""
        self.broker.release(delivery)

    def discard(self, task_id: UUID) -> None:
        """Brokers cannot remove a message; it is skipped when it comes up."""
        self.broker.discard(task_id)

    def depth(self) -> int:
        """The broker's depth; messages still in the outbox are ``backlog``."""
        return self.broker.depth()

    def backlog(self) -> int:
        """Messages stored with their tasks and not yet handed to the broker.

        Raises ``StoreUnavailable``.
        """
        return self.outbox.count()

    def ping(self) -> None:
        """Return when the broker answers. Raises ``QueueUnavailable``."""
        self.broker.ping()

    def close(self) -> None:
        """Stop the relay, forget what was sent, then close the broker connection."""
        self._stop.set()
        self._thread.join(self._interval + 5)
        while self.forget_sent():
            pass
        self.broker.close()

    def _loop(self) -> None:
        next_relay = time.monotonic() + self._interval
        while not self._stop.wait(self._forget_interval):
            while self.forget_sent() == self._batch:
                pass
            if time.monotonic() < next_relay:
                continue
            next_relay = time.monotonic() + self._interval
            try:
                self._restore_if_due()
                if self.relay_once():
                    log.info("outbox relay sent pending messages")
            except AdapterError as exc:
                log.warning("outbox relay round failed: %s", exc)

    def _restore_if_due(self) -> None:
        if self._restore_at is None or time.monotonic() < self._restore_at:
            return
        restored = self.restore_lost_messages()
        self._restore_at = None
        if restored:
            log.warning("republishing %d Queued tasks the broker may have lost", restored)


def republish_on_start(queue: object, settings: QueueSettings) -> None:
    """Restore the messages a broker lost, when ``queue.republish_on_start`` asks for it.

    Only a broker behind the outbox can lose messages; the memory and SQL queues keep theirs
    with the tasks. Never blocks: the outbox relay does the work in the background.
    """
    if settings.republish_on_start and isinstance(queue, OutboxQueue):
        queue.restore_soon()
