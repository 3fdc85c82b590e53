"""Faults injected under a working service: it answers 503 or fails the task, never
strands it, and recovers without a restart.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from taskcore_adapters import MemoryTaskQueue
from tests.hardening.checks import eventually, problem
from tests.hardening.conftest import MakeApp, settings_with
from tests.hardening.doubles import FailingStore
from tests.hardening.serving import post_in_background, served, sqlite_env
from tests.support.clock import SettableClock
from tests.support.receiver import CallbackReceiver

TASKS = "/api/v1/tasks"


# --- (a) a callback receiver that hangs -----------------------------------------------------


@pytest.fixture
def impatient_app(make_app: MakeApp) -> Flask:
    return make_app(settings_with(callbacks={"timeout_s": 0.5}))


def _pending(client: FlaskClient, url: str) -> str:
    task_id: str = client.post(TASKS, json={"name": "job", "callbackUrl": url}).json["taskId"]
    assert client.post(f"{TASKS}/{task_id}/dequeue").status_code == 200
    return task_id


def test_a_hanging_receiver_fails_a_synchronous_execution_at_the_timeout(
    impatient_app: Flask, receiver: CallbackReceiver
) -> None:
    client = impatient_app.test_client()
    task_id = _pending(client, receiver.url("/sleep/5"))

    started = time.monotonic()
    task = client.post(f"{TASKS}/{task_id}/execute").json
    elapsed = time.monotonic() - started

    assert task["status"] == "Failed"
    assert task["callbackResult"]["error"] == "timed out after 0.5s"
    assert task["callbackResult"]["statusCode"] is None
    assert elapsed < 2.0


def test_a_hanging_receiver_fails_an_asynchronous_execution_at_the_timeout(
    impatient_app: Flask, receiver: CallbackReceiver
) -> None:
    client = impatient_app.test_client()
    task_id = _pending(client, receiver.url("/sleep/5"))

    assert client.post(f"{TASKS}/{task_id}/execute?mode=async").status_code == 202
    deadline = time.monotonic() + 3
    while (task := client.get(f"{TASKS}/{task_id}").json)["status"] == "Processing":
        assert time.monotonic() < deadline, "still Processing well after the timeout"
        time.sleep(0.05)

    assert task["status"] == "Failed"
    assert task["callbackResult"]["error"] == "timed out after 0.5s"


# --- (c) the store goes down during create / dequeue / execute --------------------------------


class Faulty:
    """An app over a ``FailingStore`` and the memory queue, with views of their true state."""

    def __init__(self, make_app: MakeApp, receiver: CallbackReceiver) -> None:
        self.store = FailingStore()
        self.queue = MemoryTaskQueue()
        self.clock = SettableClock()
        self.app = make_app(store=self.store, queue=self.queue, clock=self.clock)
        self.client = self.app.test_client()
        self.receiver = receiver

    def create(self, path: str = "/ok") -> str:
        body = {"name": "job", "callbackUrl": self.receiver.url(path)}
        response = self.client.post(TASKS, json=body)
        assert response.status_code == 201, response.data
        task_id: str = response.json["taskId"]
        return task_id

    def state(self) -> tuple[Any, ...]:
        """Everything stored and queued, read past the fault."""
        return self.store.snapshot().tasks, sorted(self.queue._live.items())

    def status(self, task_id: str) -> str:
        status: str = self.client.get(f"{TASKS}/{task_id}").json["status"]
        return status


@pytest.fixture
def faulty(make_app: MakeApp, receiver: CallbackReceiver) -> Faulty:
    return Faulty(make_app, receiver)


def test_create_while_the_store_is_down_answers_503_and_creates_nothing(faulty: Faulty) -> None:
    faulty.store.break_("add")
    before = faulty.state()

    body = problem(faulty.client.post(TASKS, json={"name": "a", "callbackUrl": "http://x/"}), 503)

    assert body["title"] == "Store unavailable"
    assert faulty.state() == before
    faulty.store.repair()
    assert faulty.create()


def test_dequeue_while_the_store_cannot_write_answers_503_and_leaves_the_task_queued(
    faulty: Faulty,
) -> None:
    task_id = faulty.create()
    faulty.store.break_("save")
    before = faulty.state()

    problem(faulty.client.post(f"{TASKS}/{task_id}/dequeue"), 503)

    assert faulty.state() == before
    faulty.store.repair()
    assert faulty.client.post(f"{TASKS}/{task_id}/dequeue").json["status"] == "Pending"


@pytest.mark.parametrize("broken", ["get", "save"])
def test_dequeue_next_while_the_store_is_down_keeps_the_message_for_later(
    faulty: Faulty, broken: str
) -> None:
    task_id = faulty.create()
    faulty.store.break_(broken)
    before = faulty.state()

    problem(faulty.client.post(f"{TASKS}/dequeue"), 503)

    assert faulty.state() == before
    faulty.store.repair()
    assert faulty.client.post(f"{TASKS}/dequeue").json["taskId"] == task_id


def test_execute_while_the_store_cannot_write_answers_503_without_calling_back(
    faulty: Faulty,
) -> None:
    task_id = faulty.create()
    assert faulty.client.post(f"{TASKS}/{task_id}/dequeue").status_code == 200
    faulty.store.break_("save")
    before = faulty.state()

    problem(faulty.client.post(f"{TASKS}/{task_id}/execute"), 503)

    assert faulty.state() == before
    assert faulty.receiver.calls == []
    faulty.store.repair()
    assert faulty.client.post(f"{TASKS}/{task_id}/execute").json["status"] == "Completed"


def test_an_outcome_the_store_cannot_record_is_failed_by_the_reaper_once_it_recovers(
    faulty: Faulty,
) -> None:
    task_id = faulty.create()
    assert faulty.client.post(f"{TASKS}/{task_id}/dequeue").status_code == 200
    faulty.store.break_("save", after=1)  # the start is written, the outcome is not

    problem(faulty.client.post(f"{TASKS}/{task_id}/execute"), 503)

    faulty.store.repair()
    assert faulty.status(task_id) == "Processing"
    assert len(faulty.receiver.calls) == 1
    service = faulty.app.extensions["taskcore"].service()
    faulty.clock.advance(service.settings.callback_timeout_s + service.settings.lease_margin_s)
    assert service.reap_expired() == 1
    task = faulty.client.get(f"{TASKS}/{task_id}").json
    assert (task["status"], task["callbackResult"]["error"]) == ("Failed", "execution lost")


def test_readiness_reports_the_store_down_and_then_up_again(faulty: Faulty) -> None:
    faulty.store.break_("ping")
    assert faulty.client.get("/health/ready").status_code == 503
    faulty.store.repair()
    assert faulty.client.get("/health/ready").status_code == 200


# --- (b) kill -9 of the API process during a synchronous execute ----------------------------


def test_a_task_whose_api_process_is_killed_mid_execution_is_failed_by_the_reaper(
    tmp_path: Path, receiver: CallbackReceiver
) -> None:
    env = sqlite_env(tmp_path / "t.db")
    called = threading.Event()
    receiver.hook = lambda call: called.set()
    with served(env) as (base, process):
        body = {"name": "job", "callbackUrl": receiver.url("/sleep/30")}
        task_id = requests.post(f"{base}{TASKS}", json=body, timeout=5).json()["taskId"]
        assert requests.post(f"{base}{TASKS}/{task_id}/dequeue", timeout=5).ok
        executing = post_in_background(f"{base}{TASKS}/{task_id}/execute")
        assert called.wait(5), "the callback never started"
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
    executing.join(10)

    with served(env) as (base, _):
        assert eventually(lambda: _status(base, task_id) != "Processing", timeout_s=15)
        task = requests.get(f"{base}{TASKS}/{task_id}", timeout=5).json()

    assert task["status"] == "Failed"
    assert task["callbackResult"]["error"] == "execution lost"
    assert task["attempts"] == 1


def _status(base: str, task_id: str) -> str:
    status: str = requests.get(f"{base}{TASKS}/{task_id}", timeout=5).json()["status"]
    return status
