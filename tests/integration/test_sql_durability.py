"""Durability: tasks acknowledged with 201 survive a kill -9 of the API server on PostgreSQL."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest
import requests

from tests.integration.test_distributed import by_status, create_tasks, environment
from tests.support.databases import ScratchDatabases
from tests.support.processes import free_port, running, stop
from tests.support.receiver import CallbackReceiver

pytestmark = [pytest.mark.postgres]


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    scratch = ScratchDatabases(tmp_path_factory.mktemp("durability"))
    yield scratch.url("postgresql")
    scratch.drop_all()


def test_a_thousand_created_tasks_survive_a_kill_9_of_the_server(
    database: str, receiver: CallbackReceiver
) -> None:
    env = environment(database, "sql", "")
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    with running(["serve", "--port", str(port)], f"{api}/health/live", env=env) as server:
        ids = create_tasks(api, receiver, 1000)
        stop(server, signal.SIGKILL)
    with running(["serve", "--port", str(port)], f"{api}/health/live", env=env):
        counts = by_status(api)
        found = {
            task_id
            for page in range(1, 11)
            for task_id in (
                t["taskId"]
                for t in requests.get(
                    f"{api}/api/v1/tasks?page={page}&size=100", timeout=30
                ).json()["tasks"]
            )
        }
        taken = requests.post(f"{api}/api/v1/tasks/dequeue", timeout=30)
    assert counts["Queued"] == 1000 and sum(counts.values()) == 1000
    assert found == set(ids)
    assert taken.status_code == 200 and taken.json()["taskId"] in found  # still in the queue
