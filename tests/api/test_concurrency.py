"""Races through the API: one winner per transition, no lost or duplicated tasks."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TypeVar

import requests
from flask import Flask

from tests.api.support import TASKS, create, create_pending
from tests.support.receiver import CallbackReceiver

T = TypeVar("T")


def race(count: int, action: Callable[[], T]) -> list[T]:
    """Run ``action`` on ``count`` threads released together."""
    return race_all([action] * count)


def race_all(actions: list[Callable[[], T]]) -> list[T]:
    """Run each action on its own thread, all released together; results in order."""
    barrier = threading.Barrier(len(actions))

    def run(action: Callable[[], T]) -> T:
        barrier.wait()
        return action()

    with ThreadPoolExecutor(len(actions)) as pool:
        return list(pool.map(run, actions))


def test_fifty_simultaneous_dequeues_of_one_task_have_exactly_one_winner(
    app: Flask, receiver: CallbackReceiver
) -> None:
    task_id = create(app.test_client(), receiver.url())["taskId"]

    codes = race(50, lambda: app.test_client().post(f"{TASKS}/{task_id}/dequeue").status_code)

    assert Counter(codes) == {200: 1, 409: 49}


def test_twenty_simultaneous_executions_call_the_receiver_exactly_once(
    app: Flask, receiver: CallbackReceiver
) -> None:
    task_id = create_pending(app.test_client(), receiver.url("/sleep/0.1"))

    codes = race(20, lambda: app.test_client().post(f"{TASKS}/{task_id}/execute").status_code)

    assert Counter(codes) == {200: 1, 409: 19}
    assert len(receiver.calls_to("/sleep/0.1")) == 1


def test_two_hundred_tasks_created_by_twenty_threads_get_two_hundred_ids(
    app: Flask, receiver: CallbackReceiver
) -> None:
    def create_ten() -> list[str]:
        client = app.test_client()
        return [create(client, receiver.url())["taskId"] for _ in range(10)]

    ids = [task_id for batch in race(20, create_ten) for task_id in batch]

    assert len(set(ids)) == 200
    assert app.test_client().get(TASKS).json["totalCount"] == 200


def test_a_cancel_racing_a_dequeue_leaves_a_consistent_status(
    app: Flask, receiver: CallbackReceiver
) -> None:
    for _ in range(20):
        path = f"{TASKS}/{create(app.test_client(), receiver.url())['taskId']}"

        dequeued, cancelled = race_all(
            [
                partial(_status_code, app, "post", f"{path}/dequeue"),
                partial(_status_code, app, "delete", path),
            ]
        )

        status = app.test_client().get(path).json["status"]
        # Cancelling a Pending task is allowed, so the dequeue may win and the cancel follow.
        assert (dequeued, cancelled) in ((200, 409), (409, 204), (200, 204))
        assert status == ("Cancelled" if cancelled == 204 else "Pending")


def _status_code(app: Flask, method: str, path: str) -> int:
    code: int = getattr(app.test_client(), method)(path).status_code
    return code


def test_simultaneous_next_dequeues_over_http_hand_out_each_task_once(
    app: Flask, server: str, receiver: CallbackReceiver
) -> None:
    created = {create(app.test_client(), receiver.url())["taskId"] for _ in range(30)}

    def take() -> str | None:
        response = requests.post(f"{server}{TASKS}/dequeue", timeout=10)
        return response.json()["taskId"] if response.status_code == 200 else None

    taken = race(40, take)

    handed_out = [t for t in taken if t is not None]
    assert sorted(handed_out) == sorted(created)
    assert taken.count(None) == 10
