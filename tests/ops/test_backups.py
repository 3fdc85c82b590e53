"""The backup, restore and republish recipes of docs/operations.md, run as written against
real databases: a restore brings back what the backup held and nothing written after."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID, uuid4

import pytest
import sqlalchemy as sa

from taskcore.clock import SystemClock
from taskcore.errors import TaskNotFound
from taskcore.task import Task
from taskcore_adapters import build_container, shutdown
from taskcore_adapters.sql.engine import create_engine
from taskcore_adapters.sql.migrate import current, head, upgrade
from taskcore_adapters.sql.store import SqlTaskStore
from tests.ops.files import ROOT, marked_block
from tests.support.services import require

OPERATIONS = ROOT / "docs" / "operations.md"
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
MARIADB_ADMIN = "mysql+pymysql://root@127.0.0.1:3306/"


def recipe(name: str, cwd: Path, **env: str) -> None:
    """Run the documented block ``name`` in ``cwd`` with the variables it expects."""
    environ = {**os.environ, **env}
    environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environ['PATH']}"
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", marked_block(OPERATIONS, name)],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def tool(name: str) -> None:
    if shutil.which(name) is None:
        pytest.skip(f"{name} is not installed")


def add_task(url: str) -> UUID:
    store = SqlTaskStore(create_engine(url))
    try:
        task = Task.new(name="backup", callback_url="http://127.0.0.1:9/x", now=SystemClock().now())
        store.add(task)
        return task.task_id
    finally:
        store.close()
        store.engine.dispose()


def holds(url: str, task_id: UUID) -> bool:
    store = SqlTaskStore(create_engine(url))
    try:
        store.get(task_id)
        return True
    except TaskNotFound:
        return False
    finally:
        store.engine.dispose()


def admin(url: str, statement: str) -> None:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


@pytest.fixture
def databases(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """Two new database names on the server of the test's ``backend`` param, dropped after."""
    backend = request.param
    require(backend)
    names = (f"taskcore_ops_{uuid4().hex[:10]}", f"taskcore_ops_{uuid4().hex[:10]}")
    root = PG_ADMIN if backend == "postgresql" else MARIADB_ADMIN
    drop = (
        "DROP DATABASE IF EXISTS {} WITH (FORCE)"
        if backend == "postgresql"
        else ("DROP DATABASE IF EXISTS {}")
    )
    for name in names:
        admin(root, f"CREATE DATABASE {name}")
    try:
        yield names
    finally:
        for name in names:
            admin(root, drop.format(name))


def check_restore(source: str, restored: str, kept: UUID, later: UUID) -> None:
    assert holds(restored, kept) and not holds(restored, later)
    assert current(restored) == head()
    assert holds(source, later)


@pytest.mark.postgres
@pytest.mark.parametrize("databases", ["postgresql"], indirect=True)
def test_the_postgresql_recipe_restores_the_snapshot(
    databases: tuple[str, str], tmp_path: Path
) -> None:
    tool("pg_dump")
    source, target = databases
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{source}"
    upgrade(url)
    kept = add_task(url)
    recipe("backup-postgresql", tmp_path, PGURL=f"postgresql://postgres@127.0.0.1:5432/{source}")
    later = add_task(url)
    restore = f"postgresql://postgres@127.0.0.1:5432/{target}"
    recipe("restore-postgresql", tmp_path, RESTORE_PGURL=restore)
    check_restore(url, f"postgresql+psycopg://postgres@127.0.0.1:5432/{target}", kept, later)


@pytest.mark.mariadb
@pytest.mark.parametrize("databases", ["mariadb"], indirect=True)
def test_the_mariadb_recipe_restores_the_snapshot(
    databases: tuple[str, str], tmp_path: Path
) -> None:
    tool("mariadb-dump")
    source, target = databases
    url = f"{MARIADB_ADMIN}{source}"
    upgrade(url)
    kept = add_task(url)
    where = {"DB_HOST": "127.0.0.1", "DB_USER": "root"}
    recipe("backup-mariadb", tmp_path, DB_NAME=source, **where)
    later = add_task(url)
    recipe("restore-mariadb", tmp_path, RESTORE_DB=target, **where)
    check_restore(url, f"{MARIADB_ADMIN}{target}", kept, later)


def test_the_sqlite_recipe_restores_the_snapshot(tmp_path: Path) -> None:
    tool("sqlite3")
    url = f"sqlite:///{tmp_path / 'taskcore.db'}"
    upgrade(url)
    kept = add_task(url)
    recipe("backup-sqlite", tmp_path)
    later = add_task(url)
    saved = tmp_path / "before-restore.db"
    shutil.copy(tmp_path / "taskcore.db", saved)
    recipe("restore-sqlite", tmp_path)
    check_restore(f"sqlite:///{saved}", url, kept, later)


def test_republishing_gives_queued_tasks_back_the_messages_a_queue_lost(tmp_path: Path) -> None:
    config = tmp_path / "taskcore.toml"
    config.write_text(
        f'[store]\nbackend = "sql"\nurl = "sqlite:///{tmp_path / "t.db"}"\nmigrate = "auto"\n'
        '[queue]\nbackend = "sql"\n'
    )
    container = build_container(config)
    service = container.service()
    created = {service.create(name=n, callback_url="http://127.0.0.1:9/x").task_id for n in "ab"}
    with service.store.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM queue_messages")
    assert service.dequeue_next() is None
    shutdown(container)
    block = marked_block(OPERATIONS, "republish").replace(
        "/etc/taskcore/taskcore.toml", str(config)
    )
    environ = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block], env=environ, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "republished 2"
    container = build_container(config)
    try:
        taken = {container.service().dequeue_next().task_id for _ in created}  # type: ignore[union-attr]
        assert taken == created
    finally:
        shutdown(container)
