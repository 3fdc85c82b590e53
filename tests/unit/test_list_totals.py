"""``ListTotals``: exact totals while small; large ones served from a recent count."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from taskcore.errors import StoreUnavailable
from taskcore.status import TaskStatus
from taskcore_adapters.sql.totals import ListTotals


class Counter:
    """A count function with a settable answer, recording each call."""

    def __init__(self, answer: int) -> None:
        self.answer = answer
        self.calls: list[TaskStatus | None] = []
        self.failure: Exception | None = None
        self.done = threading.Event()

    def __call__(self, status: TaskStatus | None) -> int:
        self.calls.append(status)
        self.done.set()
        if self.failure is not None:
            raise self.failure
        return self.answer


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def totals_for(counter: Counter, clock: Clock, max_age_s: float = 1.0) -> Iterator[ListTotals]:
    totals = ListTotals(counter, max_age_s=max_age_s, exact_below=1000, clock=clock)
    yield totals
    totals.close()


def recount_seen(counter: Counter, totals: ListTotals) -> None:
    assert counter.done.wait(5)
    totals.close()  # waits for the background recount to finish


def test_small_totals_are_counted_on_every_call(clock: Clock) -> None:
    counter = Counter(999)
    for totals in totals_for(counter, clock):
        assert [totals.total(None), totals.total(None)] == [999, 999]
        counter.answer = 5
        assert totals.total(None) == 5
    assert counter.calls == [None, None, None]


def test_a_large_total_is_served_from_the_last_count_until_it_is_old(clock: Clock) -> None:
    counter = Counter(5000)
    for totals in totals_for(counter, clock):
        assert totals.total(TaskStatus.QUEUED) == 5000
        counter.answer = 5001
        clock.now += 0.5
        assert totals.total(TaskStatus.QUEUED) == 5000
        assert counter.calls == [TaskStatus.QUEUED]


def test_an_old_large_total_is_recounted_in_the_background(clock: Clock) -> None:
    counter = Counter(5000)
    for totals in totals_for(counter, clock):
        totals.total(None)
        counter.answer, counter.done = 7000, threading.Event()
        clock.now += 1.0
        assert totals.total(None) == 5000  # the caller does not wait for the recount
        recount_seen(counter, totals)
        assert counter.calls == [None, None]
        assert totals.total(None) == 7000


def test_each_filter_has_its_own_total(clock: Clock) -> None:
    counter = Counter(5000)
    for totals in totals_for(counter, clock):
        totals.total(None)
        counter.answer = 3
        assert totals.total(TaskStatus.FAILED) == 3
        assert totals.total(None) == 5000


def test_a_failed_background_recount_keeps_the_last_total(clock: Clock) -> None:
    counter = Counter(5000)
    for totals in totals_for(counter, clock):
        totals.total(None)
        counter.failure, counter.done = StoreUnavailable("down"), threading.Event()
        clock.now += 2
        assert totals.total(None) == 5000
        recount_seen(counter, totals)
        assert totals.total(None) == 5000


def test_a_failed_first_count_raises(clock: Clock) -> None:
    counter = Counter(5000)
    counter.failure = StoreUnavailable("down")
    for totals in totals_for(counter, clock):
        with pytest.raises(StoreUnavailable):
            totals.total(None)


def test_a_max_age_of_zero_counts_every_time(clock: Clock) -> None:
    counter = Counter(5000)
    for totals in totals_for(counter, clock, max_age_s=0):
        totals.total(None)
        counter.answer = 6000
        assert totals.total(None) == 6000
