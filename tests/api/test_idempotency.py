"""POST /api/v1/tasks with an ``Idempotency-Key``: a retried create answers the first task,
a reused key with another body is refused, and an expired key creates again."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import uuid4

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.api.conftest import MakeApp
from tests.api.support import TASKS, problem, settings_with, total
from tests.support.clock import SettableClock

URL = "http://127.0.0.1:9/hook"
BODY: dict[str, Any] = {"name": "nightly report", "callbackUrl": URL, "payload": {"day": 1}}
HEADER = "Idempotency-Key"


@pytest.fixture
def key() -> str:
    """A key no other test used (the SQL backends keep keys between tests)."""
    return f"order-{uuid4()}"


def post(client: FlaskClient, key: str | None, body: dict[str, Any] | None = None) -> TestResponse:
    headers = {} if key is None else {HEADER: key}
    return client.post(TASKS, json=BODY if body is None else body, headers=headers)


def test_the_first_create_with_a_key_answers_201_without_the_replay_marker(
    client: FlaskClient, key: str
) -> None:
    response = post(client, key)

    assert response.status_code == 201
    assert response.headers["Location"] == f"{TASKS}/{response.json['taskId']}"
    assert "Idempotent-Replayed" not in response.headers


def test_a_retried_create_answers_200_with_the_original_task_and_the_replay_marker(
    client: FlaskClient, key: str
) -> None:
    first = post(client, key)

    again = post(client, key)

    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json == first.json
    assert again.headers["Location"] == first.headers["Location"]
    assert total(client) == 1


def test_a_replay_is_not_queued_a_second_time(client: FlaskClient, key: str) -> None:
    task_id = post(client, key).json["taskId"]
    post(client, key)

    taken = client.post(f"{TASKS}/dequeue")

    assert taken.json["taskId"] == task_id
    assert client.post(f"{TASKS}/dequeue").status_code == 204


def test_a_replay_shows_the_task_as_it_is_now(client: FlaskClient, key: str) -> None:
    task_id = post(client, key).json["taskId"]
    client.post(f"{TASKS}/{task_id}/dequeue")

    again = post(client, key)

    assert (again.status_code, again.json["taskId"]) == (200, task_id)
    assert again.json["status"] == "Pending"


def test_the_header_name_is_case_insensitive(client: FlaskClient, key: str) -> None:
    first = client.post(TASKS, json=BODY, headers={"idempotency-key": key})

    again = client.post(TASKS, json=BODY, headers={"IDEMPOTENCY-KEY": key})

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json["taskId"] == first.json["taskId"]


def test_the_same_key_with_another_body_is_409_naming_the_key(
    client: FlaskClient, key: str
) -> None:
    post(client, key)

    body = problem(post(client, key, {**BODY, "priority": 5}), 409)

    assert body["type"] == "urn:taskcore:problem:idempotency-conflict"
    assert body["idempotencyKey"] == key
    assert key in body["detail"]
    assert total(client) == 1


def test_json_that_makes_the_same_task_is_the_same_request(client: FlaskClient, key: str) -> None:
    first = post(client, key, {"callbackUrl": URL, "name": "  n  ", "payload": {"a": 1, "b": 2}})

    again = post(
        client,
        key,
        {"name": "n", "callbackUrl": URL, "payload": {"b": 2, "a": 1}, "priority": 0},
    )

    assert again.status_code == 200
    assert again.json["taskId"] == first.json["taskId"]


def test_creates_without_a_key_are_never_replayed(client: FlaskClient) -> None:
    first, second = post(client, None), post(client, None)

    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json["taskId"] != second.json["taskId"]


@pytest.mark.parametrize(
    "value",
    ["", "x" * 256, "caf\u00e9", "tab\there", "\x7f"],
    ids=["empty", "256-chars", "latin-1", "tab", "del"],
)
def test_a_malformed_key_is_400_naming_the_header_and_creates_nothing(
    client: FlaskClient, value: str
) -> None:
    body = problem(post(client, value), 400)

    assert list(body["errors"]) == [HEADER]
    assert total(client) == 0


def test_a_key_of_255_printable_characters_is_accepted(client: FlaskClient) -> None:
    value = (f"{uuid4()} ~!\"#$%&'()*+,-./:;<=>?@[\\]^_`{{|}}" * 8)[:255]

    assert post(client, value).status_code == 201
    assert post(client, value).status_code == 200


def test_an_invalid_body_with_a_key_is_400_and_does_not_use_up_the_key(
    client: FlaskClient, key: str
) -> None:
    problem(post(client, key, {**BODY, "priority": 10}), 400)

    assert post(client, key).status_code == 201


@pytest.fixture
def windowed(make_app: MakeApp) -> tuple[FlaskClient, SettableClock]:
    """An app remembering keys for 60 s, on a clock the test moves."""
    clock = SettableClock()
    app = make_app(settings_with(api={"idempotency_window_s": 60.0}), clock=clock)
    return app.test_client(), clock


def test_after_the_window_the_same_key_creates_a_new_task(
    windowed: tuple[FlaskClient, SettableClock], key: str
) -> None:
    client, clock = windowed
    first = post(client, key)
    clock.advance(60)
    assert post(client, key).status_code == 200

    clock.advance(1)
    second = post(client, key, {**BODY, "name": "renamed"})

    assert second.status_code == 201
    assert second.json["taskId"] != first.json["taskId"]
    assert total(client) == 2


def test_concurrent_creates_with_one_key_make_one_task(app: Flask, key: str) -> None:
    barrier = threading.Barrier(10)

    def attempt(_: int) -> TestResponse:
        client = app.test_client()
        barrier.wait(30)
        return post(client, key)

    with ThreadPoolExecutor(10) as pool:
        responses = list(pool.map(attempt, range(10)))

    assert sorted(r.status_code for r in responses) == [200] * 9 + [201]
    assert len({r.json["taskId"] for r in responses}) == 1
    assert total(app.test_client()) == 1


def test_the_openapi_document_describes_the_header_and_its_answers(client: FlaskClient) -> None:
    create = client.get("/api/v1/openapi.json").json["paths"][TASKS]["post"]

    (header,) = [p for p in create["parameters"] if p["in"] == "header"]
    assert header["name"] == HEADER
    assert header["schema"]["maxLength"] == 255
    assert "Idempotent-Replayed" in create["responses"]["200"]["headers"]
    assert {"200", "201", "409"} <= set(create["responses"])
    assert create["responses"]["409"]["content"]["application/problem+json"]
