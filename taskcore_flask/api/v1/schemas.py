"""The v1 wire format: marshmallow schemas for request bodies, queries and responses.

Schemas live only at this edge. JSON names are camelCase (``data_key``), Python names
snake_case. Input schemas refuse unknown fields and check types strictly; the rules of a new
task come from ``taskcore.task.check_new_task`` so that they are written once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from marshmallow import (
    EXCLUDE,
    RAISE,
    Schema,
    ValidationError,
    fields,
    pre_load,
    validate,
    validates_schema,
)

from taskcore.idempotency import IDEMPOTENCY_KEY_MAX
from taskcore.service import BATCH_MAX
from taskcore.status import TaskStatus
from taskcore.task import (
    DESCRIPTION_MAX,
    NAME_MAX,
    PRIORITY_MAX,
    PRIORITY_MIN,
    URL_MAX,
    CallbackResult,
    Task,
    check_new_task,
)
from taskcore_flask.errors import camel_case

PAGE_MAX = 1_000_000_000
SIZE_MAX = 100
BATCH_NESTING = 2  # the levels a batch adds around each task: its object and its list


class StrictBoolean(fields.Boolean):
    """A JSON ``true`` or ``false``, nothing that merely looks like one (``"yes"``, ``1``)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class _Input(Schema):
    class Meta:
        unknown = RAISE


class TaskCreateSchema(_Input):
    """Body of ``POST /tasks``; the limits shown in the OpenAPI document are the core's."""

    name = fields.String(
        required=True,
        metadata={"description": "Trimmed; at least 1 character.", "maxLength": NAME_MAX},
    )
    description = fields.String(load_default="", metadata={"maxLength": DESCRIPTION_MAX})
    callback_url = fields.String(
        required=True,
        data_key="callbackUrl",
        metadata={
            "description": "Absolute http or https URL with a host.",
            "format": "uri",
            "maxLength": URL_MAX,
        },
    )
    payload = fields.Raw(
        load_default=dict, allow_none=True, metadata={"description": "Any JSON value."}
    )
    priority = fields.Integer(
        strict=True,
        load_default=0,
        metadata={
            "description": "Higher first where the queue supports priority.",
            "minimum": PRIORITY_MIN,
            "maximum": PRIORITY_MAX,
        },
    )

    @validates_schema(skip_on_field_errors=False)
    def _check_rules(self, data: dict[str, Any], **_: Any) -> None:
        """Apply the domain's rules to the fields that have the right type."""
        broken = check_new_task(
            data.get("name", ""),
            data.get("callback_url", ""),
            data.get("description", ""),
            data.get("priority", 0),
        )
        errors = {camel_case(k): v for k, v in broken.items() if k in data}
        if errors:
            raise ValidationError(errors)


class TaskBatchCreateSchema(_Input):
    """Body of ``POST /tasks/batch``: the tasks, each as ``POST /tasks`` takes it."""

    tasks = fields.List(
        fields.Nested(TaskCreateSchema),
        required=True,
        metadata={"minItems": 1, "maxItems": BATCH_MAX},
    )

    @pre_load
    def _check_count(self, data: Any, **_: Any) -> Any:
        """Refuse a list of the wrong length before checking thousands of items."""
        tasks = data.get("tasks") if isinstance(data, dict) else None
        if isinstance(tasks, list) and not 1 <= len(tasks) <= BATCH_MAX:
            raise ValidationError({"tasks": [f"Must hold 1 to {BATCH_MAX} tasks."]})
        return data


class TaskCompleteSchema(_Input):
    """Body of ``POST /tasks/{taskId}/complete``: the receiver's report."""

    success = StrictBoolean(required=True)
    result = fields.Raw(load_default=None, allow_none=True, metadata={"description": "Any JSON."})


class _Query(Schema):
    class Meta:
        unknown = EXCLUDE  # caches and proxies add parameters of their own


class TaskListQuerySchema(_Query):
    """Query of ``GET /tasks``."""

    status = fields.Enum(TaskStatus, by_value=True)
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=PAGE_MAX))
    size = fields.Integer(load_default=20, validate=validate.Range(min=1, max=SIZE_MAX))


class ExecuteQuerySchema(_Query):
    """Query of ``POST /tasks/{taskId}/execute``."""

    mode = fields.String(validate=validate.OneOf(["sync", "async"]))


def _printable_ascii(value: str) -> None:
    if not all(" " <= ch <= "~" for ch in value):
        raise ValidationError("Must contain only printable ASCII characters.")


class CreateHeadersSchema(_Query):
    """Headers of ``POST /tasks`` (other headers are ignored)."""

    idempotency_key = fields.String(
        data_key="Idempotency-Key",
        validate=[
            validate.Length(
                min=1,
                max=IDEMPOTENCY_KEY_MAX,
                error=f"Must be 1 to {IDEMPOTENCY_KEY_MAX} characters.",
            ),
            _printable_ascii,
        ],
        metadata={
            "pattern": "^[ -~]*$",
            "description": "Makes the create safe to retry: the same key with the same body "
            "within the window (`api.idempotency_window_s`, default 24 h) answers 200 with "
            "the task the first request created and `Idempotent-Replayed: true`; with a "
            "different body, 409.",
        },
    )


class CallbackResultSchema(Schema):
    """What the last callback attempt produced."""

    status_code = fields.Integer(data_key="statusCode", allow_none=True)
    body = fields.String()
    duration_ms = fields.Integer(data_key="durationMs")
    error = fields.String(allow_none=True)
    attempt = fields.Integer()


class TaskSchema(Schema):
    """A task as the API shows it; the completion token's hash never leaves the service."""

    task_id = fields.UUID(data_key="taskId")
    name = fields.String()
    description = fields.String()
    callback_url = fields.String(data_key="callbackUrl")
    payload = fields.Raw(allow_none=True)
    priority = fields.Integer()
    status = fields.Enum(TaskStatus, by_value=True)
    created_at = fields.AwareDateTime(data_key="createdAt")
    updated_at = fields.AwareDateTime(data_key="updatedAt")
    dequeued_at = fields.AwareDateTime(data_key="dequeuedAt", allow_none=True)
    executed_at = fields.AwareDateTime(data_key="executedAt", allow_none=True)
    completed_at = fields.AwareDateTime(data_key="completedAt", allow_none=True)
    deadline = fields.AwareDateTime(
        allow_none=True, metadata={"description": "When a Processing task is failed as lost."}
    )
    attempts = fields.Integer()
    callback_result = fields.Nested(
        CallbackResultSchema, data_key="callbackResult", allow_none=True
    )
    result = fields.Raw(allow_none=True, metadata={"description": "What the receiver reported."})


def task_document(task: Task) -> dict[str, Any]:
    """What ``TaskSchema`` dumps, built directly.

    ``TaskSchema`` stays the definition (it generates the OpenAPI document); dumping with it
    costs more than the rest of a ``GET``, so answers use this instead, and a test checks
    that the two agree for tasks in every state.
    """
    result = task.callback_result
    return {
        "taskId": str(task.task_id),
        "name": task.name,
        "description": task.description,
        "callbackUrl": task.callback_url,
        "payload": task.payload,
        "priority": task.priority,
        "status": task.status.value,
        "createdAt": task.created_at.isoformat(),
        "updatedAt": task.updated_at.isoformat(),
        "dequeuedAt": _iso(task.dequeued_at),
        "executedAt": _iso(task.executed_at),
        "completedAt": _iso(task.completed_at),
        "deadline": _iso(task.deadline),
        "attempts": task.attempts,
        "callbackResult": None if result is None else _result_document(result),
        "result": task.result,
    }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _result_document(result: CallbackResult) -> dict[str, Any]:
    return {
        "statusCode": result.status_code,
        "body": result.body,
        "durationMs": result.duration_ms,
        "error": result.error,
        "attempt": result.attempt,
    }


class TaskBatchSchema(Schema):
    """The tasks ``POST /tasks/batch`` created, in the order of the request."""

    tasks = fields.List(fields.Nested(TaskSchema))


class TaskPageSchema(Schema):
    """One page of ``GET /tasks``."""

    tasks = fields.List(fields.Nested(TaskSchema))
    total_count = fields.Integer(data_key="totalCount")
    page = fields.Integer()
    page_size = fields.Integer(data_key="pageSize")


class ProblemSchema(Schema):
    """An RFC 9457 problem document, as every error response is."""

    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))
    task_id = fields.UUID(data_key="taskId")
    current_status = fields.Enum(TaskStatus, by_value=True, data_key="currentStatus")
    idempotency_key = fields.String(data_key="idempotencyKey")


class HealthSchema(Schema):
    """The answer of the health checks."""

    status = fields.String()
    checks = fields.Dict(keys=fields.String(), values=fields.String())


task_create = TaskCreateSchema()
task_batch_create = TaskBatchCreateSchema()
task_complete = TaskCompleteSchema()
task_list_query = TaskListQuerySchema()
execute_query = ExecuteQuerySchema()
create_headers = CreateHeadersSchema()
