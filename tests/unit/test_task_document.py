"""The API answers with ``task_document``; ``TaskSchema`` (the OpenAPI definition) must agree."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from taskcore.task import CallbackResult, Task
from taskcore_flask.api.v1.schemas import TaskSchema, task_document

T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
LATER = T0 + timedelta(seconds=2)
ANSWER = CallbackResult(status_code=500, body="nope", duration_ms=12, error="HTTP 500", attempt=1)


def a_task(**fields: Any) -> Task:
    return Task.new(
        name="résumé",
        callback_url="http://127.0.0.1:9/hook",
        description="d",
        payload=fields.pop("payload", {"n": [1, 2.5, None, "é"]}),
        priority=3,
        now=fields.pop("now", T0),
    )


def tasks_in_every_state() -> dict[str, Task]:
    queued = a_task()
    pending = queued.dequeue(LATER)
    processing = pending.start(LATER, LATER + timedelta(seconds=15), "hash")
    return {
        "queued": queued,
        "pending": pending,
        "processing": processing,
        "deferred": processing.await_report(LATER, ANSWER, LATER + timedelta(hours=1)),
        "completed": processing.complete(LATER, None, {"ok": True}),
        "failed": processing.fail(LATER, ANSWER),
        "cancelled": queued.cancel(LATER),
        "null payload": a_task(payload=None),
        "other offset": a_task(now=T0.astimezone(timezone(timedelta(hours=8)))),
    }


@pytest.mark.parametrize("name", list(tasks_in_every_state()))
def test_the_document_is_what_the_schema_dumps(name: str) -> None:
    task = tasks_in_every_state()[name]
    document, dumped = task_document(task), TaskSchema().dump(task)
    assert document == dumped
    assert list(document) == list(dumped)  # the same field order on the wire


def test_the_document_never_carries_the_token_hash() -> None:
    processing = tasks_in_every_state()["processing"]
    assert processing.token_hash == "hash"
    assert "hash" not in repr(task_document(processing))
