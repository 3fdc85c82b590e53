"""POST /api/v1/tasks: the created task, and every way a request can be refused."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.api.conftest import MakeApp
from tests.api.support import TASKS, problem, settings_with, total
from tests.support.receiver import CallbackReceiver

URL = "http://127.0.0.1:9/hook"


def test_creating_a_task_answers_201_with_its_location_and_the_queued_task(
    client: FlaskClient,
) -> None:
    response = client.post(
        TASKS,
        json={
            "name": "  resize image  ",
            "description": "thumbnail",
            "callbackUrl": URL,
            "payload": {"z": 1, "a": [1, 2]},
            "priority": 7,
        },
    )

    assert response.status_code == 201
    task = response.json
    assert response.headers["Location"] == f"{TASKS}/{task['taskId']}"
    assert task["status"] == "Queued"
    assert task["name"] == "resize image"
    assert task["description"] == "thumbnail"
    assert task["callbackUrl"] == URL
    assert task["priority"] == 7
    assert task["attempts"] == 0
    assert task["callbackResult"] is None
    assert task["createdAt"].endswith("+00:00")
    assert list(task["payload"]) == ["z", "a"]  # the client's key order is kept


def test_a_created_task_never_exposes_its_token_or_version(client: FlaskClient) -> None:
    task = client.post(TASKS, json={"name": "n", "callbackUrl": URL}).json

    assert not {"tokenHash", "token_hash", "version", "token"} & set(task)


def test_optional_fields_take_their_defaults(client: FlaskClient) -> None:
    task = client.post(TASKS, json={"name": "n", "callbackUrl": URL}).json

    assert (task["description"], task["payload"], task["priority"]) == ("", {}, 0)


@pytest.mark.parametrize("payload", [[1, "two"], "text", 3.5, True, {"deep": {"er": [None]}}])
def test_the_payload_may_be_any_json_value(client: FlaskClient, payload: Any) -> None:
    task = client.post(TASKS, json={"name": "n", "callbackUrl": URL, "payload": payload}).json

    assert task["payload"] == payload


def test_a_null_payload_becomes_an_empty_object(client: FlaskClient) -> None:
    task = client.post(TASKS, json={"name": "n", "callbackUrl": URL, "payload": None}).json

    assert task["payload"] == {}


@pytest.mark.parametrize(
    "fields",
    [
        {"name": "x" * 200},
        {"description": "d" * 2000},
        {"priority": 0},
        {"priority": 9},
        {"callbackUrl": "https://example.test:8443/path?q=1"},
    ],
)
def test_values_at_the_limits_are_accepted(client: FlaskClient, fields: dict[str, Any]) -> None:
    response = client.post(TASKS, json={"name": "n", "callbackUrl": URL, **fields})

    assert response.status_code == 201


INVALID = [
    ({"callbackUrl": URL}, "name"),
    ({"name": "", "callbackUrl": URL}, "name"),
    ({"name": "   ", "callbackUrl": URL}, "name"),
    ({"name": "x" * 201, "callbackUrl": URL}, "name"),
    ({"name": None, "callbackUrl": URL}, "name"),
    ({"name": 5, "callbackUrl": URL}, "name"),
    ({"name": "n", "callbackUrl": URL, "description": "d" * 2001}, "description"),
    ({"name": "n", "callbackUrl": URL, "description": 5}, "description"),
    ({"name": "n"}, "callbackUrl"),
    ({"name": "n", "callbackUrl": ""}, "callbackUrl"),
    ({"name": "n", "callbackUrl": "ftp://example.test/file"}, "callbackUrl"),
    ({"name": "n", "callbackUrl": "javascript:alert(1)"}, "callbackUrl"),
    ({"name": "n", "callbackUrl": "/relative/path"}, "callbackUrl"),
    ({"name": "n", "callbackUrl": "http://"}, "callbackUrl"),
    ({"name": "n", "callbackUrl": "http://user:pw@example.test/"}, "callbackUrl"),
    ({"name": "n", "callbackUrl": 42}, "callbackUrl"),
    ({"name": "n", "callbackUrl": URL, "priority": -1}, "priority"),
    ({"name": "n", "callbackUrl": URL, "priority": 10}, "priority"),
    ({"name": "n", "callbackUrl": URL, "priority": "1"}, "priority"),
    ({"name": "n", "callbackUrl": URL, "priority": True}, "priority"),
    ({"name": "n", "callbackUrl": URL, "priority": 1.5}, "priority"),
    ({"name": "n", "callbackUrl": URL, "priority": None}, "priority"),
    ({"name": "n", "callbackUrl": URL, "colour": "red"}, "colour"),
    ({"name": "n", "callback_url": URL}, "callback_url"),
]


@pytest.mark.parametrize(("body", "field"), INVALID)
def test_an_invalid_field_is_refused_with_400_naming_it_and_nothing_is_created(
    client: FlaskClient, body: dict[str, Any], field: str
) -> None:
    response = client.post(TASKS, json=body)

    error = problem(response, 400)
    assert field in error["errors"]
    assert all(isinstance(m, str) for m in error["errors"][field])
    assert total(client) == 0


def test_every_broken_field_is_reported_at_once(client: FlaskClient) -> None:
    body = {"name": " ", "callbackUrl": "ftp://x", "priority": "high", "extra": 1}

    error = problem(client.post(TASKS, json=body), 400)

    assert set(error["errors"]) == {"name", "callbackUrl", "priority", "extra"}


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"not json", "not JSON"),
        (b"", "empty"),
        (b'{"name": "n",', "truncated"),
        (b'{"name": "\xff\xfe", "callbackUrl": "http://a.test"}', "broken UTF-8"),
        (b'{"name": "n", "callbackUrl": "http://a.test", "payload": NaN}', "NaN"),
        (b'{"name": "n", "callbackUrl": "http://a.test", "payload": 1e999}', "infinite number"),
        (b'{"name": "\\ud800", "callbackUrl": "http://a.test"}', "lone surrogate"),
        (b'{"name": "n", "callbackUrl": "http://a.test", "payload": {"\\udc00": 1}}', "key"),
        (b"[1, 2]", "an array, not an object"),
        (b'"text"', "a string, not an object"),
        (b"[" * 100_000 + b"]" * 100_000, "nested past the recursion limit"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_refused_with_400(
    client: FlaskClient, raw: bytes, why: str
) -> None:
    response = client.post(TASKS, data=raw, content_type="application/json")

    assert "body" in problem(response, 400)["errors"], why
    assert total(client) == 0


def test_a_payload_nested_deeper_than_the_limit_is_refused(make_app: MakeApp) -> None:
    client = make_app(settings_with(api={"max_json_depth": 5})).test_client()
    deep: Any = "leaf"
    for _ in range(4):
        deep = [deep]  # object + payload + 3 levels = 5 levels: allowed

    ok = client.post(TASKS, json={"name": "n", "callbackUrl": URL, "payload": deep})
    refused = client.post(TASKS, json={"name": "n", "callbackUrl": URL, "payload": [deep]})

    assert ok.status_code == 201
    assert "deeper than 5" in problem(refused, 400)["errors"]["body"][0]


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_body_without_a_json_content_type_is_refused_with_415(
    client: FlaskClient, content_type: str | None
) -> None:
    body = json.dumps({"name": "n", "callbackUrl": URL})

    response = client.post(TASKS, data=body, content_type=content_type)

    problem(response, 415)
    assert total(client) == 0


def test_a_json_content_type_with_a_charset_or_a_suffix_is_accepted(client: FlaskClient) -> None:
    body = json.dumps({"name": "n", "callbackUrl": URL})

    plain = client.post(TASKS, data=body, content_type="application/json; charset=utf-8")
    suffixed = client.post(TASKS, data=body, content_type="application/vnd.task+json")

    assert (plain.status_code, suffixed.status_code) == (201, 201)


def test_a_body_over_the_default_limit_of_one_mebibyte_is_refused_with_413(
    client: FlaskClient,
) -> None:
    body = {"name": "n", "callbackUrl": URL, "payload": "x" * (1024 * 1024)}

    response = client.post(TASKS, json=body)

    problem(response, 413)
    assert total(client) == 0


def test_the_body_limit_is_configurable(make_app: MakeApp) -> None:
    client = make_app(settings_with(api={"max_body_bytes": 200})).test_client()

    small = client.post(TASKS, json={"name": "n", "callbackUrl": URL})
    large = client.post(TASKS, json={"name": "n", "callbackUrl": URL, "payload": "x" * 200})

    assert small.status_code == 201
    assert "at most 200 bytes" in problem(large, 413)["detail"]


def test_a_created_task_can_be_read_back(client: FlaskClient, receiver: CallbackReceiver) -> None:
    created = client.post(TASKS, json={"name": "n", "callbackUrl": receiver.url()})

    fetched = client.get(created.headers["Location"])

    assert fetched.status_code == 200
    assert fetched.json == created.json


def test_an_app_resolves_its_service_once_at_creation(app: Flask, client: FlaskClient) -> None:
    container = app.extensions["taskcore"]
    container.service.override(None)  # a lookup per request would now find no service

    client.post(TASKS, json={"name": "n", "callbackUrl": URL})

    assert total(client) == 1
