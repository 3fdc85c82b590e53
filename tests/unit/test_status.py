"""The transition table, pinned pair by pair: any change to it must change this file too."""

from __future__ import annotations

import itertools

import pytest

from taskcore.status import TRANSITIONS, TaskStatus, can_move

Q, PE, PR, CO, FA, CA = (
    TaskStatus.QUEUED,
    TaskStatus.PENDING,
    TaskStatus.PROCESSING,
    TaskStatus.COMPLETED,
    TaskStatus.FAILED,
    TaskStatus.CANCELLED,
)

# Every (current, target) pair and whether the table allows it, written out in full.
EXPECTED: dict[tuple[TaskStatus, TaskStatus], bool] = {
    (Q, Q): False, (Q, PE): True, (Q, PR): False, (Q, CO): False, (Q, FA): False, (Q, CA): True,
    (PE, Q): False, (PE, PE): False, (PE, PR): True, (PE, CO): False, (PE, FA): False,
    (PE, CA): True,
    (PR, Q): False, (PR, PE): False, (PR, PR): False, (PR, CO): True, (PR, FA): True,
    (PR, CA): False,
    (CO, Q): False, (CO, PE): False, (CO, PR): False, (CO, CO): False, (CO, FA): False,
    (CO, CA): False,
    (FA, Q): False, (FA, PE): False, (FA, PR): True, (FA, CO): False, (FA, FA): False,
    (FA, CA): False,
    (CA, Q): False, (CA, PE): False, (CA, PR): False, (CA, CO): False, (CA, FA): False,
    (CA, CA): False,
}  # fmt: skip

ALL_PAIRS = list(itertools.product(TaskStatus, TaskStatus))


def test_the_expected_table_covers_all_36_pairs() -> None:
    assert len(ALL_PAIRS) == 36
    assert set(EXPECTED) == set(ALL_PAIRS)


def test_the_table_has_a_row_for_every_status() -> None:
    assert set(TRANSITIONS) == set(TaskStatus)


@pytest.mark.parametrize(("current", "target"), ALL_PAIRS, ids=lambda s: s.value)
def test_each_pair_is_allowed_or_refused_as_the_state_diagram_says(
    current: TaskStatus, target: TaskStatus
) -> None:
    assert can_move(current, target) is EXPECTED[(current, target)]
    assert (target in TRANSITIONS[current]) is EXPECTED[(current, target)]


def test_the_values_are_the_names_the_api_speaks() -> None:
    assert [s.value for s in TaskStatus] == [
        "Queued",
        "Pending",
        "Processing",
        "Completed",
        "Failed",
        "Cancelled",
    ]
    assert TaskStatus("Pending") is TaskStatus.PENDING


@pytest.mark.parametrize(
    ("status", "final"), [(Q, False), (PE, False), (PR, False), (CO, True), (FA, True), (CA, True)]
)
def test_completed_failed_and_cancelled_are_final(status: TaskStatus, final: bool) -> None:
    assert status.is_final is final
