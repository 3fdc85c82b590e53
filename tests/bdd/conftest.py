"""Shared world and steps of the PRD's scenarios: the REST API end to end, memory adapters,
callbacks to the real loopback receiver.

Given steps are declarative: "a Pending task" and "the callback API answers an error" may
come in either order, so the task is created (through the API) the first time a step needs
it, with the callback the scenario declared, and walked to the wanted status.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pytest_bdd import given, parsers, then, when
from werkzeug.test import TestResponse

from taskcore import TaskQueue, TaskStore
from taskcore_adapters import Settings, build_container
from taskcore_flask import close_app, create_app
from tests.support.backends import Backend, is_archived
from tests.support.receiver import CallbackReceiver, ReceivedCall

TASKS = "/api/v1/tasks"
FINAL = {"Completed", "Failed", "Cancelled"}


def closed_port_url() -> str:
    """A loopback URL where nothing listens, so that connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/refused"


@dataclass
class World:
    """What one scenario has done so far, and how to ask the service about it."""

    app: Flask
    client: FlaskClient
    receiver: CallbackReceiver
    callback_url: str = ""
    wanted_status: str = "Queued"
    task_info: dict[str, Any] = field(default_factory=dict)
    response: TestResponse | None = None
    seen_during_callback: list[str] = field(default_factory=list)
    _task_id: str | None = None

    @property
    def task_id(self) -> str:
        """The scenario's task, created and walked to ``wanted_status`` on first use."""
        if self._task_id is None:
            self._task_id = self.bring_to(self.wanted_status)
        return self._task_id

    @property
    def last(self) -> TestResponse:
        assert self.response is not None, "no request was sent yet"
        return self.response

    def send(self, method: str, path: str, **kwargs: Any) -> TestResponse:
        self.response = self.client.open(path, method=method, **kwargs)
        return self.response

    def task(self) -> dict[str, Any]:
        response = self.client.get(f"{TASKS}/{self.task_id}")
        assert response.status_code == 200, response.data
        body: dict[str, Any] = response.json
        return body

    def calls(self) -> list[ReceivedCall]:
        """The callbacks the receiver got for this scenario's task."""
        task_id = self.task_id
        return [c for c in self.receiver.calls if c.json.get("taskId") == task_id]

    def token(self) -> str:
        """The completion token of the latest callback, or one that was never issued."""
        calls = self.calls()
        return calls[-1].headers["x-task-token"] if calls else "never-issued-token"

    def report(self, success: bool, token: str | None = None) -> TestResponse:
        path = f"{TASKS}/{self.task_id}/complete"  # creates the task first, if need be
        headers = {"X-Task-Token": self.token() if token is None else token}
        return self.send("POST", path, json={"success": success}, headers=headers)

    def bring_to(self, status: str) -> str:
        """Create a task through the API and move it to ``status`` the way a client would."""
        body = {"name": "bdd", "callbackUrl": self.callback_url, "payload": {"n": 1}}
        created = self.client.post(TASKS, json=body)
        assert created.status_code == 201, created.data
        self._task_id = task_id = created.json["taskId"]
        steps = {
            "Queued": [],
            "Cancelled": [("DELETE", "")],
            "Pending": [("POST", "/dequeue")],
            "Processing": [("POST", "/dequeue"), ("POST", "/execute")],
        }
        for method, suffix in steps.get(status, steps["Processing"]):
            answer = self.client.open(f"{TASKS}/{task_id}{suffix}", method=method)
            assert answer.status_code in (200, 204), answer.data
        current = self.task()["status"]
        if current == "Processing" and status in ("Completed", "Failed"):
            assert self.report(status == "Completed").status_code == 200
            current = self.task()["status"]
        assert current == status, f"cannot reach {status} with callback {self.callback_url}"
        return task_id

    def wait_for_final(self, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while (task := self.task())["status"] not in FINAL:
            assert time.monotonic() < deadline, f"the task did not finish: {task}"
            time.sleep(0.02)
        return task

    def store(self) -> TaskStore:
        store: TaskStore = self.app.extensions["taskcore"].store()
        return store

    def queue(self) -> TaskQueue:
        queue: TaskQueue = self.app.extensions["taskcore"].queue()
        return queue


@pytest.fixture(autouse=True)
def each_backend(backend: Backend) -> Backend:
    """Named statically so that every scenario runs once per backend: pytest-bdd asks for
    its fixtures at run time, when a parametrised fixture can no longer be added."""
    return backend


@pytest.fixture
def app(backend: Backend) -> Iterator[Flask]:
    """The REST service over a fresh container (memory by default; see ``backend``)."""
    application = create_app(build_container(settings=backend.settings(Settings())))
    yield application
    close_app(application)


@pytest.fixture
def world(app: Flask, receiver: CallbackReceiver) -> World:
    state = World(app, app.test_client(), receiver, callback_url=receiver.url("/ok"))

    def observe(call: ReceivedCall) -> None:  # what a client polling during the callback sees
        seen = app.test_client().get(f"{TASKS}/{call.json['taskId']}")
        state.seen_during_callback.append(seen.json["status"])

    receiver.hook = observe
    return state


# --- Given -----------------------------------------------------------------------------------


@given(parsers.parse('存在狀態為 "{status}" 的任務'))
def a_task_in_status(world: World, status: str) -> None:
    world.wanted_status = status


@given("Callback API 可以正常回應")
def callback_answers_ok(world: World) -> None:
    world.callback_url = world.receiver.url("/ok")


@given("Callback API 回應錯誤")
def callback_answers_an_error(world: World) -> None:
    world.callback_url = world.receiver.url("/status/500")


@given("Callback API 無法連線")
def callback_is_unreachable(world: World) -> None:
    world.callback_url = closed_port_url()


@given("Callback API 回應 202 並稍後回報結果")
def callback_reports_later(world: World) -> None:
    world.callback_url = world.receiver.url("/status/202")


# --- When ------------------------------------------------------------------------------------


@when(parsers.re(r"我呼叫 (?P<method>GET|POST|DELETE) (?P<path>\S+)"))
def i_call(world: World, method: str, path: str) -> None:
    if "{id}" in path:
        path = path.replace("{id}", world.task_id)
    body = world.task_info if (method, path) == ("POST", TASKS) else None
    response = world.send(method, path, json=body)
    if (method, path, response.status_code) == ("POST", TASKS, 201):
        world._task_id = response.json["taskId"]


@when("我執行任務")
def i_execute_the_task(world: World) -> None:
    world.send("POST", f"{TASKS}/{world.task_id}/execute")


# --- Then ------------------------------------------------------------------------------------


@then(parsers.parse("回應狀態碼應該是 {code:d}"))
def the_status_code_is(world: World, code: int) -> None:
    assert world.last.status_code == code, world.last.data
    if code >= 400:
        assert world.last.mimetype == "application/problem+json"
        assert world.last.json["status"] == code


@then(parsers.parse('任務狀態應該更新為 "{status}"'))
def the_task_is_now(world: World, status: str) -> None:
    if world.last.status_code == 200 and "taskId" in (world.last.json or {}):
        assert world.last.json["status"] == status
    assert world.task()["status"] == status


@then(parsers.parse('回應中的任務狀態是 "{status}"'))
def the_response_shows(world: World, status: str) -> None:
    assert world.last.json["status"] == status
    assert world.last.json["taskId"] == world.task_id


@then(parsers.parse('任務狀態應該仍是 "{status}"'))
def the_task_is_still(world: World, status: str) -> None:
    assert world.task()["status"] == status


@then("任務應該被搬移到封存表")
def the_task_is_archived(world: World) -> None:
    task = world.task()
    assert task["status"] == "Completed" and task["completedAt"]
    assert is_archived(world.store(), UUID(world.task_id))


@then("Callback API 應該被呼叫一次")
def the_callback_was_called_once(world: World) -> None:
    [call] = world.calls()
    assert call.json["attempt"] == 1
    assert call.headers["idempotency-key"] == f"{world.task_id}:1"
