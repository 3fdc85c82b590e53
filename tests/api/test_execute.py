"""Executing a task against the real loopback receiver: every outcome, sync and async."""

from __future__ import annotations

import uuid
from uuid import UUID

import pytest
from flask.testing import FlaskClient

from taskcore.service import TaskService
from tests.api.conftest import MakeApp
from tests.api.support import (
    TASKS,
    closed_port_url,
    create,
    create_pending,
    problem,
    settings_with,
    wait_for_final,
)
from tests.support.backends import is_archived
from tests.support.receiver import CallbackReceiver


def test_executing_against_a_2xx_receiver_completes_and_archives_the_task(
    client: FlaskClient, service: TaskService, receiver: CallbackReceiver
) -> None:
    task_id = create_pending(client, receiver.url("/ok"), payload={"n": 1})

    response = client.post(f"{TASKS}/{task_id}/execute")

    assert response.status_code == 200
    task = response.json
    assert task["taskId"] == task_id
    assert task["status"] == "Completed"
    assert task["executedAt"] and task["completedAt"]
    assert task["callbackResult"]["statusCode"] == 200
    assert task["callbackResult"]["error"] is None
    assert task["callbackResult"]["attempt"] == 1
    assert is_archived(service.store, UUID(task_id))
    [call] = receiver.calls_to("/ok")
    assert call.json == {"taskId": task_id, "name": "job", "payload": {"n": 1}, "attempt": 1}
    assert call.headers["idempotency-key"] == f"{task_id}:1"


@pytest.mark.parametrize("code", [500, 404])
def test_executing_against_an_error_status_fails_the_task_with_that_status(
    client: FlaskClient, receiver: CallbackReceiver, code: int
) -> None:
    task_id = create_pending(client, receiver.url(f"/status/{code}"))

    response = client.post(f"{TASKS}/{task_id}/execute")

    assert response.status_code == 200
    assert response.json["status"] == "Failed"
    assert response.json["callbackResult"]["statusCode"] == code
    assert str(code) in response.json["callbackResult"]["error"]


def test_executing_against_a_refused_connection_fails_without_a_status_code(
    client: FlaskClient,
) -> None:
    task_id = create_pending(client, closed_port_url())

    task = client.post(f"{TASKS}/{task_id}/execute").json

    assert task["status"] == "Failed"
    assert task["callbackResult"]["statusCode"] is None
    assert "refused" in task["callbackResult"]["error"]


def test_executing_against_a_slow_receiver_fails_with_a_timeout(
    make_app: MakeApp, receiver: CallbackReceiver
) -> None:
    client = make_app(settings_with(callbacks={"timeout_s": 0.3})).test_client()
    task_id = create_pending(client, receiver.url("/sleep/2"))

    task = client.post(f"{TASKS}/{task_id}/execute").json

    assert task["status"] == "Failed"
    assert task["callbackResult"]["statusCode"] is None
    assert "timed out" in task["callbackResult"]["error"]


def test_a_failed_task_can_be_executed_again(
    client: FlaskClient, receiver: CallbackReceiver
) -> None:
    task_id = create_pending(client, receiver.url("/status/500"))
    client.post(f"{TASKS}/{task_id}/execute")

    retried = client.post(f"{TASKS}/{task_id}/execute").json

    assert (retried["status"], retried["attempts"]) == ("Failed", 2)
    assert retried["callbackResult"]["attempt"] == 2
    assert len(receiver.calls_to("/status/500")) == 2


def test_executing_a_queued_task_is_refused_and_nothing_is_called(
    client: FlaskClient, receiver: CallbackReceiver
) -> None:
    task_id = create(client, receiver.url())["taskId"]

    error = problem(client.post(f"{TASKS}/{task_id}/execute"), 409)

    assert error["currentStatus"] == "Queued"
    assert receiver.calls == []


def test_executing_a_completed_task_is_refused(
    client: FlaskClient, receiver: CallbackReceiver
) -> None:
    task_id = create_pending(client, receiver.url())
    client.post(f"{TASKS}/{task_id}/execute")

    assert problem(client.post(f"{TASKS}/{task_id}/execute"), 409)["currentStatus"] == "Completed"


def test_executing_an_unknown_task_is_404(client: FlaskClient) -> None:
    problem(client.post(f"{TASKS}/{uuid.uuid4()}/execute"), 404)


def test_a_202_answer_leaves_the_task_processing_until_the_receiver_reports(
    client: FlaskClient, receiver: CallbackReceiver
) -> None:
    task_id = create_pending(client, receiver.url("/status/202"))

    executed = client.post(f"{TASKS}/{task_id}/execute").json
    [call] = receiver.calls_to("/status/202")
    report = client.post(
        f"{TASKS}/{task_id}/complete",
        json={"success": True, "result": {"rows": 3}},
        headers={"X-Task-Token": call.headers["x-task-token"]},
    )

    assert executed["status"] == "Processing"
    assert executed["callbackResult"]["statusCode"] == 202
    assert executed["deadline"] is not None
    assert report.status_code == 200
    assert report.json["status"] == "Completed"
    assert report.json["result"] == {"rows": 3}


def test_a_receiver_may_report_failure(client: FlaskClient, receiver: CallbackReceiver) -> None:
    task_id = create_pending(client, receiver.url("/status/202"))
    client.post(f"{TASKS}/{task_id}/execute")
    token = receiver.calls_to("/status/202")[0].headers["x-task-token"]

    report = client.post(
        f"{TASKS}/{task_id}/complete", json={"success": False}, headers={"X-Task-Token": token}
    )

    assert report.json["status"] == "Failed"
    assert report.json["callbackResult"]["error"] == "receiver reported failure"


@pytest.mark.parametrize("headers", [{}, {"X-Task-Token": "wrong"}, {"X-Task-Token": ""}])
def test_a_report_without_the_right_token_is_refused_with_403(
    client: FlaskClient, receiver: CallbackReceiver, headers: dict[str, str]
) -> None:
    task_id = create_pending(client, receiver.url("/status/202"))
    client.post(f"{TASKS}/{task_id}/execute")

    response = client.post(f"{TASKS}/{task_id}/complete", json={"success": True}, headers=headers)

    assert problem(response, 403)["taskId"] == task_id
    assert client.get(f"{TASKS}/{task_id}").json["status"] == "Processing"


def test_a_report_for_a_task_that_never_got_a_token_is_refused_with_403(
    client: FlaskClient, receiver: CallbackReceiver
) -> None:
    task_id = create(client, receiver.url())["taskId"]

    response = client.post(
        f"{TASKS}/{task_id}/complete", json={"success": True}, headers={"X-Task-Token": "x"}
    )

    problem(response, 403)


def test_a_second_report_with_the_token_is_refused_with_409(
    client: FlaskClient, receiver: CallbackReceiver
) -> None:
    task_id = create_pending(client, receiver.url("/status/202"))
    client.post(f"{TASKS}/{task_id}/execute")
    headers = {"X-Task-Token": receiver.calls_to("/status/202")[0].headers["x-task-token"]}
    client.post(f"{TASKS}/{task_id}/complete", json={"success": True}, headers=headers)

    again = client.post(f"{TASKS}/{task_id}/complete", json={"success": False}, headers=headers)

    assert problem(again, 409)["currentStatus"] == "Completed"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "success"),
        ({"success": "true"}, "success"),
        ({"success": 1}, "success"),
        ({"success": True, "extra": 1}, "extra"),
    ],
)
def test_an_invalid_report_is_refused_with_400(
    client: FlaskClient, body: dict[str, object], field: str
) -> None:
    response = client.post(f"{TASKS}/{uuid.uuid4()}/complete", json=body)

    assert field in problem(response, 400)["errors"]


def test_a_report_that_is_not_json_is_refused_with_415(client: FlaskClient) -> None:
    response = client.post(f"{TASKS}/{uuid.uuid4()}/complete", data="success=true")

    problem(response, 415)


def test_an_unknown_task_report_is_404(client: FlaskClient) -> None:
    response = client.post(f"{TASKS}/{uuid.uuid4()}/complete", json={"success": True})

    problem(response, 404)


@pytest.mark.parametrize(
    ("query", "headers"),
    [
        ("?mode=async", {}),
        ("", {"Prefer": "respond-async"}),
        ("", {"Prefer": "wait=5, respond-async"}),
    ],
)
def test_an_asynchronous_execution_answers_202_then_finishes_in_the_background(
    client: FlaskClient, receiver: CallbackReceiver, query: str, headers: dict[str, str]
) -> None:
    task_id = create_pending(client, receiver.url("/sleep/0.2"))

    response = client.post(f"{TASKS}/{task_id}/execute{query}", headers=headers)

    assert response.status_code == 202
    assert response.json["status"] == "Processing"
    assert response.headers["Location"] == f"{TASKS}/{task_id}"
    final = wait_for_final(client, task_id)
    assert final["status"] == "Completed"
    assert final["callbackResult"]["statusCode"] == 200


def test_an_asynchronous_execution_records_a_failure_too(
    client: FlaskClient, receiver: CallbackReceiver
) -> None:
    task_id = create_pending(client, receiver.url("/status/500"))

    assert client.post(f"{TASKS}/{task_id}/execute?mode=async").status_code == 202

    assert wait_for_final(client, task_id)["status"] == "Failed"


def test_mode_sync_wins_over_a_prefer_header(
    client: FlaskClient, receiver: CallbackReceiver
) -> None:
    task_id = create_pending(client, receiver.url())

    response = client.post(
        f"{TASKS}/{task_id}/execute?mode=sync", headers={"Prefer": "respond-async"}
    )

    assert (response.status_code, response.json["status"]) == (200, "Completed")


def test_an_unknown_execution_mode_is_refused_with_400(
    client: FlaskClient, receiver: CallbackReceiver
) -> None:
    task_id = create_pending(client, receiver.url())

    error = problem(client.post(f"{TASKS}/{task_id}/execute?mode=later"), 400)

    assert "mode" in error["errors"]
    assert receiver.calls == []


def test_asynchronous_execution_is_refused_with_503_when_the_executor_is_full(
    make_app: MakeApp, receiver: CallbackReceiver
) -> None:
    settings = settings_with(execution={"workers": 1, "backlog": 0})
    client = make_app(settings).test_client()
    busy = create_pending(client, receiver.url("/sleep/0.5"))
    waiting = create_pending(client, receiver.url())
    assert client.post(f"{TASKS}/{busy}/execute?mode=async").status_code == 202

    response = client.post(f"{TASKS}/{waiting}/execute?mode=async")

    problem(response, 503)
    assert response.headers["Retry-After"].isdigit()
    assert client.get(f"{TASKS}/{waiting}").json["status"] == "Pending"
