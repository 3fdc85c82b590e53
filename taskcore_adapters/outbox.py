"""A transactional outbox in front of a broker, so that no Queued task is left unpublished.

With a broker, the SQL store writes each new task's message into its outbox table in the
same transaction as the task. ``OutboxQueue.publish`` then sends it to the broker at once and
deletes the outbox row; when the broker is down the row stays, and the relay thread sends it
later. A message sent twice (the relay racing a slow direct send) is harmless: the service
skips messages whose task is no longer Queued.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import Protocol
from uuid import UUID

from taskcore.errors import AdapterError
from taskcore.ports import Clock, Delivery, TaskQueue

log = logging.getLogger("taskcore.outbox")


class Outbox(Protocol):
    """Messages written with their tasks and not yet handed to the broker."""

    def pending(self, older_than: datetime, limit: int) -> list[tuple[int, UUID, int]]:
        """(message id, task id, priority), oldest first. Raises ``StoreUnavailable``."""
        ...

    def remove(self, message_ids: list[int]) -> None:
        """Forget sent messages. Raises ``StoreUnavailable``."""
        ...

    def remove_task(self, task_id: UUID) -> None:
        """Forget a task's messages. Raises ``StoreUnavailable``."""
        ...

    def count(self) -> int:
        """How many messages wait for the broker. Raises ``StoreUnavailable``."""
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
    ) -> None:
        self.broker = broker
        self.outbox = outbox
        self._clock = clock
        self._interval = relay_interval_s
        self._settle = timedelta(seconds=settle_s)
        self._batch = batch
        self._stop = threading.Event()
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
        try:
            self.outbox.remove_task(task_id)
        except AdapterError as exc:  # the relay will send it again; the copy is skipped
            log.warning("outbox row not removed: %s", exc, extra={"task_id": str(task_id)})

    def relay_once(self) -> int:
        """Send the outbox rows that the direct path did not; returns how many were sent."""
        rows = self.outbox.pending(self._clock.now() - self._settle, self._batch)
        sent: list[int] = []
        try:
            for message_id, task_id, priority in rows:
                self.broker.publish(task_id, priority)
                sent.append(message_id)
        finally:
            if sent:
                self.outbox.remove(sent)
        return len(sent)

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
        """Stop the relay, then close the broker connection."""
        self._stop.set()
        self._thread.join(self._interval + 5)
        self.broker.close()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                if self.relay_once():
                    log.info("outbox relay sent pending messages")
            except AdapterError as exc:
                log.warning("outbox relay round failed: %s", exc)
