"""Restoring the messages a broker lost: the outbox gives old Queued tasks a new message.

On every SQL database with a stand-in broker and a settable clock; the end to end run (a
worker started on a RabbitMQ queue that lost its messages) is in test_distributed.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest
import sqlalchemy as sa

from taskcore import TaskService
from taskcore_adapters.config import QueueSettings
from taskcore_adapters.executor import ThreadPoolBackgroundExecutor
from taskcore_adapters.memory import MemoryTaskQueue
from taskcore_adapters.outbox import OutboxQueue, republish_on_start
from taskcore_adapters.sql.outbox import SqlOutbox
from taskcore_adapters.sql.store import SqlTaskStore
from taskcore_adapters.sql.tables import tables
from tests.integration.test_outbox import DownBroker, NoCallbacks
from tests.support.clock import SettableClock
from tests.support.databases import SQL_BACKENDS, ScratchDatabases, empty_tables

SETTLE_S = 5


@pytest.fixture(scope="module")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScratchDatabases]:
    scratch = ScratchDatabases(tmp_path_factory.mktemp("republish"))
    yield scratch
    scratch.drop_all()


@pytest.fixture(params=SQL_BACKENDS)
def store(request: pytest.FixtureRequest, databases: ScratchDatabases) -> Iterator[SqlTaskStore]:
    from taskcore_adapters.sql.engine import create_engine

    built = SqlTaskStore(create_engine(databases.url(request.param)), enqueue_on_add=True)
    empty_tables(built.engine)
    yield built
    built.close()


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock()


def outbox_rows(store: SqlTaskStore) -> list[UUID]:
    with store.engine.connect() as conn:
        return list(conn.execute(sa.select(tables().queue.c.task_id)).scalars())


def outbox_over(broker: Any, store: SqlTaskStore, clock: SettableClock) -> OutboxQueue:
    return OutboxQueue(broker, SqlOutbox(store.engine), clock, relay_interval_s=60, settle_s=5)


def service_over(store: SqlTaskStore, queue: Any, clock: SettableClock) -> TaskService:
    return TaskService(store, queue, NoCallbacks(), clock, ThreadPoolBackgroundExecutor(1, 1))


def test_old_queued_tasks_whose_messages_were_lost_are_published_again(
    store: SqlTaskStore, clock: SettableClock
) -> None:
    lost = MemoryTaskQueue()  # a broker that will forget what it was given
    queue = outbox_over(lost, store, clock)
    service = service_over(store, queue, clock)
    old = service.create(name="old", callback_url="http://127.0.0.1/", priority=3)
    taken = service.create(name="taken", callback_url="http://127.0.0.1/")
    service.dequeue(taken.task_id)
    cancelled = service.create(name="cancelled", callback_url="http://127.0.0.1/")
    service.cancel(cancelled.task_id)
    clock.advance(SETTLE_S + 1)
    young = service.create(name="young", callback_url="http://127.0.0.1/")
    queue.close()
    assert outbox_rows(store) == []  # every message reached the broker, which then lost them

    broker = MemoryTaskQueue()
    restarted = outbox_over(broker, store, clock)
    try:
        assert restarted.restore_lost_messages() == 1  # ``young`` may still be on its way
        assert restarted.restore_lost_messages() == 0  # one row per task, however often
        assert restarted.relay_once() == 0  # the new row waits out the settle time too
        clock.advance(SETTLE_S + 1)
        assert restarted.relay_once() == 1
    finally:
        restarted.close()
    delivery = broker.receive()
    assert delivery is not None and delivery.task_id == old.task_id
    assert broker.receive() is None
    assert young.task_id not in outbox_rows(store)


def test_a_task_still_in_the_outbox_gets_no_second_row(
    store: SqlTaskStore, clock: SettableClock
) -> None:
    down = outbox_over(DownBroker(), store, clock)
    waiting = service_over(store, down, clock).create(name="w", callback_url="http://127.0.0.1/")
    clock.advance(SETTLE_S + 1)
    try:
        assert down.restore_lost_messages() == 0
    finally:
        down.close()
    assert outbox_rows(store) == [waiting.task_id]


def lose_every_message(store: SqlTaskStore, clock: SettableClock, count: int) -> list[UUID]:
    """Tasks that reached a broker which then lost them, now past the settle time."""
    queue = outbox_over(MemoryTaskQueue(), store, clock)
    service = service_over(store, queue, clock)
    ids = [
        service.create(name=f"t{i}", callback_url="http://127.0.0.1/").task_id for i in range(count)
    ]
    queue.close()
    clock.advance(SETTLE_S + 1)
    return ids


def test_on_start_the_relay_restores_and_sends_lost_messages_in_the_background(
    store: SqlTaskStore, clock: SettableClock
) -> None:
    ids = lose_every_message(store, clock, 3)
    broker = MemoryTaskQueue()
    queue = OutboxQueue(broker, SqlOutbox(store.engine), clock, relay_interval_s=0.02, settle_s=0.1)
    try:
        republish_on_start(queue, QueueSettings())
        deadline = time.monotonic() + 10
        while len(broker) < len(ids) and time.monotonic() < deadline:
            clock.advance(0.05)  # the restored rows wait out the settle time, then go
            time.sleep(0.02)
    finally:
        queue.close()
    deliveries = [broker.receive() for _ in ids]
    assert sorted(str(d.task_id) for d in deliveries if d is not None) == sorted(map(str, ids))


def test_republishing_on_start_can_be_turned_off(store: SqlTaskStore, clock: SettableClock) -> None:
    lose_every_message(store, clock, 1)
    queue = OutboxQueue(
        MemoryTaskQueue(), SqlOutbox(store.engine), clock, relay_interval_s=0.02, settle_s=0.01
    )
    try:
        republish_on_start(queue, QueueSettings(republish_on_start=False))
        republish_on_start(MemoryTaskQueue(), QueueSettings())  # no outbox, nothing to restore
        time.sleep(0.3)  # many relay rounds
    finally:
        queue.close()
    assert outbox_rows(store) == []
