"""Task statuses and the one table of allowed transitions.

Every status change in taskcore is checked against ``TRANSITIONS``; nothing else decides
whether a move is legal.
"""

from __future__ import annotations

from enum import StrEnum


class TaskStatus(StrEnum):
    """The life-cycle states; the values are the names the API speaks."""

    QUEUED = "Queued"
    PENDING = "Pending"
    PROCESSING = "Processing"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELLED = "Cancelled"

    @property
    def is_final(self) -> bool:
        """True for states no move leaves except a manual retry (Failed)."""
        return self in (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED)


TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.QUEUED: frozenset({TaskStatus.PENDING, TaskStatus.CANCELLED}),
    TaskStatus.PENDING: frozenset({TaskStatus.PROCESSING, TaskStatus.CANCELLED}),
    TaskStatus.PROCESSING: frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED}),
    TaskStatus.FAILED: frozenset({TaskStatus.PROCESSING}),
    TaskStatus.COMPLETED: frozenset(),
    TaskStatus.CANCELLED: frozenset(),
}


def can_move(current: TaskStatus, target: TaskStatus) -> bool:
    """Whether the table allows ``current -> target``."""
    return target in TRANSITIONS[current]
