"""RabbitMQ (pika) as the task queue: a durable priority queue with publisher confirms.

- Messages are persistent, carry the task id as their body and the task's priority (0-9)
  as the AMQP priority of a queue declared with ``x-max-priority`` 9.
- ``publish`` returns only once the broker has confirmed the message; a nack or an
  unroutable message raises ``QueueUnavailable``. ``publish_many`` sends a batch in one AMQP
  transaction on a second channel: one round trip for the batch instead of one per message
  (pika's blocking channel waits for each confirm in turn).
- pika is not thread-safe, so every thread gets its own connection, opened lazily and
  reopened with bounded exponential backoff when it drops.
- ``receive`` uses ``basic_get``: a consumer's prefetch buffer would hold messages in a
  thread that may not ask again for a long time, hiding work from the others and making
  later high-priority messages wait behind it. ``prefetch`` is applied with ``basic_qos``,
  which bounds push consumers only; ``basic_get`` takes one message per call.
- The connection of a thread that has ended is closed at the next call from any thread,
  so that the messages it received and never settled go back to the queue.
- Delivery is at least once: a connection that drops hands its unacknowledged messages back
  to the broker, so ``ack`` and ``release`` on a dead connection do nothing (the message
  comes again and the service skips it when its task is no longer Queued).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

import pika
import pika.exceptions

from taskcore.errors import QueueUnavailable
from taskcore.ports import Delivery

if TYPE_CHECKING:
    from taskcore_adapters.config import QueueSettings

log = logging.getLogger("taskcore.queue.rabbitmq")

PRIORITY_MAX = 9
_DRIVER_ERRORS = (pika.exceptions.AMQPError, OSError)
T = TypeVar("T")


class _Link:
    """One thread's connection and its confirming channel; ``lock`` serialises its use."""

    def __init__(self, connection: Any, channel: Any, owner: threading.Thread) -> None:
        self.connection = connection
        self.channel = channel
        self.owner = owner
        self.lock = threading.Lock()
        self.returned = 0  # batch messages the broker could not route
        self._batch_channel: Any = None

    def batch_channel(self) -> Any:
        """The transactional channel for batches, opened on first use."""
        if self._batch_channel is None or not self._batch_channel.is_open:
            channel = self.connection.channel()
            channel.tx_select()
            channel.add_on_return_callback(self._count_returned)
            self._batch_channel = channel
        return self._batch_channel

    def _count_returned(self, *_returned: Any) -> None:
        self.returned += 1

    @property
    def alive(self) -> bool:
        return bool(self.connection.is_open and self.channel.is_open)

    def close(self) -> None:
        """Close quietly: the broker requeues whatever this connection had not acknowledged."""
        try:
            if self.connection.is_open:
                self.connection.close()
        except _DRIVER_ERRORS as exc:
            log.debug("closing a RabbitMQ connection failed: %r", exc)


@dataclass(frozen=True, slots=True)
class _Receipt:
    link: _Link
    tag: int


def _message(task_id: UUID, priority: int) -> tuple[bytes, pika.BasicProperties]:
    properties = pika.BasicProperties(
        delivery_mode=pika.DeliveryMode.Persistent,
        priority=min(max(priority, 0), PRIORITY_MAX),
        content_type="text/plain",
    )
    return str(task_id).encode(), properties


class RabbitMqTaskQueue:
    """``TaskQueue`` on a durable RabbitMQ priority queue, one connection per thread."""

    def __init__(
        self,
        url: str,
        name: str,
        prefetch: int = 100,
        *,
        connection_name: str = "taskcore",
        connect_attempts: int = 4,
        backoff_s: float = 0.1,
        backoff_max_s: float = 2.0,
    ) -> None:
        self.name = name
        self._params = pika.URLParameters(url)
        self._params.connection_attempts = 1  # retries happen here, with backoff
        self._params.client_properties = {"connection_name": connection_name}
        if self._params.blocked_connection_timeout is None:
            self._params.blocked_connection_timeout = 10.0
        self._prefetch = prefetch
        self._attempts = max(1, connect_attempts)
        self._backoff = (backoff_s, backoff_max_s)
        self._local = threading.local()
        self._links: list[_Link] = []
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    def from_settings(cls, settings: QueueSettings) -> RabbitMqTaskQueue:
        """Build from the ``[queue]`` section: url, name and prefetch."""
        return cls(settings.url, settings.name, settings.prefetch)

    def publish(self, task_id: UUID, priority: int) -> None:
        """Publish a persistent message and wait for the broker's confirm.

        Raises ``QueueUnavailable`` when the broker is unreachable, nacks the message or
        cannot route it.
        """
        body, properties = _message(task_id, priority)
        self._run(
            lambda link: link.channel.basic_publish("", self.name, body, properties, mandatory=True)
        )

    def publish_many(self, messages: Sequence[tuple[UUID, int]]) -> None:
        """Publish persistent messages in one transaction; return once it is committed.

        The commit comes back after the broker routed and stored them all, as a confirm
        does for one. Raises ``QueueUnavailable`` when the broker is unreachable or could
        not route one of them (then some may have been sent: the caller sends them again).
        """
        if messages:
            self._run(lambda link: self._publish_in_transaction(link, messages))

    def _publish_in_transaction(self, link: _Link, messages: Sequence[tuple[UUID, int]]) -> None:
        channel = link.batch_channel()
        link.returned = 0
        for task_id, priority in messages:
            body, properties = _message(task_id, priority)
            channel.basic_publish("", self.name, body, properties, mandatory=True)
        channel.tx_commit()
        link.connection.process_data_events(0)  # returns arrive before the commit's answer
        if link.returned:
            raise QueueUnavailable(
                f"RabbitMQ queue {self.name!r}: {link.returned} messages could not be routed"
            )

    def receive(self) -> Delivery | None:
        """Take the next message (highest priority, then oldest) or None, without waiting.

        Raises ``QueueUnavailable``.
        """
        return self._run(self._get)

    def ack(self, delivery: Delivery) -> None:
        """Acknowledge on the channel that received the message; nothing if it has dropped."""
        self._settle(delivery, lambda ch, tag: ch.basic_ack(tag))

    def release(self, delivery: Delivery) -> None:
        """Requeue the message for another consumer; a dropped channel has done so already."""
        self._settle(delivery, lambda ch, tag: ch.basic_nack(tag, requeue=True))

    def discard(self, task_id: UUID) -> None:
        """Nothing: RabbitMQ cannot remove one message; the service skips it when it comes up."""

    def depth(self) -> int:
        """Messages ready in the queue; one received and not yet acknowledged is not counted.

        Asked on a connection of its own, opened and closed here, so that a scrape from any
        thread never touches a consumer's channel. Raises ``QueueUnavailable``, also when the
        queue does not exist yet.
        """
        self._check_open()
        try:
            connection = pika.BlockingConnection(self._params)
            try:
                declared = connection.channel().queue_declare(self.name, passive=True)
            finally:
                if connection.is_open:
                    connection.close()
        except _DRIVER_ERRORS as exc:
            raise QueueUnavailable(f"RabbitMQ queue {self.name!r}: {exc!r}") from exc
        return int(declared.method.message_count)

    def ping(self) -> None:
        """Return when the broker answers for the queue. Raises ``QueueUnavailable``."""
        self._run(lambda link: link.channel.queue_declare(self.name, passive=True))

    def close(self) -> None:
        """Close every connection this queue opened, in every thread."""
        with self._lock:
            self._closed = True
            links, self._links = self._links, []
        for link in links:
            with link.lock:
                link.close()

    def _get(self, link: _Link) -> Delivery | None:
        while True:
            method, _properties, body = link.channel.basic_get(self.name, auto_ack=False)
            if method is None:
                return None
            try:
                return Delivery(UUID(body.decode()), _Receipt(link, method.delivery_tag))
            except (UnicodeDecodeError, ValueError):
                log.warning("dropping a message that is not a task id: %r", body[:80])
                link.channel.basic_reject(method.delivery_tag, requeue=False)

    def _settle(self, delivery: Delivery, settle: Callable[[Any, int], object]) -> None:
        self._check_open()
        receipt: _Receipt = delivery.receipt
        link = receipt.link
        with link.lock:
            if not link.alive:
                return  # the broker requeued the message when the connection dropped
            try:
                settle(link.channel, receipt.tag)
            except _DRIVER_ERRORS as exc:
                log.warning("settling a RabbitMQ message failed; it will come again: %r", exc)
                link.close()

    def _run(self, operation: Callable[[_Link], T]) -> T:
        """Run ``operation`` on this thread's link, reconnecting once if the link fails."""
        self._check_open()
        for attempt in (1, 2):
            link = self._link()
            try:
                with link.lock:
                    return operation(link)
            except _DRIVER_ERRORS as exc:
                link.close()
                if attempt == 2:
                    raise QueueUnavailable(f"RabbitMQ queue {self.name!r}: {exc!r}") from exc
                log.info("RabbitMQ connection failed, reconnecting: %r", exc)
        raise AssertionError("unreachable")  # pragma: no cover

    def _link(self) -> _Link:
        self._close_orphans()
        link: _Link | None = getattr(self._local, "link", None)
        if link is not None and link.alive:
            return link
        link = self._connect()
        self._local.link = link
        return link

    def _connect(self) -> _Link:
        """Open a link, retrying with bounded exponential backoff. Raises ``QueueUnavailable``."""
        delay, delay_max = self._backoff
        for attempt in range(1, self._attempts + 1):
            try:
                return self._open_link()
            except _DRIVER_ERRORS as exc:
                if attempt == self._attempts:
                    raise QueueUnavailable(f"RabbitMQ is unreachable: {exc!r}") from exc
            time.sleep(delay)
            delay = min(delay * 2, delay_max)
        raise AssertionError("unreachable")  # pragma: no cover

    def _open_link(self) -> _Link:
        connection = pika.BlockingConnection(self._params)
        try:
            channel = connection.channel()
            channel.confirm_delivery()
            channel.queue_declare(
                self.name, durable=True, arguments={"x-max-priority": PRIORITY_MAX}
            )
            channel.basic_qos(prefetch_count=self._prefetch)
        except BaseException:
            _Link(connection, None, threading.current_thread()).close()
            raise
        link = _Link(connection, channel, threading.current_thread())
        self._register(link)
        return link

    def _register(self, link: _Link) -> None:
        with self._lock:
            if self._closed:
                link.close()
                raise QueueUnavailable(f"RabbitMQ queue {self.name!r} is closed")
            self._links = [old for old in self._links if old.alive] + [link]

    def _close_orphans(self) -> None:
        """Close the links of threads that have ended, so their messages are requeued."""
        with self._lock:
            orphans = [link for link in self._links if not link.owner.is_alive()]
            if orphans:
                self._links = [link for link in self._links if link not in orphans]
        for link in orphans:
            with link.lock:
                link.close()

    def _check_open(self) -> None:
        if self._closed:
            raise QueueUnavailable(f"RabbitMQ queue {self.name!r} is closed")
