"""The problem+json shape of every refusal: routing, malformed ids, broken adapters."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from taskcore.errors import StoreUnavailable
from tests.api.conftest import MakeApp
from tests.api.doubles import DownQueue, FlakyStore
from tests.api.support import TASKS, create, problem, total

URL = "http://127.0.0.1:9/hook"


def test_an_unknown_route_is_a_404_problem(client: FlaskClient) -> None:
    problem(client.get("/api/v1/nothing-here"), 404)
    problem(client.get("/metrics/more"), 404)
    problem(client.get(f"{TASKS}/"), 404)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("put", TASKS),
        ("delete", TASKS),
        ("patch", f"{TASKS}/0b6f3c2e-5d1a-4c3e-9f0a-2b7d8e6c4a10"),
        ("post", "/health/live"),
    ],
)
def test_a_wrong_method_is_a_405_problem_listing_the_allowed_ones(
    client: FlaskClient, method: str, path: str
) -> None:
    response = getattr(client, method)(path)

    problem(response, 405)
    assert "GET" in response.headers["Allow"]


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_dequeue_next_only_answers_post(client: FlaskClient, method: str) -> None:
    response = getattr(client, method)(f"{TASKS}/dequeue")

    problem(response, 405)
    assert "POST" in response.headers["Allow"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", TASKS + "/not-a-uuid"),
        ("delete", TASKS + "/12345"),
        ("post", TASKS + "/zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz/dequeue"),
        ("post", TASKS + "/not-a-uuid/execute"),
        ("post", TASKS + "/%00/complete"),
    ],
)
def test_a_malformed_task_id_is_a_400_naming_task_id(
    client: FlaskClient, method: str, path: str
) -> None:
    error = problem(getattr(client, method)(path, json={"success": True}), 400)

    assert list(error["errors"]) == ["taskId"]


def test_an_unreachable_store_is_a_503_with_retry_after(make_app: MakeApp) -> None:
    store = FlakyStore()
    client = make_app(store=store).test_client()
    store.failure = StoreUnavailable("database is down")

    response = client.post(TASKS, json={"name": "n", "callbackUrl": URL})

    error = problem(response, 503)
    assert error["type"].endswith("store-unavailable")
    assert "database is down" not in error["detail"]
    assert response.headers["Retry-After"] == "5"


def test_an_unreachable_queue_is_a_503(make_app: MakeApp) -> None:
    client = make_app(queue=DownQueue()).test_client()

    response = client.post(TASKS, json={"name": "n", "callbackUrl": URL})

    assert problem(response, 503)["type"].endswith("queue-unavailable")


def test_a_bug_is_a_500_problem_without_internals(make_app: MakeApp) -> None:
    store = FlakyStore()
    client = make_app(store=store).test_client()
    task_id = create(client, URL)["taskId"]
    store.failure = RuntimeError("secret internals")

    response = client.get(f"{TASKS}/{task_id}")

    error = problem(response, 500)
    assert "secret" not in response.get_data(as_text=True)
    assert error["title"] == "Internal Server Error"


def test_a_refused_request_changes_nothing(client: FlaskClient) -> None:
    client.post(TASKS, json={"name": "", "callbackUrl": URL})
    client.post(TASKS, data="x", content_type="text/plain")

    assert total(client) == 0


def test_a_path_with_doubled_slashes_is_redirected_to_its_canonical_form(
    client: FlaskClient,
) -> None:
    response = client.get("/api//v1/tasks")

    assert response.status_code == 308
    assert response.headers["Location"].endswith("/api/v1/tasks")
