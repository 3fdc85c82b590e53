"""The adapters the API and BDD suites run on: every one of ``BACKENDS`` by default.

``memory``, ``postgres`` (SQL store and SQL queue), ``postgres-rabbitmq`` and
``postgres-kafka`` (SQL store with the outbox in front of the broker). The API and BDD tests
run once per backend; ``TASKCORE_TEST_BACKENDS=memory,postgres`` narrows the list. Each app
starts from empty tables.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import sqlalchemy as sa

from taskcore_adapters import Settings
from tests.support.databases import ScratchDatabases, empty_tables

BACKEND_ENV = "TASKCORE_TEST_BACKENDS"
BACKENDS = ("memory", "postgres", "postgres-rabbitmq", "postgres-kafka")
RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


def selected() -> list[str]:
    """The backends named by ``TASKCORE_TEST_BACKENDS``, or all of them."""
    names = [n.strip() for n in os.environ.get(BACKEND_ENV, ",".join(BACKENDS)).split(",")]
    unknown = [n for n in names if n not in BACKENDS]
    if unknown:
        raise ValueError(f"{BACKEND_ENV}: unknown {unknown}; choose from {', '.join(BACKENDS)}")
    return names


class Backend:
    """Turns the settings a test asks for into settings on the selected backend."""

    def __init__(self, name: str, directory: Path) -> None:
        self.name = name
        self._databases = ScratchDatabases(directory)
        self._url: str | None = None
        self._queues: list[str] = []
        self._kafka: Any = None

    @property
    def has_priority(self) -> bool:
        """Whether this backend's queue orders by priority (Kafka is FIFO per partition)."""
        return not self.name.endswith("kafka")

    def settings(self, base: Settings | None = None) -> Settings:
        """``base`` (default settings) moved onto this backend, with empty tables."""
        base = base or Settings()
        if self.name == "memory":
            return base
        store = dataclasses.replace(
            base.store, backend="sql", url=self._database(), migrate="check"
        )
        queue_backend = self.name.partition("-")[2] or "sql"
        name = f"taskcore.test.{uuid4().hex[:12]}"  # a fresh queue: no messages of old tests
        queue = dataclasses.replace(
            base.queue,
            backend=queue_backend,
            url=self._queue_url(),
            name=name,
            group=name,
            session_timeout_ms=2000,  # joins the group in about 1.5 s instead of 3
        )
        self._queues.append(name)
        return dataclasses.replace(base, store=store, queue=queue)

    def close(self) -> None:
        self._databases.drop_all()
        if self.name.endswith("rabbitmq"):
            from tests.support.brokers import delete_rabbitmq_queue

            for name in self._queues:
                delete_rabbitmq_queue(name)
        if self._kafka is not None:
            self._kafka.stop()

    def _database(self) -> str:
        if self._url is None:
            self._url = self._databases.url("postgresql")
        engine = sa.create_engine(self._url, poolclass=sa.pool.NullPool)
        try:
            empty_tables(engine)
        finally:
            engine.dispose()
        return self._url

    def _queue_url(self) -> str:
        if self.name.endswith("rabbitmq"):
            from tests.support.services import require

            require("rabbitmq")
            return RABBITMQ_URL
        if self.name.endswith("kafka"):
            if self._kafka is None:
                from tests.support.brokers import start_tansu

                self._kafka = start_tansu()
            return str(self._kafka.bootstrap)
        return ""


def is_archived(store: Any, task_id: UUID) -> bool:
    """Whether the task left the active set for the archive, on any store."""
    if hasattr(store, "is_archived"):
        return bool(store.is_archived(task_id))
    from taskcore_adapters.sql.tables import tables

    archived = tables().archived
    with store.engine.connect() as conn:
        query = sa.select(sa.func.count()).where(archived.c.task_id == task_id)
        return bool(conn.execute(query).scalar_one())
