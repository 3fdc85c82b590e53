"""The explicit mapping between ``Task`` objects and table rows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from taskcore.status import TaskStatus
from taskcore.task import CallbackResult, Task

TASK_FIELDS = (
    "task_id",
    "name",
    "description",
    "callback_url",
    "payload",
    "priority",
    "created_at",
    "updated_at",
    "dequeued_at",
    "executed_at",
    "completed_at",
    "attempts",
    "result",
    "deadline",
    "token_hash",
    "version",
)


def to_row(task: Task) -> dict[str, Any]:
    """The column values of ``task`` (JSON and timestamps are encoded by the column types)."""
    row = {name: getattr(task, name) for name in TASK_FIELDS}
    row["status"] = task.status.value
    row["callback_result"] = _result_to_json(task.callback_result)
    return row


def to_task(row: Mapping[Any, Any]) -> Task:
    """The ``Task`` a row of ``tasks`` or ``archived_tasks`` holds."""
    values = {name: row[name] for name in TASK_FIELDS}
    return Task(
        **values,
        status=TaskStatus(row["status"]),
        callback_result=_result_from_json(row["callback_result"]),
    )


def _result_to_json(result: CallbackResult | None) -> dict[str, Any] | None:
    if result is None:
        return None
    return {
        "status_code": result.status_code,
        "body": result.body,
        "duration_ms": result.duration_ms,
        "error": result.error,
        "attempt": result.attempt,
    }


def _result_from_json(data: Mapping[str, Any] | None) -> CallbackResult | None:
    if data is None:
        return None
    return CallbackResult(
        status_code=data["status_code"],
        body=data["body"],
        duration_ms=data["duration_ms"],
        error=data["error"],
        attempt=data["attempt"],
    )
