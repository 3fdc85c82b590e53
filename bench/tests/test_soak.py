"""The soak run's verdict: task accounting, memory trends and the checks built from them."""

from __future__ import annotations

import math

import pytest

from bench.soak.checks import (
    Delivery,
    TaskRow,
    Trend,
    account,
    checks,
    memory_trend,
    passed,
    warmup_s,
)

ALIVE = {
    "api": {"alive": True, "restarted": False},
    "worker-1": {"alive": True, "restarted": False},
}
FLAT = {"api-1": Trend(samples=10, flat=True)}
CLEAN = {"200": 10, "201": 3, "204": 1, "409": 2}


def _series(mib_at: object, seconds: int = 300, every: int = 2) -> list[tuple[float, float]]:
    return [(float(t), mib_at(t)) for t in range(0, seconds + 1, every)]  # type: ignore[operator]


def test_a_flat_series_is_flat_with_a_slope_near_zero() -> None:
    trend = memory_trend(_series(lambda t: 80.0 + (t % 4) * 0.1), warmup_s=60)
    assert trend.flat is True
    assert abs(trend.slope_mib_per_min) < 0.1


def test_a_steady_leak_is_not_flat_and_its_slope_is_per_minute() -> None:
    trend = memory_trend(_series(lambda t: 100.0 + t / 10), warmup_s=60)  # 6 MiB a minute
    assert trend.flat is False
    assert trend.slope_mib_per_min == pytest.approx(6.0)
    assert trend.growth_mib > 10


def test_growth_during_warm_up_is_not_judged() -> None:
    trend = memory_trend(_series(lambda t: 20.0 if t < 60 else 90.0), warmup_s=60)
    assert trend.flat is True
    assert trend.first_mib == trend.last_mib == 90.0


def test_a_small_process_may_grow_a_few_mib_whatever_the_share() -> None:
    trend = memory_trend(_series(lambda t: 20.0 if t < 180 else 24.0), warmup_s=60)
    assert trend.growth_share == pytest.approx(0.2)
    assert trend.flat is True


def test_too_few_samples_judge_nothing_and_fail_the_memory_check() -> None:
    trend = memory_trend([(40.0, 80.0), (42.0, 80.0)], warmup_s=30)
    assert trend.flat is None and math.isnan(trend.growth_mib)
    memory = checks(account([], {}, []), CLEAN, 0, {"api-1": trend}, ALIVE)[-1]
    assert not memory.passed and "not judged" in memory.detail


def test_the_warm_up_is_a_fifth_of_the_load_and_at_least_30_seconds() -> None:
    assert warmup_s(1) == 30
    assert warmup_s(5) == 60


def _clean_run() -> tuple[list[str], dict[str, TaskRow], list[Delivery]]:
    tasks = {
        "done": TaskRow("Completed", 1),
        "failed": TaskRow("Failed", 1, "HTTP 500"),
        "cancelled": TaskRow("Cancelled", 0),
    }
    deliveries = [Delivery("done", 1, "ok"), Delivery("failed", 1, "error")]
    return list(tasks), tasks, deliveries


def test_a_clean_run_passes_every_check() -> None:
    captured, tasks, deliveries = _clean_run()
    accounting = account(captured, tasks, deliveries)
    assert accounting.by_state == {"Completed": 1, "Failed": 1, "Cancelled": 1}
    assert accounting.failure_reasons == {"HTTP 500": 1}
    assert passed(checks(accounting, CLEAN, 0, FLAT, ALIVE))


def test_a_created_task_missing_from_the_store_or_not_final_is_lost() -> None:
    captured, tasks, deliveries = _clean_run()
    tasks["stuck"] = TaskRow("Processing", 1)
    accounting = account([*captured, "stuck", "vanished"], tasks, deliveries)
    assert accounting.lost == ["vanished"]
    assert accounting.not_final == ["stuck"]
    first = checks(accounting, CLEAN, 0, FLAT, ALIVE)[0]
    assert not first.passed and "vanished" in first.detail


def test_a_task_in_the_store_whose_201_was_never_seen_is_counted_not_lost() -> None:
    captured, tasks, deliveries = _clean_run()
    tasks["cut-off"] = TaskRow("Cancelled", 0)
    accounting = account(captured, tasks, deliveries)
    assert accounting.unanswered_creates == 1 and not accounting.lost
    assert passed(checks(accounting, CLEAN, 0, FLAT, ALIVE))


def test_an_attempt_delivered_twice_or_a_second_attempt_fails_the_once_check() -> None:
    captured, tasks, deliveries = _clean_run()
    twice = account(captured, tasks, [*deliveries, Delivery("done", 1, "ok")])
    assert twice.duplicate_deliveries == ["done"]
    again = account(captured, tasks, [*deliveries, Delivery("failed", 2, "ok")])
    assert again.several_attempts == ["failed"]
    for accounting in (twice, again):
        assert not checks(accounting, CLEAN, 0, FLAT, ALIVE)[3].passed


def test_final_states_must_agree_with_the_answers_the_callbacks_got() -> None:
    captured, tasks, _ = _clean_run()
    wrong = [Delivery("done", 1, "error"), Delivery("cancelled", 1, "ok")]
    accounting = account(captured, tasks, wrong)
    assert accounting.completed_without_ok == ["done"]
    assert accounting.cancelled_but_called == ["cancelled"]
    assert accounting.failed_without_call == ["failed"]
    assert not checks(accounting, CLEAN, 0, FLAT, ALIVE)[4].passed


def test_a_failure_after_a_200_that_came_too_late_is_counted_but_allowed() -> None:
    captured, tasks, _ = _clean_run()
    late = [Delivery("done", 1, "ok"), Delivery("failed", 1, "ok")]
    accounting = account(captured, tasks, late)
    assert accounting.failed_after_ok == 1
    assert passed(checks(accounting, CLEAN, 0, FLAT, ALIVE))


@pytest.mark.parametrize(
    ("statuses", "socket_errors", "failing"),
    [
        ({**CLEAN, "503": 1}, 0, {1, 2}),
        ({**CLEAN, "404": 1}, 0, {2}),
        (CLEAN, 3, {2}),
    ],
)
def test_5xx_unexpected_answers_and_socket_errors_fail_their_checks(
    statuses: dict[str, int], socket_errors: int, failing: set[int]
) -> None:
    captured, tasks, deliveries = _clean_run()
    results = checks(account(captured, tasks, deliveries), statuses, socket_errors, FLAT, ALIVE)
    assert {i for i, c in enumerate(results) if not c.passed} == failing


def test_a_process_that_exited_or_was_replaced_fails_the_run() -> None:
    captured, tasks, deliveries = _clean_run()
    accounting = account(captured, tasks, deliveries)
    for change in ({"alive": False}, {"restarted": True}):
        processes = {**ALIVE, "api": {**ALIVE["api"], **change}}
        assert not checks(accounting, CLEAN, 0, FLAT, processes)[5].passed
