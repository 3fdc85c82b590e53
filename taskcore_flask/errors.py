"""Error responses as RFC 9457 ``application/problem+json``.

One dict maps each ``TaskcoreError`` family to its HTTP status; every error, from the
service, from marshmallow or from Werkzeug's routing, leaves the API in the same shape.
Views therefore never catch anything.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from flask import Flask, Response
from marshmallow import ValidationError
from werkzeug.exceptions import BadRequest, HTTPException

from taskcore.errors import (
    AdapterError,
    ConcurrentUpdate,
    IdempotencyConflict,
    InvalidCompletionToken,
    InvalidInput,
    InvalidTransition,
    Overloaded,
    QueueUnavailable,
    StoreUnavailable,
    TaskcoreError,
    TaskNotFound,
)

PROBLEM_MIMETYPE = "application/problem+json"
RETRY_AFTER_S = 5
TYPE_PREFIX = "urn:taskcore:problem:"

log = logging.getLogger("taskcore.http")

# The one place that decides the HTTP status of a taskcore error (looked up along the MRO).
PROBLEMS: dict[type[TaskcoreError], tuple[int, str]] = {
    TaskNotFound: (404, "Task not found"),
    InvalidTransition: (409, "Invalid transition"),
    ConcurrentUpdate: (409, "Concurrent update"),
    IdempotencyConflict: (409, "Idempotency key reused"),
    InvalidInput: (400, "Invalid input"),
    InvalidCompletionToken: (403, "Invalid completion token"),
    Overloaded: (503, "Overloaded"),
    StoreUnavailable: (503, "Store unavailable"),
    QueueUnavailable: (503, "Queue unavailable"),
    AdapterError: (503, "Service unavailable"),
    TaskcoreError: (500, "Internal error"),
}


class InputProblem(BadRequest):
    """A 400 raised where a ``TaskcoreError`` cannot be, such as URL conversion."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(description=_summary(errors))
        self.errors = errors


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    type_: str = "about:blank",
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> Response:
    """Render one problem document; ``extensions`` with a None value are left out."""
    body = {"type": type_, "title": title, "status": status, "detail": detail}
    body.update({k: v for k, v in extensions.items() if v is not None})
    text = json.dumps(body, separators=(",", ":"))
    return Response(text, status=status, mimetype=PROBLEM_MIMETYPE, headers=headers or {})


def camel_case(name: str) -> str:
    """The JSON name of a snake_case field: ``callback_url`` -> ``callbackUrl``."""
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), name)


def handle_taskcore_error(error: TaskcoreError) -> Response:
    """Map a service error to its status via ``PROBLEMS``.

    A 5xx keeps the adapter's message (which may name hosts or drivers) in the log only.
    """
    cls = next(c for c in type(error).__mro__ if c in PROBLEMS)
    status, title = PROBLEMS[cls]
    detail = str(error)
    if status >= 500:
        log.warning("request refused: %s", error, extra=_task_extra(error))
        detail = f"{title}; retry later."
    return problem(
        status,
        title,
        detail,
        type_=TYPE_PREFIX + _slug(cls.__name__),
        headers={"Retry-After": str(RETRY_AFTER_S)} if status == 503 else None,
        errors=_public_errors(error.errors) if isinstance(error, InvalidInput) else None,
        taskId=_task_id(error),
        currentStatus=_current_status(error),
        idempotencyKey=error.key if isinstance(error, IdempotencyConflict) else None,
    )


def handle_validation_error(error: ValidationError) -> Response:
    """A request body or query that its schema refused: 400 naming each field."""
    errors = _flatten(error.messages)
    return problem(
        400,
        "Invalid input",
        _summary(errors),
        type_=TYPE_PREFIX + "invalid-input",
        errors=errors,
    )


def handle_http_error(error: HTTPException) -> Response:
    """Werkzeug's errors (404, 405, 413, 415, ...) in the problem shape.

    Flask hands routing redirects (308) back before any handler runs, so only errors get here.
    """
    headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
    errors = getattr(error, "errors", None)
    return problem(
        error.code or 500,
        "Invalid input" if errors else error.name,
        error.description or error.name,
        type_=TYPE_PREFIX + "invalid-input" if errors else "about:blank",
        headers=headers,
        errors=errors,
    )


def handle_unexpected(error: Exception) -> Response:
    """A bug: log it with its traceback, answer 500 without internals."""
    log.exception("unhandled error", exc_info=error)
    return problem(500, "Internal Server Error", "The server failed to handle the request.")


def register_error_handlers(app: Flask) -> None:
    """Install the handlers; every error response of ``app`` is problem+json."""
    app.register_error_handler(TaskcoreError, handle_taskcore_error)
    app.register_error_handler(ValidationError, handle_validation_error)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(Exception, handle_unexpected)


def _public_errors(errors: dict[str, list[str]]) -> dict[str, list[str]]:
    return {camel_case(field): list(messages) for field, messages in errors.items()}


def _flatten(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    if isinstance(messages, dict):
        flat: dict[str, list[str]] = {}
        for key, value in messages.items():
            name = "body" if key == "_schema" else str(key)
            for field, texts in _flatten(value, f"{prefix}.{name}" if prefix else name).items():
                flat.setdefault(field, []).extend(texts)
        return flat
    texts = messages if isinstance(messages, list) else [messages]
    return {prefix or "body": [str(t) for t in texts]}


def _summary(errors: dict[str, list[str]]) -> str:
    return "; ".join(f"{field}: {' '.join(texts)}" for field, texts in sorted(errors.items()))


def _slug(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def _task_id(error: TaskcoreError) -> str | None:
    task_id = getattr(error, "task_id", None)
    return None if task_id is None else str(task_id)


def _current_status(error: TaskcoreError) -> str | None:
    current = getattr(error, "current", None)
    return None if current is None else str(current.value)


def _task_extra(error: TaskcoreError) -> dict[str, str]:
    task_id = _task_id(error)
    return {} if task_id is None else {"task_id": task_id}
