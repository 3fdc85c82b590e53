"""The example SQL configurations load, and the container builds the SQL store and queue
from them: one engine shared by both, the schema migrated or checked as configured."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from taskcore_adapters.config import load_settings
from taskcore_adapters.container import build_container, shutdown
from taskcore_adapters.sql.migrate import SchemaNotReady
from taskcore_adapters.sql.queue import SqlTaskQueue
from taskcore_adapters.sql.store import SqlTaskStore
from tests.support.databases import ScratchDatabases

CONFIG = Path(__file__).resolve().parents[2] / "config"


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScratchDatabases]:
    databases = ScratchDatabases(tmp_path_factory.mktemp("config"), migrate=False)
    yield databases
    databases.drop_all()


@pytest.mark.parametrize(
    ("name", "url", "migrate"),
    [
        ("sqlite.toml", "sqlite:///./taskcore.db", "auto"),
        ("postgres.toml", "postgresql+psycopg://postgres@127.0.0.1:5432/test", "check"),
        ("mariadb.toml", "mysql+pymysql://root@127.0.0.1:3306/test", "check"),
    ],
)
def test_each_sql_example_configuration_is_valid(name: str, url: str, migrate: str) -> None:
    settings = load_settings(CONFIG / name, environ={})
    assert (settings.store.backend, settings.store.url, settings.store.migrate) == (
        "sql",
        url,
        migrate,
    )
    assert settings.queue.backend == "sql"


def test_the_container_builds_one_engine_for_the_sql_store_and_queue(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    settings = load_settings(CONFIG / "sqlite.toml", environ={"TASKCORE_STORE__URL": url})
    container = build_container(settings=settings)
    try:
        store, queue = container.store(), container.queue()
        assert isinstance(store, SqlTaskStore)
        assert isinstance(queue, SqlTaskQueue)
        assert queue.engine is store.engine
        assert store.enqueue_on_add
        store.ping()
        queue.ping()
    finally:
        shutdown(container)


@pytest.mark.postgres
def test_the_container_refuses_an_unmigrated_database_in_check_mode(
    scratch: ScratchDatabases,
) -> None:
    url = scratch.create("postgresql")
    settings = load_settings(CONFIG / "postgres.toml", environ={"TASKCORE_STORE__URL": url})
    container = build_container(settings=settings)
    with pytest.raises(SchemaNotReady, match="run `taskcore db upgrade`"):
        container.store()
    shutdown(container)
