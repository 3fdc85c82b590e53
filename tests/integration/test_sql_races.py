"""Many processes and threads racing on one database: with the SQL store and the SQL queue,
every task is taken exactly once, and one task dequeued 50 times at once has one winner."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
import sqlalchemy as sa

from taskcore.clock import SystemClock
from taskcore.errors import ConcurrentUpdate, InvalidTransition
from taskcore.service import TaskService
from taskcore.task import Task
from taskcore_adapters.sql.engine import create_engine
from taskcore_adapters.sql.queue import SqlTaskQueue
from taskcore_adapters.sql.rows import to_row
from taskcore_adapters.sql.store import SqlTaskStore
from taskcore_adapters.sql.tables import tables
from tests.support.databases import SQL_BACKENDS, ScratchDatabases, empty_tables

SPAWN = multiprocessing.get_context("spawn")
TASKS = 2_000
PROCESSES = 4
T0 = datetime(2026, 1, 1, tzinfo=UTC)


class NoCallbacks:
    """Dequeuing never calls back; nothing here may be called."""

    def call(self, request: Any) -> Any:
        raise AssertionError("no callback expected")

    def close(self) -> None:
        pass


def service_on(url: str, connections: int) -> TaskService:
    """A service over its own engine, as each API or worker process builds one."""
    store = SqlTaskStore(create_engine(url, pool_size=connections, max_overflow=0))
    return TaskService(store, SqlTaskQueue(store.engine), NoCallbacks(), SystemClock())


def take(url: str, wanted: int, barrier: Any, results: Any) -> None:
    """Dequeue ``wanted`` tasks; an empty answer is retried (others may hold the rest)."""
    service = service_on(url, 2)
    taken: list[str] = []
    barrier.wait(60)
    deadline = time.monotonic() + 60
    while len(taken) < wanted and time.monotonic() < deadline:
        task = service.dequeue_next()
        if task is None:
            time.sleep(0.005)
            continue
        taken.append(str(task.task_id))
    service.store.close()
    results.put(taken)


def race_dequeue(url: str, task_id: UUID, threads: int, barrier: Any, results: Any) -> None:
    """``threads`` threads dequeue the same task the moment every process is ready."""
    service = service_on(url, threads)
    gate = threading.Barrier(threads + 1)
    outcomes: list[str] = []

    def attempt() -> None:
        gate.wait(60)
        try:
            service.dequeue(task_id)
        except (ConcurrentUpdate, InvalidTransition) as exc:
            outcomes.append(type(exc).__name__)
        else:
            outcomes.append("won")

    workers = [threading.Thread(target=attempt) for _ in range(threads)]
    for worker in workers:
        worker.start()
    barrier.wait(60)
    gate.wait(60)
    for worker in workers:
        worker.join(60)
    service.store.close()
    results.put(outcomes)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScratchDatabases]:
    databases = ScratchDatabases(tmp_path_factory.mktemp("races"))
    yield databases
    databases.drop_all()


@pytest.fixture(params=SQL_BACKENDS)
def url(request: pytest.FixtureRequest, scratch: ScratchDatabases) -> Iterator[str]:
    found = scratch.url(request.param)
    engine = create_engine(found)
    empty_tables(engine)
    engine.dispose()
    yield found


def queued_tasks(url: str, count: int) -> list[UUID]:
    """Store and publish ``count`` Queued tasks in bulk, one second apart, in mixed priorities."""
    t = tables()
    made = [
        Task.new(
            name=f"t{i}",
            callback_url="http://127.0.0.1:9/",
            now=T0 + timedelta(seconds=i),
            priority=i % 3,
        )
        for i in range(count)
    ]
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.insert(t.tasks), [to_row(task) for task in made])
        conn.execute(
            sa.insert(t.queue),
            [{"task_id": x.task_id, "priority": x.priority, "enqueued_at": T0} for x in made],
        )
    engine.dispose()
    return [task.task_id for task in made]


def run_processes(target: Any, args_per_process: list[tuple[Any, ...]], parties: int) -> Any:
    """Start one spawned process per args tuple; returns the barrier, the results, the procs."""
    barrier = SPAWN.Barrier(parties)
    results = SPAWN.Queue()
    processes = [
        SPAWN.Process(target=target, args=(*args, barrier, results), daemon=True)
        for args in args_per_process
    ]
    for process in processes:
        process.start()
    return barrier, results, processes


def collect(results: Any, processes: list[Any]) -> list[Any]:
    gathered = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(30)
        assert process.exitcode == 0
    return gathered


@pytest.mark.parametrize("url", SQL_BACKENDS[1:], indirect=True)  # the servers
def test_four_processes_take_every_task_exactly_once(url: str) -> None:
    ids = queued_tasks(url, TASKS)
    per_process = TASKS // PROCESSES
    _, results, processes = run_processes(take, [(url, per_process)] * PROCESSES, parties=PROCESSES)
    taken = collect(results, processes)
    assert [len(batch) for batch in taken] == [per_process] * PROCESSES
    assert Counter(x for batch in taken for x in batch) == Counter(str(i) for i in ids)
    service = service_on(url, 1)
    try:
        assert service.dequeue_next() is None
        assert service.store.list_page(None, 0, 1).total == TASKS
    finally:
        service.store.close()


def test_fifty_simultaneous_dequeues_of_one_task_across_processes_have_one_winner(
    url: str,
) -> None:
    (task_id,) = queued_tasks(url, 1)
    barrier, results, processes = run_processes(
        race_dequeue, [(url, task_id, 20), (url, task_id, 20)], parties=3
    )
    local: Any = SPAWN.Queue()
    race_dequeue(url, task_id, 10, barrier, local)
    outcomes = [
        *local.get(timeout=60),
        *(x for batch in collect(results, processes) for x in batch),
    ]
    assert len(outcomes) == 50
    assert outcomes.count("won") == 1
    assert set(outcomes) - {"won"} <= {"ConcurrentUpdate", "InvalidTransition"}
