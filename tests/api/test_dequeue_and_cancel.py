"""Dequeue (one task, or the next one) and cancel, with their refusals."""

from __future__ import annotations

import uuid

from flask.testing import FlaskClient

from taskcore.service import TaskService
from tests.api.support import TASKS, create, create_pending, problem
from tests.support.backends import Backend
from tests.support.receiver import CallbackReceiver


def test_dequeuing_a_queued_task_makes_it_pending(
    client: FlaskClient, receiver: CallbackReceiver
) -> None:
    task_id = create(client, receiver.url())["taskId"]

    response = client.post(f"{TASKS}/{task_id}/dequeue")

    assert response.status_code == 200
    assert response.json["status"] == "Pending"
    assert response.json["dequeuedAt"] is not None


def test_dequeuing_a_task_twice_is_refused_with_its_current_status(
    client: FlaskClient, receiver: CallbackReceiver
) -> None:
    task_id = create_pending(client, receiver.url())

    error = problem(client.post(f"{TASKS}/{task_id}/dequeue"), 409)

    assert error["currentStatus"] == "Pending"
    assert error["taskId"] == task_id


def test_dequeuing_an_unknown_task_is_404(client: FlaskClient) -> None:
    task_id = str(uuid.uuid4())

    error = problem(client.post(f"{TASKS}/{task_id}/dequeue"), 404)

    assert error["taskId"] == task_id


def test_dequeuing_the_next_task_takes_the_highest_priority_then_the_oldest(
    client: FlaskClient, receiver: CallbackReceiver, backend: Backend
) -> None:
    low = create(client, receiver.url(), name="low", priority=1)["taskId"]
    first_high = create(client, receiver.url(), name="high-1", priority=5)["taskId"]
    second_high = create(client, receiver.url(), name="high-2", priority=5)["taskId"]

    taken = [client.post(f"{TASKS}/dequeue").json for _ in range(3)]

    expected = (
        [first_high, second_high, low] if backend.has_priority else [low, first_high, second_high]
    )
    assert [t["taskId"] for t in taken] == expected
    assert {t["status"] for t in taken} == {"Pending"}


def test_dequeuing_the_next_task_of_an_empty_queue_answers_204(client: FlaskClient) -> None:
    response = client.post(f"{TASKS}/dequeue")

    assert response.status_code == 204
    assert response.data == b""


def test_a_task_dequeued_by_id_is_not_dequeued_again_as_the_next(
    client: FlaskClient, receiver: CallbackReceiver
) -> None:
    create_pending(client, receiver.url())

    assert client.post(f"{TASKS}/dequeue").status_code == 204


def test_cancelling_a_queued_task_answers_204_and_it_is_never_dequeued(
    client: FlaskClient, receiver: CallbackReceiver
) -> None:
    task_id = create(client, receiver.url())["taskId"]

    response = client.delete(f"{TASKS}/{task_id}")

    assert response.status_code == 204
    assert client.get(f"{TASKS}/{task_id}").json["status"] == "Cancelled"
    assert client.post(f"{TASKS}/dequeue").status_code == 204
    problem(client.post(f"{TASKS}/{task_id}/dequeue"), 409)


def test_cancelling_twice_answers_204_both_times(
    client: FlaskClient, receiver: CallbackReceiver
) -> None:
    task_id = create(client, receiver.url())["taskId"]

    codes = [client.delete(f"{TASKS}/{task_id}").status_code for _ in range(2)]

    assert codes == [204, 204]


def test_cancelling_a_pending_task_is_allowed_and_it_cannot_be_executed(
    client: FlaskClient, receiver: CallbackReceiver
) -> None:
    task_id = create_pending(client, receiver.url())

    assert client.delete(f"{TASKS}/{task_id}").status_code == 204
    error = problem(client.post(f"{TASKS}/{task_id}/execute"), 409)
    assert error["currentStatus"] == "Cancelled"
    assert receiver.calls == []


def test_cancelling_a_completed_task_is_refused_with_its_current_status(
    client: FlaskClient, receiver: CallbackReceiver
) -> None:
    task_id = create_pending(client, receiver.url("/ok"))
    client.post(f"{TASKS}/{task_id}/execute")

    error = problem(client.delete(f"{TASKS}/{task_id}"), 409)

    assert error["currentStatus"] == "Completed"
    assert client.get(f"{TASKS}/{task_id}").json["status"] == "Completed"


def test_cancelling_a_failed_task_is_refused(
    client: FlaskClient, receiver: CallbackReceiver
) -> None:
    task_id = create_pending(client, receiver.url("/status/500"))
    client.post(f"{TASKS}/{task_id}/execute")

    assert problem(client.delete(f"{TASKS}/{task_id}"), 409)["currentStatus"] == "Failed"


def test_cancelling_a_processing_task_is_refused(
    client: FlaskClient, receiver: CallbackReceiver
) -> None:
    task_id = create_pending(client, receiver.url("/status/202"))
    client.post(f"{TASKS}/{task_id}/execute")

    assert problem(client.delete(f"{TASKS}/{task_id}"), 409)["currentStatus"] == "Processing"


def test_cancelling_an_unknown_task_is_404(client: FlaskClient) -> None:
    problem(client.delete(f"{TASKS}/{uuid.uuid4()}"), 404)


def test_reading_an_unknown_task_is_404(client: FlaskClient, service: TaskService) -> None:
    task_id = uuid.uuid4()

    error = problem(client.get(f"{TASKS}/{task_id}"), 404)

    assert error["taskId"] == str(task_id)
    assert error["type"].endswith("task-not-found")
