"""Small helpers shared by the API tests."""

from __future__ import annotations

import socket
import time
from dataclasses import replace
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from taskcore_adapters import Settings

TASKS = "/api/v1/tasks"
FINAL = {"Completed", "Failed", "Cancelled"}


def settings_with(**sections: dict[str, Any]) -> Settings:
    """Default settings with some keys of some sections replaced."""
    base = Settings()
    changes = {name: replace(getattr(base, name), **values) for name, values in sections.items()}
    return replace(base, **changes)


def create(client: FlaskClient, callback_url: str, **fields: Any) -> dict[str, Any]:
    """Create a task through the API and return its JSON."""
    response = client.post(TASKS, json={"name": "job", "callbackUrl": callback_url, **fields})
    assert response.status_code == 201, response.json
    body: dict[str, Any] = response.json
    return body


def create_pending(client: FlaskClient, callback_url: str, **fields: Any) -> str:
    """Create and dequeue a task; return its id."""
    task_id: str = create(client, callback_url, **fields)["taskId"]
    assert client.post(f"{TASKS}/{task_id}/dequeue").status_code == 200
    return task_id


def problem(response: TestResponse, status: int) -> dict[str, Any]:
    """Assert ``response`` is a problem document with ``status``; return its body."""
    assert response.status_code == status, response.data
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = response.get_json(force=True)
    assert body["status"] == status
    assert body["title"] and body["type"] and "detail" in body
    return body


def total(client: FlaskClient) -> int:
    """How many tasks the service holds."""
    count: int = client.get(TASKS).json["totalCount"]
    return count


def wait_for_final(client: FlaskClient, task_id: str, timeout: float = 10.0) -> dict[str, Any]:
    """Poll the task until it reaches a final status."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task: dict[str, Any] = client.get(f"{TASKS}/{task_id}").json
        if task["status"] in FINAL:
            return task
        time.sleep(0.02)
    raise AssertionError(f"task {task_id} did not finish: {task}")


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/refused"
