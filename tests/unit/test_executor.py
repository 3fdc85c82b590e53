"""The bounded background executor: a full executor refuses at once instead of queueing."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import pytest

from taskcore.errors import Overloaded
from taskcore_adapters.executor import ThreadPoolBackgroundExecutor


@pytest.fixture
def executor() -> Iterator[ThreadPoolBackgroundExecutor]:
    pool = ThreadPoolBackgroundExecutor(workers=1, backlog=1)
    yield pool
    pool.close()


def wait_for_places(
    executor: ThreadPoolBackgroundExecutor, places: int = 1, timeout: float = 5.0
) -> None:
    """Reserve ``places`` places at once and give them back, retrying until they are free."""
    deadline = time.monotonic() + timeout
    while True:
        slots = []
        try:
            for _ in range(places):
                slots.append(executor.reserve())
            return
        except Overloaded:
            assert time.monotonic() < deadline, "the places were not given back"
            time.sleep(0.01)
        finally:
            for slot in slots:
                slot.cancel()


def test_places_are_workers_plus_backlog_and_one_more_is_overloaded(
    executor: ThreadPoolBackgroundExecutor,
) -> None:
    first, second = executor.reserve(), executor.reserve()
    with pytest.raises(Overloaded):
        executor.reserve()
    first.cancel()
    second.cancel()


def test_cancelling_a_slot_frees_its_place(executor: ThreadPoolBackgroundExecutor) -> None:
    first = executor.reserve()
    executor.reserve().cancel()
    third = executor.reserve()
    for slot in (first, third):
        slot.cancel()


def test_a_slot_runs_its_job_in_the_background_and_then_frees_its_place(
    executor: ThreadPoolBackgroundExecutor,
) -> None:
    gate, done = threading.Event(), threading.Event()
    caller = threading.current_thread()
    ran_on: list[threading.Thread] = []

    def job() -> None:
        ran_on.append(threading.current_thread())
        gate.wait(5)
        done.set()

    executor.reserve().run(job)
    held = executor.reserve()
    with pytest.raises(Overloaded):
        executor.reserve()
    gate.set()
    assert done.wait(5)
    wait_for_places(executor)
    held.cancel()
    assert ran_on and ran_on[0] is not caller


def test_a_failing_job_is_logged_and_frees_its_place(
    executor: ThreadPoolBackgroundExecutor, caplog: pytest.LogCaptureFixture
) -> None:
    def job() -> None:
        raise ValueError("broken job")

    with caplog.at_level(logging.ERROR, logger="taskcore.executor"):
        for _ in range(5):  # more failures than places: each one must give its place back
            executor.reserve().run(job)
            wait_for_places(executor, 2)
    failures = [r for r in caplog.records if r.getMessage() == "background job failed"]
    assert len(failures) == 5
    assert all(r.exc_info and r.exc_info[0] is ValueError for r in failures)


def test_close_waits_for_running_and_waiting_jobs() -> None:
    pool = ThreadPoolBackgroundExecutor(workers=1, backlog=2)
    finished: list[int] = []

    def job(n: int) -> None:
        time.sleep(0.05)
        finished.append(n)

    for n in range(3):
        pool.reserve().run(lambda n=n: job(n))
    pool.close()
    assert finished == [0, 1, 2]
