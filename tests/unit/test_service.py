"""TaskService use cases on the memory adapters, a settable clock and a scripted callback client."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from taskcore.errors import (
    ConcurrentUpdate,
    InvalidCompletionToken,
    InvalidInput,
    InvalidTask,
    InvalidTransition,
    Overloaded,
    StoreUnavailable,
    TaskNotFound,
)
from taskcore.ports import CallbackRequest
from taskcore.service import ServiceSettings, TaskService, hash_token
from taskcore.status import TaskStatus
from taskcore.task import CallbackResult, Task
from taskcore_adapters.executor import ThreadPoolBackgroundExecutor
from taskcore_adapters.memory import MemoryTaskQueue, MemoryTaskStore
from tests.support.clock import SettableClock

URL = "http://127.0.0.1:9/hook"
Answer = int | None | Exception


class ScriptedCallbacks:
    """A ``CallbackClient`` answering scripted status codes (200 once the script runs out).

    ``None`` means no HTTP answer; an exception is raised, breaking the client's promise.
    ``during_call`` runs inside the call, to stage races with reports and reapers.
    """

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.requests: list[CallbackRequest] = []
        self.during_call: Callable[[CallbackRequest], None] | None = None
        self._lock = threading.Lock()

    def call(self, request: CallbackRequest) -> CallbackResult:
        with self._lock:
            self.requests.append(request)
            answer = self.answers.pop(0) if self.answers else 200
        if self.during_call is not None:
            self.during_call(request)
        if isinstance(answer, Exception):
            raise answer
        ok = answer is not None and 200 <= answer < 300
        error = None if ok else ("connection refused" if answer is None else f"HTTP {answer}")
        return CallbackResult(answer, '{"ok": 1}', 7, error, request.attempt)

    def close(self) -> None:
        """Nothing pooled."""


@pytest.fixture
def store() -> MemoryTaskStore:
    return MemoryTaskStore()


@pytest.fixture
def queue() -> MemoryTaskQueue:
    return MemoryTaskQueue()


@pytest.fixture
def callbacks() -> ScriptedCallbacks:
    return ScriptedCallbacks()


@pytest.fixture
def executor() -> Iterator[ThreadPoolBackgroundExecutor]:
    pool = ThreadPoolBackgroundExecutor(workers=4, backlog=4)
    yield pool
    pool.close()


@pytest.fixture
def service(
    store: MemoryTaskStore,
    queue: MemoryTaskQueue,
    callbacks: ScriptedCallbacks,
    clock: SettableClock,
    executor: ThreadPoolBackgroundExecutor,
) -> TaskService:
    return TaskService(store, queue, callbacks, clock, executor)


def create(service: TaskService, name: str = "job", priority: int = 0) -> Task:
    return service.create(name=name, callback_url=URL, payload={"n": name}, priority=priority)


def pending(service: TaskService, **fields: Any) -> Task:
    return service.dequeue(create(service, **fields).task_id)


def wait_until_settled(service: TaskService, task_id: UUID, timeout: float = 5.0) -> Task:
    deadline = time.monotonic() + timeout
    while (task := service.get(task_id)).status is TaskStatus.PROCESSING:
        assert time.monotonic() < deadline, "the background execution did not finish"
        time.sleep(0.01)
    return task


# --- create, get, list -----------------------------------------------------------------------


def test_create_stores_a_queued_task_and_publishes_it(
    service: TaskService, store: MemoryTaskStore, queue: MemoryTaskQueue, clock: SettableClock
) -> None:
    task = service.create(name=" a ", callback_url=URL, description="d", payload=[1], priority=3)
    assert (task.status, task.name, task.created_at) == (TaskStatus.QUEUED, "a", clock.now())
    assert store.get(task.task_id) == task
    assert len(queue) == 1


def test_create_with_invalid_fields_stores_and_publishes_nothing(
    service: TaskService, store: MemoryTaskStore, queue: MemoryTaskQueue
) -> None:
    with pytest.raises(InvalidTask) as caught:
        service.create(name="", callback_url="ftp://x")
    assert set(caught.value.errors) == {"name", "callback_url"}
    assert store.list_page(None, 0, 10).total == 0
    assert len(queue) == 0


def test_getting_an_unknown_task_raises_task_not_found(service: TaskService) -> None:
    unknown = uuid4()
    with pytest.raises(TaskNotFound) as caught:
        service.get(unknown)
    assert caught.value.task_id == unknown


def test_list_pages_newest_first_and_filters_by_status(service: TaskService) -> None:
    tasks = [create(service, f"t{i}") for i in range(5)]
    service.dequeue(tasks[1].task_id)
    page = service.list(page=2, size=2)
    assert [t.name for t in page.tasks] == ["t2", "t1"]
    assert page.total == 5
    queued = service.list(TaskStatus.QUEUED)
    assert ([t.name for t in queued.tasks], queued.total) == (["t4", "t3", "t2", "t0"], 4)


@pytest.mark.parametrize(
    ("page", "size", "fields"),
    [(0, 20, {"page"}), (1, 0, {"size"}), (1, 101, {"size"}), (-1, 500, {"page", "size"})],
)
def test_bad_paging_raises_invalid_input_naming_the_fields(
    service: TaskService, page: int, size: int, fields: set[str]
) -> None:
    with pytest.raises(InvalidInput) as caught:
        service.list(page=page, size=size)
    assert set(caught.value.errors) == fields


def test_a_page_size_of_100_is_accepted(service: TaskService) -> None:
    assert service.list(size=100).tasks == []


# --- dequeue ---------------------------------------------------------------------------------


def test_dequeue_by_id_makes_the_task_pending_and_removes_its_message(
    service: TaskService, clock: SettableClock
) -> None:
    first, second = create(service, "first"), create(service, "second")
    clock.advance(1)
    taken = service.dequeue(first.task_id)
    assert (taken.status, taken.dequeued_at) == (TaskStatus.PENDING, clock.now())
    assert service.dequeue_next() == service.get(second.task_id)
    assert service.dequeue_next() is None


def test_dequeue_of_an_unknown_task_raises_task_not_found(service: TaskService) -> None:
    with pytest.raises(TaskNotFound):
        service.dequeue(uuid4())


def test_dequeue_of_a_pending_task_is_refused_with_its_status(service: TaskService) -> None:
    task = pending(service)
    with pytest.raises(InvalidTransition) as caught:
        service.dequeue(task.task_id)
    assert (caught.value.current, caught.value.target) == (TaskStatus.PENDING, TaskStatus.PENDING)


def test_dequeue_next_takes_higher_priority_first_then_oldest_first(service: TaskService) -> None:
    for name, priority in [("low1", 0), ("high1", 9), ("low2", 0), ("mid", 5), ("high2", 9)]:
        create(service, name, priority)
    taken = []
    while (task := service.dequeue_next()) is not None:
        assert task.status is TaskStatus.PENDING
        taken.append(task.name)
    assert taken == ["high1", "high2", "mid", "low1", "low2"]


def test_dequeue_next_on_an_empty_queue_returns_none(service: TaskService) -> None:
    assert service.dequeue_next() is None


def test_dequeue_next_skips_messages_of_tasks_no_longer_queued(
    service: TaskService, queue: MemoryTaskQueue
) -> None:
    cancelled, taken, live = create(service, "c"), create(service, "p"), create(service, "live")
    service.cancel(cancelled.task_id)
    service.dequeue(taken.task_id)
    for stale in (cancelled.task_id, taken.task_id, uuid4()):  # duplicates, as brokers deliver
        queue.publish(stale, 9)
    assert service.dequeue_next() == service.get(live.task_id)
    assert service.dequeue_next() is None
    assert len(queue) == 0


class NoDiscardQueue(MemoryTaskQueue):
    """A queue that cannot drop messages, like a broker."""

    def discard(self, task_id: UUID) -> None:
        pass


def test_a_task_cancelled_while_queued_is_never_dequeued_when_the_queue_cannot_discard(
    store: MemoryTaskStore, callbacks: ScriptedCallbacks, clock: SettableClock
) -> None:
    service = TaskService(store, NoDiscardQueue(), callbacks, clock)
    task = create(service)
    service.cancel(task.task_id)
    assert service.dequeue_next() is None
    assert service.get(task.task_id).status is TaskStatus.CANCELLED


class FlakyStore(MemoryTaskStore):
    """Fails the first ``get`` as an unreachable database would."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 1

    def get(self, task_id: UUID) -> Task:
        if self.failures:
            self.failures -= 1
            raise StoreUnavailable("database down")
        return super().get(task_id)


def test_a_store_failure_during_dequeue_next_gives_the_message_back(
    callbacks: ScriptedCallbacks, clock: SettableClock
) -> None:
    store = FlakyStore()
    service = TaskService(store, MemoryTaskQueue(), callbacks, clock)
    task = Task.new(name="n", callback_url=URL, now=clock.now())
    store.add(task)
    service.queue.publish(task.task_id, 0)
    with pytest.raises(StoreUnavailable):
        service.dequeue_next()
    assert service.dequeue_next() == service.get(task.task_id)


# --- execute_next (the worker's step) --------------------------------------------------------


class RecordingStore(MemoryTaskStore):
    """Remembers the status of every task it saved, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.saved: list[TaskStatus] = []

    def save(self, task: Task) -> None:
        super().save(task)
        self.saved.append(task.status)


def test_execute_next_stores_queued_to_processing_once_then_the_outcome(
    callbacks: ScriptedCallbacks, clock: SettableClock
) -> None:
    store = RecordingStore()
    service = TaskService(store, MemoryTaskQueue(), callbacks, clock)
    task = create(service)
    done = service.execute_next()
    assert done is not None and done.task_id == task.task_id
    assert done.status is TaskStatus.COMPLETED
    assert store.saved == [TaskStatus.PROCESSING, TaskStatus.COMPLETED]  # never Pending
    assert (done.dequeued_at, done.attempts) == (done.executed_at, 1)
    [request] = callbacks.requests
    assert hash_token(request.token) == store.get(task.task_id).token_hash
    assert service.execute_next() is None


def test_a_task_taken_by_execute_next_has_a_lease_while_its_callback_runs(
    service: TaskService, callbacks: ScriptedCallbacks, clock: SettableClock
) -> None:
    task = create(service)
    seen: list[Task] = []
    callbacks.during_call = lambda request: seen.append(service.get(request.task_id))
    service.execute_next()
    [during] = seen
    assert during.status is TaskStatus.PROCESSING
    lease = service.settings.callback_timeout_s + service.settings.lease_margin_s
    assert during.deadline == clock.now() + timedelta(seconds=lease)
    assert service.get(task.task_id).deadline is None


def test_execute_next_skips_stale_messages_and_records_failures(
    service: TaskService, queue: MemoryTaskQueue, callbacks: ScriptedCallbacks
) -> None:
    callbacks.answers = [500]
    cancelled, live = create(service, "c"), create(service, "live")
    service.cancel(cancelled.task_id)
    queue.publish(cancelled.task_id, 9)  # a duplicate, as a broker delivers
    failed = service.execute_next()
    assert failed is not None and failed.task_id == live.task_id
    assert failed.status is TaskStatus.FAILED
    assert [r.task_id for r in callbacks.requests] == [live.task_id]
    assert len(queue) == 0


def test_a_store_failure_during_execute_next_gives_the_message_back(
    callbacks: ScriptedCallbacks, clock: SettableClock
) -> None:
    store = FlakyStore()
    service = TaskService(store, MemoryTaskQueue(), callbacks, clock)
    task = Task.new(name="n", callback_url=URL, now=clock.now())
    store.add(task)
    service.queue.publish(task.task_id, 0)
    with pytest.raises(StoreUnavailable):
        service.execute_next()
    assert callbacks.requests == []
    done = service.execute_next()
    assert done is not None and done.status is TaskStatus.COMPLETED


# --- execute ---------------------------------------------------------------------------------


def test_execute_success_completes_and_archives_the_task(
    service: TaskService, store: MemoryTaskStore, callbacks: ScriptedCallbacks, clock: SettableClock
) -> None:
    task = pending(service, name="n")
    clock.advance(2)
    done = service.execute(task.task_id)
    assert done.status is TaskStatus.COMPLETED
    assert (done.executed_at, done.completed_at, done.attempts) == (clock.now(), clock.now(), 1)
    assert done.callback_result == CallbackResult(200, '{"ok": 1}', 7, None, 1)
    assert store.is_archived(task.task_id)
    assert service.get(task.task_id) == done
    [request] = callbacks.requests
    assert (request.task_id, request.name, request.url) == (task.task_id, "n", URL)
    assert (request.payload, request.attempt) == ({"n": "n"}, 1)
    assert done.token_hash == hash_token(request.token)


@pytest.mark.parametrize("answer", [500, 404, 302, None])
def test_execute_with_a_non_2xx_or_no_answer_fails_the_task(
    store: MemoryTaskStore, queue: MemoryTaskQueue, clock: SettableClock, answer: int | None
) -> None:
    service = TaskService(store, queue, ScriptedCallbacks(answer), clock)
    task = pending(service)
    failed = service.execute(task.task_id)
    assert failed.status is TaskStatus.FAILED
    assert failed.callback_result is not None
    assert failed.callback_result.status_code == answer
    assert failed.callback_result.error
    assert failed.deadline is None
    assert not store.is_archived(task.task_id)


def test_a_2xx_answer_carrying_an_error_fails_the_task(
    store: MemoryTaskStore, queue: MemoryTaskQueue, clock: SettableClock
) -> None:
    class Oversized(ScriptedCallbacks):
        def call(self, request: CallbackRequest) -> CallbackResult:
            return CallbackResult(200, "", 1, "response too large", request.attempt)

    service = TaskService(store, queue, Oversized(), clock)
    assert service.execute(pending(service).task_id).status is TaskStatus.FAILED


def test_a_callback_client_that_raises_still_ends_failed(
    store: MemoryTaskStore, queue: MemoryTaskQueue, clock: SettableClock
) -> None:
    service = TaskService(store, queue, ScriptedCallbacks(RuntimeError("boom")), clock)
    failed = service.execute(pending(service).task_id)
    assert failed.status is TaskStatus.FAILED
    assert failed.callback_result == CallbackResult(None, "", 0, "internal error: RuntimeError", 1)


def test_retrying_a_failed_task_counts_a_new_attempt_with_a_new_token(
    store: MemoryTaskStore, queue: MemoryTaskQueue, clock: SettableClock
) -> None:
    callbacks = ScriptedCallbacks(500, 200)
    service = TaskService(store, queue, callbacks, clock)
    task = pending(service)
    assert service.execute(task.task_id).attempts == 1
    retried = service.execute(task.task_id)
    assert (retried.status, retried.attempts) == (TaskStatus.COMPLETED, 2)
    assert [r.attempt for r in callbacks.requests] == [1, 2]
    assert callbacks.requests[0].token != callbacks.requests[1].token


@pytest.mark.parametrize("status", ["Queued", "Completed", "Cancelled"])
def test_execute_is_refused_unless_pending_or_failed(service: TaskService, status: str) -> None:
    task = create(service)
    if status == "Completed":
        service.execute(service.dequeue(task.task_id).task_id)
    elif status == "Cancelled":
        service.cancel(task.task_id)
    with pytest.raises(InvalidTransition) as caught:
        service.execute(task.task_id)
    assert (caught.value.current.value, caught.value.target) == (status, TaskStatus.PROCESSING)


def test_execute_of_an_unknown_task_raises_task_not_found(service: TaskService) -> None:
    with pytest.raises(TaskNotFound):
        service.execute(uuid4())


def test_the_lease_of_an_execution_is_the_callback_timeout_plus_the_margin(
    store: MemoryTaskStore, queue: MemoryTaskQueue, clock: SettableClock
) -> None:
    seen: list[Task] = []
    callbacks = ScriptedCallbacks()
    settings = ServiceSettings(callback_timeout_s=3, lease_margin_s=2)
    service = TaskService(store, queue, callbacks, clock, settings=settings)
    callbacks.during_call = lambda r: seen.append(service.get(r.task_id))
    service.execute(pending(service).task_id)
    assert seen[0].status is TaskStatus.PROCESSING
    assert (seen[0].deadline - clock.now()).total_seconds() == 5  # type: ignore[operator]


# --- deferred completion (202) ---------------------------------------------------------------


@pytest.fixture
def deferred(
    store: MemoryTaskStore, queue: MemoryTaskQueue, clock: SettableClock
) -> tuple[TaskService, ScriptedCallbacks]:
    callbacks = ScriptedCallbacks(202)
    return TaskService(store, queue, callbacks, clock), callbacks


def test_a_202_answer_leaves_the_task_processing_awaiting_a_report(
    deferred: tuple[TaskService, ScriptedCallbacks], clock: SettableClock
) -> None:
    service, _ = deferred
    waiting = service.execute(pending(service).task_id)
    assert waiting.status is TaskStatus.PROCESSING
    assert waiting.awaiting_report
    assert waiting.deadline == clock.now() + timedelta(seconds=ServiceSettings().report_timeout_s)


def test_a_report_with_the_right_token_completes_and_archives_the_task(
    deferred: tuple[TaskService, ScriptedCallbacks], store: MemoryTaskStore
) -> None:
    service, callbacks = deferred
    task = service.execute(pending(service).task_id)
    done = service.complete(task.task_id, callbacks.requests[0].token, True, {"rows": 3})
    assert (done.status, done.result) == (TaskStatus.COMPLETED, {"rows": 3})
    assert done.callback_result is not None and done.callback_result.status_code == 202
    assert store.is_archived(task.task_id)


def test_a_failure_report_fails_the_task_and_says_the_receiver_reported_it(
    deferred: tuple[TaskService, ScriptedCallbacks],
) -> None:
    service, callbacks = deferred
    task = service.execute(pending(service).task_id)
    failed = service.complete(task.task_id, callbacks.requests[0].token, False, "disk full")
    assert (failed.status, failed.result) == (TaskStatus.FAILED, "disk full")
    assert failed.callback_result is not None
    assert (failed.callback_result.status_code, failed.callback_result.error) == (
        202,
        "receiver reported failure",
    )


def test_a_report_with_a_wrong_token_is_refused_and_changes_nothing(
    deferred: tuple[TaskService, ScriptedCallbacks],
) -> None:
    service, _ = deferred
    task = service.execute(pending(service).task_id)
    with pytest.raises(InvalidCompletionToken):
        service.complete(task.task_id, "not-the-token", True)
    assert service.get(task.task_id) == task


def test_a_report_for_a_task_that_was_never_started_is_refused(service: TaskService) -> None:
    task = pending(service)
    with pytest.raises(InvalidCompletionToken):
        service.complete(task.task_id, "", True)


def test_a_second_report_after_completion_is_an_invalid_transition(
    deferred: tuple[TaskService, ScriptedCallbacks],
) -> None:
    service, callbacks = deferred
    task = service.execute(pending(service).task_id)
    token = callbacks.requests[0].token
    service.complete(task.task_id, token, True)
    with pytest.raises(InvalidTransition) as caught:
        service.complete(task.task_id, token, False)
    assert caught.value.current is TaskStatus.COMPLETED


def test_a_report_arriving_before_the_202_is_recorded_wins(
    deferred: tuple[TaskService, ScriptedCallbacks], store: MemoryTaskStore
) -> None:
    service, callbacks = deferred
    callbacks.during_call = lambda r: service.complete(r.task_id, r.token, True, "early")
    result = service.execute(pending(service).task_id)
    assert (result.status, result.result) == (TaskStatus.COMPLETED, "early")
    assert service.get(result.task_id) == result
    assert store.is_archived(result.task_id)


def test_the_old_token_is_useless_after_a_retry(
    store: MemoryTaskStore, queue: MemoryTaskQueue, clock: SettableClock
) -> None:
    callbacks = ScriptedCallbacks(500, 202)
    service = TaskService(store, queue, callbacks, clock)
    task = pending(service)
    service.execute(task.task_id)
    service.execute(task.task_id)
    with pytest.raises(InvalidCompletionToken):
        service.complete(task.task_id, callbacks.requests[0].token, True)
    assert service.complete(task.task_id, callbacks.requests[1].token, True).attempts == 2


# --- execute_async ---------------------------------------------------------------------------


def test_execute_async_answers_processing_at_once_and_finishes_in_the_background(
    service: TaskService, callbacks: ScriptedCallbacks
) -> None:
    gate = threading.Event()
    callbacks.during_call = lambda r: gate.wait(5)
    task = pending(service)
    started = service.execute_async(task.task_id)
    assert (started.status, started.attempts) == (TaskStatus.PROCESSING, 1)
    gate.set()
    done = wait_until_settled(service, task.task_id)
    assert done.status is TaskStatus.COMPLETED
    assert len(callbacks.requests) == 1


def test_execute_async_when_the_executor_is_full_is_overloaded_and_leaves_the_task_unchanged(
    store: MemoryTaskStore, queue: MemoryTaskQueue, clock: SettableClock
) -> None:
    executor = ThreadPoolBackgroundExecutor(workers=1, backlog=0)
    service = TaskService(store, queue, ScriptedCallbacks(), clock, executor)
    task = pending(service)
    held = executor.reserve()
    try:
        with pytest.raises(Overloaded):
            service.execute_async(task.task_id)
        assert service.get(task.task_id) == task
    finally:
        held.cancel()
        executor.close()


def test_a_refused_execute_async_gives_its_executor_place_back(
    store: MemoryTaskStore, queue: MemoryTaskQueue, clock: SettableClock
) -> None:
    executor = ThreadPoolBackgroundExecutor(workers=1, backlog=0)
    service = TaskService(store, queue, ScriptedCallbacks(), clock, executor)
    queued = create(service)
    try:
        with pytest.raises(InvalidTransition):
            service.execute_async(queued.task_id)
        executor.reserve().cancel()  # the place is free again
    finally:
        executor.close()


def test_execute_async_without_an_executor_is_a_programming_error(
    store: MemoryTaskStore, queue: MemoryTaskQueue, clock: SettableClock
) -> None:
    service = TaskService(store, queue, ScriptedCallbacks(), clock)
    with pytest.raises(RuntimeError):
        service.execute_async(pending(service).task_id)


# --- cancel ----------------------------------------------------------------------------------


def test_cancelling_a_queued_task_removes_it_from_the_queue(
    service: TaskService, queue: MemoryTaskQueue, clock: SettableClock
) -> None:
    task = create(service)
    clock.advance(1)
    cancelled = service.cancel(task.task_id)
    assert (cancelled.status, cancelled.updated_at) == (TaskStatus.CANCELLED, clock.now())
    assert len(queue) == 0
    assert service.dequeue_next() is None


def test_cancelling_a_pending_task_cancels_it(service: TaskService) -> None:
    assert service.cancel(pending(service).task_id).status is TaskStatus.CANCELLED


def test_cancelling_a_cancelled_task_again_changes_nothing(service: TaskService) -> None:
    cancelled = service.cancel(create(service).task_id)
    assert service.cancel(cancelled.task_id) == cancelled


@pytest.mark.parametrize("answer", [200, 500, 202])
def test_cancelling_a_started_task_is_refused(
    store: MemoryTaskStore, queue: MemoryTaskQueue, clock: SettableClock, answer: int
) -> None:
    service = TaskService(store, queue, ScriptedCallbacks(answer), clock)
    task = service.execute(pending(service).task_id)
    with pytest.raises(InvalidTransition) as caught:
        service.cancel(task.task_id)
    assert (caught.value.current, caught.value.target) == (task.status, TaskStatus.CANCELLED)
    assert service.get(task.task_id) == task


def test_cancelling_an_unknown_task_raises_task_not_found(service: TaskService) -> None:
    with pytest.raises(TaskNotFound):
        service.cancel(uuid4())


# --- reaping and republishing ----------------------------------------------------------------


def test_an_execution_past_its_lease_is_reaped_once_as_execution_lost(
    service: TaskService, callbacks: ScriptedCallbacks, clock: SettableClock
) -> None:
    in_call, release = threading.Event(), threading.Event()
    callbacks.during_call = lambda r: (in_call.set(), release.wait(5))
    task = pending(service)
    service.execute_async(task.task_id)
    assert in_call.wait(5)
    clock.advance(14.9)
    assert service.reap_expired() == 0
    clock.advance(0.1)
    assert service.reap_expired() == 1
    assert service.reap_expired() == 0
    reaped = service.get(task.task_id)
    assert reaped.status is TaskStatus.FAILED
    assert reaped.callback_result == CallbackResult(None, "", 0, "execution lost", 1)
    release.set()
    assert wait_until_settled(service, task.task_id) == reaped  # the late answer loses


def test_a_202_without_a_report_by_the_deadline_is_reaped(
    deferred: tuple[TaskService, ScriptedCallbacks], clock: SettableClock
) -> None:
    service, _ = deferred
    task = service.execute(pending(service).task_id)
    clock.advance(3599)
    assert service.reap_expired() == 0
    clock.advance(1)
    assert service.reap_expired() == 1
    assert service.reap_expired() == 0
    reaped = service.get(task.task_id)
    assert reaped.status is TaskStatus.FAILED
    assert reaped.callback_result is not None
    assert reaped.callback_result.error == "completion report not received"


class DoubleVisionStore(MemoryTaskStore):
    """Reports every expired task twice, as two reapers racing would see it."""

    def expired(self, now: Any, limit: int) -> list[Task]:
        found = super().expired(now, limit)
        return found + found


def test_two_reapers_seeing_the_same_task_fail_it_exactly_once(
    queue: MemoryTaskQueue, clock: SettableClock
) -> None:
    store = DoubleVisionStore()
    service = TaskService(store, queue, ScriptedCallbacks(202), clock)
    task = service.execute(pending(service).task_id)
    clock.advance(3600)
    assert service.reap_expired() == 1
    assert service.get(task.task_id).status is TaskStatus.FAILED


def test_reap_expired_respects_its_limit(
    store: MemoryTaskStore, queue: MemoryTaskQueue, clock: SettableClock
) -> None:
    service = TaskService(store, queue, ScriptedCallbacks(202, 202, 202), clock)
    for _ in range(3):
        service.execute(pending(service).task_id)
    clock.advance(3600)
    assert service.reap_expired(limit=2) == 2
    assert service.reap_expired(limit=2) == 1


def test_republish_queued_restores_lost_messages_in_priority_order(
    service: TaskService, store: MemoryTaskStore, callbacks: ScriptedCallbacks, clock: SettableClock
) -> None:
    low, high = create(service, "low", 1), create(service, "high", 8)
    pending(service, name="taken")
    restarted = TaskService(store, MemoryTaskQueue(), callbacks, clock)  # the messages are gone
    assert restarted.dequeue_next() is None
    assert restarted.republish_queued() == 2
    assert [restarted.dequeue_next(), restarted.dequeue_next(), restarted.dequeue_next()] == [
        restarted.get(high.task_id),
        restarted.get(low.task_id),
        None,
    ]


# --- concurrency -----------------------------------------------------------------------------


def race(threads: int, action: Callable[[], object]) -> tuple[list[object], list[Exception]]:
    """Run ``action`` from ``threads`` threads released together; collect results and errors."""
    barrier = threading.Barrier(threads)
    results: list[object] = []
    errors: list[Exception] = []
    lock = threading.Lock()

    def run() -> None:
        barrier.wait()
        try:
            outcome = action()
        except Exception as exc:
            with lock:
                errors.append(exc)
        else:
            with lock:
                results.append(outcome)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    return results, errors


def test_fifty_simultaneous_dequeues_of_one_task_have_exactly_one_winner(
    service: TaskService,
) -> None:
    task = create(service)
    winners, losers = race(50, lambda: service.dequeue(task.task_id))
    assert len(winners) == 1 and len(losers) == 49
    assert all(isinstance(e, InvalidTransition | ConcurrentUpdate) for e in losers)
    assert service.get(task.task_id).version == 2


def test_twenty_simultaneous_executes_of_one_task_call_back_once(
    service: TaskService, callbacks: ScriptedCallbacks
) -> None:
    task = pending(service)
    winners, losers = race(20, lambda: service.execute(task.task_id))
    assert len(winners) == 1 and len(losers) == 19
    assert all(isinstance(e, InvalidTransition | ConcurrentUpdate) for e in losers)
    assert len(callbacks.requests) == 1
    assert service.get(task.task_id).status is TaskStatus.COMPLETED


def test_two_hundred_creates_from_twenty_threads_give_two_hundred_distinct_tasks(
    service: TaskService, queue: MemoryTaskQueue
) -> None:
    made, errors = race(20, lambda: [create(service).task_id for _ in range(10)])
    ids = {task_id for batch in made for task_id in batch}  # type: ignore[attr-defined]
    assert errors == []
    assert len(ids) == 200
    assert service.list().total == 200
    assert len(queue) == 200
