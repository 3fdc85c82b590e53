"""The worker and reaper loops on memory adapters."""

from __future__ import annotations

import threading
import time

import pytest

from taskcore import CallbackRequest, CallbackResult, StoreUnavailable, TaskService, TaskStatus
from taskcore.worker import Reaper, Worker
from taskcore_adapters.executor import ThreadPoolBackgroundExecutor
from taskcore_adapters.memory import MemoryTaskQueue, MemoryTaskStore
from tests.support.clock import SettableClock


class RecordingCallbacks:
    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.calls: list[CallbackRequest] = []
        self._lock = threading.Lock()

    def call(self, request: CallbackRequest) -> CallbackResult:
        with self._lock:
            self.calls.append(request)
        return CallbackResult(self.status, "{}", 1, None, request.attempt)

    def close(self) -> None:
        pass


def make_service(clock: SettableClock, callbacks: RecordingCallbacks) -> TaskService:
    return TaskService(
        MemoryTaskStore(), MemoryTaskQueue(), callbacks, clock, ThreadPoolBackgroundExecutor(2, 2)
    )


def wait_until(predicate, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def test_the_worker_executes_every_queued_task_exactly_once(clock: SettableClock) -> None:
    callbacks = RecordingCallbacks()
    service = make_service(clock, callbacks)
    ids = [
        service.create(name=f"t{i}", callback_url="http://127.0.0.1:9/x").task_id for i in range(60)
    ]
    worker = Worker(service, concurrency=4, idle_wait_s=0.001).start()
    try:
        wait_until(lambda: all(service.get(i).status is TaskStatus.COMPLETED for i in ids))
    finally:
        worker.stop(timeout_s=5)
    assert sorted(str(c.task_id) for c in callbacks.calls) == sorted(str(i) for i in ids)
    assert worker.executed == 60


def test_a_stopped_worker_takes_no_more_tasks(clock: SettableClock) -> None:
    callbacks = RecordingCallbacks()
    service = make_service(clock, callbacks)
    worker = Worker(service, concurrency=2).start()
    worker.stop(timeout_s=5)
    task = service.create(name="late", callback_url="http://127.0.0.1:9/x")
    time.sleep(0.05)
    assert service.get(task.task_id).status is TaskStatus.QUEUED
    assert callbacks.calls == []


def test_run_once_reports_an_empty_queue(clock: SettableClock) -> None:
    service = make_service(clock, RecordingCallbacks())
    assert Worker(service).run_once() is False


def test_a_task_executed_by_someone_else_meanwhile_is_not_executed_again(
    clock: SettableClock,
) -> None:
    callbacks = RecordingCallbacks()
    service = make_service(clock, callbacks)
    task = service.create(name="raced", callback_url="http://127.0.0.1:9/x")
    original = service.queue.receive

    def receive_then_lose_the_race():
        delivery = original()
        if delivery is not None:  # another executor takes the task first
            service.dequeue(delivery.task_id)
            service.execute(delivery.task_id)
        return delivery

    service.queue.receive = receive_then_lose_the_race  # type: ignore[method-assign]
    assert Worker(service).run_once() is False
    assert len(callbacks.calls) == 1
    assert service.get(task.task_id).status is TaskStatus.COMPLETED


def test_the_worker_keeps_running_when_the_store_is_down(clock: SettableClock) -> None:
    service = make_service(clock, RecordingCallbacks())
    failures = []

    def unavailable():
        failures.append(1)
        raise StoreUnavailable("database down")

    service.execute_next = unavailable  # type: ignore[method-assign]
    worker = Worker(service, concurrency=1, idle_wait_s=0.001, max_idle_wait_s=0.002).start()
    wait_until(lambda: len(failures) >= 3)
    worker.stop(timeout_s=5)
    assert not any(t.is_alive() for t in worker._threads)


def test_the_reaper_fails_executions_whose_lease_ran_out(clock: SettableClock) -> None:
    service = make_service(clock, RecordingCallbacks(status=202))
    task = service.create(name="deferred", callback_url="http://127.0.0.1:9/x")
    service.dequeue(task.task_id)
    service.execute(task.task_id)
    assert service.get(task.task_id).status is TaskStatus.PROCESSING
    clock.advance(service.settings.report_timeout_s + 1)
    reaper = Reaper(service, interval_s=0.01).start()
    try:
        wait_until(lambda: service.get(task.task_id).status is TaskStatus.FAILED)
    finally:
        reaper.stop()
    result = service.get(task.task_id).callback_result
    assert result is not None and result.error == "completion report not received"


@pytest.mark.parametrize("error", [StoreUnavailable("down")])
def test_a_failing_reaper_round_does_not_stop_the_reaper(
    clock: SettableClock, error: Exception
) -> None:
    service = make_service(clock, RecordingCallbacks())
    rounds = []

    def failing(limit: int = 100) -> int:
        rounds.append(1)
        raise error

    service.reap_expired = failing  # type: ignore[method-assign]
    reaper = Reaper(service, interval_s=0.005).start()
    wait_until(lambda: len(rounds) >= 3)
    reaper.stop()
