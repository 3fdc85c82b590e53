"""The shipped Alembic migrations on SQLite, PostgreSQL and MariaDB: they build exactly the
schema the code describes, revert cleanly, and the store refuses or repairs a schema that
is not at head as configured."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from taskcore_adapters.config import StoreSettings
from taskcore_adapters.sql import migrate
from taskcore_adapters.sql.engine import create_engine
from taskcore_adapters.sql.store import SqlTaskStore
from taskcore_adapters.sql.tables import VERSION_TABLE, tables
from tests.support.databases import SQL_BACKENDS, ScratchDatabases

TABLES = {"tasks", "archived_tasks", "queue_messages", "idempotency_keys"}


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScratchDatabases]:
    databases = ScratchDatabases(tmp_path_factory.mktemp("migrations"), migrate=False)
    yield databases
    databases.drop_all()


@pytest.fixture(params=SQL_BACKENDS)
def empty_url(request: pytest.FixtureRequest, scratch: ScratchDatabases) -> str:
    """A new database with nothing in it."""
    return scratch.create(request.param)


def schema_differences(url: str) -> list[Any]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"version_table": VERSION_TABLE, "compare_type": True}
            )
            return compare_metadata(context, tables().metadata)
    finally:
        engine.dispose()


def table_names(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def store_settings(url: str, mode: str) -> StoreSettings:
    return StoreSettings(backend="sql", url=url, migrate=mode)


def test_upgrading_an_empty_database_builds_exactly_the_described_schema(empty_url: str) -> None:
    assert migrate.current(empty_url) is None
    migrate.upgrade(empty_url)
    assert migrate.current(empty_url) == migrate.head()
    assert table_names(empty_url) == {*TABLES, VERSION_TABLE}
    assert schema_differences(empty_url) == []


def test_the_schema_comparison_notices_a_missing_index(empty_url: str) -> None:
    migrate.upgrade(empty_url)
    engine = create_engine(empty_url)
    on_table = " ON tasks" if engine.dialect.name == "mysql" else ""
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP INDEX ix_tasks_created{on_table}")
    finally:
        engine.dispose()
    differences = schema_differences(empty_url)
    assert [d[0] for d in differences] == ["add_index"]


def test_downgrading_to_base_removes_every_table_and_upgrading_again_restores_them(
    empty_url: str,
) -> None:
    migrate.upgrade(empty_url)
    migrate.downgrade(empty_url, "base")
    assert migrate.current(empty_url) is None
    assert table_names(empty_url) & TABLES == set()
    migrate.upgrade(empty_url)
    assert migrate.current(empty_url) == migrate.head()
    assert schema_differences(empty_url) == []


def test_check_mode_refuses_an_unmigrated_database_with_one_clear_line(empty_url: str) -> None:
    with pytest.raises(migrate.SchemaNotReady) as caught:
        SqlTaskStore.from_settings(store_settings(empty_url, "check"))
    message = str(caught.value)
    assert "\n" not in message
    assert "has no taskcore schema" in message
    assert f"needs revision {migrate.head()}" in message
    assert "taskcore db upgrade" in message
    assert table_names(empty_url) & TABLES == set()


def test_check_mode_names_the_revision_of_an_outdated_schema(empty_url: str) -> None:
    migrate.upgrade(empty_url)
    engine = create_engine(empty_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = '0000'"))
    finally:
        engine.dispose()
    with pytest.raises(migrate.SchemaNotReady, match="is at revision 0000"):
        migrate.check_up_to_date(empty_url)


def test_auto_mode_migrates_an_empty_database_and_serves(empty_url: str) -> None:
    store = SqlTaskStore.from_settings(store_settings(empty_url, "auto"))
    try:
        store.ping()
        assert store.list_page(None, 0, 10).total == 0
    finally:
        store.close()
    assert migrate.current(empty_url) == migrate.head()


def test_auto_mode_leaves_an_up_to_date_schema_as_it_is(empty_url: str) -> None:
    migrate.upgrade(empty_url)
    SqlTaskStore.from_settings(store_settings(empty_url, "auto")).close()
    SqlTaskStore.from_settings(store_settings(empty_url, "check")).close()
    assert schema_differences(empty_url) == []


def test_migrations_are_found_from_any_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    migrate.upgrade(url)
    assert migrate.current(url) == migrate.head()


def test_the_shipped_alembic_ini_works_with_the_alembic_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    ini = Path(migrate.__file__).with_name("alembic.ini")
    command = [sys.executable, "-m", "alembic", "-c", str(ini), "-x", f"url={url}"]
    subprocess.run([*command, "upgrade", "head"], check=True, cwd=tmp_path, timeout=60)
    assert migrate.current(url) == migrate.head()
    subprocess.run([*command, "downgrade", "base"], check=True, cwd=tmp_path, timeout=60)
    assert migrate.current(url) is None


def test_a_database_that_cannot_be_reached_is_reported_as_unavailable() -> None:
    with pytest.raises(migrate.StoreUnavailable, match="the schema migration failed"):
        migrate.current("postgresql+psycopg://postgres@127.0.0.1:1/test?connect_timeout=2")


def test_auto_mode_upgrades_once_when_several_stores_start_together(empty_url: str) -> None:
    failures: list[BaseException] = []
    barrier = threading.Barrier(4)

    def start() -> None:
        barrier.wait(30)
        try:
            SqlTaskStore.from_settings(store_settings(empty_url, "auto")).close()
        except BaseException as exc:  # collected for the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    assert migrate.current(empty_url) == migrate.head()
    assert schema_differences(empty_url) == []
