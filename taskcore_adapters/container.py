"""Composition root: builds the configured adapters and the ``TaskService`` from settings.

One ``Selector`` per port picks the backend named in the config. Heavy drivers are imported
inside the builder of the selected branch, so a memory-only install never imports them.
Every builder registers what it made with the ``Closer``, which ``shutdown`` closes in
reverse order.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Protocol

from dependency_injector import containers, providers

from taskcore import ServiceSettings, SystemClock, TaskService
from taskcore_adapters.config import Settings, load_settings
from taskcore_adapters.executor import ThreadPoolBackgroundExecutor
from taskcore_adapters.memory import MemoryTaskQueue, MemoryTaskStore
from taskcore_adapters.outbox import OutboxQueue


class _Closable(Protocol):
    def close(self) -> None: ...


class Closer:
    """Remembers what the container built, to close it once, newest first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[_Closable] = []

    def register(self, item: Any) -> Any:
        with self._lock:
            self._items.append(item)
        return item

    def close_all(self) -> None:
        with self._lock:
            items, self._items = self._items[::-1], []
        for item in items:
            item.close()


def _memory_store(closer: Closer) -> Any:
    return closer.register(MemoryTaskStore())


def _sql_store(settings: Settings, closer: Closer) -> Any:
    from taskcore_adapters.sql.store import SqlTaskStore

    enqueue_on_add = settings.queue.backend != "memory"  # the SQL queue, or the outbox
    return closer.register(
        SqlTaskStore.from_settings(settings.store, enqueue_on_add=enqueue_on_add)
    )


def _memory_queue(closer: Closer) -> Any:
    return closer.register(MemoryTaskQueue())


def _sql_queue(settings: Settings, store: Any, closer: Closer) -> Any:
    from taskcore_adapters.sql.queue import SqlTaskQueue

    return closer.register(SqlTaskQueue(store.engine, settings.queue))


def _behind_outbox(broker: Any, store: Any, clock: Any, closer: Closer) -> Any:
    from taskcore_adapters.sql.outbox import SqlOutbox

    return closer.register(OutboxQueue(broker, SqlOutbox(store.engine), clock))


def _rabbitmq_queue(settings: Settings, store: Any, clock: Any, closer: Closer) -> Any:
    from taskcore_adapters.rabbitmq import RabbitMqTaskQueue

    broker = RabbitMqTaskQueue.from_settings(settings.queue)
    return _behind_outbox(broker, store, clock, closer)


def _kafka_queue(settings: Settings, store: Any, clock: Any, closer: Closer) -> Any:
    from taskcore_adapters.kafka import KafkaTaskQueue

    broker = KafkaTaskQueue.from_settings(settings.queue)
    return _behind_outbox(broker, store, clock, closer)


def _callbacks(settings: Settings, closer: Closer) -> Any:
    from taskcore_adapters.callbacks import HttpCallbackClient

    return closer.register(HttpCallbackClient.from_settings(settings.callbacks))


def _executor(settings: Settings, closer: Closer) -> Any:
    execution = settings.execution
    return closer.register(ThreadPoolBackgroundExecutor(execution.workers, execution.backlog))


def _service_settings(settings: Settings) -> ServiceSettings:
    return ServiceSettings(
        callback_timeout_s=settings.callbacks.timeout_s,
        lease_margin_s=settings.execution.lease_margin_s,
        report_timeout_s=settings.execution.report_timeout_s,
        idempotency_window_s=settings.api.idempotency_window_s,
    )


class Container(containers.DeclarativeContainer):
    """The adapters and the service for one ``Settings``."""

    settings = providers.Dependency(instance_of=Settings)
    config = providers.Configuration()
    closer = providers.Singleton(Closer)
    clock = providers.Singleton(SystemClock)

    store = providers.Selector(
        config.store.backend,
        memory=providers.Singleton(_memory_store, closer),
        sql=providers.Singleton(_sql_store, settings, closer),
    )
    queue = providers.Selector(
        config.queue.backend,
        memory=providers.Singleton(_memory_queue, closer),
        sql=providers.Singleton(_sql_queue, settings, store, closer),
        rabbitmq=providers.Singleton(_rabbitmq_queue, settings, store, clock, closer),
        kafka=providers.Singleton(_kafka_queue, settings, store, clock, closer),
    )
    callbacks = providers.Singleton(_callbacks, settings, closer)
    executor = providers.Singleton(_executor, settings, closer)
    service = providers.Singleton(
        TaskService,
        store=store,
        queue=queue,
        callbacks=callbacks,
        clock=clock,
        executor=executor,
        settings=providers.Singleton(_service_settings, settings),
    )


def build_container(
    path: str | Path | None = None, *, settings: Settings | None = None
) -> Container:
    """A container for ``settings``, or for the config file at ``path`` (see ``load_settings``).

    Raises ``ConfigError`` when the configuration is invalid.
    """
    resolved = settings or load_settings(path)
    container = Container(settings=resolved)
    container.config.from_dict(
        {"store": {"backend": resolved.store.backend}, "queue": {"backend": resolved.queue.backend}}
    )
    return container


def shutdown(container: Container) -> None:
    """Close every adapter the container built, newest first."""
    container.closer().close_all()
