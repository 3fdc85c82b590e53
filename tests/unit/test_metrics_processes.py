"""Metrics beyond one app: the directory ``taskcore serve`` shares between its gunicorn
processes, and the HTTP endpoint of a ``taskcore worker`` (both run for real in tests/ops
and tests/integration)."""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import requests
from click.testing import CliRunner

from taskcore import CallbackRequest, CallbackResult, TaskService
from taskcore.worker import Worker
from taskcore_adapters.config import ServerSettings
from taskcore_adapters.memory import MemoryTaskQueue, MemoryTaskStore
from taskcore_flask.cli import api_server_class, main
from taskcore_flask.metrics_processes import MULTIPROCESS_ENV, serve_worker_metrics
from tests.support.clock import SettableClock
from tests.support.metrics import value
from tests.support.processes import free_port


class AnswersLater:
    """Every callback answers 202: the receiver will report."""

    def call(self, request: CallbackRequest) -> CallbackResult:
        return CallbackResult(202, "", 1, None, request.attempt)

    def close(self) -> None:
        pass


def test_serve_gives_gunicorn_a_private_metrics_directory_and_removes_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv(MULTIPROCESS_ENV, "/somewhere/else")
    seen: dict[str, object] = {}

    def run(server: object) -> None:
        directory = Path(os.environ[MULTIPROCESS_ENV])
        seen.update(directory=directory, exists=directory.is_dir())
        seen["child_exit"] = server.cfg.child_exit.__name__  # type: ignore[attr-defined]

    monkeypatch.setattr(api_server_class(), "run", run)
    result = CliRunner().invoke(main, ["serve"], env={"TASKCORE_CONFIG": ""})

    assert result.exit_code == 0, result.output
    assert seen["exists"] and seen["directory"].parent == tmp_path  # type: ignore[union-attr]
    assert seen["child_exit"] == "process_exited"
    assert not seen["directory"].exists()  # type: ignore[union-attr]
    assert os.environ[MULTIPROCESS_ENV] == "/somewhere/else"


@pytest.fixture
def service(clock: SettableClock) -> TaskService:
    return TaskService(MemoryTaskStore(), MemoryTaskQueue(), AnswersLater(), clock)


@pytest.fixture
def metrics_url(service: TaskService) -> Iterator[tuple[str, Worker]]:
    worker = Worker(service, concurrency=1)
    port = free_port()
    server = serve_worker_metrics(service, worker, ServerSettings(host="127.0.0.1"), port)
    assert server is not None
    yield f"http://127.0.0.1:{port}/metrics", worker
    server.shutdown()
    server.server_close()


def test_a_worker_serves_its_executions_callbacks_and_reaper_actions(
    service: TaskService, metrics_url: tuple[str, Worker], clock: SettableClock
) -> None:
    url, worker = metrics_url
    before = requests.get(url, timeout=10).text
    service.create(name="t", callback_url="http://127.0.0.1:9/x")
    assert worker.run_once()  # the callback answers 202: Processing until reported
    clock.advance(service.settings.report_timeout_s + 1)
    assert service.reap_expired() == 1

    after = requests.get(url, timeout=10).text
    for name, labels in [
        ("taskcore_worker_tasks_executed_total", {}),
        ("taskcore_callbacks_total", {"outcome": "deferred"}),
        ("taskcore_callback_duration_seconds_count", {}),
        ("taskcore_executions_reaped_total", {"reason": "report_not_received"}),
    ]:
        assert (value(before, name, **labels), value(after, name, **labels)) == (0, 1), name
    assert value(after, "taskcore_executions_in_flight") == 0
    assert value(after, "taskcore_tasks", status="Queued") is None  # the API serves those


def test_a_worker_serves_no_metrics_on_port_zero(service: TaskService) -> None:
    worker = Worker(service)

    assert serve_worker_metrics(service, worker, ServerSettings(worker_metrics_port=0)) is None


def test_a_taken_metrics_port_stops_the_worker_with_a_clear_message(service: TaskService) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(click.ClickException, match=f"cannot serve metrics on 127.0.0.1:{port}"):
            serve_worker_metrics(service, Worker(service), ServerSettings(), port)
