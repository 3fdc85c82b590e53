"""Structured logs: JSON (or text) lines that carry the request id and the task id.

``configure_logging`` is called by whoever runs the process (the CLI); importing this module
or creating an app changes no global logging state. ``install_request_ids`` gives every
request an id, echoed in ``X-Request-ID`` and added to each line logged while handling it.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from typing import TextIO

from flask import Flask, Response, g, has_request_context, request
from pythonjsonlogger.json import JsonFormatter

from taskcore_adapters.config import LogSettings

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/+=-]{0,127}")
_TEXT_FORMAT = (
    "%(asctime)s %(levelname)s %(name)s [request_id=%(request_id)s task_id=%(task_id)s] %(message)s"
)

access_log = logging.getLogger("taskcore.http.access")


class RequestContextFilter(logging.Filter):
    """Adds ``request_id`` to records logged while a request is being handled."""

    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context() and "request_id" in g and not hasattr(record, "request_id"):
            record.request_id = g.request_id
        return True


class TaskcoreLogHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler ``configure_logging`` installs, so that a second call replaces it."""


def configure_logging(settings: LogSettings, stream: TextIO | None = None) -> logging.Handler:
    """Send the root logger's lines to ``stream`` (stderr) in ``settings.format``.

    Access lines are written only when ``settings.access`` asks for them: formatting a JSON
    line costs more than the rest of a small request. Replaces the handler a previous call
    installed; leaves other handlers alone.
    """
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, TaskcoreLogHandler)]:
        root.removeHandler(old)
        old.close()
    handler = TaskcoreLogHandler(stream or sys.stderr)
    handler.setFormatter(_formatter(settings.format))
    handler.addFilter(RequestContextFilter())
    root.addHandler(handler)
    root.setLevel(settings.level)
    access_log.setLevel(logging.INFO if settings.access else logging.WARNING)
    return handler


def _formatter(kind: str) -> logging.Formatter:
    if kind == "text":
        return logging.Formatter(_TEXT_FORMAT, defaults={"request_id": "-", "task_id": "-"})
    return JsonFormatter(
        "%(levelname)s %(name)s %(message)s",
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp=True,
    )


def request_id_from(header: str | None) -> str:
    """The caller's request id when it is short and plain; a new one otherwise."""
    if header and _SANE_REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


def install_request_ids(app: Flask) -> None:
    """Give each request of ``app`` an id, echo it, and log one access line per request."""

    @app.before_request
    def _assign() -> None:
        g.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        g.access_started = time.perf_counter()

    @app.after_request
    def _echo(response: Response) -> Response:
        now = time.perf_counter()
        response.headers[REQUEST_ID_HEADER] = g.get("request_id", "-")
        if not access_log.isEnabledFor(logging.INFO):
            return response
        elapsed_ms = (now - g.pop("access_started", now)) * 1000
        access_log.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={"status": response.status_code, "duration_ms": round(elapsed_ms, 2)},
        )
        return response
