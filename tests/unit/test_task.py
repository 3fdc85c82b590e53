"""The Task value object: the rules for a new task and every named move."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from taskcore.errors import InvalidTask, InvalidTransition
from taskcore.status import TaskStatus
from taskcore.task import CallbackResult, Task, check_callback_url, check_new_task

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
T1 = T0 + timedelta(seconds=1)
T2 = T0 + timedelta(seconds=2)
URL = "http://127.0.0.1:8000/hook"


def new_task(**fields: object) -> Task:
    values: dict[str, object] = {"name": "build", "callback_url": URL, "now": T0}
    values.update(fields)
    return Task.new(**values)  # type: ignore[arg-type]


def in_status(status: TaskStatus, **fields: object) -> Task:
    return dataclasses.replace(new_task(), status=status, **fields)


def outcome(code: int | None = 200, attempt: int = 1, error: str | None = None) -> CallbackResult:
    return CallbackResult(status_code=code, body="{}", duration_ms=3, error=error, attempt=attempt)


# --- Task.new and check_new_task -------------------------------------------------------------


def test_a_new_task_is_queued_with_defaults_and_the_given_time() -> None:
    task = new_task()
    assert task.status is TaskStatus.QUEUED
    assert isinstance(task.task_id, UUID)
    assert (task.created_at, task.updated_at) == (T0, T0)
    assert (task.description, task.payload, task.priority) == ("", {}, 0)
    assert (task.attempts, task.version, task.callback_result) == (0, 1, None)
    assert task.dequeued_at is task.executed_at is task.completed_at is task.deadline is None


def test_a_new_task_trims_its_name_and_keeps_the_given_fields() -> None:
    task_id = uuid4()
    task = new_task(name="  build  ", description="d", payload=[1], priority=9, task_id=task_id)
    assert task.name == "build"
    assert (task.description, task.payload, task.priority) == ("d", [1], 9)
    assert task.task_id == task_id


def test_two_new_tasks_get_distinct_ids() -> None:
    assert new_task().task_id != new_task().task_id


@pytest.mark.parametrize("payload", [0, "", False, [], None])
def test_a_falsy_payload_is_kept_except_none_which_becomes_an_empty_object(
    payload: object,
) -> None:
    assert new_task(payload=payload).payload == ({} if payload is None else payload)


@pytest.mark.parametrize("name", ["a", "x" * 200, "  " + "x" * 200 + "  "])
def test_names_of_1_to_200_characters_after_trimming_are_accepted(name: str) -> None:
    assert check_new_task(name, URL) == {}


@pytest.mark.parametrize("name", ["", "   ", "\t\n", "x" * 201, None, 5])
def test_names_empty_after_trimming_too_long_or_not_text_are_refused(name: object) -> None:
    assert set(check_new_task(name, URL)) == {"name"}


@pytest.mark.parametrize("description", ["", "x" * 2000])
def test_descriptions_up_to_2000_characters_are_accepted(description: str) -> None:
    assert check_new_task("n", URL, description) == {}


@pytest.mark.parametrize("description", ["x" * 2001, None, 3])
def test_descriptions_too_long_or_not_text_are_refused(description: object) -> None:
    assert set(check_new_task("n", URL, description)) == {"description"}


@pytest.mark.parametrize("priority", [0, 5, 9])
def test_priorities_0_to_9_are_accepted(priority: int) -> None:
    assert check_new_task("n", URL, "", priority) == {}


@pytest.mark.parametrize("priority", [-1, 10, True, False, 1.0, "1", None])
def test_priorities_out_of_range_or_not_plain_integers_are_refused(priority: object) -> None:
    assert set(check_new_task("n", URL, "", priority)) == {"priority"}


@pytest.mark.parametrize(
    "url",
    [
        "http://example.test",
        "https://example.test:8443/a/b?c=d#e",
        "http://127.0.0.1:9/x",
        "http://[::1]:80/",
        "https://h/" + "x" * (2048 - len("https://h/")),
    ],
)
def test_absolute_http_and_https_urls_with_a_host_are_accepted(url: str) -> None:
    assert check_callback_url(url) is None


@pytest.mark.parametrize(
    ("url", "why"),
    [
        (None, "absolute"),
        ("", "absolute"),
        (42, "absolute"),
        ("https://h/" + "x" * 2048, "at most 2048"),
        ("http://h/a b", "whitespace"),
        ("http://h/\x00", "control"),
        ("http://h/\x7f", "control"),
        ("http://h:99999/", "not a valid URL"),
        ("http://[::1/", "not a valid URL"),
        ("ftp://h/", "scheme"),
        ("javascript:alert(1)", "scheme"),
        ("/relative/path", "scheme"),
        ("http://", "host"),
        ("http:///path", "host"),
        ("http://user:secret@h/", "credentials"),
        ("http://user@h/", "credentials"),
        ("http://h:0/", "port 0"),
    ],
)
def test_callback_urls_that_are_not_absolute_http_with_a_host_are_refused(
    url: object, why: str
) -> None:
    problem = check_callback_url(url)
    assert problem is not None
    assert why.lower() in problem.lower()
    assert set(check_new_task("n", url)) == {"callback_url"}


def test_every_broken_rule_is_reported_at_once() -> None:
    errors = check_new_task("", "ftp://h", "x" * 2001, 10)
    assert set(errors) == {"name", "description", "callback_url", "priority"}
    assert all(isinstance(m, list) and m for m in errors.values())


def test_task_new_raises_invalid_task_naming_each_bad_field() -> None:
    with pytest.raises(InvalidTask) as caught:
        new_task(name=" ", callback_url="nope", priority=11)
    assert set(caught.value.errors) == {"name", "callback_url", "priority"}
    assert "callback_url" in str(caught.value)


# --- moves -----------------------------------------------------------------------------------


def test_dequeue_moves_queued_to_pending_and_stamps_dequeued_at() -> None:
    task = new_task()
    moved = task.dequeue(T1)
    assert moved.status is TaskStatus.PENDING
    assert (moved.dequeued_at, moved.updated_at, moved.version) == (T1, T1, 2)
    assert moved.created_at == T0


def test_start_opens_a_new_attempt_with_a_deadline_and_a_token() -> None:
    pending = new_task().dequeue(T1)
    started = pending.start(T2, T2 + timedelta(seconds=15), "hash")
    assert started.status is TaskStatus.PROCESSING
    assert (started.executed_at, started.updated_at) == (T2, T2)
    assert (started.attempts, started.version) == (1, 3)
    assert (started.deadline, started.token_hash) == (T2 + timedelta(seconds=15), "hash")


def test_take_dequeues_and_starts_in_one_version_step() -> None:
    taken = new_task().take(T1, T2, "hash")
    assert taken.status is TaskStatus.PROCESSING
    assert (taken.dequeued_at, taken.executed_at, taken.updated_at) == (T1, T1, T1)
    assert (taken.attempts, taken.deadline, taken.token_hash) == (1, T2, "hash")
    assert taken.version == 2  # one compare-and-set stores both moves


@pytest.mark.parametrize("status", [s for s in TaskStatus if s is not TaskStatus.QUEUED])
def test_only_a_queued_task_can_be_taken(status: TaskStatus) -> None:
    with pytest.raises(InvalidTransition):
        in_status(status).take(T1, T2, "hash")


def test_starting_a_failed_task_again_counts_a_new_attempt_and_clears_the_old_outcome() -> None:
    failed = in_status(TaskStatus.FAILED, attempts=1, callback_result=outcome(500), result="r")
    retried = failed.start(T2, T2, "h2")
    assert retried.status is TaskStatus.PROCESSING
    assert (retried.attempts, retried.callback_result, retried.result) == (2, None, None)


def test_complete_stamps_completed_at_clears_the_deadline_and_keeps_the_outcome() -> None:
    started = new_task().dequeue(T0).start(T0, T2, "h")
    done = started.complete(T1, outcome(200), result={"ok": True})
    assert done.status is TaskStatus.COMPLETED
    assert (done.completed_at, done.updated_at, done.deadline) == (T1, T1, None)
    assert done.callback_result == outcome(200)
    assert done.result == {"ok": True}
    assert done.version == started.version + 1


def test_complete_without_an_outcome_keeps_the_recorded_one() -> None:
    waiting = in_status(TaskStatus.PROCESSING, callback_result=outcome(202))
    assert waiting.complete(T1, None).callback_result == outcome(202)


def test_fail_records_the_outcome_and_clears_the_deadline() -> None:
    started = new_task().dequeue(T0).start(T0, T2, "h")
    failed = started.fail(T1, outcome(500, error="HTTP 500"))
    assert failed.status is TaskStatus.FAILED
    assert (failed.updated_at, failed.deadline, failed.completed_at) == (T1, None, None)
    assert failed.callback_result == outcome(500, error="HTTP 500")


def test_fail_without_an_outcome_keeps_the_recorded_one() -> None:
    waiting = in_status(TaskStatus.PROCESSING, callback_result=outcome(202))
    assert waiting.fail(T1, None, result="no").callback_result == outcome(202)


@pytest.mark.parametrize("status", [TaskStatus.QUEUED, TaskStatus.PENDING])
def test_cancel_moves_queued_and_pending_tasks_to_cancelled(status: TaskStatus) -> None:
    cancelled = in_status(status).cancel(T1)
    assert (cancelled.status, cancelled.updated_at, cancelled.version) == (
        TaskStatus.CANCELLED,
        T1,
        2,
    )


def test_await_report_keeps_processing_records_the_202_and_extends_the_lease() -> None:
    started = new_task().dequeue(T0).start(T0, T1, "h")
    waiting = started.await_report(T1, outcome(202), T2 + timedelta(hours=1))
    assert waiting.status is TaskStatus.PROCESSING
    assert waiting.callback_result == outcome(202)
    assert waiting.deadline == T2 + timedelta(hours=1)
    assert (waiting.updated_at, waiting.version) == (T1, started.version + 1)


@pytest.mark.parametrize(
    "status", [s for s in TaskStatus if s is not TaskStatus.PROCESSING], ids=str
)
def test_await_report_is_refused_unless_processing(status: TaskStatus) -> None:
    task = in_status(status)
    with pytest.raises(InvalidTransition) as caught:
        task.await_report(T1, outcome(202), T2)
    assert (caught.value.current, caught.value.target) == (status, TaskStatus.PROCESSING)


MOVES: dict[str, tuple[TaskStatus, Callable[[Task], Task]]] = {
    "dequeue": (TaskStatus.PENDING, lambda t: t.dequeue(T1)),
    "start": (TaskStatus.PROCESSING, lambda t: t.start(T1, T2, "h")),
    "complete": (TaskStatus.COMPLETED, lambda t: t.complete(T1, outcome())),
    "fail": (TaskStatus.FAILED, lambda t: t.fail(T1, outcome(500))),
    "cancel": (TaskStatus.CANCELLED, lambda t: t.cancel(T1)),
}
ALLOWED_FROM = {
    "dequeue": (TaskStatus.QUEUED,),
    "start": (TaskStatus.PENDING, TaskStatus.FAILED),
    "complete": (TaskStatus.PROCESSING,),
    "fail": (TaskStatus.PROCESSING,),
    "cancel": (TaskStatus.QUEUED, TaskStatus.PENDING),
}
REFUSED = [
    (move, status) for move in MOVES for status in TaskStatus if status not in ALLOWED_FROM[move]
]
ALLOWED = [(move, status) for move in MOVES for status in ALLOWED_FROM[move]]


@pytest.mark.parametrize(("move", "status"), ALLOWED, ids=str)
def test_each_allowed_move_reaches_its_target_and_bumps_the_version(
    move: str, status: TaskStatus
) -> None:
    target, apply = MOVES[move]
    task = in_status(status)
    moved = apply(task)
    assert (moved.status, moved.version, moved.updated_at) == (target, task.version + 1, T1)
    assert task.status is status


@pytest.mark.parametrize(("move", "status"), REFUSED, ids=str)
def test_each_refused_move_raises_invalid_transition_and_changes_nothing(
    move: str, status: TaskStatus
) -> None:
    target, apply = MOVES[move]
    task = in_status(status)
    before = dataclasses.asdict(task)
    with pytest.raises(InvalidTransition) as caught:
        apply(task)
    assert (caught.value.task_id, caught.value.current, caught.value.target) == (
        task.task_id,
        status,
        target,
    )
    assert status.value in str(caught.value)
    assert dataclasses.asdict(task) == before


def test_a_task_is_frozen() -> None:
    task = new_task()
    with pytest.raises(dataclasses.FrozenInstanceError):
        task.status = TaskStatus.COMPLETED  # type: ignore[misc]


# --- awaiting_report -------------------------------------------------------------------------


def test_a_processing_task_whose_current_attempt_got_202_awaits_a_report() -> None:
    task = in_status(TaskStatus.PROCESSING, attempts=2, callback_result=outcome(202, attempt=2))
    assert task.awaiting_report


@pytest.mark.parametrize(
    ("status", "result"),
    [
        (TaskStatus.PROCESSING, None),
        (TaskStatus.PROCESSING, outcome(200, attempt=2)),
        (TaskStatus.PROCESSING, outcome(202, attempt=1)),
        (TaskStatus.COMPLETED, outcome(202, attempt=2)),
        (TaskStatus.FAILED, outcome(202, attempt=2)),
    ],
)
def test_other_tasks_do_not_await_a_report(
    status: TaskStatus, result: CallbackResult | None
) -> None:
    assert not in_status(status, attempts=2, callback_result=result).awaiting_report
