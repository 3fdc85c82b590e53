"""Structured logs with request and task ids, and the app factory's own container."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from taskcore_adapters.config import LogSettings
from taskcore_flask import close_app, create_app
from taskcore_flask.logs import (
    TaskcoreLogHandler,
    access_log,
    configure_logging,
    request_id_from,
)
from tests.api.support import TASKS, create

URL = "http://127.0.0.1:9/hook"


@contextlib.contextmanager
def captured_logs(settings: LogSettings) -> Iterator[io.StringIO]:
    """Logging configured by ``settings`` into a buffer, with the service's DEBUG lines
    (``task created``) and no driver chatter; the previous state is restored."""
    root, service = logging.getLogger(), logging.getLogger("taskcore.service")
    level = root.level
    stream = io.StringIO()
    handler = configure_logging(settings, stream)
    service.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        access_log.setLevel(logging.NOTSET)
        service.setLevel(logging.NOTSET)


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """Logging configured as JSON into a buffer."""
    with captured_logs(LogSettings(level="INFO", format="json")) as stream:
        yield stream


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_sane_request_id_is_echoed_and_on_every_line_of_the_request(
    client: FlaskClient, log_stream: io.StringIO
) -> None:
    response = client.post(
        TASKS, json={"name": "n", "callbackUrl": URL}, headers={"X-Request-ID": "req-42.a"}
    )

    lines = _lines(log_stream)
    created = next(line for line in lines if line["message"] == "task created")
    assert response.headers["X-Request-ID"] == "req-42.a"
    assert lines and all(line["request_id"] == "req-42.a" for line in lines)
    assert created["task_id"] == response.json["taskId"]
    assert {"level", "logger", "timestamp"} <= set(created)


def test_no_access_lines_unless_asked_for(client: FlaskClient, log_stream: io.StringIO) -> None:
    client.get("/health/live")

    assert not [x for x in _lines(log_stream) if x["logger"] == "taskcore.http.access"]


def test_every_request_gets_an_access_line_when_asked_for(client: FlaskClient) -> None:
    with captured_logs(LogSettings(level="WARNING", access=True)) as log_stream:
        client.get("/health/live")

    [line] = [x for x in _lines(log_stream) if x["logger"] == "taskcore.http.access"]
    assert line["message"] == "GET /health/live 200"
    assert line["status"] == 200
    assert line["duration_ms"] >= 0


@pytest.mark.parametrize("header", ["", "has space", "x" * 129, "line\nbreak", "-leading"])
def test_an_unusable_request_id_is_replaced_by_a_new_one(header: str) -> None:
    generated = request_id_from(header)

    assert generated != header
    assert len(generated) == 32


def test_a_request_without_an_id_gets_a_generated_one(client: FlaskClient) -> None:
    first = client.get("/health/live").headers["X-Request-ID"]
    second = client.get("/health/live").headers["X-Request-ID"]

    assert len(first) == 32 and first != second


def test_text_logs_name_the_request_and_the_task(client: FlaskClient) -> None:
    with captured_logs(LogSettings(level="INFO", format="text")) as stream:
        task_id = create(client, URL)["taskId"]
        logging.getLogger("outside").info("no request here")

    text = stream.getvalue()
    assert f"task_id={task_id}] task created" in text
    assert "[request_id=- task_id=-] no request here" in text


def test_configuring_logging_twice_keeps_a_single_handler(log_stream: io.StringIO) -> None:
    configure_logging(LogSettings(), io.StringIO())
    handler = configure_logging(LogSettings(level="WARNING"), log_stream)

    ours = [h for h in logging.getLogger().handlers if isinstance(h, TaskcoreLogHandler)]
    assert ours == [handler]
    assert logging.getLogger().level == logging.WARNING


def test_creating_an_app_leaves_global_logging_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TASKCORE_CONFIG", raising=False)
    before = list(logging.getLogger().handlers)

    app = create_app()
    close_app(app)

    assert logging.getLogger().handlers == before


def test_an_app_builds_its_container_from_a_config_file(tmp_path: Path) -> None:
    config = tmp_path / "taskcore.toml"
    config.write_text('[store]\nbackend = "memory"\n\n[api]\nmax_body_bytes = 100\n')

    app = create_app(config_path=config)
    try:
        client = app.test_client()
        created = client.post(TASKS, json={"name": "n", "callbackUrl": URL})
        too_big = client.post(TASKS, json={"name": "n", "callbackUrl": URL, "payload": "x" * 99})
    finally:
        close_app(app)

    assert created.status_code == 201
    assert too_big.status_code == 413
    assert app.extensions["taskcore"].settings().api.max_body_bytes == 100
