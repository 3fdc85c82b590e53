"""A catalogue of hostile requests: each gets its documented 4xx problem, never a 5xx, and
nothing is created that should not be. Values that are odd but legal are kept intact.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from taskcore_adapters import Settings, build_container
from taskcore_flask import close_app, create_app
from tests.hardening.catalogue import REFUSED, TASKS, Case, task
from tests.hardening.checks import problem
from tests.hardening.conftest import MakeApp, settings_with
from tests.support.receiver import CallbackReceiver


def total(client: FlaskClient) -> int:
    count: int = client.get(TASKS).json["totalCount"]
    return count


@pytest.fixture(scope="module")
def shared_app() -> Iterator[Flask]:
    """One app for the whole catalogue: every refusal must leave its task count alone."""
    app = create_app(build_container(settings=Settings()))
    yield app
    close_app(app)


def test_the_catalogue_holds_at_least_forty_distinct_cases() -> None:
    names = [case.name for case in REFUSED]
    assert len(names) == len(set(names)) >= 40


@pytest.mark.parametrize("case", REFUSED, ids=lambda case: case.name)
def test_a_hostile_request_gets_its_documented_problem_and_creates_nothing(
    shared_app: Flask, case: Case
) -> None:
    client = shared_app.test_client()
    before = total(client)

    body = problem(case.send(client), case.status)

    if case.offender:
        assert case.offender in body["errors"], body
    assert total(client) == before


# --- odd but legal values are stored and returned exactly, on every store --------------------

ACCEPTED: dict[str, tuple[bytes, str | None]] = {
    "integer of 400 digits": (task(payload="1" + "0" * 400), None),
    "NUL in payload keys and values": (task(payload='{"a\\u0000b":"c\\u0000d"}'), None),
    "astral and right-to-left text": (task(payload='"\\ud83d\\udca9 \\u202e txt"'), None),
    "nesting one below the limit": (task(payload="[" * 63 + "]" * 63), None),
    "latin-1 label on an ascii body": (task(), "application/json; charset=latin-1"),
    "problem+json is json": (task(), "application/problem+json"),
}


@pytest.fixture(params=["memory", "sqlite"])
def store_app(request: pytest.FixtureRequest, make_app: MakeApp, tmp_path: Path) -> Flask:
    if request.param == "memory":
        return make_app()
    store = {"backend": "sql", "url": f"sqlite:///{tmp_path / 't.db'}", "migrate": "auto"}
    return make_app(settings_with(store=store))


@pytest.mark.parametrize("name", ACCEPTED)
def test_an_odd_but_legal_task_is_created_and_read_back_exactly(
    store_app: Flask, name: str
) -> None:
    raw, content_type = ACCEPTED[name]
    client = store_app.test_client()

    created = client.post(TASKS, data=raw, content_type=content_type or "application/json")

    assert created.status_code == 201, created.get_data()[:300]
    sent = json.loads(raw).get("payload", {})
    stored = client.get(f"{TASKS}/{created.json['taskId']}").json
    assert json.dumps(stored["payload"]) == json.dumps(sent)


# --- the completion token header, however hostile, is only ever a 403 ------------------------


@pytest.fixture
def awaiting(make_app: MakeApp, receiver: CallbackReceiver) -> tuple[FlaskClient, str]:
    """A task whose receiver answered 202: Processing, waiting for its report."""
    client = make_app().test_client()
    body = {"name": "job", "callbackUrl": receiver.url("/status/202")}
    task_id: str = client.post(TASKS, json=body).json["taskId"]
    assert client.post(f"{TASKS}/{task_id}/dequeue").status_code == 200
    assert client.post(f"{TASKS}/{task_id}/execute").json["status"] == "Processing"
    return client, task_id


@pytest.mark.parametrize(
    "token",
    ["", "x" * 100_000, "a\x00b", "\u00e9\u00e8", "' OR 1=1 --", "*"],
    ids=["empty", "100 kB", "NUL", "latin-1", "injection", "wildcard"],
)
def test_a_hostile_completion_token_is_refused_with_403_and_changes_nothing(
    awaiting: tuple[FlaskClient, str], token: str
) -> None:
    client, task_id = awaiting
    before = client.get(f"{TASKS}/{task_id}").json

    response = client.post(
        f"{TASKS}/{task_id}/complete", json={"success": True}, headers={"X-Task-Token": token}
    )

    problem(response, 403)
    assert client.get(f"{TASKS}/{task_id}").json == before


def test_the_completion_token_never_appears_in_any_answer(
    awaiting: tuple[FlaskClient, str], receiver: CallbackReceiver
) -> None:
    client, task_id = awaiting
    (call,) = receiver.calls
    token = call.headers["x-task-token"]

    answers = [client.get(f"{TASKS}/{task_id}"), client.get(TASKS), client.get("/metrics")]

    assert all(token not in answer.get_data(as_text=True) for answer in answers)
