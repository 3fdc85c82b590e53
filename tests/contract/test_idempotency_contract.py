"""The idempotent add of the ``TaskStore`` port, held by every store: one key creates one
task, whatever the timing, on memory, SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
import sqlalchemy as sa

from taskcore.errors import IdempotencyConflict, StoreUnavailable, TaskNotFound
from taskcore.status import TaskStatus
from taskcore.task import CallbackResult, Task
from tests.support.databases import SQL_BACKENDS, ScratchDatabases, empty_tables, sql_store

T0 = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
WINDOW = timedelta(hours=24)
RACERS = 10


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def new_task(created: float = 0, name: str = "report") -> Task:
    return Task.new(name=name, callback_url="http://127.0.0.1:9/hook", now=at(created))


def fresh_key() -> str:
    """A key no other test used: the fixtures empty the task tables, not the keys."""
    return f"key-{uuid4()}"


def add(store: Any, task: Task, key: str, fingerprint: str = "f1", now: float = 0) -> Task:
    """``add_idempotent`` as the service calls it at ``now``, with a 24 h window."""
    result: Task = store.add_idempotent(task, key, fingerprint, at(now) - WINDOW)
    return result


def stored_ids(store: Any) -> list[UUID]:
    return [task.task_id for task in store.list_page(None, 0, 100).tasks]


def race(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run every call at once from its own thread; each result or raised error, in order."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        barrier.wait(30)
        try:
            return call()
        except Exception as exc:  # collected for the assertions
            return exc

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def test_a_new_key_inserts_the_task_and_returns_it(store: Any) -> None:
    task = new_task()

    assert add(store, task, fresh_key()) == task
    assert store.get(task.task_id) == task
    assert store.queued_ids(10) == [task.task_id]


def test_the_same_key_and_fingerprint_return_the_first_task_and_insert_nothing(store: Any) -> None:
    key, first, second = fresh_key(), new_task(), new_task(created=5)
    add(store, first, key)

    assert add(store, second, key, now=5) == first
    with pytest.raises(TaskNotFound):
        store.get(second.task_id)
    assert stored_ids(store) == [first.task_id]


def test_a_replay_returns_the_task_as_it_is_now_even_from_the_archive(store: Any) -> None:
    key, task = fresh_key(), new_task()
    add(store, task, key)
    pending = task.dequeue(at(1))
    store.save(pending)
    assert add(store, new_task(created=2), key, now=2) == pending

    processing = pending.start(at(2), at(60), None)
    store.save(processing)
    outcome = CallbackResult(status_code=200, body="", duration_ms=3, error=None, attempt=1)
    completed = processing.complete(at(3), outcome)
    store.save(completed)
    replayed = add(store, new_task(created=4), key, now=4)
    assert (replayed.task_id, replayed.status) == (task.task_id, TaskStatus.COMPLETED)


def test_the_same_key_with_another_fingerprint_is_a_conflict_naming_the_key(store: Any) -> None:
    key, first, other = fresh_key(), new_task(), new_task(name="other")
    add(store, first, key, "f1")

    with pytest.raises(IdempotencyConflict) as caught:
        add(store, other, key, "f2", now=60)
    assert caught.value.key == key
    assert key in str(caught.value)
    assert stored_ids(store) == [first.task_id]


def test_a_key_recorded_exactly_at_the_window_start_is_still_live(store: Any) -> None:
    key, first = fresh_key(), new_task()
    add(store, first, key)
    window_s = WINDOW.total_seconds()

    assert add(store, new_task(created=window_s), key, now=window_s) == first
    with pytest.raises(IdempotencyConflict):
        add(store, new_task(created=window_s), key, "f2", now=window_s)


def test_an_expired_key_is_taken_over_by_a_new_task(store: Any) -> None:
    key, first = fresh_key(), new_task()
    add(store, first, key, "f1")
    later = WINDOW.total_seconds() + 1
    second = new_task(created=later)

    assert add(store, second, key, "f1", now=later) == second
    assert add(store, new_task(created=later + 1), key, "f1", now=later + 1) == second
    assert set(stored_ids(store)) == {first.task_id, second.task_id}


def test_an_expired_key_may_come_back_with_another_fingerprint(store: Any) -> None:
    key, first = fresh_key(), new_task()
    add(store, first, key, "f1")
    later = WINDOW.total_seconds() + 1
    second = new_task(created=later, name="changed")

    assert add(store, second, key, "f2", now=later) == second
    with pytest.raises(IdempotencyConflict):
        add(store, new_task(created=later + 1), key, "f1", now=later + 1)


@pytest.mark.parametrize(
    ("one", "other"),
    [("Key-A", "key-a"), ("k", "k "), (" k", "k"), ("a-b", "a_b")],
    ids=["case", "trailing-space", "leading-space", "punctuation"],
)
def test_keys_are_compared_exactly(store: Any, one: str, other: str) -> None:
    prefix = fresh_key()
    first, second = new_task(), new_task(created=1)

    assert add(store, first, prefix + one) == first
    assert add(store, second, prefix + other, now=1) == second


def test_a_key_of_255_printable_characters_is_kept_whole(store: Any) -> None:
    key = (fresh_key() + " !~" * 100)[:255]
    first = new_task()
    add(store, first, key)

    assert add(store, new_task(created=1), key, now=1) == first
    assert add(store, new_task(created=1), key[:254], now=1) != first


def test_concurrent_adds_with_one_key_insert_exactly_one_task(store: Any) -> None:
    key = fresh_key()
    tasks = [new_task() for _ in range(RACERS)]

    results = race([lambda t=t: add(store, t, key) for t in tasks])

    winners = {result.task_id for result in results}
    assert len(winners) == 1, results
    assert winners <= {t.task_id for t in tasks}
    assert stored_ids(store) == list(winners)


def test_concurrent_adds_with_one_key_and_different_requests_have_one_winner(store: Any) -> None:
    key = fresh_key()
    calls = [lambda i=i: add(store, new_task(), key, f"f{i}") for i in range(RACERS)]

    results = race(calls)

    created = [r for r in results if isinstance(r, Task)]
    assert len(created) == 1, results
    assert all(isinstance(r, IdempotencyConflict) for r in results if r not in created)
    assert stored_ids(store) == [created[0].task_id]


def test_concurrent_adds_on_an_expired_key_insert_exactly_one_new_task(store: Any) -> None:
    key, old = fresh_key(), new_task()
    add(store, old, key)
    later = WINDOW.total_seconds() + 1

    results = race([lambda: add(store, new_task(created=later), key, now=later)] * RACERS)

    winners = {result.task_id for result in results}
    assert len(winners) == 1, results
    assert set(stored_ids(store)) == {old.task_id, *winners}


# The SQL stores across processes, and with the queue message written in the same transaction.


@pytest.fixture(params=SQL_BACKENDS)
def sql_url(request: pytest.FixtureRequest, databases: ScratchDatabases) -> Iterator[str]:
    """A migrated database of each SQL backend, its task tables empty."""
    url = databases.url(request.param)
    owner = sql_store(url)
    empty_tables(owner.engine)
    owner.close()
    yield url


def _add_in_process(url: str, key: str, start: Any) -> str:
    """One process's idempotent add through a store of its own; returns the task id it got."""
    store = sql_store(url)
    try:
        start.wait(60)
        return str(add(store, new_task(), key).task_id)
    finally:
        store.close()


def test_processes_racing_with_one_key_insert_exactly_one_task(sql_url: str) -> None:
    key, processes = fresh_key(), 4
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        start = manager.Barrier(processes)
        with context.Pool(processes) as pool:
            ids = pool.starmap(_add_in_process, [(sql_url, key, start)] * processes, chunksize=1)

    assert len(set(ids)) == 1
    store = sql_store(sql_url)
    try:
        assert [str(i) for i in stored_ids(store)] == ids[:1]
    finally:
        store.close()


def test_an_enqueuing_store_writes_one_queue_message_per_key(sql_url: str) -> None:
    from taskcore_adapters.sql.store import SqlTaskStore
    from taskcore_adapters.sql.tables import tables

    owner = sql_store(sql_url)
    store = SqlTaskStore(owner.engine, enqueue_on_add=True)
    key = fresh_key()
    try:
        results = race([lambda: add(store, new_task(), key)] * RACERS)
        with owner.engine.connect() as conn:
            queued = conn.execute(sa.select(tables().queue.c.task_id)).scalars().all()
    finally:
        owner.close()

    assert len({r.task_id for r in results}) == 1
    assert queued == [results[0].task_id]


def key_rows(store: Any) -> dict[str, UUID]:
    from taskcore_adapters.sql.tables import tables

    keys = tables().keys
    with store.engine.connect() as conn:
        return {
            key: task_id for key, task_id in conn.execute(sa.select(keys.c.key, keys.c.task_id))
        }


def test_a_key_whose_task_was_deleted_by_hand_is_taken_over(sql_url: str) -> None:
    from taskcore_adapters.sql.tables import tables

    store, key, first = sql_store(sql_url), fresh_key(), new_task()
    try:
        add(store, first, key)
        with store.engine.begin() as conn:
            conn.execute(sa.delete(tables().tasks))
        second = new_task(created=1)

        assert add(store, second, key, now=1) == second
        assert key_rows(store)[key] == second.task_id
    finally:
        store.close()


def test_each_process_deletes_expired_keys_when_it_next_adds_one(sql_url: str) -> None:
    early, late, expired, live = sql_store(sql_url), sql_store(sql_url), fresh_key(), fresh_key()
    try:
        add(early, new_task(), expired)
        add(early, new_task(created=10), live, now=10)
        now = WINDOW.total_seconds() + 5

        add(late, new_task(created=now), fresh_key(), now=now)

        assert expired not in key_rows(late)
        assert live in key_rows(late)
    finally:
        early.close()
        late.close()


def test_a_failing_cleanup_of_expired_keys_does_not_fail_the_create(
    sql_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from taskcore_adapters.sql import statements

    broken = sa.text("DELETE FROM no_such_table")
    monkeypatch.setattr(statements, "delete_keys_before", lambda *_: broken)
    store, task = sql_store(sql_url), new_task()
    try:
        assert add(store, task, fresh_key()) == task
        assert store.get(task.task_id) == task
    finally:
        store.close()
    assert "expired idempotency keys not deleted" in caplog.text


def test_an_insert_that_fails_for_another_reason_is_not_retried_forever(sql_url: str) -> None:
    store, task = sql_store(sql_url), new_task()
    try:
        add(store, task, fresh_key())

        with pytest.raises(StoreUnavailable, match="could not be recorded"):
            add(store, task, fresh_key())  # the task id is taken; the key never shows up
    finally:
        store.close()
