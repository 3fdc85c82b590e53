"""GET /api/v1/tasks: pages, the status filter, newest first, archived tasks included."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from tests.api.support import TASKS, create, create_pending, problem
from tests.support.receiver import CallbackReceiver


def _create_many(client: FlaskClient, url: str, count: int) -> list[str]:
    return [create(client, url, name=f"task-{i}")["taskId"] for i in range(count)]


def test_an_empty_service_lists_nothing(client: FlaskClient) -> None:
    body = client.get(TASKS).json

    assert body == {"tasks": [], "totalCount": 0, "page": 1, "pageSize": 20}


def test_tasks_are_listed_newest_first_in_pages(
    client: FlaskClient, receiver: CallbackReceiver
) -> None:
    ids = _create_many(client, receiver.url(), 5)

    pages = [client.get(f"{TASKS}?page={n}&size=2").json for n in (1, 2, 3)]

    assert [[t["taskId"] for t in p["tasks"]] for p in pages] == [
        ids[4:2:-1],
        ids[2:0:-1],
        ids[:1],
    ]
    assert {p["totalCount"] for p in pages} == {5}
    assert [(p["page"], p["pageSize"]) for p in pages] == [(1, 2), (2, 2), (3, 2)]


def test_a_page_past_the_end_is_empty_but_counts_everything(
    client: FlaskClient, receiver: CallbackReceiver
) -> None:
    _create_many(client, receiver.url(), 3)

    body = client.get(f"{TASKS}?page=9&size=2").json

    assert (body["tasks"], body["totalCount"]) == ([], 3)


def test_the_default_page_size_is_20_and_the_maximum_100(
    client: FlaskClient, receiver: CallbackReceiver
) -> None:
    _create_many(client, receiver.url(), 25)

    default = client.get(TASKS).json
    largest = client.get(f"{TASKS}?size=100").json

    assert (len(default["tasks"]), default["pageSize"]) == (20, 20)
    assert len(largest["tasks"]) == 25


def test_the_status_filter_includes_archived_tasks(
    client: FlaskClient, receiver: CallbackReceiver
) -> None:
    queued = create(client, receiver.url())["taskId"]
    done = create_pending(client, receiver.url("/ok"))
    client.post(f"{TASKS}/{done}/execute")

    completed = client.get(f"{TASKS}?status=Completed").json
    everything = client.get(TASKS).json

    assert [t["taskId"] for t in completed["tasks"]] == [done]
    assert completed["totalCount"] == 1
    assert [t["taskId"] for t in everything["tasks"]] == [done, queued]


def test_unknown_query_parameters_are_ignored(client: FlaskClient) -> None:
    assert client.get(f"{TASKS}?_=12345").status_code == 200


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=Bogus", "status"),
        ("status=", "status"),
        ("page=0", "page"),
        ("page=-1", "page"),
        ("page=abc", "page"),
        ("page=1.5", "page"),
        ("page=" + "9" * 5000, "page"),
        ("size=0", "size"),
        ("size=101", "size"),
        ("size=ten", "size"),
        ("size=", "size"),
    ],
)
def test_a_bad_query_parameter_is_refused_with_400_naming_it(
    client: FlaskClient, query: str, field: str
) -> None:
    error = problem(client.get(f"{TASKS}?{query}"), 400)

    assert list(error["errors"]) == [field]
