"""The promises of the ``TaskStore`` port, held by every store: memory, SQLite, PostgreSQL
and MariaDB run the same tests."""

from __future__ import annotations

import dataclasses
import functools
import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from taskcore.errors import ConcurrentUpdate, StoreUnavailable, TaskNotFound
from taskcore.status import TaskStatus
from taskcore.task import CallbackResult, Task
from tests.support.backends import is_archived

T0 = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def new_task(created: float = 0, **fields: Any) -> Task:
    task = Task.new(name="report", callback_url="http://127.0.0.1:9/hook", now=at(created))
    return dataclasses.replace(task, **fields)


def outcome(code: int | None = 200, attempt: int = 1) -> CallbackResult:
    return CallbackResult(status_code=code, body="ok", duration_ms=12, error=None, attempt=attempt)


def dequeue(task: Task) -> Task:
    return task.dequeue(at(1))


def start(deadline: float = 60) -> Any:
    return lambda task: task.start(at(2), at(deadline), "ab" * 32)


def complete(task: Task) -> Task:
    return task.complete(at(3), outcome())


PROCESSING = (dequeue, start())
COMPLETED = (*PROCESSING, complete)


def stored_through_moves(store: Any, task: Task, *moves: Any) -> Task:
    """Add ``task`` and save each move in turn; returns the last version."""
    store.add(task)
    for move in moves:
        task = move(task)
        store.save(task)
    return task


def a_task_with_every_field_set() -> Task:
    return Task(
        task_id=uuid4(),
        name="Nightly report — 報表 ✓",
        description="déjà vu\nsecond line",
        callback_url="https://example.test:8443/hooks/done?x=1&y=%20",
        created_at=at(0),
        updated_at=at(5.000001),
        payload={"nested": {"list": [1, 2.5, None, True, "два"]}, "emoji": "🎉"},
        priority=7,
        status=TaskStatus.PROCESSING,
        dequeued_at=at(1),
        executed_at=at(2),
        completed_at=None,
        attempts=3,
        callback_result=CallbackResult(
            status_code=None, body="", duration_ms=10_000, error="timed out", attempt=2
        ),
        result={"rows": 3},
        deadline=at(3600),
        token_hash="f" * 64,
        version=9,
    )


def test_an_added_task_comes_back_with_every_field_equal(store: Any) -> None:
    task = a_task_with_every_field_set()
    store.add(task)
    found = store.get(task.task_id)
    assert found == task
    assert all(
        value.tzinfo is not None and value.utcoffset() == timedelta(0)
        for value in (found.created_at, found.updated_at, found.dequeued_at, found.deadline)
    )


@pytest.mark.parametrize(
    "payload",
    [
        {},
        [],
        {"a": {"b": {"c": [{"d": [1, [2, [3]]]}]}}},
        [1, "two", 3.5, None, False, True, {"k": "v"}],
        "just a string",
        "",
        0,
        -17,
        2**53 + 1,
        3.14159,
        True,
        None,
        {"unicode": "héllo 世界 🎉 \u0000 \\ \" '", "": "empty key"},
    ],
    ids=lambda p: type(p).__name__,
)
def test_every_kind_of_json_payload_comes_back_unchanged(store: Any, payload: Any) -> None:
    task = new_task(payload=payload, result=payload)
    store.add(task)
    found = store.get(task.task_id)
    assert found.payload == payload
    assert type(found.payload) is type(payload)
    assert found.result == payload


def test_a_large_payload_comes_back_unchanged(store: Any) -> None:
    payload = {"blob": "x" * 900_000, "text": "ü" * 10_000}
    task = new_task(payload=payload)
    store.add(task)
    assert store.get(task.task_id).payload == payload


def test_getting_an_unknown_task_raises_task_not_found(store: Any) -> None:
    missing = uuid4()
    with pytest.raises(TaskNotFound) as caught:
        store.get(missing)
    assert caught.value.task_id == missing


def test_saving_the_next_version_persists_the_move(store: Any) -> None:
    task = new_task()
    store.add(task)
    moved = task.dequeue(at(1))
    store.save(moved)
    assert store.get(task.task_id) == moved


def test_saving_a_stale_version_is_refused_with_the_current_status(store: Any) -> None:
    task = new_task()
    store.add(task)
    store.save(task.dequeue(at(1)))
    with pytest.raises(ConcurrentUpdate) as caught:
        store.save(task.cancel(at(2)))
    assert caught.value.task_id == task.task_id
    assert caught.value.current is TaskStatus.PENDING
    assert store.get(task.task_id).status is TaskStatus.PENDING


def test_saving_a_task_that_was_never_added_raises_task_not_found(store: Any) -> None:
    with pytest.raises(TaskNotFound):
        store.save(new_task().dequeue(at(1)))


def test_a_moved_task_keeps_every_field_it_was_given(store: Any) -> None:
    task = stored_through_moves(store, new_task(priority=4), *PROCESSING)
    waiting = task.await_report(at(4), outcome(202), at(600))
    store.save(waiting)
    assert store.get(task.task_id) == waiting


def test_a_completed_task_is_archived_and_still_found(store: Any) -> None:
    task = stored_through_moves(store, new_task(), *PROCESSING)
    done = task.complete(at(3), outcome(), result={"answer": 42})
    store.save(done)
    assert store.get(task.task_id) == done
    assert store.counts()[TaskStatus.COMPLETED] == 1
    assert store.counts()[TaskStatus.PROCESSING] == 0
    assert store.list_page(TaskStatus.COMPLETED, 0, 10).tasks == [done]


def test_completing_with_a_stale_version_changes_nothing(store: Any) -> None:
    task = stored_through_moves(store, new_task(), *PROCESSING)
    failed = task.fail(at(3), outcome(500))
    store.save(failed)
    with pytest.raises(ConcurrentUpdate) as caught:
        store.save(task.complete(at(4), outcome()))
    assert caught.value.current is TaskStatus.FAILED
    assert store.get(task.task_id) == failed
    assert store.counts()[TaskStatus.COMPLETED] == 0


def test_moving_an_archived_task_is_refused_as_completed(store: Any) -> None:
    task = stored_through_moves(store, new_task(), *PROCESSING)
    store.save(task.complete(at(3), outcome()))
    with pytest.raises(ConcurrentUpdate) as caught:
        store.save(task.fail(at(4), outcome(500)))
    assert caught.value.current is TaskStatus.COMPLETED


def five_tasks_in_three_statuses(store: Any) -> list[Task]:
    """Queued, Completed, Pending, Completed, Queued, created one second apart."""
    moves: list[tuple[Any, ...]] = [(), COMPLETED, (dequeue,), COMPLETED, ()]
    return [stored_through_moves(store, new_task(created=10 + i), *moves[i]) for i in range(5)]


def test_the_listing_is_newest_first_across_active_and_archived_tasks(store: Any) -> None:
    tasks = five_tasks_in_three_statuses(store)
    page = store.list_page(None, 0, 10)
    assert page.tasks == tasks[::-1]
    assert page.total == 5


def test_the_listing_pages_with_offset_and_limit_and_counts_everything(store: Any) -> None:
    tasks = five_tasks_in_three_statuses(store)
    newest_first = tasks[::-1]
    pages = [store.list_page(None, offset, 2) for offset in (0, 2, 4, 6)]
    assert [p.tasks for p in pages] == [newest_first[0:2], newest_first[2:4], newest_first[4:], []]
    assert {p.total for p in pages} == {5}


@pytest.mark.parametrize(
    ("status", "positions"),
    [
        (TaskStatus.QUEUED, [4, 0]),
        (TaskStatus.COMPLETED, [3, 1]),
        (TaskStatus.PENDING, [2]),
        (TaskStatus.FAILED, []),
    ],
)
def test_the_listing_filters_by_status(
    store: Any, status: TaskStatus, positions: list[int]
) -> None:
    tasks = five_tasks_in_three_statuses(store)
    page = store.list_page(status, 0, 10)
    assert page.tasks == [tasks[i] for i in positions]
    assert page.total == len(positions)


def test_a_filtered_listing_pages_too(store: Any) -> None:
    tasks = five_tasks_in_three_statuses(store)
    page = store.list_page(TaskStatus.QUEUED, 1, 1)
    assert page.tasks == [tasks[0]]
    assert page.total == 2


def test_expired_returns_processing_tasks_whose_deadline_has_passed(store: Any) -> None:
    late = stored_through_moves(store, new_task(created=1), dequeue, start(50))
    on_time = stored_through_moves(store, new_task(created=2), dequeue, start(60))
    stored_through_moves(store, new_task(created=3), dequeue, start(61))
    stored_through_moves(store, new_task(created=4))
    found = store.expired(at(60), 10)
    assert sorted(found, key=lambda t: t.created_at) == [late, on_time]
    assert len(store.expired(at(60), 1)) == 1
    assert store.expired(at(49), 10) == []


def test_queued_ids_are_oldest_first_and_limited(store: Any) -> None:
    tasks = five_tasks_in_three_statuses(store)
    assert store.queued_ids(10) == [tasks[0].task_id, tasks[4].task_id]
    assert store.queued_ids(1) == [tasks[0].task_id]


def test_counts_cover_every_status_archive_included(store: Any) -> None:
    assert store.counts() == dict.fromkeys(TaskStatus, 0)
    five_tasks_in_three_statuses(store)
    expected = dict.fromkeys(TaskStatus, 0)
    expected.update({TaskStatus.QUEUED: 2, TaskStatus.COMPLETED: 2, TaskStatus.PENDING: 1})
    assert store.counts() == expected


def test_ping_answers(store: Any) -> None:
    store.ping()


def race(moves: list[Any]) -> tuple[int, list[Exception]]:
    """Run every move at once in its own thread; count the winners, collect the losses."""
    barrier = threading.Barrier(len(moves))
    lock = threading.Lock()
    wins: list[int] = []
    losses: list[Exception] = []

    def attempt(move: Any) -> None:
        barrier.wait()
        try:
            move()
        except (ConcurrentUpdate, TaskNotFound) as exc:
            with lock:
                losses.append(exc)
        else:
            with lock:
                wins.append(1)

    threads = [threading.Thread(target=attempt, args=(move,)) for move in moves]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return len(wins), losses


def test_twenty_simultaneous_moves_of_one_task_have_exactly_one_winner(store: Any) -> None:
    task = new_task()
    store.add(task)
    moves = [lambda i=i: store.save(task.dequeue(at(1 + i))) for i in range(20)]
    winners, losses = race(moves)
    assert winners == 1
    assert len(losses) == 19
    assert all(isinstance(loss, ConcurrentUpdate) for loss in losses)
    assert store.get(task.task_id).version == task.version + 1


def test_twenty_simultaneous_completions_archive_the_task_once(store: Any) -> None:
    task = stored_through_moves(store, new_task(), *PROCESSING)
    moves = [lambda i=i: store.save(task.complete(at(3 + i), outcome())) for i in range(20)]
    winners, losses = race(moves)
    assert winners == 1
    assert {loss.current for loss in losses if isinstance(loss, ConcurrentUpdate)} == {
        TaskStatus.COMPLETED
    }
    assert len(losses) == 19
    assert store.list_page(None, 0, 10).total == 1


# --- add_many: a batch of new tasks in one atomic step ----------------------------------------


def test_tasks_added_together_are_stored_as_if_added_one_by_one(store: Any) -> None:
    queued = [new_task(created=i, priority=i, payload=[i]) for i in range(3)]
    processing = a_task_with_every_field_set()
    completed = functools.reduce(lambda task, move: move(task), COMPLETED, new_task(created=5))

    store.add_many([*queued, processing, completed])

    for task in (*queued, processing, completed):
        assert store.get(task.task_id) == task
    assert is_archived(store, completed.task_id)
    assert store.queued_ids(10) == [task.task_id for task in queued]
    expected = dict.fromkeys(TaskStatus, 0)
    expected.update({TaskStatus.QUEUED: 3, TaskStatus.PROCESSING: 1, TaskStatus.COMPLETED: 1})
    assert store.counts() == expected
    assert store.list_page(None, 0, 10).total == 5


def test_a_hundred_tasks_are_added_in_one_call(store: Any) -> None:
    tasks = [new_task(created=i / 1000) for i in range(100)]
    store.add_many(tasks)
    assert store.queued_ids(200) == [task.task_id for task in tasks]


def test_adding_no_tasks_changes_nothing(store: Any) -> None:
    store.add_many([])
    assert store.counts() == dict.fromkeys(TaskStatus, 0)


def test_a_batch_that_fails_part_way_stores_none_of_its_tasks(transactional_store: Any) -> None:
    store = transactional_store
    existing = new_task()
    store.add(existing)
    batch = [new_task(created=1), new_task(created=2), existing]  # the last one's id is taken

    with pytest.raises(StoreUnavailable):
        store.add_many(batch)

    assert store.queued_ids(10) == [existing.task_id]
    with pytest.raises(TaskNotFound):
        store.get(batch[0].task_id)
