"""POST /api/v1/tasks/batch: many tasks in one request, all or none, on every backend.

Refusals happen before any adapter is reached, so they are checked once, on a memory app
(``refusing``); what a batch stores and how it is dequeued and executed runs on every backend.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient

from taskcore.service import BATCH_MAX, TaskService
from taskcore_adapters import Settings, build_container
from taskcore_flask import close_app, create_app
from taskcore_flask.client import ApiError, TaskcoreClient
from tests.api.support import TASKS, problem, total
from tests.support.backends import Backend
from tests.support.receiver import CallbackReceiver

BATCH = f"{TASKS}/batch"
URL = "http://127.0.0.1:9/hook"


def items(count: int, **fields: Any) -> list[dict[str, Any]]:
    return [{"name": f"job {i}", "callbackUrl": URL, **fields} for i in range(count)]


@pytest.fixture
def refusing() -> Iterator[FlaskClient]:
    """A client of an app on the memory adapters."""
    app = create_app(build_container(settings=Settings()))
    yield app.test_client()
    close_app(app)


def test_a_batch_answers_201_with_the_queued_tasks_in_request_order(client: FlaskClient) -> None:
    body = [
        {"name": " first ", "callbackUrl": URL, "payload": {"n": 1}, "priority": 2},
        {"name": "second", "callbackUrl": URL, "description": "d"},
        {"name": "third", "callbackUrl": URL, "payload": None, "priority": 9},
    ]

    response = client.post(BATCH, json={"tasks": body})

    assert response.status_code == 201, response.json
    assert "Location" not in response.headers
    created = response.json["tasks"]
    assert [t["name"] for t in created] == ["first", "second", "third"]
    assert [t["priority"] for t in created] == [2, 0, 9]
    assert [t["payload"] for t in created] == [{"n": 1}, {}, {}]
    assert {t["status"] for t in created} == {"Queued"}
    assert len({t["taskId"] for t in created}) == 3
    for task in created:
        assert client.get(f"{TASKS}/{task['taskId']}").json == task
    listed = client.get(TASKS).json
    assert listed["totalCount"] == 3
    assert {t["taskId"] for t in listed["tasks"]} == {t["taskId"] for t in created}


def test_a_batch_is_dequeued_by_priority_then_in_request_order(
    client: FlaskClient, backend: Backend
) -> None:
    priorities = [1, 5, 0, 5, 1]
    body = [
        {"name": f"p{p}-{i}", "callbackUrl": URL, "priority": p} for i, p in enumerate(priorities)
    ]
    client.post(BATCH, json={"tasks": body})

    taken = [client.post(f"{TASKS}/dequeue").json["name"] for _ in priorities]

    in_order = [item["name"] for item in body]
    by_priority = ["p5-1", "p5-3", "p1-0", "p1-4", "p0-2"]
    assert taken == (by_priority if backend.has_priority else in_order)
    assert client.post(f"{TASKS}/dequeue").status_code == 204


def test_every_task_of_a_batch_is_executed(
    client: FlaskClient, service: TaskService, receiver: CallbackReceiver
) -> None:
    count = 20
    created = client.post(BATCH, json={"tasks": items(count, callbackUrl=receiver.url("/b"))})
    assert created.status_code == 201

    executed = []
    while (task := service.execute_next()) is not None:
        executed.append(task)

    assert {t.status.value for t in executed} == {"Completed"}
    assert {str(t.task_id) for t in executed} == {t["taskId"] for t in created.json["tasks"]}
    assert len(receiver.calls_to("/b")) == count


def test_a_batch_of_the_largest_size_is_created(client: FlaskClient) -> None:
    response = client.post(BATCH, json={"tasks": items(BATCH_MAX)})

    assert response.status_code == 201
    assert len(response.json["tasks"]) == BATCH_MAX == total(client)


def test_one_invalid_task_refuses_the_batch_naming_its_index(refusing: FlaskClient) -> None:
    body = items(5)
    body[3]["callbackUrl"] = "ftp://127.0.0.1/"

    error = problem(refusing.post(BATCH, json={"tasks": body}), 400)

    assert list(error["errors"]) == ["tasks.3.callbackUrl"]
    assert total(refusing) == 0


def test_every_invalid_task_is_named(refusing: FlaskClient) -> None:
    body = items(4)
    body[0]["name"] = " "
    body[2]["priority"] = "5"
    body[3]["status"] = "Completed"

    error = problem(refusing.post(BATCH, json={"tasks": body}), 400)

    assert set(error["errors"]) == {"tasks.0.name", "tasks.2.priority", "tasks.3.status"}
    assert total(refusing) == 0


@pytest.mark.parametrize(
    ("body", "offender"),
    [
        ({"tasks": []}, "tasks"),
        ({"tasks": items(BATCH_MAX + 1)}, "tasks"),
        ({"tasks": items(5000)}, "tasks"),
        ({"tasks": [items(1)[0], "job"]}, "tasks.1.body"),
        ({"tasks": [items(1)[0], None]}, "tasks.1"),
        ({"tasks": items(1)[0]}, "tasks"),
        ({"tasks": None}, "tasks"),
        ({}, "tasks"),
        ({"tasks": items(1), "more": 1}, "more"),
        (items(2), "body"),
    ],
    ids=[
        "empty list",
        "one too many",
        "five thousand",
        "a string item",
        "a null item",
        "an object, not a list",
        "null",
        "no tasks member",
        "an unknown member",
        "a bare list",
    ],
)
def test_a_malformed_batch_is_refused_and_creates_nothing(
    refusing: FlaskClient, body: Any, offender: str
) -> None:
    error = problem(refusing.post(BATCH, json=body), 400)

    assert offender in error["errors"], error
    assert total(refusing) == 0


def test_a_batch_sent_as_another_content_type_is_415(refusing: FlaskClient) -> None:
    response = refusing.post(BATCH, data=json.dumps({"tasks": items(1)}), content_type="text/plain")

    problem(response, 415)
    assert total(refusing) == 0


def test_an_idempotency_key_is_refused_on_a_batch(refusing: FlaskClient) -> None:
    response = refusing.post(BATCH, json={"tasks": items(1)}, headers={"Idempotency-Key": "k-1"})

    error = problem(response, 400)
    assert list(error["errors"]) == ["Idempotency-Key"]
    assert total(refusing) == 0


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_other_methods_on_the_batch_path_are_405_not_a_bad_task_id(
    refusing: FlaskClient, method: str
) -> None:
    problem(refusing.open(BATCH, method=method), 405)


def test_a_payload_may_nest_as_deep_in_a_batch_as_in_a_single_create(refusing: FlaskClient) -> None:
    deepest = json.loads("[" * 63 + "]" * 63)  # the deepest a single create accepts
    single = refusing.post(TASKS, json={"name": "one", "callbackUrl": URL, "payload": deepest})
    batch = refusing.post(BATCH, json={"tasks": items(1, payload=deepest)})
    too_deep = refusing.post(BATCH, json={"tasks": items(1, payload=[deepest])})

    assert (single.status_code, batch.status_code) == (201, 201)
    assert "body" in problem(too_deep, 400)["errors"]


def test_a_hundred_typical_tasks_fit_the_default_body_limit(client: FlaskClient) -> None:
    payload = {"image": "s3://bucket/" + "k" * 100, "sizes": list(range(100)), "note": "n" * 4000}
    body = {"tasks": items(BATCH_MAX, payload=payload, description="d" * 2000)}
    assert len(json.dumps(body)) < 1024 * 1024

    assert client.post(BATCH, json=body).status_code == 201


def test_the_python_client_creates_a_batch(server: str) -> None:
    with TaskcoreClient(server, timeout_s=10) as client:
        created = client.create_many(
            [
                {"name": "a", "callback_url": URL},
                {"name": "b", "callback_url": URL, "priority": 3, "payload": [1]},
            ]
        )
        with pytest.raises(ApiError) as refused:
            client.create_many([{"name": " ", "callback_url": URL}])

    assert [(t["name"], t["priority"], t["payload"]) for t in created] == [
        ("a", 0, {}),
        ("b", 3, [1]),
    ]
    assert refused.value.status == 400 and "tasks.0.name" in refused.value.problem["errors"]
