"""The v1 task endpoints: parse with a schema, make one service call, answer with JSON.

Views hold the ``TaskService`` they were built with (resolved once, at app creation) and
never catch errors: ``taskcore_flask.errors`` renders them.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from flask import Blueprint, Response, jsonify, request, url_for
from flask.views import MethodView
from marshmallow import Schema
from werkzeug.routing import BaseConverter

from taskcore.idempotency import Creation
from taskcore.service import TaskService, TaskSpec
from taskcore.task import Task
from taskcore_flask.api.v1 import schemas
from taskcore_flask.body import json_body
from taskcore_flask.errors import InputProblem

IDEMPOTENCY_KEY = "Idempotency-Key"


class TaskIdConverter(BaseConverter):
    """``<task_id:...>``: any path segment, which must be a UUID (400 otherwise, not 404).

    ``dequeue`` and ``batch`` are left to their static routes, so that other methods on
    them answer 405 instead of a malformed id.
    """

    regex = r"(?!(?:dequeue|batch)\Z)[^/]+"

    def to_python(self, value: str) -> UUID:
        try:
            return UUID(value)
        except ValueError:
            raise InputProblem({"taskId": ["Must be a UUID."]}) from None

    def to_url(self, value: Any) -> str:
        return str(value)


def task_response(task: Task, status: int = 200, *, location: bool = False) -> Response:
    """The task as JSON, with ``Location`` pointing at it when asked."""
    response = jsonify(schemas.task_document(task))
    response.status_code = status
    if location:
        response.headers["Location"] = url_for("api_v1.task", task_id=task.task_id)
    return response


def creation_response(creation: Creation) -> Response:
    """201 for a new task; 200 marked ``Idempotent-Replayed`` for an earlier request's task."""
    if not creation.replayed:
        return task_response(creation.task, 201, location=True)
    response = task_response(creation.task, 200, location=True)
    response.headers["Idempotent-Replayed"] = "true"
    return response


def headers_of(schema: Schema) -> dict[str, str]:
    """The request headers ``schema`` reads, by the names it spells (headers ignore case)."""
    names = [field.data_key for field in schema.fields.values() if field.data_key]
    return {name: request.headers[name] for name in names if name in request.headers}


def prefers_async() -> bool:
    """Whether the ``Prefer`` header asks for ``respond-async`` (RFC 7240)."""
    tokens = request.headers.get("Prefer", "").split(",")
    return any(t.split(";")[0].split("=")[0].strip().lower() == "respond-async" for t in tokens)


class _TaskView(MethodView):
    init_every_request = False

    def __init__(self, service: TaskService, max_depth: int) -> None:
        self.service = service
        self.max_depth = max_depth


class TasksView(_TaskView):
    """``/tasks``: create and list."""

    def post(self) -> Response:
        headers = schemas.create_headers.load(headers_of(schemas.create_headers))
        fields = schemas.task_create.load(json_body(self.max_depth))
        return creation_response(self.service.create_or_replay(**fields, **headers))

    def get(self) -> Response:
        query = schemas.task_list_query.load(request.args)
        page = self.service.list(query.get("status"), query["page"], query["size"])
        return jsonify(
            tasks=[schemas.task_document(task) for task in page.tasks],
            totalCount=page.total,
            page=query["page"],
            pageSize=query["size"],
        )


class BatchView(_TaskView):
    """``/tasks/batch``: create up to ``BATCH_MAX`` tasks in one transaction, all or none.

    An ``Idempotency-Key`` is refused rather than ignored: a client relying on it would
    create the batch twice on a retry.
    """

    def post(self) -> Response:
        if IDEMPOTENCY_KEY in request.headers:
            raise InputProblem({IDEMPOTENCY_KEY: ["Is not supported on a batch."]})
        body = schemas.task_batch_create.load(json_body(self.max_depth + schemas.BATCH_NESTING))
        created = self.service.create_many([TaskSpec(**fields) for fields in body["tasks"]])
        response = jsonify(tasks=[schemas.task_document(task) for task in created])
        response.status_code = 201
        return response


class TaskView(_TaskView):
    """``/tasks/{taskId}``: read and cancel."""

    def get(self, task_id: UUID) -> Response:
        return task_response(self.service.get(task_id))

    def delete(self, task_id: UUID) -> Response:
        self.service.cancel(task_id)
        return Response(status=204)


class DequeueView(_TaskView):
    """``/tasks/{taskId}/dequeue``: take this task, Queued -> Pending."""

    def post(self, task_id: UUID) -> Response:
        return task_response(self.service.dequeue(task_id))


class DequeueNextView(_TaskView):
    """``/tasks/dequeue``: take the next task in queue order, or 204 when none is left."""

    def post(self) -> Response:
        task = self.service.dequeue_next()
        return Response(status=204) if task is None else task_response(task)


class ExecuteView(_TaskView):
    """``/tasks/{taskId}/execute``: call the callback now, or in the background (202)."""

    def post(self, task_id: UUID) -> Response:
        mode = schemas.execute_query.load(request.args).get("mode")
        if mode == "async" or (mode is None and prefers_async()):
            return task_response(self.service.execute_async(task_id), 202, location=True)
        return task_response(self.service.execute(task_id))


class CompleteView(_TaskView):
    """``/tasks/{taskId}/complete``: the receiver reports a deferred outcome."""

    def post(self, task_id: UUID) -> Response:
        report = schemas.task_complete.load(json_body(self.max_depth))
        token = request.headers.get("X-Task-Token", "")
        return task_response(self.service.complete(task_id, token, **report))


def create_tasks_blueprint(service: TaskService, max_json_depth: int) -> Blueprint:
    """The task endpoints of v1, bound to ``service``."""
    bp = Blueprint("api_v1", __name__, url_prefix="/api/v1")
    bp.record_once(lambda state: state.app.url_map.converters.update(task_id=TaskIdConverter))
    options = {"service": service, "max_depth": max_json_depth}
    routes: list[tuple[str, type[_TaskView], str]] = [
        ("/tasks", TasksView, "tasks"),
        ("/tasks/dequeue", DequeueNextView, "dequeue_next"),
        ("/tasks/batch", BatchView, "batch"),
        ("/tasks/<task_id:task_id>", TaskView, "task"),
        ("/tasks/<task_id:task_id>/dequeue", DequeueView, "dequeue"),
        ("/tasks/<task_id:task_id>/execute", ExecuteView, "execute"),
        ("/tasks/<task_id:task_id>/complete", CompleteView, "complete"),
    ]
    for rule, view, endpoint in routes:
        bp.add_url_rule(rule, view_func=view.as_view(endpoint, **options))
    return bp
