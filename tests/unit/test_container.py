"""The composition root: memory by default, closes what it built, imports no unused driver."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from taskcore import TaskService, TaskStatus
from taskcore_adapters import (
    ConfigError,
    MemoryTaskQueue,
    MemoryTaskStore,
    Settings,
    build_container,
    shutdown,
)
from taskcore_adapters.config import ExecutionSettings
from taskcore_adapters.executor import ThreadPoolBackgroundExecutor

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def no_taskcore_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("TASKCORE_"):
            monkeypatch.delenv(name)


def test_the_default_container_builds_memory_adapters_and_a_working_service() -> None:
    container = build_container()
    try:
        service = container.service()
        assert isinstance(service, TaskService)
        assert isinstance(service.store, MemoryTaskStore)
        assert isinstance(service.queue, MemoryTaskQueue)
        assert isinstance(service.executor, ThreadPoolBackgroundExecutor)
        task = service.create(name="n", callback_url="http://127.0.0.1:9/x")
        assert service.dequeue_next() == service.get(task.task_id)
        assert service.get(task.task_id).status is TaskStatus.PENDING
    finally:
        shutdown(container)


def test_the_service_and_its_adapters_are_built_once() -> None:
    container = build_container()
    try:
        assert container.service() is container.service()
        assert container.service().store is container.store()
        assert container.service().queue is container.queue()
    finally:
        shutdown(container)


def test_the_service_timing_follows_the_settings() -> None:
    settings = Settings(execution=ExecutionSettings(lease_margin_s=1.5, report_timeout_s=60))
    container = build_container(settings=settings)
    try:
        timing = container.service().settings
        assert (timing.callback_timeout_s, timing.lease_margin_s) == (10.0, 1.5)
        assert timing.report_timeout_s == 60
    finally:
        shutdown(container)


def test_a_config_file_path_is_honoured(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[queue]\nname = "custom"\n', encoding="utf-8")
    container = build_container(path)
    assert container.settings().queue.name == "custom"
    shutdown(container)


def test_an_invalid_config_fails_when_building_the_container(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[store]\nbackend = "nope"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"store\.backend"):
        build_container(path)


def test_shutdown_closes_what_was_built_newest_first_exactly_once() -> None:
    container = build_container()
    closed: list[str] = []
    built = [("store", container.store()), ("queue", container.queue())]
    built.append(("executor", container.executor()))
    for name, adapter in built:
        original = adapter.close
        adapter.close = lambda n=name, c=original: (closed.append(n), c())[1]
    shutdown(container)
    assert closed == ["executor", "queue", "store"]
    shutdown(container)
    assert closed == ["executor", "queue", "store"]


def test_shutdown_of_a_container_that_built_nothing_does_nothing() -> None:
    shutdown(build_container())


IMPORT_CHECK = textwrap.dedent(
    """
    import sys
    from taskcore_adapters import build_container, shutdown

    container = build_container()
    service = container.service()
    task = service.create(name="n", callback_url="http://127.0.0.1:9/x")
    service.dequeue(task.task_id)
    shutdown(container)
    heavy = ("sqlalchemy", "pika", "confluent_kafka", "psycopg", "pymysql", "alembic")
    print(",".join(sorted(m for m in heavy if m in sys.modules)))
    """
)


def test_a_memory_only_container_never_imports_the_heavy_drivers() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKCORE_")}
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_CHECK],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
